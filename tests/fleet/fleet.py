"""The simulated fleet: one network namespace per host, each with a real sshd, its own Python, sysroot and store.

    fleet.py up     [--name tf] [--subnet 198.18.0] [--hosts N] [--profiles p1,p2] [--workdir DIR] [--host-prefix P]
    fleet.py add    [--name tf] [--hosts N] [--profiles p1,p2]      more hosts on a fleet that is up
    fleet.py down   [--name tf]
    fleet.py status [--name tf] [--json]
    fleet.py link   [--name tf] HOST up|down

Run it as root with the controller's Python (tests/output/controller/bin/python): it looks there for
ansible-core's paramiko_ssh plugin. docs/simulated-fleet.md describes the hosts and how to add a profile.
"""
from __future__ import annotations

import argparse
import collections
import getpass
import importlib.util
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402

import hostvenv  # noqa: E402
import network  # noqa: E402
import processes  # noqa: E402
import sshd  # noqa: E402
from errors import FleetError  # noqa: E402

FLEET_DIR = Path(__file__).resolve().parent
PROFILES_DIR = FLEET_DIR / "profiles"
SYSROOTS_DIR = FLEET_DIR.parent / "fixtures" / "sysroots"
MIRROR_SCRIPT = FLEET_DIR / "mirror.py"
REGISTRY_DIR = Path(os.environ.get("TAO_FLEET_REGISTRY", "/run/tao_fleet"))  # name -> workdir, for `down`
WORKDIR_MARKER = ".tao_fleet_workdir"  # `down` deletes only directories that carry it
MIRROR_PORT = 8080
FIRST_HOST_OCTET = 10
NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")  # "<name>-h254" must fit in 15 characters
PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
SUBNET_RE = re.compile(r"^198\.18\.(\d{1,3})$")  # the benchmarking range; never the machine's own network
UNIX_SOCKET_PATH_MAX = 107


def log(msg: str) -> None:
    print("fleet: %s" % msg, file=sys.stderr, flush=True)


# --- names -------------------------------------------------------------------------------------------------

def default_workdir(name: str) -> Path:
    return Path(os.environ.get("TMPDIR", "/tmp")) / "tao_fleet" / name


def registry_file(name: str) -> Path:
    return REGISTRY_DIR / ("%s.json" % name)


def bridge_name(name: str) -> str:
    return "%s-br" % name


def veth_name(name: str, octet: int) -> str:
    return "%s-h%d" % (name, octet)


def netns_name(name: str, host: str) -> str:
    return "%s-%s" % (name, host)


# --- profiles ----------------------------------------------------------------------------------------------

def load_profiles() -> dict[str, dict]:
    profiles = {}
    for path in sorted(PROFILES_DIR.glob("*.yml")):
        profile = yaml.safe_load(path.read_text())
        missing = {"name", "description", "python", "connection", "sysroot", "tensorrt"} - set(profile)
        if (missing or profile["name"] != path.stem or profile["connection"] not in ("ssh", "paramiko")
                or profile["tensorrt"].get("provider") not in ("rtx", "double", "none")):
            raise FleetError("profile %s: missing %s, name not the file name, or connection / tensorrt.provider "
                             "not one of ssh|paramiko / rtx|double|none" % (path, sorted(missing)),
                             fix="see docs/simulated-fleet.md, 'Adding a profile'")
        profiles[profile["name"]] = profile
    return profiles


def plan_hosts(profiles: dict[str, dict], chosen: list[str] | None, count: int | None) -> list[tuple[str, dict]]:
    """(host name, profile) pairs: one host per profile, or `count` hosts cycling through the profiles."""
    names = chosen or list(profiles)
    unknown = [n for n in names if n not in profiles]
    if unknown:
        raise FleetError("unknown profile(s) %s" % ", ".join(unknown), fix="choose from %s" % ", ".join(profiles))
    count = count or len(names)
    if not 1 <= count <= 254 - FIRST_HOST_OCTET:
        raise FleetError("--hosts %d is out of range" % count, fix="use 1 to %d" % (254 - FIRST_HOST_OCTET))
    if count <= len(names):
        return [(n, profiles[n]) for n in names[:count]]
    width = len(str(count))
    return [("%s-%0*d" % (names[i % len(names)], max(width, 2), i + 1), profiles[names[i % len(names)]])
            for i in range(count)]


