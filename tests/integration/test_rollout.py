# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The rollout (playbooks/deploy_peoplenet.yml, role tao.fleet.deploy_model) through real ansible-playbook.

Every run uses the demo inventory as a user would: the fleet's generated inventory plus inventory/demo's
group_vars (the PeopleNet stand-in from the fleet's mirror, DeepStream and Triton files). Engines are
built for real by TensorRT-RTX 1.7 where the host's venv has it (dgpu-x86, orin-nx-jp62, agx-orin-jp62,
thor-jp70) and by the TensorRT TEST DOUBLE on nano-jp46 and xavier-nx-jp51; every smoke test runs the
model on onnxruntime-cpu (no host has a GPU), as the results say.

- On the session fleet (6 hosts, 6 platform classes, so every host is its class's canary): a clean rollout
  whose report agrees with each host's store, and a second run that changes nothing.
- On a fleet of its own (9 hosts of 3 classes: 3 canaries, then waves of 1, 2 and 3 hosts): a canary
  failure stops before any wave; a wave failure rolls back every host the run switched; a host whose
  network link goes down mid-rollout is reported unreachable. Failures are real: a wrong .etlt key makes
  the host's own decryption fail; `fleet.py link ... down` cuts the host off its bridge.

Run with TAO_FLEET_IT_NAME / TAO_FLEET_IT_SUBNET set to a fleet of your own (conftest.py); the 9-host
fleet is named `<that name>w` (first 7 characters) on `198.18.<that subnet's third octet + 100>`, or
TAO_FLEET_IT_WAVE_NAME / TAO_FLEET_IT_WAVE_SUBNET.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "fleet"))
import demo_model  # noqa: E402

# The harness's helpers (fleet_up, run_fleet, Ansible), loaded by path: another suite's conftest may
# already hold the name `conftest` in sys.modules.
_SPEC = importlib.util.spec_from_file_location("tao_fleet_integration_harness", Path(__file__).with_name("conftest.py"))
conftest = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(conftest)

MODEL = demo_model.MODEL
PLAYBOOK = REPO_ROOT / "playbooks" / "deploy_peoplenet.yml"
DEMO_GROUP_VARS = REPO_ROOT / "inventory" / "demo" / "group_vars"
RTX_PROFILES = ("dgpu-x86", "orin-nx-jp62", "agx-orin-jp62", "thor-jp70")
DOUBLE_PROFILES = ("nano-jp46", "xavier-nx-jp51")
WAVE_PROFILES = ("dgpu-x86", "nano-jp46", "xavier-nx-jp51")
# fleet.py --hosts 9 cycles through the profiles in this order: <profile>-01 .. -09
WAVE_HOSTS = ["%s-%02d" % (WAVE_PROFILES[i % 3], i + 1) for i in range(9)]
CANARY = WAVE_HOSTS[:3]
WAVES = {"1": WAVE_HOSTS[3:4], "2": WAVE_HOSTS[4:6], "3": WAVE_HOSTS[6:9]}


def _wave_fleet_name_and_subnet():
    name, subnet = conftest.SESSION_FLEET
    octet = (int(subnet.split(".")[2]) + 100) % 256
    return (os.environ.get("TAO_FLEET_IT_WAVE_NAME", name[:7] + "w"),
            os.environ.get("TAO_FLEET_IT_WAVE_SUBNET", "198.18.%d" % octet))


# ---- fleet state -----------------------------------------------------------------------------------------

def model_dir(host):
    return Path(host.store) / "engines" / MODEL


def link(host, name="active"):
    path = model_dir(host) / name
    return os.readlink(path) if path.is_symlink() else None


def engines(host):
    path = model_dir(host)
    return sorted(p.name for p in path.iterdir() if len(p.name) == 64) if path.is_dir() else []


def manifest(host, fingerprint):
    return json.loads((model_dir(host) / fingerprint / "manifest.json").read_text())


def clear_stores(fleet):
    for host in fleet.hosts:
        shutil.rmtree(host.store, ignore_errors=True)
        os.makedirs(host.store)


def serve_model(fleet):
    subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "fleet" / "demo_model.py"), "--out", fleet.mirror_root],
                   check=True, stdout=subprocess.DEVNULL)


