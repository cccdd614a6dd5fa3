# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The simulated fleet itself: real sshd per host, each host's own Python, paths and network; clean teardown."""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FLEET_PY = REPO_ROOT / "tests" / "fleet" / "fleet.py"
SYSROOT_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "sysroots"
REGISTRY_DIR = Path(os.environ.get("TAO_FLEET_REGISTRY", "/run/tao_fleet"))

PING = """
- hosts: all
  gather_facts: false
  tasks:
    - name: ping
      ansible.builtin.ping:
"""


def ip_addresses(netns: str | None = None) -> set[str]:
    cmd = ["ip"] + (["-n", netns] if netns else []) + ["-o", "-4", "addr", "show"]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
    return {line.split()[line.split().index("inet") + 1].split("/")[0] for line in out.splitlines()}


def names_with_prefix(prefix: str) -> dict[str, list[str]]:
    netns = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, text=True, check=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], stdout=subprocess.PIPE, text=True, check=True).stdout
    return {
        "namespaces": [line.split()[0] for line in netns.splitlines() if line.startswith(prefix)],
        "interfaces": [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()
                       if line.split(":")[1].strip().startswith(prefix)],
    }


def live_processes_mentioning(text: str) -> list[str]:
    """Command lines of live (not zombie) processes, other than this one, that mention text."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = Path("/proc/%s/cmdline" % pid).read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path("/proc/%s/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if int(pid) != os.getpid() and state != "Z" and text in args:
            found.append("%s: %s" % (pid, args))
    return found


def pid_alive(pid: int) -> bool:
    try:
        return Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def sshd_pids(fleet) -> dict[str, int]:
    return {h.name: int(Path(h.sshd_pidfile).read_text().split()[0]) for h in fleet.hosts}


def test_each_host_runs_its_profile_python_behind_its_own_sshd(fleet, ansible):
    run = ansible.playbook("""
- hosts: all
  gather_facts: false
  tasks:
    - name: facts
      ansible.builtin.setup:
        gather_subset: [min]
""")
    assert run.rc == 0, run.stdout + run.stderr
    assert sorted(run.stats) == sorted(h.name for h in fleet.hosts)
    for host in fleet.hosts:
        facts = run.result(host.name, "facts")["ansible_facts"]
        version = facts["ansible_python"]["version"]
        assert "%d.%d" % (version["major"], version["minor"]) == host.profile["python"], host.name
        assert facts["ansible_python"]["executable"] == host.python
        assert facts["ansible_hostname"] == host.name
        # SSH_CONNECTION = "client_ip client_port server_ip server_port": the sshd in this host's namespace.
        client_ip, _client_port, server_ip, server_port = facts["ansible_env"]["SSH_CONNECTION"].split()
        assert (server_ip, server_port) == (host.address, "22")
        assert client_ip == fleet.state["bridge_address"]


def test_paramiko_host_really_connects_through_paramiko(fleet, ansible):
    host = fleet.host("agx-orin-jp62")
    if host.connection != "paramiko":
        # Allowed only where the controller's ansible-core no longer ships paramiko_ssh (removed in 2.21).
        spec = importlib.util.find_spec("ansible")
        assert not (Path(spec.origin).parent / "plugins/connection/paramiko_ssh.py").is_file()
        assert host.connection == "ssh" and "paramiko" in host.connection_note
        return
    run = ansible.playbook(PING, verbosity=3)
    assert run.rc == 0, run.stdout + run.stderr
    assert "<%s> ESTABLISH PARAMIKO SSH CONNECTION FOR USER: root on PORT 22 TO %s" % (
        host.address, host.address) in run.stdout
    assert "<%s> ESTABLISH SSH CONNECTION" % host.address not in run.stdout
    for other in fleet.hosts:
        if other is not host:
            assert "<%s> ESTABLISH SSH CONNECTION FOR USER: root" % other.address in run.stdout
            assert "ESTABLISH PARAMIKO SSH CONNECTION FOR USER: root on PORT 22 TO %s" % other.address \
                not in run.stdout


def test_paramiko_host_key_is_checked_when_known_hosts_has_it(fleet, ansible, tmp_path):
    """paramiko reads ~/.ssh/known_hosts only: with checking on, the right key passes, a wrong one is refused."""
    host = fleet.host("agx-orin-jp62")
    if host.connection != "paramiko":
        assert "paramiko" in host.connection_note
        return
    real_key = Path(host.sshd_log).with_name("ssh_host_ed25519_key.pub").read_text().split()[:2]
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    wrong_key = (tmp_path / "other.pub").read_text().split()[:2]
    outcomes = {}
    for label, key in (("right", real_key), ("wrong", wrong_key)):
        home = tmp_path / label
        (home / ".ssh").mkdir(parents=True)
        (home / ".ssh" / "known_hosts").write_text("%s %s %s\n" % (host.address, key[0], key[1]))
        run = ansible.playbook(PING, limit=host.name, env={"HOME": str(home)},
                               extra_vars={"ansible_paramiko_host_key_checking": True})
        outcomes[label] = run
    assert outcomes["right"].rc == 0 and outcomes["right"].stats[host.name]["ok"] == 1
    assert outcomes["wrong"].stats[host.name]["unreachable"] == 1
    assert "host key mismatch for %s" % host.address in outcomes["wrong"].stdout


def tree(root: Path) -> dict[str, str]:
    """relative path -> file bytes, link target or "dir", for every entry under root."""
    entries = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        entries[rel] = ("-> " + os.readlink(path) if path.is_symlink() else
                        "dir" if path.is_dir() else path.read_bytes().hex())
    return entries


def test_hosts_have_distinct_stores_and_sysroots(fleet, ansible):
    assert len({h.store for h in fleet.hosts}) == len({h.sysroot for h in fleet.hosts}) == len(fleet.hosts)
    for host in fleet.hosts:
        assert tree(Path(host.sysroot)) == tree(SYSROOT_FIXTURES / host.profile["sysroot"]), host.name
    marker = "whoami"
    # other tests of the session may have left models and engines: only the marker may be new
    before = {host.name: set(os.listdir(host.store)) for host in fleet.hosts}
    try:
        run = ansible.playbook("""
