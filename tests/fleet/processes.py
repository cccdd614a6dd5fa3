"""Find processes by their command line and end them: TERM first, KILL for those that stay."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Callable


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path("/proc/%d/cmdline" % pid).read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def alive(pid: int) -> bool:
    try:
        state = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def matching(predicate: Callable[[list[str]], bool]) -> list[int]:
    """Pids (other than this process) whose command line satisfies predicate."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            args = cmdline(int(entry))
            if args and predicate(args):
                found.append(int(entry))
    return sorted(found)


def end(pids: list[int], grace_s: float = 5.0) -> list[int]:
    """Send TERM, wait up to grace_s, then KILL what is left. Returns the pids that were signalled."""
    signalled = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
            signalled.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    while any(alive(p) for p in signalled) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in signalled:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return signalled