# --- paramiko ----------------------------------------------------------------------------------------------

def paramiko_connection_available() -> tuple[bool, str]:
    """Whether this Python's ansible-core ships the paramiko_ssh plugin and paramiko is installed."""
    ansible = importlib.util.find_spec("ansible")
    if ansible is None:
        return False, "ansible-core is not importable by %s" % sys.executable
    plugin = Path(ansible.origin).parent / "plugins" / "connection" / "paramiko_ssh.py"
    if not plugin.is_file():
        return False, "this ansible-core has no paramiko_ssh plugin (removed in 2.21)"
    if importlib.util.find_spec("paramiko") is None:
        return False, "paramiko is not installed in the controller venv (%s)" % sys.executable
    return True, ""


# --- up ----------------------------------------------------------------------------------------------------

def up(args: argparse.Namespace) -> dict:
    name, workdir = args.name, Path(args.workdir or default_workdir(args.name)).resolve()
    subnet = parse_subnet(args.subnet)
    if len(str(workdir / "cp")) + 41 > UNIX_SOCKET_PATH_MAX:
        raise FleetError("work dir %s is too long for ssh control sockets under it" % workdir,
                         fix="use a shorter --workdir (at most ~60 characters)")
    if leftovers(name):
        log("fleet %s is (partly) up: taking it down first" % name)
        down(name)
    owner = network.ipv4_owner(subnet)
    if owner:
        raise FleetError("%s is already used by interface %s" % (subnet, owner),
                         fix="choose another --subnet, or take down the fleet that owns %s" % owner)
    if (workdir != default_workdir(name) and workdir.exists() and any(workdir.iterdir())
            and not (workdir / WORKDIR_MARKER).exists()):
        raise FleetError("work dir %s exists and is not a fleet's" % workdir, fix="choose an empty or new --workdir")

    plan = [(args.host_prefix + host, profile)
            for host, profile in plan_hosts(load_profiles(), args.profiles.split(",") if args.profiles else None,
                                            args.hosts)]
    check_sysroots(plan, args.allow_missing_sysroot)
    paramiko_ok, paramiko_why = paramiko_connection_available()

    REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
    write_atomic(registry_file(name), json.dumps({"name": name, "workdir": str(workdir)}) + "\n")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / WORKDIR_MARKER).write_text(name + "\n")
        venvs = {}
        for _host, profile in plan:
            if venv_id(profile) not in venvs:
                venvs[venv_id(profile)] = hostvenv.ensure(profile["python"], profile["tensorrt"], log)
        prune_venvs(name, {python for python, _venv in venvs.values()})

        user = getpass.getuser()
        client_key = workdir / "client_key"
        authorized_keys = workdir / "authorized_keys"
        authorized_keys.write_text(sshd.keygen(client_key, "tao-fleet-%s-controller" % name) + "\n")
        bridge_address = str(subnet.network_address + 1)
        network.add_bridge(bridge_name(name), "%s/%d" % (bridge_address, subnet.prefixlen))

        hosts, known_hosts = [], []
        for index, (host, profile) in enumerate(plan):
            made, line = make_host(name, workdir, subnet, FIRST_HOST_OCTET + index, host, profile,
                                   venvs[venv_id(profile)], user, authorized_keys, (paramiko_ok, paramiko_why))
            hosts.append(made)
            known_hosts.append(line)
        write_atomic(workdir / "known_hosts", "\n".join(known_hosts) + "\n")
        for host in hosts:
            network.wait_listening(host["address"], 22, fix="see %s" % host["sshd_log"])

        mirror = start_mirror(workdir, bridge_address)
        state = {
            "name": name, "workdir": str(workdir), "subnet": str(subnet), "bridge": bridge_name(name),
            "bridge_address": bridge_address, "user": user, "client_key": str(client_key),
            "known_hosts": str(workdir / "known_hosts"), "control_path_dir": str(workdir / "cp"),
            "inventory": str(workdir / "inventory.yml"), "mirror": mirror, "hosts": hosts,
            "host_prefix": args.host_prefix,
        }
        write_atomic(workdir / "inventory.yml", render_inventory(state))
        write_atomic(workdir / "fleet.json", json.dumps(state, indent=2) + "\n")
        return state
    except BaseException:
        log("up failed: taking down what it made")
        down(name)
        raise


