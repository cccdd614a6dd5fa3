# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Day-2 tools on the simulated fleet (issue "An operator's day", point 9): pruning the hosts' stores and the
controller's cache (playbooks/prune.yml), and preparing hosts (role tao.fleet.host_prepare).

Real ansible-playbook runs over real ssh to the session fleet (6 sshd hosts), with inventory/demo's group_vars,
after real rollouts that left each host three engines: active, previous and one that no link names."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("tao_fleet_rollout_helpers", Path(__file__).with_name("test_rollout.py"))
rollout = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(rollout)

PRUNE = rollout.REPO_ROOT / "playbooks" / "prune.yml"
DEPLOYED = rollout.REPO_ROOT / "playbooks" / "deployed.yml"
SUMMARY_TASK = "Say what was removed where"


# the session fleet with the demo model served, and the demo inventory over it with empty stores
served = rollout.served
runner = rollout.runner


def share_entries(fleet):
    share = Path(fleet.workdir) / "controller-cache" / "engines"
    return sorted(p.name for p in share.iterdir() if len(p.name) == 64) if share.is_dir() else []


def cached_models(fleet):
    models = Path(fleet.workdir) / "controller-cache" / "models"
    return sorted(p.name for p in models.iterdir() if len(p.name) == 64) if models.is_dir() else []


def summary(run):
    lines = [entry["result"]["msg"] for entries in run.results.values() for entry in entries
             if entry["task"] == SUMMARY_TASK]
    assert len(lines) == 1, run.stdout[-3000:]
    return "\n".join(lines[0])


def three_engines_per_host(served, runner, tmp_path):
    """Three rollouts with different build options: active, previous and one unlinked engine per host."""
    fingerprints = []
    for workspace in ("1G", "512M", "256M"):
        run = rollout.run_rollout(runner, tmp_path / "reports",
                                  deploy_model_build_options={"workspace": workspace})
        assert run.rc == 0, run.stdout[-4000:]
        fingerprints.append(dict((h.name, rollout.link(h)) for h in served.hosts))
    return fingerprints


def test_prune_removes_only_what_no_host_needs_and_a_second_run_changes_nothing(served, runner, tmp_path):
    oldest, previous, active = three_engines_per_host(served, runner, tmp_path)
    share_before = share_entries(served)
    assert set(oldest.values()) <= set(share_before)
    no_age = {"tao_prune_min_age": 0}

    check = runner.playbook(str(PRUNE), check=True, extra_vars=no_age)
    assert check.rc == 0, check.stdout[-4000:]
    for host in served.hosts:
        assert oldest[host.name] in rollout.engines(host)
        assert check.result(host.name, "Remove engines no link names, models no kept engine needs, and what "
                                       "killed work left")["engines"][rollout.MODEL]["removed"] == [oldest[host.name]]
    assert "Would remove 1 engine (" in summary(check)
    assert share_entries(served) == share_before

    run = runner.playbook(str(PRUNE), extra_vars=no_age)
    assert run.rc == 0, run.stdout[-4000:]
    for host in served.hosts:
        assert rollout.engines(host) == sorted([previous[host.name], active[host.name]])
        assert (rollout.link(host), rollout.link(host, "previous")) == (active[host.name], previous[host.name])
        assert run.stats[host.name]["changed"] >= 1
    # the controller keeps what some host keeps: the oldest engines' share entries went, the others stayed
    assert set(share_entries(served)) == set(previous.values()) | set(active.values())
    assert len(cached_models(served)) == 1
    text = summary(run)
    assert "Removed 1 engine (" in text and "controller cache: Removed " in text

    again = runner.playbook(str(PRUNE), extra_vars=no_age)
    assert again.rc == 0, again.stdout[-4000:]
    assert all(again.stats[h.name]["changed"] == 0 for h in served.hosts), again.stats
    assert summary(again).count("Nothing to remove.") == len(served.hosts) + 1

    # what the rollback needs is still there
    back = rollout.run_rollout(runner, tmp_path / "reports", playbook=rollout.REPO_ROOT / "playbooks" / "rollback.yml")
    assert back.rc == 0, back.stdout[-4000:]
    assert all(rollout.link(h) == previous[h.name] for h in served.hosts)