def demo_ansible(fleet, ansible, tmp_path):
    """An `ansible` fixture bound to the demo inventory: the fleet's generated inventory and inventory/demo's
    group_vars, combined in one directory (what `-i inventory/demo -i <fleet inventory>` gives)."""
    inventory = tmp_path / "demo-inventory"
    inventory.mkdir()
    (inventory / "fleet.yml").symlink_to(fleet.inventory)
    (inventory / "group_vars").symlink_to(DEMO_GROUP_VARS)
    bound = copy.copy(fleet)
    bound.inventory = str(inventory)
    return conftest.Ansible(bound, ansible.run_dir / (fleet.name + "-demo"), ansible.collections_path)


def run_rollout(runner, reports, pre_plays="", check=False, playbook=PLAYBOOK, **extra):
    """``playbook`` (deploy_peoplenet.yml), after ``pre_plays`` (plays that set per-host facts to make hosts fail)."""
    extra_vars = {"fleet_report_dir": str(reports), "deploy_model_smoke_runs": 5, "deploy_model_smoke_warmup": 1}
    extra_vars.update(extra)
    text = pre_plays + "- ansible.builtin.import_playbook: %s\n" % playbook
    started = time.monotonic()
    run = runner.playbook(text, extra_vars=extra_vars, check=check)
    run.seconds = time.monotonic() - started
    run.report_dir = report_dir(reports, check)
    run.report = json.loads((run.report_dir / "report.json").read_text())
    run.hosts = dict((entry["host"], entry) for entry in run.report["hosts"])
    print("rollout: rc %d in %.0f s, %s" % (run.rc, run.seconds, run.report["summary"]["by_status"]))
    return run


def report_dir(reports, check=False):
    """The newest report: `latest`, except for a --check run, whose report is <time>-check and moves no link."""
    if not check:
        return reports / "latest"
    checked = sorted(p for p in reports.iterdir() if p.is_dir() and p.name.endswith("-check"))
    assert checked, "no <time>-check report in %s: %s" % (reports, sorted(p.name for p in reports.iterdir()))
    return checked[-1]


def wrong_key_for(host):
    """A play that gives one host a wrong .etlt key: its own decryption then fails for real."""
    return ("- name: Give %s a wrong model key\n  hosts: %s\n  gather_facts: false\n  tasks:\n"
            "    - name: Set the wrong key\n      ansible.builtin.set_fact:\n        deploy_model_key: not_the_key\n"
            % (host, host))


def final_message(run):
    """The verdict of a run that failed: the rollout's closing message (said once, on the first target host)."""
    assert run.rc != 0, run.stdout[-3000:]
    for entries in run.results.values():
        for entry in entries:
            if entry["task"] == "Say how the rollout ended":
                return entry["result"]["msg"]
    raise AssertionError("the run said nothing about how the rollout ended:\n" + run.stdout[-3000:])


# ---- the session fleet: 6 hosts, 6 platform classes -------------------------------------------------------

@pytest.fixture(scope="module")
def served(fleet):
    serve_model(fleet)
    return fleet


@pytest.fixture
def runner(served, ansible, tmp_path):
    """The demo inventory over the session fleet, its stores emptied (test_operator_day.py, test_day2.py)."""
    clear_stores(served)
    return demo_ansible(served, ansible, tmp_path)


