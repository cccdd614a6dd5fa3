"""A real OpenSSH server per simulated host, listening only on that host's address inside its namespace."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from errors import FleetError

PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without its privilege-separation directory


def binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not found:
        raise FleetError("%s not found" % name, fix="apt-get install openssh-server openssh-client (tests/setup does)")
    return found


def keygen(path: Path, comment: str) -> str:
    """An ed25519 key pair at path / path.pub; returns the public key line."""
    subprocess.run([binary("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, stdout=subprocess.DEVNULL, timeout=30)
    return Path(str(path) + ".pub").read_text().strip()


def write_config(host_dir: Path, address: str, user: str, authorized_keys: Path) -> Path:
    config = host_dir / "sshd_config"
    config.write_text("\n".join([
        "ListenAddress %s" % address,
        "Port 22",
        "HostKey %s" % (host_dir / "ssh_host_ed25519_key"),
        "PidFile %s" % (host_dir / "sshd.pid"),
        "AuthorizedKeysFile %s" % authorized_keys,
        "AllowUsers %s" % user,
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        # No PAM: the namespaces share the machine's /etc, and PAM session modules there are not ours to use.
        "UsePAM no",
        # Key files live in the fleet's work dir, not in ~/.ssh with the modes StrictModes insists on.
        "StrictModes no",
        # A rollout opens many sessions at once; the default 10:30:100 drops some of them.
        "MaxStartups 100:30:200",
        "UseDNS no",
        "PrintMotd no",
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
        "",
    ]))
    return config


def start(netns: str, hostname: str, config: Path, log: Path) -> None:
    """Start sshd in netns, in a UTS namespace of its own named hostname (so `hostname` on the host answers
    its inventory name); sshd forks into the background once its config and host key are good."""
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    command = ["ip", "netns", "exec", netns, "unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"',
               hostname, binary("sshd"), "-f", str(config), "-E", str(log)]
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30,
                          check=False)
    if proc.returncode != 0:
        detail = proc.stdout.strip() or (log.read_text().strip() if log.exists() else "")
        raise FleetError("sshd in %s did not start: %s" % (netns, detail or "exit %d" % proc.returncode),
                         fix="check %s and %s" % (config, log))


def known_hosts_line(address: str, host_key_pub: Path) -> str:
    key_type, key_b64 = host_key_pub.read_text().split()[:2]
    return "%s %s %s" % (address, key_type, key_b64)
