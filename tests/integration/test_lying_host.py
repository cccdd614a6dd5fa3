# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""A lying host (issue 16, "Done when"): one fleet host's module replies are replaced by crafted ones, and the
controller refuses each with a clear error, touches nothing outside the engine share, and keeps every other
host on the canary's engine.

Fleet `tflie` (TAO_FLEET_IT_LIE_NAME) on 198.18.8.0/24 (TAO_FLEET_IT_LIE_SUBNET): 4 real sshd hosts of one
platform class (orin-nx-jp62: real TensorRT-RTX 1.7 builds on this CPU machine). The liar's
`ansible_python_interpreter` (a host_vars file beside the fleet's inventory) is a wrapper that runs the real
Python, and rewrites what tao.fleet.trt_engine answers as `LIE` (a file the test writes) says:
- `fingerprint`: its first answer says "missing" with the fingerprint `../../victim`;
- `claim`: its answer to the import of the canary's entry (with its first call, predicted, or the next one)
  says it refused the entry and built its own;
- `manifest`: as the class's first builder, the manifest of what it built no longer matches the engine.

Written for the lead to run (not run in the change that added it):
    tests/output/controller/bin/python -m pytest tests/integration/test_lying_host.py
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "fleet"))
import demo_model  # noqa: E402

_SPEC = importlib.util.spec_from_file_location("tao_fleet_integration_harness", Path(__file__).with_name("conftest.py"))
conftest = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(conftest)

NAME = "lying_host_it"
PROFILE = "orin-nx-jp62"
HOSTS = ["%s-%02d" % (PROFILE, i + 1) for i in range(4)]
CANARY, LIAR = HOSTS[0], HOSTS[2]
HONEST = [h for h in HOSTS if h != LIAR]
ETLT_URL = "{{ tao_mirror_url }}/%s/%s" % (demo_model.model_dir(demo_model.DEFAULT_VERSION), demo_model.ETLT_FILE)
MODULE = b"tao.fleet.plugins.modules.trt_engine"

# The liar's interpreter: the real Python runs the module; its reply is rewritten as the LIE file says.
WRAPPER = r'''#!%(python)s
import json, os, subprocess, sys
LIE = %(lie)r
payload = sys.stdin.buffer.read() if len(sys.argv) == 1 else None
source = payload if payload is not None else open(sys.argv[1], 'rb').read()
proc = subprocess.run([%(python)r] + sys.argv[1:], input=payload, stdout=subprocess.PIPE)
out = proc.stdout
try:
    mode = open(LIE).read().strip()
except OSError:
    mode = ''
if %(module)r in source and mode:
    try:
        reply = json.loads(out.decode('utf-8'))
    except ValueError:
        reply = None
    if isinstance(reply, dict):
        if mode == 'fingerprint':
            # whatever it did (its first call may have carried the predicted entry): "missing, ../../victim"
            reply.update(missing=True, shared=False, built=False, fingerprint='../../victim')
        elif mode == 'claim' and reply.get('shared'):
            reply.update(shared=False, built=True, changed=True,
                         warnings=['The shared engine was not used: I say so. Building it here instead.'])
        elif mode == 'manifest' and reply.get('built'):
            manifest = os.path.join(os.path.dirname(reply['engine_path']), 'manifest.json')
            with open(manifest) as handle:
                data = json.load(handle)
            data['engine']['sha256'] = '0' * 64
            os.chmod(manifest, 0o644)
            with open(manifest, 'w') as handle:
                json.dump(data, handle)
        out = json.dumps(reply).encode('utf-8')
sys.stdout.buffer.write(out)
sys.exit(proc.returncode)
'''


def playbook(share):
    """The canary first, then the others: fetch the stand-in, platform facts, trt_engine with the share."""
    tasks = (
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: fetch\n"
        "      tao.fleet.model_fetch:\n"
        "        urls: [\"%s\"]\n"
        "        checksum_url: \"{{ tao_mirror_url }}/SHA256SUMS\"\n"
        "        store: \"{{ tao_fleet_store }}\"\n"
        "      register: fetched\n"
        "    - name: facts\n"
        "      tao.fleet.platform_facts:\n"
        "        sysroot: \"{{ tao_fleet_sysroot }}\"\n"
        "        store: \"{{ tao_fleet_store }}\"\n"
        "    - name: engine\n"
        "      tao.fleet.trt_engine:\n"
        "        model_path: \"{{ fetched.path }}\"\n"
        "        model: \"{{ lookup('tao.fleet.model_catalog', '%s') "
        "| tao.fleet.model_artifact(ansible_facts.tao_platform) }}\"\n"
        "        platform: \"{{ ansible_facts.tao_platform }}\"\n"
        "        store: \"{{ tao_fleet_store }}\"\n"
        "        model_name: %s\n"
        "        precision: fp32\n"
        "        engine_share: \"%s\"\n"
    ) % (ETLT_URL, demo_model.MODEL, NAME, share)
    return "- hosts: %s\n%s- hosts: %s\n%s" % (CANARY, tasks, ",".join(HOSTS[1:]), tasks)


def tree(root):
    """Every path under ``root``: sha256 of files, the kind of anything else."""
    found = {}
    for directory, dirs, files in os.walk(str(root)):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            found[os.path.relpath(path, str(root))] = (hashlib.sha256(Path(path).read_bytes()).hexdigest()
                                                       if stat.S_ISREG(info.st_mode) else stat.S_IFMT(info.st_mode))
    return found


def engine_entry(run, host):
    entries = [e for e in run.results.get(host, []) if e["task"] == "engine"]
    assert entries, (host, sorted(run.results))
    return entries[-1]


