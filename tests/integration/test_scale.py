# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Fleet scale (docs/scale.md): one origin download and one engine build per platform class.

A fleet of 6 hosts in 2 platform classes (`fleet.py up --hosts 6 --profiles orin-nx-jp62,thor-jp70`: real
sshd hosts in network namespaces, Python 3.10 and 3.12, real TensorRT-RTX 1.7 builds, smoke tests on
onnxruntime-cpu) runs playbooks/deploy_peoplenet.yml with real ansible-playbook 2.16.

The origin is a model mirror (tests/fleet/mirror.py) this test starts on the controller's 127.0.0.1: the
hosts, each in its own network namespace, have no route to it at all (their 127.0.0.1 is their own), so
they are air-gapped from the origin, which the first test shows with a plain host-side download. Origin
downloads are counted from that mirror's request log; builds from the `build.source` of every engine
manifest in the hosts' stores (`build` or `share`).

Run with TAO_FLEET_IT_NAME / TAO_FLEET_IT_SUBNET set to a fleet of your own (conftest.py); this fleet is
named `<that name>s` (first 7 characters) on `198.18.<that subnet's third octet + 150>`, or
TAO_FLEET_IT_SCALE_NAME / TAO_FLEET_IT_SCALE_SUBNET.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "fleet"))
import demo_model  # noqa: E402
import mirror  # noqa: E402

_SPEC = importlib.util.spec_from_file_location("tao_fleet_integration_harness", Path(__file__).with_name("conftest.py"))
conftest = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(conftest)

MODEL = demo_model.MODEL
PLAYBOOK = REPO_ROOT / "playbooks" / "deploy_peoplenet.yml"
DEMO_GROUP_VARS = REPO_ROOT / "inventory" / "demo" / "group_vars"
PROFILES = ("orin-nx-jp62", "thor-jp70")
HOSTS = ["%s-%02d" % (PROFILES[i % 2], i + 1) for i in range(6)]
MODEL_SUFFIXES = (".onnx", ".etlt")
ROLE = "tao.fleet.deploy_model : "
# stages fetch, engine, smoke, consumers and release: one tao.fleet.engine_deploy call
ENGINE_TASK = "Fetch the model, build or reuse the engine, smoke-test it and make it active"


def fetch_result(run, name):
    """What the model fetch of ``name`` returned (within the one engine_deploy call)."""
    return run.result(name, ROLE + ENGINE_TASK)["fetch"]


API_KEY = "nvapi-SCALE-TEST-0123456789abcdef0123456789abcdef"


def _scale_fleet_name_and_subnet():
    name, subnet = conftest.SESSION_FLEET
    octet = (int(subnet.split(".")[2]) + 150) % 256
    return (os.environ.get("TAO_FLEET_IT_SCALE_NAME", name[:7] + "s"),
            os.environ.get("TAO_FLEET_IT_SCALE_SUBNET", "198.18.%d" % octet))


@pytest.fixture(scope="module")
def scale_fleet():
    name, subnet = _scale_fleet_name_and_subnet()
    fleet = conftest.fleet_up(name, subnet, "--hosts", "6", "--profiles", ",".join(PROFILES))
    try:
        assert [h.name for h in fleet.hosts] == HOSTS
        yield fleet
    finally:
        conftest.run_fleet("down", "--name", name)


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """The model's origin, reachable from the controller only."""
    root = tmp_path_factory.mktemp("origin")
    subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "fleet" / "demo_model.py"), "--out", str(root)],
                   check=True, stdout=subprocess.DEVNULL)
    log = tmp_path_factory.mktemp("origin-log") / "requests.log"
    log.touch()
    with mirror.MirrorProcess(str(root), str(log), bind="127.0.0.1") as served:
        yield served


@pytest.fixture
def runner(scale_fleet, tmp_path, collections_path):
    for host in scale_fleet.hosts:
        shutil.rmtree(host.store, ignore_errors=True)
        os.makedirs(host.store)
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "fleet.yml").symlink_to(scale_fleet.inventory)
    (inventory / "group_vars").symlink_to(DEMO_GROUP_VARS)
    bound = type(scale_fleet).__new__(type(scale_fleet))
    bound.__dict__.update(scale_fleet.__dict__, inventory=str(inventory))
    return conftest.Ansible(bound, tmp_path / "runs", collections_path)


def rollout(runner, origin, cache, reports, **extra):
    extra_vars = {"fleet_report_dir": str(reports), "deploy_model_smoke_runs": 3, "deploy_model_smoke_warmup": 1,
                  "deploy_model_mirror_url": origin.url, "deploy_model_ngc_base_url": origin.url,
                  "deploy_model_checksum_url": origin.url + "/SHA256SUMS",
                  "deploy_model_controller_cache_dir": str(cache)}
    extra_vars.update(extra)
    run = runner.playbook(str(PLAYBOOK), extra_vars=extra_vars)
    assert run.rc == 0, run.stdout[-6000:] + run.stderr
    run.report = json.loads((reports / "latest" / "report.json").read_text())
    run.hosts = dict((entry["host"], entry) for entry in run.report["hosts"])
    return run