def make_host(name: str, workdir: Path, subnet: ipaddress.IPv4Network, octet: int, host: str, profile: dict,
              python_venv: tuple, user: str, authorized_keys: Path, paramiko: tuple[bool, str]) -> tuple[dict, str]:
    """One host: its directories, sysroot copy, host key, namespace on the bridge and running sshd.
    Returns its fleet.json entry and its known_hosts line."""
    address = str(subnet.network_address + octet)
    host_dir = workdir / "hosts" / host
    (host_dir / "tmp").mkdir(parents=True)
    (host_dir / "store").mkdir()
    sysroot_src = SYSROOTS_DIR / profile["sysroot"]
    if sysroot_src.is_dir():
        shutil.copytree(sysroot_src, host_dir / "sysroot", symlinks=True)
    else:
        (host_dir / "sysroot").mkdir()
    sshd.keygen(host_dir / "ssh_host_ed25519_key", "%s@%s" % (host, name))
    line = sshd.known_hosts_line(address, host_dir / "ssh_host_ed25519_key.pub")
    netns = netns_name(name, host)
    network.add_host(netns, veth_name(name, octet), bridge_name(name), "%s/%d" % (address, subnet.prefixlen))
    config = sshd.write_config(host_dir, address, user, authorized_keys)
    sshd.start(netns, host, config, host_dir / "sshd.log")
    python, venv = python_venv
    connection, connection_note = profile["connection"], ""
    if connection == "paramiko" and not paramiko[0]:
        connection, connection_note = "ssh", "profile asks for paramiko; using ssh: %s" % paramiko[1]
        log("%s: %s" % (host, connection_note))
    return {
        "name": host, "address": address, "netns": netns, "veth": veth_name(name, octet),
        "profile": profile, "python": str(python), "python_version": venv["python_version"],
        "venv": venv, "connection": connection, "connection_note": connection_note,
        "sysroot": str(host_dir / "sysroot"), "sysroot_missing": not sysroot_src.is_dir(),
        "store": str(host_dir / "store"), "remote_tmp": str(host_dir / "tmp"),
        "sshd_config": str(config), "sshd_log": str(host_dir / "sshd.log"),
        "sshd_pidfile": str(host_dir / "sshd.pid"),
    }, line


# --- add ---------------------------------------------------------------------------------------------------

def new_host_names(existing: list[str], profiles: list[str], count: int) -> list[tuple[str, str]]:
    """(host name, profile) for `count` more hosts cycling through `profiles`: the profile's name while it is
    free, else <profile>-NN with NN the host's place in the fleet (as `up --hosts` numbers them), or the next
    free number. Existing names are never reused."""
    taken, chosen = set(existing), []
    for index in range(count):
        profile = profiles[index % len(profiles)]
        candidate, number = profile, len(existing) + index + 1
        while candidate in taken:
            candidate = "%s-%02d" % (profile, number)
            number += 1
        taken.add(candidate)
        chosen.append((candidate, profile))
    return chosen


