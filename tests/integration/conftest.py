# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Integration harness: a simulated fleet (real sshd hosts in network namespaces) and real ansible-playbook runs.

Fixtures:
- `fleet` (session): fleet `tfit` on 198.18.1.0/24, one host per profile, up once for the whole run and
  taken down at the end, also when tests fail.
- `fleet_factory`: brings up further fleets (own name and subnet) inside a test; downs them afterwards.
- `ansible`: `ansible.playbook(playbook, limit=None, extra_vars=None, check=False, diff=False, env=None,
  verbosity=0)` runs the controller's ansible-playbook against the fleet and returns a `PlaybookRun`.

Run with the controller venv (tests/setup makes it), as root:
    tests/output/controller/bin/python -m pytest tests/integration
TAO_FLEET_ALLOW_MISSING_SYSROOT=1 lets hosts whose sysroot fixture tree does not exist yet start empty.
TAO_FLEET_IT_NAME / TAO_FLEET_IT_SUBNET replace `tfit` / `198.18.1` (two runs at once on one machine).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FLEET_PY = REPO_ROOT / "tests" / "fleet" / "fleet.py"
CALLBACK_DIR = Path(__file__).resolve().parent / "callback_plugins"
SETUP_COLLECTIONS = REPO_ROOT / "tests" / "output" / "collections"
# Two engineers running integration tests at once on one machine set these to keep their fleets apart.
SESSION_FLEET = (os.environ.get("TAO_FLEET_IT_NAME", "tfit"), os.environ.get("TAO_FLEET_IT_SUBNET", "198.18.1"))
PLAYBOOK_TIMEOUT_S = 1800
FLEET_TIMEOUT_S = 3600  # the first `up` on a machine builds the hosts' venvs (downloads)