def origin_model_downloads(origin, since=0):
    """GETs of a model file that the origin answered with bytes, after the first ``since`` log lines."""
    lines = Path(origin.log_path).read_text().splitlines()[since:]
    requests = [json.loads(line) for line in lines]
    return [r for r in requests if r["method"] == "GET" and r["path"].endswith(MODEL_SUFFIXES)
            and r["status"] in (200, 206) and r["bytes_sent"] > 0]


def checksum_list_requests(origin, since=0):
    lines = Path(origin.log_path).read_text().splitlines()[since:]
    return [r for r in (json.loads(line) for line in lines) if r["path"].endswith("/SHA256SUMS")]


def log_length(origin):
    return len(Path(origin.log_path).read_text().splitlines())


def manifests(fleet):
    """{host: [manifest of every engine in its store]}"""
    found = {}
    for host in fleet.hosts:
        model_dir = Path(host.store) / "engines" / MODEL
        found[host.name] = [json.loads((d / "manifest.json").read_text()) for d in sorted(model_dir.iterdir())
                            if len(d.name) == 64] if model_dir.is_dir() else []
    return found


def sources(fleet):
    return dict((name, [m["build"].get("source") for m in found]) for name, found in manifests(fleet).items())


def share_entries(cache):
    share = Path(cache) / "engines"
    return sorted(p.name for p in share.iterdir() if len(p.name) == 64) if share.is_dir() else []


def test_hosts_cannot_reach_the_origin_themselves(runner, origin, tmp_path):
    # the per-host way fails here: proof that the deployments below reached air-gapped hosts
    run = runner.playbook(
        "- hosts: %s\n  gather_facts: false\n  tasks:\n"
        "    - tao.fleet.model_fetch:\n        urls: ['%s/SHA256SUMS']\n        store: '{{ tao_fleet_store }}'\n"
        # a sha256 (any): plain http without one is refused before the network is tried (issue 16, row 5)
        "        sha256: '%s'\n        retries: 0\n        timeout: 5\n" % (HOSTS[0], origin.url, "0" * 64))
    assert run.rc != 0
    assert run.results[HOSTS[0]][-1]["result"]["error_code"] == "unreachable", run.results[HOSTS[0]][-1]