def add(args: argparse.Namespace) -> dict:
    """More hosts on fleet `args.name`, which is up: the hosts there keep their names, stores and engines."""
    state = load_state(args.name)
    workdir, subnet = Path(state["workdir"]), ipaddress.ip_network(state["subnet"])
    profiles = load_profiles()
    names = args.profiles.split(",") if args.profiles else list(profiles)
    unknown = [n for n in names if n not in profiles]
    if unknown:
        raise FleetError("unknown profile(s) %s" % ", ".join(unknown), fix="choose from %s" % ", ".join(profiles))
    count = args.hosts or len(names)
    octets = [int(host["address"].rsplit(".", 1)[1]) for host in state["hosts"]]
    first = max(octets + [FIRST_HOST_OCTET - 1]) + 1
    if count < 1 or first + count - 1 > 254:
        raise FleetError("fleet %s has room for %d more host(s), not %d" % (args.name, max(0, 255 - first), count),
                         fix="add fewer hosts, or bring up another fleet (its own --name and --subnet)")
    prefix = state.get("host_prefix") or ""
    plan = [(prefix + host, profiles[profile])
            for host, profile in new_host_names([h["name"][len(prefix):] for h in state["hosts"]], names, count)]
    check_sysroots(plan, args.allow_missing_sysroot)
    venvs = {}
    for _host, profile in plan:
        if venv_id(profile) not in venvs:
            venvs[venv_id(profile)] = hostvenv.ensure(profile["python"], profile["tensorrt"], log)
    paramiko = paramiko_connection_available()
    added, lines = [], []
    try:
        for index, (host, profile) in enumerate(plan):
            made, line = make_host(args.name, workdir, subnet, first + index, host, profile, venvs[venv_id(profile)],
                                   state["user"], workdir / "authorized_keys", paramiko)
            added.append(made)
            lines.append(line)
            network.wait_listening(made["address"], 22, fix="see %s" % made["sshd_log"])
    except BaseException:
        log("add failed: removing the hosts it made (the others are untouched)")
        remove_hosts(args.name, added)
        raise
    known = Path(state["known_hosts"]).read_text().rstrip("\n").splitlines()
    write_atomic(Path(state["known_hosts"]), "\n".join(known + lines) + "\n")
    state["hosts"] = state["hosts"] + added
    write_atomic(Path(state["inventory"]), render_inventory(state))
    write_atomic(workdir / "fleet.json", json.dumps(state, indent=2) + "\n")
    for host in added:
        log("added %s (%s) at %s" % (host["name"], host["profile"]["name"], host["address"]))
    return state


def remove_hosts(name: str, hosts: list[dict]) -> None:
    for host in hosts:
        netns = host["netns"]
        if netns in network.namespaces(netns):
            processes.end(network.namespace_pids(netns))
            network.delete_namespace(netns)
        if host["veth"] in network.links(host["veth"]):
            network.delete_link(host["veth"])
        shutil.rmtree(str(Path(host["store"]).parent), ignore_errors=True)


def venv_id(profile: dict) -> str:
    return json.dumps([profile["python"], profile["tensorrt"]], sort_keys=True)


def prune_venvs(name: str, in_use: set[Path]) -> None:
    """Drop cached host venvs that are out of date (no profile would build them now) and that no fleet uses;
    nothing while another fleet is being brought up (its venvs are not known yet)."""
    for profile in load_profiles().values():
        try:
            in_use.add(hostvenv.CACHE_DIR / hostvenv.key(hostvenv.describe(profile["python"], profile["tensorrt"]))
                       / "bin" / "python")
        except FleetError:
            continue
    for registry in REGISTRY_DIR.glob("*.json"):
        if registry.stem == name:
            continue
        try:
            state = json.loads((Path(json.loads(registry.read_text())["workdir"]) / "fleet.json").read_text())
        except (OSError, ValueError, KeyError):
            return
        in_use |= {Path(host["python"]) for host in state["hosts"]}
    for venv in hostvenv.prune({python.parent.parent for python in in_use}):
        log("removed out-of-date host venv %s" % venv)


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    match = SUBNET_RE.match(text)
    if not match or int(match.group(1)) > 255:
        raise FleetError("--subnet %r is not 198.18.X (X = 0..255)" % text,
                         fix="use a /24 of 198.18.0.0/16, the range tests may use, e.g. --subnet 198.18.5")
    return ipaddress.ip_network(text + ".0/24")