def test_limit_prunes_those_hosts_and_leaves_the_controller_cache_alone(served, runner, tmp_path):
    first = rollout.run_rollout(runner, tmp_path / "reports")
    assert first.rc == 0, first.stdout[-4000:]
    share_before = share_entries(served)
    chosen = served.hosts[0].name
    run = runner.playbook(str(PRUNE), limit=chosen,
                          extra_vars={"tao_prune_min_age": 0, "tao_prune_retire": [rollout.MODEL]})
    assert run.rc == 0, run.stdout[-4000:]
    # retired on the chosen host only, with its model file; the others still run it
    assert not rollout.model_dir(served.host(chosen)).exists()
    assert not any((Path(served.host(chosen).store) / "models").glob("[0-9a-f]" * 64))
    assert all(rollout.link(h) for h in served.hosts if h.name != chosen)
    assert "controller cache: left alone (not every host of the inventory answered or was asked" in summary(run)
    assert share_entries(served) == share_before

    deployed = runner.playbook(str(DEPLOYED))
    assert deployed.rc == 0, deployed.stdout[-4000:]
    assert "nothing deployed" in deployed.stdout


def test_an_offline_host_leaves_the_controller_cache_alone_and_is_named(served, runner, tmp_path):
    first = rollout.run_rollout(runner, tmp_path / "reports")
    assert first.rc == 0, first.stdout[-4000:]
    share_before = share_entries(served)
    lost = served.hosts[-1].name
    served.set_link(lost, False)
    try:
        run = runner.playbook(str(PRUNE), extra_vars={"tao_prune_min_age": 0, "tao_prune_retire": [rollout.MODEL]})
    finally:
        served.set_link(lost, True)
    text = summary(run)
    assert "%s: DID NOT ANSWER, nothing removed" % lost in text
    assert "controller cache: left alone" in text
    assert share_entries(served) == share_before
    assert rollout.link(served.host(lost)) and not rollout.model_dir(served.hosts[0]).exists()
    assert os.path.isdir(served.host(lost).store)


# ---- role tao.fleet.host_prepare -----------------------------------------------------------------------------

PREPARE = rollout.REPO_ROOT / "playbooks" / "prepare_hosts.yml"
PREPARE_SAY = "tao.fleet.host_prepare : Say what this host has, and fail it when something is still missing"
# profile: (its Python, the offline wheels it needs): JetPack 4's Python 3.6 (whose venv pip 18 cannot install
# manylinux2014 wheels, so it upgrades itself first) and JetPack 6's 3.10
PREPARED = {"nano-jp46": ("3.6", ["numpy==1.19.5", "pip==21.3.1"]), "orin-nx-jp62": ("3.10", ["numpy==2.2.6"])}


def base_interpreter(host):
    """The Python the host's venv was made from (pyvenv.cfg's home)."""
    config = Path(host.python).parent.parent / "pyvenv.cfg"
    home = [line.split("=", 1)[1].strip() for line in config.read_text().splitlines() if line.startswith("home")][0]
    return str(Path(home) / "python3")


@pytest.fixture
def bare_venvs(served, tmp_path):
    """A fresh venv per prepared host, made from its own Python: what the modules' interpreter looks like before
    anything is installed (the fleet's own venvs are shared by every test and stay untouched)."""
    root = tmp_path / "bare"
    for host in served.hosts:
        if host.profile["name"] in PREPARED:
            subprocess.run([base_interpreter(host), "-m", "venv", str(root / host.name)], check=True)
    return root


@pytest.fixture(scope="module")
def numpy_wheels(tmp_path_factory):
    """Offline wheels: numpy for each prepared host's Python, downloaded once from the package index (the hosts
    themselves reach no index: their namespaces have no route out)."""
    wheels = tmp_path_factory.mktemp("wheels")
    for python, requirements in PREPARED.values():
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--only-binary=:all:", "--python-version", python, "--platform", "manylinux2014_x86_64",
                        "--dest", str(wheels)] + requirements, check=True)
    return wheels


def imports_numpy(venv):
    return subprocess.run([str(venv / "bin" / "python"), "-c", "import numpy"], check=False).returncode == 0