def test_clean_rollout_agrees_with_every_host_and_a_second_run_changes_nothing(served, ansible, tmp_path):
    fleet = served
    clear_stores(fleet)
    runner = demo_ansible(fleet, ansible, tmp_path)
    # --check first: it says what would happen and downloads, builds and switches nothing
    check = run_rollout(runner, tmp_path / "reports-check", check=True)
    assert check.rc == 0, check.stdout[-5000:] + check.stderr
    for host in fleet.hosts:
        assert (check.hosts[host.name]["status"], check.hosts[host.name]["check_mode"]) == ("deployed", True)
        assert os.listdir(host.store) == [], (host.name, os.listdir(host.store))
    first = run_rollout(runner, tmp_path / "reports")
    assert first.rc == 0, first.stdout[-5000:] + first.stderr
    summary = first.report["summary"]
    assert summary["outcome"] == "succeeded" and summary["by_status"]["deployed"] == 6
    rollout = first.report["rollout"]
    # six platform classes: each host is the canary of its class, and no wave is left
    assert sorted(rollout["canary"]["hosts"]) == sorted(h.name for h in fleet.hosts)
    assert [w["name"] for w in rollout["waves"]] == ["canary"] and rollout["halted"] is False
    assert rollout["artifact"] == "etlt"
    for host in fleet.hosts:
        entry = first.hosts[host.name]
        active = link(host)
        # what the report says is what the host has
        assert (entry["status"], entry["wave"], entry["changed"]) == ("deployed", "canary", True), entry
        assert entry["engine"]["fingerprint"] == active and entry["release"]["active"] == active
        assert entry["release"]["changed"] is True and entry["release"]["replaced"] is None
        recorded = manifest(host, active)
        assert recorded["fingerprint"] == active and recorded["smoke"]["passed"] is True
        assert entry["smoke"]["passed"] is True and entry["smoke"]["detections"] == recorded["smoke"]["detections"] == 3
        assert entry["smoke"]["backend"] == recorded["smoke"]["backend"] == "onnxruntime-cpu (engine not executed)"
        assert entry["model"]["sha256"] == recorded["inputs"]["model_sha256"]
        expected = json.loads((REPO_ROOT / "tests" / "fixtures" / "sysroots" / (host.profile["name"] + ".expected.json"))
                              .read_text())["tao_platform"]
        assert entry["platform_class"] == expected["platform_class"]
        engine = (model_dir(host) / active / "model.engine").read_bytes()
        if host.profile["name"] in RTX_PROFILES:
            assert entry["platform"]["tensorrt"]["flavour"] == "tensorrt_rtx" and not engine.startswith(b"TAOFLEET")
        else:
            assert entry["platform"]["tensorrt"]["test_double"] is True and engine.startswith(b"TAOFLEET-TRT-DOUBLE")
        # the DeepStream config and the Triton plan reach the engine through `active`
        config = Path(host.store) / "deepstream" / ("config_infer_primary_%s.txt" % MODEL)
        assert os.path.realpath(config).startswith(str(model_dir(host) / active))
        plan = Path(host.store) / "triton" / MODEL / "1" / "model.plan"
        assert os.path.realpath(plan) == str(model_dir(host) / active / "model.engine")
    assert {"report.html", "report.junit.xml"} <= set(os.listdir(tmp_path / "reports" / "latest"))

    log_lines = Path(fleet.mirror_log).read_text().count("\n")
    second = run_rollout(runner, tmp_path / "reports-2")
    assert second.rc == 0, second.stdout[-5000:] + second.stderr
    for host in fleet.hosts:
        assert second.stats[host.name]["changed"] == 0, (host.name, second.stats[host.name])
        assert second.stats[host.name]["failures"] == 0 and second.stats[host.name]["unreachable"] == 0
        assert second.hosts[host.name]["status"] == "unchanged"
        assert second.hosts[host.name]["engine"]["reused"] is True
        assert link(host) == first.hosts[host.name]["release"]["active"]
    # the model itself was not downloaded again: only the checksum list was asked for
    requests = [json.loads(line) for line in Path(fleet.mirror_log).read_text().splitlines()[log_lines:]]
    assert requests and not [r for r in requests if r["path"].endswith(".etlt")], requests


def test_the_role_on_its_own_fails_a_host_whose_deployment_failed_saying_why(served, ansible, tmp_path):
    # deploy_model_fail_on_error (default true): the role records the result and then fails the host, with the
    # stage, the code, the cause and the fix in the message; the engine active before stays active
    fleet = served
    host = fleet.hosts[0]
    before = link(host)
    play = ("- name: The role in a play of its own\n  hosts: %s\n  gather_facts: false\n  roles:\n"
            "    - role: tao.fleet.deploy_model\n      vars:\n        deploy_model_name: %s\n"
            "        deploy_model_key: not_the_key\n        deploy_model_build_options: {workspace: 256M}\n"
            "        deploy_model_smoke_runs: 2\n        deploy_model_smoke_warmup: 0\n" % (host.name, MODEL))
    run = demo_ansible(fleet, ansible, tmp_path).playbook(play)
    assert run.rc != 0
    # the last fatal line is the role's own (the engine task's is rescued, then recorded)
    marker = "fatal: [%s]: FAILED! => " % host.name
    assert run.stdout.count(marker) == 2, run.stdout[-4000:]
    message = json.JSONDecoder().raw_decode(run.stdout[run.stdout.rindex(marker) + len(marker):])[0]["msg"]
    assert message[0].startswith("failed at engine: model_key_rejected:"), message
    assert "Cause: " in " ".join(message) and "Fix: " in " ".join(message), message
    assert link(host) == before