def run_fleet(*args: str) -> str:
    proc = subprocess.run([sys.executable, str(FLEET_PY), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=FLEET_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise RuntimeError("fleet.py %s failed (rc %d):\n%s" % (" ".join(args), proc.returncode, proc.stderr))
    return proc.stdout


class Host:
    def __init__(self, state: dict):
        self.name = state["name"]
        self.address = state["address"]
        self.netns = state["netns"]
        self.profile = state["profile"]
        self.python = state["python"]
        self.sysroot = state["sysroot"]
        self.store = state["store"]
        self.connection = state["connection"]
        self.connection_note = state["connection_note"]
        self.veth = state["veth"]
        self.sshd_log = state["sshd_log"]
        self.sshd_pidfile = state["sshd_pidfile"]

    def __repr__(self) -> str:
        return "Host(%s, %s)" % (self.name, self.address)


class Fleet:
    """A fleet that `fleet.py up` brought up, as its fleet.json describes it."""

    def __init__(self, inventory: str):
        self.state = json.loads((Path(inventory).parent / "fleet.json").read_text())
        self.name = self.state["name"]
        self.workdir = self.state["workdir"]
        self.inventory = self.state["inventory"]
        self.hosts = [Host(h) for h in self.state["hosts"]]
        self.mirror_url = self.state["mirror"]["url"]
        self.mirror_root = self.state["mirror"]["root"]
        self.mirror_log = self.state["mirror"]["log"]

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError("fleet %s has no host %s (hosts: %s)" % (self.name, name, [h.name for h in self.hosts]))

    def set_link(self, host_name: str, up: bool) -> None:
        run_fleet("link", "--name", self.name, self.host(host_name).name, "up" if up else "down")

    def down(self) -> str:
        return run_fleet("down", "--name", self.name)


def fleet_up(name: str, subnet: str, *extra: str) -> Fleet:
    args = ["up", "--name", name, "--subnet", subnet, *extra]
    if os.environ.get("TAO_FLEET_ALLOW_MISSING_SYSROOT") == "1":
        args.append("--allow-missing-sysroot")
    try:
        return Fleet(run_fleet(*args).strip().splitlines()[-1])
    except BaseException:
        run_fleet("down", "--name", name)
        raise


@pytest.fixture(scope="session")
def fleet():
    name, subnet = SESSION_FLEET
    session_fleet = fleet_up(name, subnet)
    try:
        yield session_fleet
    finally:
        run_fleet("down", "--name", name)


@pytest.fixture
def fleet_cli():
    """fleet_cli("down", "--name", NAME): runs tests/fleet/fleet.py; returns its stdout, raises on failure."""
    return run_fleet


@pytest.fixture
def fleet_factory():
    made = []

    def make(name: str, subnet: str, *extra: str) -> Fleet:
        made.append(name)
        return fleet_up(name, subnet, *extra)
    yield make
    for name in made:
        run_fleet("down", "--name", name)


class PlaybookRun:
    """What one ansible-playbook run did, from its exit code, output, log file and the recording callback."""

    def __init__(self, rc: int, stdout: str, stderr: str, log_text: str, record: dict):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.log_text = log_text
        self.stats = record.get("stats", {})
        self.results = record.get("results", {})

    def result(self, host: str, task_name: str) -> dict:
        """The module result of the last run of task_name on host."""
        for entry in reversed(self.results.get(host, [])):
            if entry["task"] == task_name:
                return entry["result"]
        raise KeyError("no result of task %r on %s; recorded there: %s" % (
            task_name, host, [e["task"] for e in self.results.get(host, [])]))


class Ansible:
    def __init__(self, fleet: Fleet, run_dir: Path, collections_path: str):
        self.fleet = fleet
        self.run_dir = run_dir
        self.collections_path = collections_path
        self.runs = 0

    def bound_to(self, other: Fleet) -> "Ansible":
        return Ansible(other, self.run_dir / other.name, self.collections_path)

    def playbook(self, playbook, limit=None, extra_vars=None, check=False, diff=False, env=None,
                 verbosity=0) -> PlaybookRun:
        self.runs += 1
        run_dir = self.run_dir / ("run-%d" % self.runs)
        run_dir.mkdir(parents=True)
        path = Path(playbook) if "\n" not in str(playbook) else None
        if path is None or not path.is_file():
            path = run_dir / "playbook.yml"
            path.write_text(str(playbook))
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", self.fleet.inventory, str(path)]
        if limit:
            cmd += ["--limit", limit if isinstance(limit, str) else ",".join(limit)]
        if extra_vars:
            (run_dir / "extra_vars.json").write_text(json.dumps(extra_vars))
            cmd += ["--extra-vars", "@%s" % (run_dir / "extra_vars.json")]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        run_env = dict(os.environ)
        run_env.update({
            "ANSIBLE_COLLECTIONS_PATH": self.collections_path,
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
            "ANSIBLE_CALLBACKS_ENABLED": "tao_fleet_record",
            "ANSIBLE_STDOUT_CALLBACK": "default",
            "TAO_FLEET_RECORD_PATH": str(run_dir / "record.json"),
            "ANSIBLE_LOG_PATH": str(run_dir / "ansible.log"),
            "ANSIBLE_FORKS": str(min(25, max(5, len(self.fleet.hosts)))),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
        })
        run_env.update(env or {})
        proc = subprocess.run(cmd, cwd=str(REPO_ROOT), env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=PLAYBOOK_TIMEOUT_S, check=False)
        log_path, record_path = run_dir / "ansible.log", run_dir / "record.json"
        (run_dir / "stdout.txt").write_text(proc.stdout)
        return PlaybookRun(proc.returncode, proc.stdout, proc.stderr,
                           log_path.read_text() if log_path.exists() else "",
                           json.loads(record_path.read_text()) if record_path.exists() else {})


@pytest.fixture(scope="session")
def collections_path(tmp_path_factory) -> str:
    """ANSIBLE_COLLECTIONS_PATH as given, else tests/setup's link, else a link made for this run."""
    if os.environ.get("ANSIBLE_COLLECTIONS_PATH"):
        return os.environ["ANSIBLE_COLLECTIONS_PATH"]
    if (SETUP_COLLECTIONS / "ansible_collections" / "tao" / "fleet").exists():
        return str(SETUP_COLLECTIONS)
    root = tmp_path_factory.mktemp("collections")
    (root / "ansible_collections" / "tao").mkdir(parents=True)
    (root / "ansible_collections" / "tao" / "fleet").symlink_to(REPO_ROOT)
    return str(root)


@pytest.fixture
def ansible(fleet, tmp_path, collections_path) -> Ansible:
    if not (Path(sys.executable).parent / "ansible-playbook").exists():
        pytest.fail("no ansible-playbook next to %s: run the integration tests with the controller venv "
                    "(tests/setup; tests/output/controller/bin/python -m pytest tests/integration)" % sys.executable)
    return Ansible(fleet, tmp_path, collections_path)