def check_sysroots(plan: list[tuple[str, dict]], allow_missing: bool) -> None:
    missing = sorted({p["sysroot"] for _host, p in plan if not (SYSROOTS_DIR / p["sysroot"]).is_dir()})
    if missing and not allow_missing:
        raise FleetError("sysroot fixture tree(s) missing: %s" % ", ".join(str(SYSROOTS_DIR / m) for m in missing),
                         fix="add tests/fixtures/sysroots/<profile>/ (platform_facts fixtures), or pass "
                             "--allow-missing-sysroot to give those hosts an empty sysroot")
    for sysroot in missing:
        log("sysroot %s missing: those hosts get an empty sysroot (--allow-missing-sysroot)" % sysroot)


def start_mirror(workdir: Path, bridge_address: str) -> dict:
    mirror = {
        "url": "http://%s:%d" % (bridge_address, MIRROR_PORT), "root": str(workdir / "mirror"),
        "log": str(workdir / "mirror.log"), "pidfile": str(workdir / "mirror.pid"), "running": False, "note": "",
    }
    Path(mirror["root"]).mkdir()
    if not MIRROR_SCRIPT.is_file():
        mirror["note"] = "not started: %s does not exist yet" % MIRROR_SCRIPT
        log("mirror %s" % mirror["note"])
        return mirror
    with open(workdir / "mirror.out", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(MIRROR_SCRIPT), "--bind", bridge_address, "--port", str(MIRROR_PORT),
             "--root", mirror["root"], "--log", mirror["log"], "--pidfile", mirror["pidfile"]],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    network.wait_listening(bridge_address, MIRROR_PORT, fix="see %s" % (workdir / "mirror.out"))
    mirror.update(running=True, pid=proc.pid)
    return mirror