- hosts: all
  gather_facts: false
  tasks:
    - name: mark the store
      ansible.builtin.copy:
        content: "{{ inventory_hostname }}"
        dest: "{{ tao_fleet_store }}/%s"
""" % marker)
        assert run.rc == 0, run.stdout + run.stderr
        for host in fleet.hosts:
            assert set(os.listdir(host.store)) - before[host.name] == {marker}
            assert (Path(host.store) / marker).read_text() == host.name
    finally:
        for host in fleet.hosts:
            (Path(host.store) / marker).unlink(missing_ok=True)


def test_platform_report_prints_one_row_per_host_from_its_own_sysroot(fleet, ansible):
    run = ansible.playbook(str(REPO_ROOT / "playbooks" / "platform_report.yml"))
    assert run.rc == 0, run.stdout + run.stderr
    table = run.result("localhost", "Print the platform table")["msg"]
    assert table[0].split()[:3] == ["host", "kind", "device"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert sorted(rows) == sorted(h.name for h in fleet.hosts)
    for state in fleet.state["hosts"]:
        name, profile = state["name"], state["profile"]
        facts = run.result(name, "Gather platform facts")["ansible_facts"]["tao_platform"]
        expected = json.loads((SYSROOT_FIXTURES / (profile["sysroot"] + ".expected.json")).read_text())
        for key in ("kind", "soc", "compute_capability", "l4t", "cuda", "cudnn", "dla_cores"):
            assert facts[key] == expected["tao_platform"][key], (name, key)
        assert facts["python"]["version"] == state["python_version"] and state["python_version"] in rows[name]
        assert expected["tao_platform"]["cuda"]["version"] in rows[name]
        assert ("DOUBLE" in rows[name]) == (profile["tensorrt"]["provider"] == "double"), rows[name]
        assert facts["tensorrt"]["test_double"] == (profile["tensorrt"]["provider"] == "double")
        if profile["tensorrt"]["provider"] == "double":
            assert facts["tensorrt"]["version"] == profile["tensorrt"]["version"]


def test_host_address_lives_only_in_its_namespace(fleet):
    root_addresses = ip_addresses()
    assert fleet.state["bridge_address"] in root_addresses
    for host in fleet.hosts:
        assert host.address not in root_addresses
        for other in fleet.hosts:
            assert (host.address in ip_addresses(other.netns)) == (other is host), (host.name, other.name)
        assert "127.0.0.1" in ip_addresses(host.netns)


def test_hosts_reach_the_mirror_through_the_bridge(fleet, ansible):
    if not fleet.state["mirror"]["running"]:
        pytest.fail("the mirror did not start: %s" % fleet.state["mirror"]["note"])
    name = "fleet-test-%d.txt" % os.getpid()
    (Path(fleet.mirror_root) / name).write_text("served to the fleet\n")
    try:
        run = ansible.playbook("""