@pytest.mark.parametrize("bad, message", [
    ({"deploy_model_smoke_backend": "gpu"}, "value of deploy_model_smoke_backend must be one of: auto, tensorrt, onnxruntime"),
    ({"deploy_model_build_options": {"worksapce": "1G"}}, "deploy_model_build_options.worksapce. Supported parameters"),
    ({"deploy_model_waves": ["50%", "10%"]}, "deploy_model_waves[1] (10%) does not go past deploy_model_waves[0] (50%)"),
])
def test_bad_variables_fail_the_rollout_before_any_host_changes(served, ansible, tmp_path, bad, message):
    fleet = served
    clear_stores(fleet)
    run = demo_ansible(fleet, ansible, tmp_path).playbook(str(PLAYBOOK), extra_vars=bad)
    assert run.rc != 0 and message in run.stdout, run.stdout[-3000:]
    assert "PLAY [Canary" not in run.stdout
    for host in fleet.hosts:
        assert os.listdir(host.store) == []


def test_the_example_inventory_passes_the_role_argument_checks(tmp_path):
    """inventory/example as shipped (vault placeholder password: example-only) against the argument specs of
    entry points main and plan; a typo in it would fail here."""
    check = tmp_path / "check.yml"
    check.write_text("""- hosts: all
  gather_facts: false
  tasks:
    - name: Check the example's variables
      ansible.builtin.validate_argument_spec:
        argument_spec: "{{ specs.main.options | combine(specs.plan.options) }}"
        provided_arguments: "{{ dict(names | zip(names | map('extract', hostvars[inventory_hostname]))) }}"
      vars:
        specs: "{{ (lookup('ansible.builtin.file', '%s') | from_yaml).argument_specs }}"
        names: "{{ hostvars[inventory_hostname].keys() | select('match', 'deploy_model_') | list }}"
    - name: Decrypt the vault placeholder
      ansible.builtin.assert:
        that: deploy_model_ngc_api_key == 'nvapi-REPLACE-WITH-YOUR-KEY'
""" % (REPO_ROOT / "roles" / "deploy_model" / "meta" / "argument_specs.yml"))
    password = tmp_path / "vault-password"
    password.write_text("example-only\n")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(REPO_ROOT / "inventory" / "example"),
                           str(check), "--vault-password-file", str(password)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert proc.stdout.count(" failed=0 ") == 7, proc.stdout[-2000:]


def test_the_rollback_playbook_returns_every_host_to_its_previous_engine(served, ansible, tmp_path):
    fleet = served
    clear_stores(fleet)
    runner = demo_ansible(fleet, ansible, tmp_path)
    first = run_rollout(runner, tmp_path / "reports-a")
    second = run_rollout(runner, tmp_path / "reports-b", deploy_model_build_options={"workspace": "512M"})
    assert first.rc == 0 and second.rc == 0, second.stdout[-5000:]
    for host in fleet.hosts:
        assert second.hosts[host.name]["release"]["replaced"] == first.hosts[host.name]["release"]["active"]
    back = run_rollout(runner, tmp_path / "reports-back", playbook=REPO_ROOT / "playbooks" / "rollback.yml")
    assert back.rc == 0, back.stdout[-5000:]
    for host in fleet.hosts:
        entry = back.hosts[host.name]
        assert (entry["status"], entry["stage"]) == ("rolled_back", "rollback"), entry
        assert link(host) == first.hosts[host.name]["release"]["active"] == entry["release"]["active"]
        assert link(host, "rolled_back_from") == second.hosts[host.name]["release"]["active"]
    again = run_rollout(runner, tmp_path / "reports-again", playbook=REPO_ROOT / "playbooks" / "rollback.yml")
    assert again.rc == 0
    for host in fleet.hosts:
        assert again.stats[host.name]["changed"] == 0 and again.hosts[host.name]["status"] == "unchanged"
        assert link(host) == first.hosts[host.name]["release"]["active"]


# ---- a fleet of 9 hosts, 3 classes: canary, then waves of 1, 2 and 3 hosts --------------------------------

@pytest.fixture(scope="module")
def wave_fleet():
    name, subnet = _wave_fleet_name_and_subnet()
    fleet = conftest.fleet_up(name, subnet, "--hosts", "9", "--profiles", ",".join(WAVE_PROFILES))
    try:
        assert [h.name for h in fleet.hosts] == WAVE_HOSTS
        serve_model(fleet)
        yield fleet
    finally:
        conftest.run_fleet("down", "--name", name)