@pytest.fixture(scope="module")
def lie_fleet():
    name = os.environ.get("TAO_FLEET_IT_LIE_NAME", "tflie")
    subnet = os.environ.get("TAO_FLEET_IT_LIE_SUBNET", "198.18.8")
    fleet = conftest.fleet_up(name, subnet, "--hosts", str(len(HOSTS)), "--profiles", PROFILE)
    try:
        assert [h.name for h in fleet.hosts] == HOSTS
        subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "fleet" / "demo_model.py"), "--out",
                        fleet.mirror_root], check=True, stdout=subprocess.DEVNULL)
        yield fleet
    finally:
        conftest.run_fleet("down", "--name", name)


@pytest.fixture
def liar(lie_fleet, tmp_path, collections_path):
    """(runner whose inventory makes LIAR lie, the LIE file, a share, a victim directory outside it)."""
    for host in lie_fleet.hosts:
        subprocess.run(["rm", "-rf", os.path.join(host.store, "engines", NAME)], check=True)
    lie = tmp_path / "LIE"
    wrapper = tmp_path / "liar-python"
    wrapper.write_text(WRAPPER % {"python": lie_fleet.host(LIAR).python, "lie": str(lie), "module": MODULE})
    wrapper.chmod(0o755)
    inventory = tmp_path / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    (inventory / "fleet.yml").symlink_to(lie_fleet.inventory)
    (inventory / "host_vars" / ("%s.yml" % LIAR)).write_text("ansible_python_interpreter: %s\n" % wrapper)
    bound = type(lie_fleet).__new__(type(lie_fleet))
    bound.__dict__.update(lie_fleet.__dict__, inventory=str(inventory))
    share = tmp_path / "share"
    share.mkdir()
    # what "../../victim" names from inside the share: a directory that looks like an entry
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "manifest.json").write_text('{"fingerprint": "victim"}')
    (victim / "model.engine").write_bytes(b"the victim stays")
    return conftest.Ansible(bound, tmp_path / "runs", collections_path), lie, share, victim


def honest_hosts_on_the_canarys_engine(run, share):
    canary = engine_entry(run, CANARY)["result"]
    assert canary.get("failed") is not True and canary["built"] is True, canary
    fingerprint = canary["fingerprint"]
    record = json.loads((share / ".index" / (fingerprint + ".json")).read_text())
    assert record["builder"] == CANARY
    assert record["sha256"] == hashlib.sha256((share / fingerprint / "model.engine").read_bytes()).hexdigest()
    for host in HONEST[1:]:
        result = engine_entry(run, host)["result"]
        assert result.get("failed") is not True and result["shared"] is True, (host, result)
        assert result["fingerprint"] == fingerprint
        assert hashlib.sha256(Path(result["engine_path"]).read_bytes()).hexdigest() == record["sha256"]
    return fingerprint, record


def test_a_crafted_fingerprint_fails_the_liar_and_touches_nothing_outside_the_share(liar):
    runner, lie, share, victim = liar
    lie.write_text("fingerprint")
    before = tree(victim)
    run = runner.playbook(playbook(share))
    entry = engine_entry(run, LIAR)
    assert entry["failed"] is True and entry["result"]["error_code"] == "host_reply_invalid", entry
    assert "not 64 lower-case hex digits" in entry["result"]["msg"] and entry["result"].get("fix")
    assert tree(victim) == before
    assert not any(".." in name for name in os.listdir(str(share)))
    honest_hosts_on_the_canarys_engine(run, share)


def test_an_i_built_it_claim_never_replaces_the_canarys_entry(liar):
    runner, lie, share, victim = liar
    lie.write_text("claim")
    run = runner.playbook(playbook(share))
    fingerprint, record = honest_hosts_on_the_canarys_engine(run, share)
    entry = engine_entry(run, LIAR)
    assert entry["failed"] is True and entry["result"]["error_code"] == "share_entry_refused", entry
    assert CANARY in entry["result"]["msg"] and entry["result"].get("fix")
    # the entry is still the canary's: the index and the bytes
    assert json.loads((share / ".index" / (fingerprint + ".json")).read_text()) == record
    assert tree(victim)["model.engine"] == hashlib.sha256(b"the victim stays").hexdigest()


def test_a_builders_manifest_that_does_not_match_its_engine_is_never_published(liar):
    # the liar is the first of its class to build: what it hands back is checked, refused, and not published;
    # its own result stays (a warning), the honest hosts after it build their own
    runner, lie, share, victim = liar
    lie.write_text("manifest")
    order = [LIAR] + [h for h in HOSTS if h != LIAR]
    text = playbook(share).replace("- hosts: %s\n" % CANARY, "- hosts: %s\n" % LIAR, 1)
    text = text.replace("- hosts: %s\n" % ",".join(HOSTS[1:]), "- hosts: %s\n" % ",".join(order[1:]), 1)
    run = runner.playbook(text)
    result = engine_entry(run, LIAR)["result"]
    assert result.get("failed") is not True and result["built"] is True, result
    assert result["share"]["published"] is False and "sha256" in result["share"]["publish_problem"], result["share"]
    assert any("was not published to the engine share" in w for w in result.get("warnings", [])), result
    for host in order[1:]:
        honest = engine_entry(run, host)["result"]
        assert honest.get("failed") is not True and honest["fingerprint"] == result["fingerprint"], honest
    # the first honest host built and published; the liar's engine never reached the share
    fingerprint = result["fingerprint"]
    record = json.loads((share / ".index" / (fingerprint + ".json")).read_text())
    assert record["builder"] in order[1:]      # the honest host that took the share lock first
    assert tree(victim)["model.engine"] == hashlib.sha256(b"the victim stays").hexdigest()
