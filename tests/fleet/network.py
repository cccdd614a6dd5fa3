"""Bridge, network namespaces and veth pairs of a simulated fleet, through iproute2 (`ip`).

Every object a fleet makes carries its name as a prefix (`<fleet>-`), so `down` finds what a crashed or
half-finished `up` left behind without any state file.
"""
from __future__ import annotations

import ipaddress
import socket
import subprocess
import time

from errors import FleetError

IFNAME_MAX = 15  # IFNAMSIZ - 1: the kernel refuses longer interface names


def ip(*args: str, check: bool = True) -> str:
    """Run `ip ARGS`; return stdout; raise FleetError naming the command and its stderr."""
    proc = subprocess.run(["ip", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30,
                          check=False)
    if check and proc.returncode != 0:
        raise FleetError(
            "`ip %s` failed: %s" % (" ".join(args), proc.stderr.strip() or "exit %d" % proc.returncode),
            fix="run as root with iproute2 installed (tests/setup installs it)",
        )
    return proc.stdout


def namespaces(prefix: str) -> list[str]:
    names = [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]
    return sorted(n for n in names if n.startswith(prefix))


def links(prefix: str) -> list[str]:
    """Interfaces of the root namespace whose name starts with prefix (`eth0@if12` -> `eth0`)."""
    found = []
    for line in ip("-o", "link", "show").splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0]
        if name.startswith(prefix):
            found.append(name)
    return sorted(found)


def ipv4_owner(network: ipaddress.IPv4Network) -> str | None:
    """The root-namespace interface that has an address inside network, if any."""
    for line in ip("-o", "-4", "addr", "show").splitlines():
        fields = line.split()
        iface = ipaddress.ip_interface(fields[fields.index("inet") + 1])
        if iface.ip in network or network.overlaps(iface.network):
            return fields[1]
    return None


def check_ifname(name: str) -> None:
    if len(name) > IFNAME_MAX:
        raise FleetError("interface name %r is longer than %d characters" % (name, IFNAME_MAX),
                         fix="use a shorter fleet name (at most 8 characters)")


def add_bridge(name: str, address: str) -> None:
    check_ifname(name)
    ip("link", "add", name, "type", "bridge")
    ip("addr", "add", address, "dev", name)
    ip("link", "set", name, "up")


def add_host(netns: str, veth: str, bridge: str, address: str) -> None:
    """A namespace whose eth0 (the far end of veth) sits on bridge with address; loopback up."""
    check_ifname(veth)
    ip("netns", "add", netns)
    ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
    ip("link", "set", veth, "master", bridge, "up")
    ip("-n", netns, "addr", "add", address, "dev", "eth0")
    ip("-n", netns, "link", "set", "lo", "up")
    ip("-n", netns, "link", "set", "eth0", "up")


def set_link(veth: str, up: bool) -> None:
    ip("link", "set", veth, "up" if up else "down")


def link_is_up(veth: str) -> bool:
    out = ip("-o", "link", "show", veth, check=False)
    flags = out.split("<", 1)[1].split(">", 1)[0].split(",") if "<" in out else []
    return "UP" in flags


def namespace_pids(netns: str) -> list[int]:
    return [int(p) for p in ip("netns", "pids", netns, check=False).split()]


def namespace_addresses(netns: str) -> list[str]:
    out = ip("-n", netns, "-o", "-4", "addr", "show", check=False)
    return [line.split()[line.split().index("inet") + 1].split("/")[0] for line in out.splitlines()]


def delete_namespace(netns: str) -> None:
    ip("netns", "del", netns)


def delete_link(name: str) -> None:
    # The peer end vanishes with its namespace, so a link listed a moment ago may be gone already.
    if name in links(name):
        ip("link", "del", name)


def wait_listening(address: str, port: int, fix: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((address, port), timeout=1.0):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise FleetError("nothing listens on %s:%d after %.0f s (%s)" % (address, port, timeout_s, exc),
                                 fix=fix) from None
            time.sleep(0.1)