@pytest.fixture
def waves(wave_fleet, ansible, tmp_path):
    clear_stores(wave_fleet)
    return demo_ansible(wave_fleet, ansible.bound_to(wave_fleet), tmp_path)


def test_canary_failure_stops_before_any_wave(wave_fleet, waves, tmp_path):
    failing = "xavier-nx-jp51-03"
    run = run_rollout(waves, tmp_path / "reports", pre_plays=wrong_key_for(failing))
    assert run.rc != 0
    rollout = run.report["rollout"]
    assert rollout["canary"]["hosts"] == CANARY and rollout["canary"]["outcome"] == "failed"
    assert [(w["name"], w["hosts"]) for w in rollout["waves"][1:]] == sorted(WAVES.items())
    assert rollout["halted"] is True
    assert run.hosts[failing]["status"] == "failed" and run.hosts[failing]["stage"] == "engine"
    assert run.hosts[failing]["error"]["code"] == "model_key_rejected"
    message = final_message(run)
    assert message.startswith("Rollout") and "HALTED: the canary failed on 1 of 3 platform classes" in message
    assert "%s (failed at engine, model_key_rejected)" % failing in message
    # no wave started: its hosts have nothing, not even the model
    for name in WAVE_HOSTS[3:]:
        host = wave_fleet.host(name)
        assert run.hosts[name]["status"] == "skipped", run.hosts[name]
        assert engines(host) == [] and not (Path(host.store) / "models").exists()
        assert "tao.fleet.deploy_model : Fetch the model, build or reuse the engine, smoke-test it and make it active" not in [
            e["task"] for e in run.results.get(name, [])]
    # the failed canary kept nothing; the others had no engine before, so theirs stays (and the message says so)
    assert link(wave_fleet.host(failing)) is None and engines(wave_fleet.host(failing)) == []
    for name in CANARY[:2]:
        assert run.hosts[name]["status"] == "deployed" and link(wave_fleet.host(name)) == run.hosts[name]["release"]["active"]
    assert "Kept the new engine, having none before it to return to (2): %s." % ", ".join(CANARY[:2]) in message


def test_wave_failure_rolls_back_every_host_the_run_switched(wave_fleet, waves, tmp_path):
    first = run_rollout(waves, tmp_path / "reports-a")
    assert first.rc == 0, first.stdout[-5000:]
    before = dict((name, link(wave_fleet.host(name))) for name in WAVE_HOSTS)
    assert all(before.values())
    failing = "xavier-nx-jp51-06"  # wave 2
    # new build options: a new engine (new fingerprint) for every host
    run = run_rollout(waves, tmp_path / "reports-b", pre_plays=wrong_key_for(failing),
                      deploy_model_build_options={"workspace": "512M"})
    assert run.rc != 0
    rollout = run.report["rollout"]
    assert rollout["halted"] is True and rollout["rolled_back"] is True
    outcomes = dict((w["name"], w["outcome"]) for w in rollout["waves"])
    assert outcomes == {"canary": "rolled_back", "1": "rolled_back", "2": "failed", "3": "skipped"}
    switched = CANARY + WAVES["1"] + ["nano-jp46-05"]
    for name in switched:
        host, entry = wave_fleet.host(name), run.hosts[name]
        new = entry["engine"]["fingerprint"]
        assert new != before[name] and new in engines(host)
        assert (entry["status"], entry["stage"]) == ("rolled_back", "rollback"), entry
        # back on the engine the first rollout released; the new one is what a rollback left
        assert link(host) == before[name] == entry["release"]["active"]
        assert link(host, "rolled_back_from") == new
    entry = run.hosts[failing]
    assert (entry["status"], entry["stage"], entry["error"]["code"]) == ("failed", "engine", "model_key_rejected")
    assert link(wave_fleet.host(failing)) == before[failing]
    for name in WAVES["3"]:
        assert run.hosts[name]["status"] == "skipped" and link(wave_fleet.host(name)) == before[name]
        assert engines(wave_fleet.host(name)) == [before[name]]
    # every host says which engine it runs now, and so does the page; the recap fails exactly the failed host
    html = (run.report_dir / "report.html").read_text()
    for name in WAVE_HOSTS:
        assert run.hosts[name]["active_engine"] == before[name] == link(wave_fleet.host(name)), name
        assert run.stats[name]["failures"] == (1 if name == failing else 0), (name, run.stats[name])
    for name in switched:
        assert 'data-active="%s"' % before[name] in html
    message = final_message(run)
    assert "HALTED: wave 2 failed on 1 of 2 hosts, more than its failure threshold of 0 allows" in message
    assert "Returned to their previous engine (5): %s." % ", ".join(switched) in message
    assert "%s (failed at engine, model_key_rejected)" % failing in message