- hosts: all
  gather_facts: false
  tasks:
    - name: fetch from the mirror
      ansible.builtin.uri:
        url: "{{ tao_mirror_url }}/%s"
        return_content: true
""" % name)
        assert run.rc == 0, run.stdout + run.stderr
        for host in fleet.hosts:
            assert run.result(host.name, "fetch from the mirror")["content"] == "served to the fleet\n"
        logged = [json.loads(line) for line in Path(fleet.mirror_log).read_text().splitlines()]
        assert sum(1 for e in logged if e["path"] == "/" + name and e["status"] == 200) == len(fleet.hosts)
    finally:
        (Path(fleet.mirror_root) / name).unlink()


def test_set_link_cuts_exactly_one_host_and_restores_it(fleet, ansible):
    victim = fleet.host("thor-jp70")
    warm = ansible.playbook(PING)  # leaves ControlPersist masters: a dead link must still fail fast
    assert warm.rc == 0, warm.stdout + warm.stderr
    fleet.set_link(victim.name, False)
    try:
        cut = ansible.playbook(PING)
        assert cut.stats[victim.name]["unreachable"] == 1
        for host in fleet.hosts:
            if host is not victim:
                assert cut.stats[host.name]["ok"] == 1 and cut.stats[host.name]["unreachable"] == 0, host.name
    finally:
        fleet.set_link(victim.name, True)
    restored = ansible.playbook(PING, limit=victim.name)
    assert restored.rc == 0 and restored.stats[victim.name]["ok"] == 1, restored.stdout


def test_second_fleet_coexists_and_leaves_nothing_behind(fleet, fleet_factory, ansible):
    other = fleet_factory("tfsep", "198.18.2", "--profiles", "nano-jp46,thor-jp70")
    assert [h.address for h in other.hosts] == ["198.18.2.10", "198.18.2.11"]
    both = [ansible.playbook(PING), ansible.bound_to(other).playbook(PING)]
    for run in both:
        assert run.rc == 0, run.stdout + run.stderr
    made = names_with_prefix("tfsep-")
    assert len(made["namespaces"]) == 2 and "tfsep-br" in made["interfaces"]
    pids = list(sshd_pids(other).values()) + [other.state["mirror"]["pid"]]
    assert all(pid_alive(p) for p in pids)
    assert live_processes_mentioning(other.workdir + "/cp/"), "expected ansible's ssh masters for tfsep"

    other.down()

    assert names_with_prefix("tfsep-") == {"namespaces": [], "interfaces": []}
    assert [p for p in pids if pid_alive(p)] == []
    assert live_processes_mentioning(other.workdir) == []
    assert not Path(other.workdir).exists()
    assert not (REGISTRY_DIR / "tfsep.json").exists()
    assert ansible.playbook(PING).rc == 0, "the session fleet must survive another fleet's down"


def test_up_after_a_crash_brings_the_fleet_back(fleet_factory, ansible):
    crashed = fleet_factory("tfcrash", "198.18.3", "--profiles", "xavier-nx-jp51,dgpu-x86")
    for netns in names_with_prefix("tfcrash-")["namespaces"]:
        pids = subprocess.run(["ip", "netns", "pids", netns], stdout=subprocess.PIPE, text=True,
                              check=True).stdout.split()
        assert pids, netns
        for pid in pids:
            os.kill(int(pid), signal.SIGKILL)
    old_pids = sshd_pids(crashed)
    time.sleep(0.2)
    assert not any(pid_alive(p) for p in old_pids.values())
    assert len(names_with_prefix("tfcrash-")["namespaces"]) == 2, "the namespaces stay after the crash"

    revived = fleet_factory("tfcrash", "198.18.3", "--profiles", "xavier-nx-jp51,dgpu-x86")
    new_pids = sshd_pids(revived)
    assert all(pid_alive(p) for p in new_pids.values()) and set(new_pids.values()).isdisjoint(old_pids.values())
    run = ansible.bound_to(revived).playbook(PING)
    assert run.rc == 0, run.stdout + run.stderr


def test_down_cleans_up_after_up_was_killed_halfway(fleet_cli, tmp_path):
    """kill -9 `up` once its first host exists: `down` finds the rest by name prefix and the registry."""
    up = subprocess.Popen([sys.executable, str(FLEET_PY), "up", "--name", "tfhalf", "--subnet", "198.18.4"]
                          + (["--allow-missing-sysroot"] if os.environ.get("TAO_FLEET_ALLOW_MISSING_SYSROOT") == "1"
                             else []),
                          stdout=subprocess.DEVNULL, stderr=open(tmp_path / "up.err", "w"))
    try:
        deadline = time.monotonic() + 600  # a first run may build venvs before any namespace exists
        while not names_with_prefix("tfhalf-")["namespaces"]:
            assert up.poll() is None, (tmp_path / "up.err").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(up.pid, signal.SIGKILL)
        up.wait()
        workdir = Path(json.loads((REGISTRY_DIR / "tfhalf.json").read_text())["workdir"])
        assert not (workdir / "fleet.json").exists(), "up finished before the kill: not a half-finished up"

        fleet_cli("down", "--name", "tfhalf")

        assert names_with_prefix("tfhalf-") == {"namespaces": [], "interfaces": []}
        assert live_processes_mentioning(str(workdir)) == []
        assert not workdir.exists() and not (REGISTRY_DIR / "tfhalf.json").exists()
    finally:
        if up.poll() is None:
            up.kill()
        fleet_cli("down", "--name", "tfhalf")


def test_more_hosts_than_profiles_cycle_through_them_with_numbered_names():
    sys.path.insert(0, str(FLEET_PY.parent))
    try:
        fleet_module = importlib.import_module("fleet")
    finally:
        sys.path.remove(str(FLEET_PY.parent))
    profiles = fleet_module.load_profiles()
    plan = fleet_module.plan_hosts(profiles, ["orin-nx-jp62", "nano-jp46"], 5)
    assert [(host, profile["name"]) for host, profile in plan] == [
        ("orin-nx-jp62-01", "orin-nx-jp62"), ("nano-jp46-02", "nano-jp46"), ("orin-nx-jp62-03", "orin-nx-jp62"),
        ("nano-jp46-04", "nano-jp46"), ("orin-nx-jp62-05", "orin-nx-jp62")]
    assert [host for host, _profile in fleet_module.plan_hosts(profiles, None, None)] == sorted(profiles)
    assert len(fleet_module.plan_hosts(profiles, None, 120)[-1][0].rsplit("-", 1)[1]) == 3


def test_add_grows_a_running_fleet_and_two_fleets_share_one_inventory(fleet_factory, fleet_cli, ansible, tmp_path):
    grown = fleet_factory("tfadd", "198.18.5", "--profiles", "dgpu-x86")
    kept = Path(grown.host("dgpu-x86").store) / "engine-from-before"
    kept.write_text("an engine a rollout left\n")
    inventory = fleet_cli("add", "--name", "tfadd", "--profiles", "nano-jp46,dgpu-x86").strip().splitlines()[-1]
    grown = type(grown)(inventory)
    # the host already there keeps its name, address and store; the new ones are numbered after it
    assert [(h.name, h.address) for h in grown.hosts] == [
        ("dgpu-x86", "198.18.5.10"), ("nano-jp46", "198.18.5.11"), ("dgpu-x86-03", "198.18.5.12")]
    assert kept.read_text() == "an engine a rollout left\n"
    # a second fleet beside it, its hosts named apart, and both fleets' inventories in one run
    other = fleet_factory("tfadb", "198.18.6", "--profiles", "dgpu-x86", "--host-prefix", "b-")
    assert [h.name for h in other.hosts] == ["b-dgpu-x86"]
    both = tmp_path / "both"
    both.mkdir()
    (both / "a.yml").symlink_to(grown.inventory)
    (both / "b.yml").symlink_to(other.inventory)
    view = type(grown).__new__(type(grown))
    view.__dict__.update(grown.__dict__, inventory=str(both), hosts=grown.hosts + other.hosts)
    run = type(ansible)(view, ansible.run_dir / "both", ansible.collections_path).playbook(PING)
    assert run.rc == 0, run.stdout[-3000:]
    assert sorted(run.stats) == ["b-dgpu-x86", "dgpu-x86", "dgpu-x86-03", "nano-jp46"]
    assert all(stats["ok"] == 1 and stats["unreachable"] == 0 for stats in run.stats.values()), run.stats
