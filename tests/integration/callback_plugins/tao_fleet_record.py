# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Test-only callback: records every task result and the final stats of a playbook run as one JSON file."""
import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: tao_fleet_record
    type: aggregate
    short_description: record task results and stats as JSON (tao.fleet integration tests only)
    description:
      - Writes one JSON object with keys C(results) (per host, a list of task results) and C(stats) (per host,
        the play recap counts) to the file named by E(TAO_FLEET_RECORD_PATH) when the playbook ends.
      - The stdout callback is left as it is.
      - Results are the censored copies Ansible hands to callbacks, so no_log values never reach the file.
    requirements:
      - enable with E(ANSIBLE_CALLBACKS_ENABLED=tao_fleet_record)
"""


def _plain(value):
    if isinstance(value, (set, frozenset)):
        return list(value)
    return str(value)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "tao_fleet_record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("TAO_FLEET_RECORD_PATH")
        self._results = {}

    def _record(self, result, status):
        outcome = result._result
        self._results.setdefault(result._host.get_name(), []).append({
            "task": result._task.get_name(),
            "action": result._task.action,
            "changed": bool(outcome.get("changed", False)),
            "failed": status == "failed",
            "skipped": status == "skipped",
            "unreachable": status == "unreachable",
            "result": outcome,
        })

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        if not self._path:
            return
        summary = {}
        for host in sorted(stats.processed):
            counts = stats.summarize(host)
            summary[host] = {key: counts.get(key, 0) for key in ("ok", "changed", "failures", "unreachable",
                                                                 "skipped", "rescued", "ignored")}
        tmp = "%s.tmp-%d" % (self._path, os.getpid())
        with open(tmp, "w") as out:
            json.dump({"results": self._results, "stats": summary}, out, default=_plain, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.rename(tmp, self._path)
