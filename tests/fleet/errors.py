"""The one error type of the simulated fleet: what went wrong, and what to do about it."""
from __future__ import annotations


class FleetError(Exception):
    def __init__(self, msg: str, fix: str | None = None):
        super().__init__(msg)
        self.msg = msg
        self.fix = fix

    def __str__(self) -> str:
        return "%s\n  fix: %s" % (self.msg, self.fix) if self.fix else self.msg