def test_one_origin_download_and_one_build_per_platform_class(scale_fleet, runner, origin, tmp_path):
    cache = tmp_path / "controller-cache"
    before = log_length(origin)
    first = rollout(runner, origin, cache, tmp_path / "reports", deploy_model_ngc_api_key=API_KEY)
    for name in HOSTS:
        assert first.hosts[name]["status"] == "deployed", first.hosts[name]
        assert first.hosts[name]["smoke"]["passed"] is True
    canaries = first.report["rollout"]["canary"]["hosts"]
    assert sorted(canaries) == sorted(HOSTS[:2])

    downloads = origin_model_downloads(origin, before)
    assert len(downloads) == 1, downloads
    # the controller's answer is kept for the run: the waves' hosts neither ask for the checksum list again
    # nor re-hash the cached file; only the canaries, which start together, may each ask
    assert 1 <= len(checksum_list_requests(origin, before)) <= len(canaries)
    assert all(fetch_result(first, name)["controller"]["run_memo"]
               for name in HOSTS if name not in canaries)
    size = os.path.getsize(Path(cache) / "models" / [f for f in os.listdir(Path(cache) / "models")
                                                     if len(f) == 64][0])
    assert downloads[0]["bytes_sent"] == size

    built = sources(scale_fleet)
    assert sum(found.count("build") for found in built.values()) == 2, built
    assert dict((name, built[name]) for name in canaries) == dict((name, ["build"]) for name in canaries)
    assert all(built[name] == ["share"] for name in HOSTS if name not in canaries), built
    assert len(share_entries(cache)) == 2
    # the fleet report says which hosts took their engine from the share
    assert sorted(name for name in HOSTS if first.hosts[name]["engine"]["shared"]) == sorted(
        name for name in HOSTS if name not in canaries), [first.hosts[name]["engine"] for name in HOSTS]
    # every host has the engine its canary built, byte for byte, under the same fingerprint
    by_profile = {}
    for host in scale_fleet.hosts:
        found = manifests(scale_fleet)[host.name][0]
        by_profile.setdefault(host.profile["name"], set()).add((found["fingerprint"], found["engine"]["sha256"]))
    assert all(len(pairs) == 1 for pairs in by_profile.values()) and len(by_profile) == 2
    fetched = fetch_result(first, HOSTS[3])
    # copied over the host's ssh connection, not read from the controller's file system that the simulated
    # hosts share: the module saw only the copy in its Ansible temp dir
    assert fetched["controller"]["cache_hit"] is True and fetched["source"] == "controller:" + fetched["controller"]["path"]
    assert fetched["bytes_transferred"] == size and fetched["cache_hit"] is False
    assert "/ansible-tmp-" in fetched["attempts"][-1]["source"], fetched["attempts"]
    # the NGC key stays on the controller: the hosts' module got no key and no source URL
    host_args = first.result(HOSTS[3], ROLE + ENGINE_TASK)["invocation"]["module_args"]["fetch"]
    assert [host_args[k] for k in ("api_key", "urls", "ngc", "mirror_url", "checksum_url")] == [None] * 5
    assert API_KEY not in first.stdout + first.log_text + json.dumps(first.results)
    # the facts play listed each store (ansible_facts.tao_store): every host lacked the model, so it was
    # copied without a probe call first; the waves' hosts got the engine their canary's fingerprint
    # predicted with their first engine_deploy call, the canaries (no prediction yet) asked first
    assert all(fetch_result(first, name)["controller"]["probe_skipped"]
               for name in HOSTS)
    for name in HOSTS:
        engine = first.result(name, ROLE + ENGINE_TASK)
        expected = (None, False) if name in canaries else (engine["fingerprint"], True)
        assert (engine["share"]["predicted"], engine["share"]["used"]) == expected, (name, engine["share"])

    # second run: nothing changes, the origin sends no model bytes, no build
    before = log_length(origin)
    second = rollout(runner, origin, cache, tmp_path / "reports-2")
    for name in HOSTS:
        assert second.stats[name]["changed"] == 0, (name, second.stats[name])
        assert second.hosts[name]["status"] == "unchanged"
    assert origin_model_downloads(origin, before) == []
    assert sources(scale_fleet) == built
    for name in HOSTS:
        # the store has both now: the host is asked first, and nothing is copied
        fetched = fetch_result(second, name)
        assert fetched["controller"]["probe_skipped"] is False and fetched["bytes_transferred"] == 0
        engine = second.result(name, ROLE + ENGINE_TASK)
        assert engine["reused"] is True and "share" not in engine, engine.get("share")
        # its deployment record matched (options, model, platform; files unchanged): the host was not called,
        # so no module ran (no invocation in the result)
        assert engine["quick_check"]["used"] is True and "invocation" not in engine, engine.get("quick_check")
        # the report says what the first run's smoke test found, from the record
        assert second.hosts[name]["smoke"]["passed"] is True and second.hosts[name]["smoke"]["detections"] == 3
        assert second.hosts[name]["engine"]["fingerprint"] == first.hosts[name]["engine"]["fingerprint"]

    # third run, after one host's engine was damaged in place and another host went from JetPack 6.2 to
    # 6.2.1 (L4T 36.4.3 -> 36.4.4) under its engine: both are called, the others are still left alone. The
    # damaged one finds the damage by the engine's sha256 and takes the engine from the share again; the
    # upgraded one is a platform class of its own now, so it is that class's canary and builds.
    damaged, upgraded = HOSTS[4], HOSTS[0]
    engine_path = second.result(damaged, ROLE + ENGINE_TASK)["engine_path"]
    data = bytearray(Path(engine_path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(engine_path).write_bytes(bytes(data))
    sysroot = Path(next(h.sysroot for h in scale_fleet.hosts if h.name == upgraded))
    # what a JetPack 6.2.1 upgrade changes in the files platform_facts reads
    upgrade = {sysroot / "etc" / "nv_tegra_release": [("REVISION: 4.3,", "REVISION: 4.4,")],
               sysroot / "var" / "lib" / "dpkg" / "status": [
                   ("Source: nvidia-jetpack (6.2)", "Source: nvidia-jetpack (6.2.1)"),
                   ("Version: 6.2+b77", "Version: 6.2.1+b38"),
                   ("Version: 36.4.3-20250107174145", "Version: 36.4.4-20250616085344")]}
    originals = dict((path, path.read_text()) for path in upgrade)
    for path, changes in upgrade.items():
        text = originals[path]
        for old, new in changes:
            assert old in text, (path, old)
            text = text.replace(old, new)
        path.unlink()
        path.write_text(text)
    try:
        third = rollout(runner, origin, cache, tmp_path / "reports-3")
    finally:
        # the later tests of this module use the same fleet
        for path, text in originals.items():
            path.write_text(text)
    engine = third.result(damaged, ROLE + ENGINE_TASK)
    assert engine["quick_check"]["used"] is False and engine_path in engine["quick_check"]["reason"], engine["quick_check"]
    assert "invocation" in engine and third.hosts[damaged]["smoke"]["passed"] is True
    restored = json.loads((Path(engine_path).parent / "manifest.json").read_text())
    assert hashlib.sha256(Path(engine_path).read_bytes()).hexdigest() == restored["engine"]["sha256"]
    engine = third.result(upgraded, ROLE + ENGINE_TASK)
    assert engine["quick_check"] == {"used": False, "reason": "no deployment record with these options"}
    before = second.hosts[upgraded]["engine"]["fingerprint"]
    assert third.hosts[upgraded]["platform"]["jetpack"] == "6.2.1" and third.hosts[upgraded]["status"] == "deployed"
    assert engine["built"] is True and engine["fingerprint"] != before, engine["fingerprint"]
    assert third.hosts[upgraded]["release"]["replaced"] == before and third.hosts[upgraded]["smoke"]["passed"] is True
    for name in HOSTS:
        assert third.hosts[name]["status"] in ("unchanged", "deployed"), third.hosts[name]
        if name not in (damaged, upgraded):
            assert third.result(name, ROLE + ENGINE_TASK)["quick_check"]["used"] is True
    assert sum(found.count("build") for found in sources(scale_fleet).values()) == 3


def test_a_corrupt_share_entry_is_ignored_and_rebuilt(scale_fleet, runner, origin, tmp_path):
    cache = tmp_path / "controller-cache"
    rollout(runner, origin, cache, tmp_path / "reports")
    entries = share_entries(cache)
    broken = Path(cache) / "engines" / entries[0]
    good = (broken / "model.engine").read_bytes()
    (broken / "model.engine").write_bytes(good[:100] + bytes([good[100] ^ 0xFF]) + good[101:])

    for host in scale_fleet.hosts:
        shutil.rmtree(host.store)
        os.makedirs(host.store)
    again = rollout(runner, origin, cache, tmp_path / "reports-2")
    assert all(again.hosts[name]["status"] == "deployed" for name in HOSTS), again.report["summary"]
    found = manifests(scale_fleet)
    rebuilt = [name for name in HOSTS if [m["build"]["source"] for m in found[name]] == ["build"]]
    # only the canary of the broken entry's class built; the engine it built is byte-identical to the good one
    assert len(rebuilt) == 1 and found[rebuilt[0]][0]["fingerprint"] == entries[0], sources(scale_fleet)
    engine_of_rebuilt = Path(scale_fleet.host(rebuilt[0]).store) / "engines" / MODEL / entries[0] / "model.engine"
    assert (broken / "model.engine").read_bytes() == engine_of_rebuilt.read_bytes()
    assert all(found[name][0]["engine"]["sha256"] != _sha256(good[:100] + bytes([good[100] ^ 0xFF]) + good[101:])
               for name in HOSTS)
    warned = again.result(rebuilt[0], ROLE + ENGINE_TASK)
    assert any("was not used" in warning for warning in warned.get("warnings", [])), warned
    assert warned["share"]["found"] is True and warned["share"]["published"] is True


def test_share_turned_off_builds_on_every_host(scale_fleet, runner, origin, tmp_path):
    cache = tmp_path / "controller-cache"
    rollout(runner, origin, cache, tmp_path / "reports", deploy_model_engine_share=False)
    assert sources(scale_fleet) == dict((name, ["build"]) for name in HOSTS)
    assert share_entries(cache) == []


def test_per_host_downloads_when_the_model_cache_is_host(scale_fleet, runner, origin, tmp_path):
    # the fleet's own mirror (reachable from the hosts) stands in for a site mirror every host can reach
    served = conftest.Fleet(scale_fleet.inventory)
    subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "fleet" / "demo_model.py"), "--out", served.mirror_root],
                   check=True, stdout=subprocess.DEVNULL)
    before = len(Path(served.mirror_log).read_text().splitlines()) if Path(served.mirror_log).exists() else 0
    cache = tmp_path / "controller-cache"
    extra = {"fleet_report_dir": str(tmp_path / "reports"), "deploy_model_smoke_runs": 3,
             "deploy_model_smoke_warmup": 1, "deploy_model_controller_cache_dir": str(cache),
             "deploy_model_model_cache": "host"}
    run = runner.playbook(str(PLAYBOOK), extra_vars=extra)
    assert run.rc == 0, run.stdout[-6000:]
    requests = [json.loads(line) for line in Path(served.mirror_log).read_text().splitlines()[before:]]
    gets = [r for r in requests if r["method"] == "GET" and r["path"].endswith(MODEL_SUFFIXES) and r["bytes_sent"]]
    assert len(gets) == len(HOSTS), gets
    assert not (cache / "models").exists()
    assert sum(found.count("build") for found in sources(scale_fleet).values()) == 2


def _sha256(data):
    return hashlib.sha256(data).hexdigest()