def test_a_failed_smoke_test_keeps_the_previous_engine_and_names_the_stage(wave_fleet, waves, tmp_path):
    # smoke test, consumer files and release run in the engine stage's one module call (engine_deploy): the
    # report must still say the host failed at smoke, and its previous engine must stay active
    first = run_rollout(waves, tmp_path / "reports-a")
    assert first.rc == 0, first.stdout[-5000:]
    before = dict((name, link(wave_fleet.host(name))) for name in WAVE_HOSTS)
    failing = CANARY[2]
    impossible = ("- name: Ask %s for more than the picture has\n  hosts: %s\n  gather_facts: false\n  tasks:\n"
                  "    - name: Expect 99 detections\n      ansible.builtin.set_fact:\n"
                  "        deploy_model_smoke_expect: {min_detections: 99}\n" % (failing, failing))
    # new build options: a new engine, which every host must test before its release
    run = run_rollout(waves, tmp_path / "reports-b", pre_plays=impossible,
                      deploy_model_build_options={"workspace": "512M"})
    assert run.rc != 0
    entry = run.hosts[failing]
    assert (entry["status"], entry["stage"], entry["error"]["code"]) == ("failed", "smoke", "smoke_failed"), entry
    # no release ran (the report writes its fields empty)
    assert entry["smoke"]["passed"] is False and (entry["release"] or {}).get("active") is None
    new = entry["engine"]["fingerprint"]
    assert new != before[failing] and new in engines(wave_fleet.host(failing))
    assert link(wave_fleet.host(failing)) == before[failing]
    assert manifest(wave_fleet.host(failing), new)["smoke"]["passed"] is False
    assert "%s (failed at smoke, smoke_failed)" % failing in final_message(run)
    # the canary failed: no wave started, and the other canaries went back to the engine they had
    for name in CANARY[:2]:
        assert run.hosts[name]["status"] == "rolled_back" and link(wave_fleet.host(name)) == before[name]
    for name in WAVE_HOSTS[3:]:
        assert run.hosts[name]["status"] == "skipped" and link(wave_fleet.host(name)) == before[name]


def test_a_host_cut_off_mid_rollout_is_reported_unreachable(wave_fleet, waves, tmp_path):
    lost, watched = "xavier-nx-jp51-09", wave_fleet.host(WAVES["1"][0])  # wave 3; the cut comes after wave 1
    cut = threading.Event()
    running = threading.Event()
    running.set()

    def cut_when_wave_1_released():
        # wave 3 starts only after wave 2 finished, long after wave 1's release
        while running.is_set():
            if link(watched):
                wave_fleet.set_link(lost, False)
                cut.set()
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=cut_when_wave_1_released, daemon=True)
    watcher.start()
    try:
        run = run_rollout(waves, tmp_path / "reports", deploy_model_failure_threshold="50%")
    finally:
        running.clear()
        watcher.join(timeout=30)
        wave_fleet.set_link(lost, True)
    assert cut.is_set(), "wave 1 never released, so the link was never cut:\n" + run.stdout[-3000:]
    assert run.rc != 0
    entry = run.hosts[lost]
    assert (entry["status"], entry["wave"], entry["error"]["code"]) == ("unreachable", "3", "host_unreachable"), entry
    assert entry["stage"] in ("fetch", "engine", "smoke", "consumers", "release")
    assert "UNREACHABLE!" in run.stdout and "fatal: [%s]: UNREACHABLE!" % lost in run.stdout
    # one of three in wave 3 is within the 50% threshold: the rollout went on, and the others are deployed
    assert run.report["rollout"]["halted"] is False
    assert run.report["summary"]["by_status"] == {"failed": 0, "unreachable": 1, "rolled_back": 0, "skipped": 0,
                                                  "deployed": 8, "unchanged": 0}
    for name in WAVE_HOSTS:
        if name != lost:
            assert run.hosts[name]["status"] == "deployed" and link(wave_fleet.host(name))
    assert link(wave_fleet.host(lost)) is None
    message = final_message(run)
    assert "not on every host: 1 of 9 failed or were unreachable" in message
    assert "%s (unreachable at %s, host_unreachable)" % (lost, entry["stage"]) in message