def test_host_prepare_installs_from_offline_wheels_says_so_and_then_changes_nothing(
        served, runner, bare_venvs, numpy_wheels, tmp_path):
    hosts = [h.name for h in served.hosts if h.profile["name"] in PREPARED]
    options = {"host_prepare_python": str(bare_venvs) + "/{{ inventory_hostname }}/bin/python",
               "host_prepare_packages": ["numpy"], "host_prepare_wheels_dir": str(numpy_wheels),
               "host_prepare_remote_wheels_dir": str(tmp_path) + "/remote-wheels/{{ inventory_hostname }}"}

    check = runner.playbook(str(PREPARE), limit=hosts, check=True, extra_vars=options)
    assert check.rc == 0, check.stdout[-4000:]
    for host in served.hosts:
        if host.name in hosts:
            message = check.result(host.name, PREPARE_SAY)["msg"]
            # JetPack 4's Python 3.6: numpy's last release there, after pip upgrades itself to read manylinux2014
            expected = ("would install pip pip>=19.3,<22, pip numpy<1.20;" if host.profile["name"] == "nano-jp46"
                        else "would install pip numpy;")
            assert message.startswith("%s: %s" % (host.name, expected)), message
            assert not imports_numpy(bare_venvs / host.name)

    run = runner.playbook(str(PREPARE), limit=hosts, extra_vars=options)
    assert run.rc == 0, run.stdout[-4000:]
    for name in hosts:
        assert imports_numpy(bare_venvs / name)
        assert run.stats[name]["changed"] >= 1
        message = run.result(name, PREPARE_SAY)["msg"]
        assert message.startswith("%s: installed " % name) and "pip numpy" in message, message
        assert message.endswith("/bin/python imports numpy."), message

    again = runner.playbook(str(PREPARE), limit=hosts, extra_vars=options)
    assert again.rc == 0, again.stdout[-4000:]
    assert all(again.stats[name]["changed"] == 0 for name in hosts), again.stats
    assert all("nothing to install" in again.result(name, PREPARE_SAY)["msg"] for name in hosts)


def test_host_prepare_stops_before_installing_when_the_plan_cannot_work(served, runner, bare_venvs, tmp_path):
    hosts = [h.name for h in served.hosts if h.profile["name"] in PREPARED]
    run = runner.playbook(str(PREPARE), limit=hosts, extra_vars={
        "host_prepare_python": str(bare_venvs) + "/{{ inventory_hostname }}/bin/python", "host_prepare_apt": False})
    assert run.rc == 2, run.stdout[-4000:]
    for name in hosts:
        message = run.result(name, "tao.fleet.host_prepare : Stop before installing anything when the plan cannot "
                                   "work on this host")["msg"]
        assert "does not see them. Fix: recreate it with --system-site-packages" in message, message
        assert not imports_numpy(bare_venvs / name)


# ---- progress of a running deployment --------------------------------------------------------------------------

def progress_files(fleet):
    return dict((h.name, sorted(p.name for p in (Path(h.store) / "progress").glob("*.json"))) for h in fleet.hosts)


def test_a_rollout_writes_each_stage_while_it_runs_and_leaves_no_progress_behind(served, runner, tmp_path):
    seen = dict((h.name, []) for h in served.hosts)
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for host in served.hosts:
                path = Path(host.store) / "progress" / (rollout.MODEL + ".json")
                try:
                    state = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                if not seen[host.name] or seen[host.name][-1] != state["stage"]:
                    seen[host.name].append(state["stage"])
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run = rollout.run_rollout(runner, tmp_path / "reports")
    finally:
        stop.set()
        watcher.join()
    assert run.rc == 0, run.stdout[-4000:]
    stages = ["fetch", "engine", "smoke", "consumers", "release"]
    for name, order in seen.items():
        # a fast stage may pass between two looks, and the engine share can cost a host two module calls (the
        # second starts again at its first stage): every stage seen is one of the five, and engine is among them
        assert order and set(order) <= set(stages) and "engine" in order, (name, order)
    assert progress_files(served) == dict((h.name, []) for h in served.hosts)


def plant_progress(host, pid, stage, seconds, details, start_offset=0):
    directory = Path(host.store) / "progress"
    directory.mkdir(exist_ok=True)
    stat = Path("/proc/%d/stat" % pid).read_text()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds))
    (directory / (rollout.MODEL + ".json")).write_text(json.dumps({
        "schema": 1, "model": rollout.MODEL, "pid": pid,
        # the hostname the host answers with: each simulated host's sshd runs in a UTS namespace of its own
        "host": host.name,
        "start": str(int(stat[stat.rindex(")") + 2:].split()[19]) + start_offset),
        "started_at": started, "stage": stage, "stage_started_at": started, "details": details}))