def render_inventory(state: dict) -> str:
    ssh_args = " ".join([
        "-F /dev/null",  # the machine's ssh_config must not change how the fleet is reached
        "-o UserKnownHostsFile=%s" % state["known_hosts"], "-o GlobalKnownHostsFile=/dev/null",
        "-o StrictHostKeyChecking=yes", "-o IdentitiesOnly=yes",
        # A host whose link went down must fail within seconds, also through a ControlPersist master.
        "-o ServerAliveInterval=2", "-o ServerAliveCountMax=3",
    ])
    hosts = {}
    for host in state["hosts"]:
        entry = {
            "ansible_host": host["address"],
            "ansible_user": state["user"],
            "ansible_ssh_private_key_file": state["client_key"],
            "ansible_python_interpreter": host["python"],
            "ansible_connection": host["connection"],
            "ansible_remote_tmp": host["remote_tmp"],
            "tao_fleet_profile": host["profile"]["name"],
            "tao_fleet_sysroot": host["sysroot"],
            "tao_fleet_store": host["store"],
            "tao_mirror_url": state["mirror"]["url"],
        }
        if host["connection"] == "paramiko":
            # paramiko_ssh reads host keys only from ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts; the
            # fleet writes neither (docs/simulated-fleet.md, "Host keys").
            entry["ansible_paramiko_host_key_checking"] = False
        if host["connection_note"]:
            entry["tao_fleet_connection_note"] = host["connection_note"]
        hosts[host["name"]] = entry
    # The fleet's hosts and connection settings in a group of its own (fleet_<name>) under `fleet`: with two
    # fleets' inventories given at once, each keeps its own known_hosts, key and control sockets.
    inventory = {"all": {"children": {"fleet": {"children": {"fleet_%s" % state["name"]: {
        "hosts": hosts,
        "vars": {
            "ansible_pipelining": True,
            "ansible_ssh_common_args": ssh_args,
            "ansible_control_path_dir": state["control_path_dir"],
            "tao_fleet_name": state["name"],
            # The rollout's controller model cache and engine share live and die with this fleet, so a new
            # fleet downloads and builds again instead of reusing what an earlier test or demo left.
            "deploy_model_controller_cache_dir": str(Path(state["workdir"]) / "controller-cache"),
        },
    }}}}}}
    header = ("# Simulated fleet %r, generated by tests/fleet/fleet.py up; removed by `fleet.py down --name %s`.\n"
              "# See docs/simulated-fleet.md.\n" % (state["name"], state["name"]))
    return header + yaml.safe_dump(inventory, sort_keys=False, width=200)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(".%s.tmp-%d" % (path.name, os.getpid()))
    with open(tmp, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.rename(tmp, path)


# --- down --------------------------------------------------------------------------------------------------

def known_workdirs(name: str) -> list[Path]:
    found = [default_workdir(name)]
    try:
        found.insert(0, Path(json.loads(registry_file(name).read_text())["workdir"]))
    except (OSError, ValueError, KeyError):
        pass
    return [w for i, w in enumerate(found) if w not in found[:i]]


def leftovers(name: str) -> bool:
    return bool(network.namespaces(name + "-") or network.links(name + "-") or registry_file(name).exists()
                or default_workdir(name).exists() or any((w / WORKDIR_MARKER).exists() for w in known_workdirs(name)))


def workdir_processes(workdir: Path) -> list[int]:
    """The mirror and ansible's ssh ControlPersist masters: processes in the root namespace tied to workdir."""
    mirror_root, control_dir = str(workdir / "mirror"), str(workdir / "cp") + "/"

    def ours(args: list[str]) -> bool:
        is_mirror = any(a.endswith("mirror.py") for a in args) and mirror_root in args
        is_ssh_master = args[0].startswith("ssh: " + control_dir)
        return is_mirror or is_ssh_master
    return processes.matching(ours)


def down(name: str) -> list[tuple[str, str]]:
    """Remove everything fleet `name` made, found by name prefix and by its work dir. Returns (kind, what)."""
    removed = []
    # The default work dir is the fleet's by its name; another one only if up marked it.
    workdirs = [w for w in known_workdirs(name) if w == default_workdir(name) or (w / WORKDIR_MARKER).exists()]
    workdirs = [w for w in workdirs if w.exists()]
    for workdir in workdirs:
        removed += [("processes", str(pid)) for pid in processes.end(workdir_processes(workdir))]
    for netns in network.namespaces(name + "-"):
        removed += [("processes", "%d (in %s)" % (pid, netns))
                    for pid in processes.end(network.namespace_pids(netns))]
        network.delete_namespace(netns)
        removed.append(("namespaces", netns))
    for link in network.links(name + "-"):
        network.delete_link(link)
        removed.append(("interfaces", link))
    for workdir in workdirs:
        shutil.rmtree(workdir)
        removed.append(("work dirs", str(workdir)))
    if registry_file(name).exists():
        registry_file(name).unlink()
        removed.append(("registry entries", str(registry_file(name))))
    return removed


# --- status and link ---------------------------------------------------------------------------------------

def load_state(name: str) -> dict:
    for workdir in known_workdirs(name):
        if (workdir / "fleet.json").is_file():
            return json.loads((workdir / "fleet.json").read_text())
    raise FleetError("fleet %s is not up (no fleet.json)" % name, fix="run `fleet.py up --name %s`" % name)


def pid_from_file(path: str) -> int | None:
    try:
        pid = int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if processes.alive(pid) else None


def status(name: str) -> dict:
    report = {"name": name, "up": False, "namespaces": network.namespaces(name + "-"),
              "interfaces": network.links(name + "-")}
    try:
        state = load_state(name)
    except FleetError:
        return report
    mirror = dict(state["mirror"])
    if mirror["running"]:
        mirror["running"] = bool(workdir_processes(Path(state["workdir"])))
    report.update(up=True, workdir=state["workdir"], subnet=state["subnet"], inventory=state["inventory"],
                  mirror=mirror, hosts=[])
    for host in state["hosts"]:
        double = host["venv"]["trt_double"]
        tensorrt = host["profile"]["tensorrt"]["provider"]
        if double:
            tensorrt = "double %s%s" % (double["version"], "" if double["installed"] else
                                        " NOT INSTALLED (tests/doubles/install.py was absent when the venv was built)")
        report["hosts"].append({
            "name": host["name"], "address": host["address"], "python": host["python_version"],
            "connection": host["connection"], "connection_note": host["connection_note"],
            "sshd_pid": pid_from_file(host["sshd_pidfile"]), "netns": host["netns"] in report["namespaces"],
            "link_up": network.link_is_up(host["veth"]), "tensorrt": tensorrt,
            "sysroot": "EMPTY (fixture missing)" if host["sysroot_missing"] else "fixture copy",
        })
    return report


def print_status(report: dict) -> None:
    if not report["up"]:
        print("fleet %s: not up%s" % (report["name"], "; leftovers: %s (run `down`)" % ", ".join(
            report["namespaces"] + report["interfaces"]) if report["namespaces"] or report["interfaces"] else ""))
        return
    mirror = report["mirror"]
    print("fleet %s: %s, work dir %s" % (report["name"], report["subnet"], report["workdir"]))
    print("  inventory: %s" % report["inventory"])
    print("  mirror:    %s %s" % (mirror["url"], "running" if mirror["running"] else mirror["note"] or "NOT RUNNING"))
    row = "  %-20s %-13s %-7s %-9s %-9s %-5s %s"
    print(row % ("host", "address", "python", "connect", "sshd", "link", "tensorrt / sysroot"))
    for h in report["hosts"]:
        print(row % (h["name"], h["address"], h["python"], h["connection"],
                     "pid %d" % h["sshd_pid"] if h["sshd_pid"] else "DOWN", "up" if h["link_up"] else "DOWN",
                     "%s / %s" % (h["tensorrt"], h["sysroot"])))
        if h["connection_note"]:
            print("  %-20s note: %s" % ("", h["connection_note"]))


def set_link(name: str, host_name: str, up_: bool) -> None:
    hosts = {h["name"]: h for h in load_state(name)["hosts"]}
    if host_name not in hosts:
        raise FleetError("fleet %s has no host %s" % (name, host_name), fix="choose from %s" % ", ".join(hosts))
    network.set_link(hosts[host_name]["veth"], up_)


# --- command line ------------------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("up", "add", "down", "status", "link"):
        p = sub.add_parser(command)
        p.add_argument("--name", default="tf", help="fleet name, [a-z][a-z0-9]{0,7} (default tf)")
        if command == "up":
            p.add_argument("--subnet", default="198.18.0", help="first three octets of a /24 (default 198.18.0)")
            p.add_argument("--workdir", help="default $TMPDIR/tao_fleet/<name>")
            p.add_argument("--host-prefix", default="",
                           help="put this before every host name, e.g. b- (two fleets in one inventory need "
                                "different host names)")
        if command in ("up", "add"):
            p.add_argument("--hosts", type=int, help="number of hosts (default: one per profile)")
            p.add_argument("--profiles", help="comma-separated profile names (default: all)")
            p.add_argument("--allow-missing-sysroot", action="store_true",
                           help="give hosts whose fixture sysroot does not exist an empty one")
        if command == "status":
            p.add_argument("--json", action="store_true")
        if command == "down":
            p.add_argument("--verbose", "-v", action="store_true", help="list everything removed")
        if command == "link":
            p.add_argument("host")
            p.add_argument("state", choices=["up", "down"])
    args = parser.parse_args(argv)
    if not NAME_RE.match(args.name):
        parser.error("--name must match %s" % NAME_RE.pattern)
    if getattr(args, "host_prefix", "") and not PREFIX_RE.match(args.host_prefix):
        parser.error("--host-prefix must match %s" % PREFIX_RE.pattern)
    try:
        if os.geteuid() != 0:
            raise FleetError("fleet.py needs root (namespaces, bridge, sshd)", fix="run it as root")
        if args.command == "up":
            print(up(args)["inventory"])
        elif args.command == "add":
            print(add(args)["inventory"])
        elif args.command == "down":
            removed = down(args.name)
            if args.verbose:
                for kind, what in removed:
                    log("removed %s: %s" % (kind, what))
            kinds = collections.Counter(kind for kind, _what in removed)
            summary = ", ".join("%d %s" % (n, kind) for kind, n in sorted(kinds.items()))
            log("%s down: removed %s" % (args.name, summary or "nothing (it was not up)"))
        elif args.command == "status":
            report = status(args.name)
            print(json.dumps(report, indent=2)) if args.json else print_status(report)
        else:
            set_link(args.name, args.host, args.state == "up")
    except FleetError as exc:
        print("fleet %s: %s" % (args.command, exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