def test_deployed_shows_what_a_running_deployment_does_and_one_that_was_killed(served, runner, tmp_path):
    first = rollout.run_rollout(runner, tmp_path / "reports")
    assert first.rc == 0, first.stdout[-4000:]
    building, killed = served.hosts[0], served.hosts[1]
    sleeper = subprocess.Popen(["sleep", "120"])
    try:
        plant_progress(building, sleeper.pid, "engine", 65, {"build_seconds": 63, "build_memory_mb": 1870})
        # a killed run: its pid now names another process (another start time), as after a pid is reused
        plant_progress(killed, sleeper.pid, "smoke", 10, {}, start_offset=1)
        status = runner.playbook(str(DEPLOYED))
    finally:
        sleeper.kill()
        sleeper.wait()
        for host in (building, killed):
            shutil.rmtree(Path(host.store) / "progress", ignore_errors=True)
    assert status.rc == 0, status.stdout[-3000:]
    table = [entry["result"]["msg"] for entries in status.results.values() for entry in entries
             if entry["task"] == "Print what is deployed where"][0]
    assert table[0].split()[-1] == "now", table[0]
    rows = dict((line.split()[0], line) for line in table[1:])
    # 65 s when planted, plus however long the playbook took to reach the host
    assert re.search(r"engine 1m[0-5][0-9]s \(1870 MiB\)$", rows[building.name]), rows[building.name]
    assert rows[killed.name].endswith("killed at smoke"), rows[killed.name]
    assert all(rows[h.name].endswith(" -") for h in served.hosts if h not in (building, killed))


# ---- tags per stage of the rollout --------------------------------------------------------------------------

# 9 hosts of 3 classes: 3 canaries and 6 in the waves (the session fleet has one host per class, no wave)
wave_fleet = rollout.wave_fleet


def ended(run):
    """The closing message, said once, on the first target host."""
    said = [entry["result"]["msg"] for entries in run.results.values() for entry in entries
            if entry["task"] == "Say how the rollout ended"]
    assert len(said) == 1, run.stdout[-3000:]
    return said[0]


def test_tags_pick_the_stages_and_the_report_and_verdict_say_what_ran(served, runner, tmp_path):
    reports = tmp_path / "reports"
    extra = {"fleet_report_dir": str(reports), "deploy_model_smoke_runs": 5}

    # platform only: the plan is shown, no host is touched, no report is written
    platform = runner.playbook(str(rollout.PLAYBOOK), extra_vars=extra, env={"ANSIBLE_RUN_TAGS": "platform"})
    assert platform.rc == 0, platform.stdout[-4000:]
    assert "this run deploys nothing (its tags leave out canary and waves)" in platform.stdout
    assert all(rollout.link(h) is None for h in served.hosts) and not reports.exists()

    # waves without their canary: refused before any host changes
    waves = runner.playbook(str(rollout.PLAYBOOK), extra_vars=extra, env={"ANSIBLE_RUN_TAGS": "waves"})
    assert waves.rc != 0 and "deploy the waves without their canary" in waves.stdout, waves.stdout[-3000:]
    assert all(rollout.link(h) is None for h in served.hosts)


def test_canary_only_deploys_and_reports_the_canaries_and_skip_report_writes_no_files(wave_fleet, tmp_path, ansible):
    runner = rollout.demo_ansible(wave_fleet, ansible, tmp_path)
    rollout.clear_stores(wave_fleet)
    reports = tmp_path / "reports"
    run = runner.playbook(str(rollout.PLAYBOOK),
                          extra_vars={"fleet_report_dir": str(reports), "deploy_model_smoke_runs": 5},
                          env={"ANSIBLE_RUN_TAGS": "canary"})
    assert run.rc == 0, run.stdout[-4000:]
    switched = sorted(h.name for h in wave_fleet.hosts if rollout.link(h))
    assert switched == sorted(rollout.CANARY)
    report = json.loads((reports / "latest" / "report.json").read_text())
    assert sorted(entry["host"] for entry in report["hosts"]) == sorted(rollout.CANARY)
    message = ended(run)
    assert "Only the canary ran (the run's tags left out the waves): not touched (6): " in message, message

    # the rest, the next day: the canaries' records answer without a call, the waves deploy; no report files
    later = runner.playbook(str(rollout.PLAYBOOK),
                            extra_vars={"fleet_report_dir": str(tmp_path / "none"), "deploy_model_smoke_runs": 5},
                            env={"ANSIBLE_SKIP_TAGS": "report"})
    assert later.rc == 0, later.stdout[-4000:]
    assert all(rollout.link(h) for h in wave_fleet.hosts)
    assert not (tmp_path / "none").exists()
    assert "finished on 9 hosts (6 deployed, 3 unchanged)" in ended(later)
