# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""What tao.fleet.trt_engine costs when the engine is already built, next to ansible.builtin.stat.

    tests/output/controller/bin/python bench/engine_skip.py [--name tfb1 --subnet 198.18.31] [--reps 7]
        [--builds 3] [--keep]

Brings up a simulated fleet of its own (tests/fleet/fleet.py, six hosts, one per profile; real sshd over
ssh/paramiko in network namespaces), serves the PeopleNet stand-in from the fleet's mirror, fetches it to every
host, gathers platform facts and builds each host's engine once. Then, in one playbook run, it alternates
``ansible.builtin.stat`` of the model file and ``tao.fleet.trt_engine`` on the reuse path (same hosts, same
facts passed in, so neither gathers anything), ``--reps`` times each, and times every task from its start to
the last host's result. It prints the median of each and their ratio. Then it builds the stand-in ``--builds``
times with real TensorRT-RTX on dgpu-x86 (a fresh store each time) and prints the median build time that
the module reports (the TensorRT build inside the child process) and the median task time.

Also printed: sha256 of a 100 MiB file on this machine as a multiple of the reuse-path task, the cost the
reuse path would add per 100 MiB of model (it hashes the model file every run; PeopleNet's files are far
smaller). Everything runs on one 2-core machine that also runs the hosts: compare ratios, not seconds.
Root is needed (network namespaces). Not part of the tests.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLEET_PY = REPO / "tests" / "fleet" / "fleet.py"
DEMO_MODEL = REPO / "tests" / "fleet" / "demo_model.py"
sys.path.insert(0, str(REPO / "tests" / "fleet"))
import demo_model  # noqa: E402

TIMING_CALLBACK = '''
import json, os, time
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    """Per task: start time, the time of each host's result, and the results (bench only)."""
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "tao_fleet_bench"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tasks = []

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.tasks.append({"name": task.get_name(), "start": time.monotonic(), "ends": [], "results": {}})

    def _done(self, result, failed):
        task = self.tasks[-1]
        task["ends"].append(time.monotonic())
        task["results"][result._host.get_name()] = dict(result._result, failed=failed)

    def v2_runner_on_ok(self, result):
        self._done(result, False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, True)

    def v2_runner_on_unreachable(self, result):
        self._done(result, True)

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["TAO_FLEET_BENCH_RECORD"], "w") as out:
            json.dump(self.tasks, out, default=str)
'''

SETUP = """- hosts: fleet
  gather_facts: false
  tasks:
    - name: fetch
      tao.fleet.model_fetch:
        urls: ["{{ tao_mirror_url }}/%(model_dir)s/%(etlt)s"]
        checksum_url: "{{ tao_mirror_url }}/SHA256SUMS"
        store: "{{ tao_fleet_store }}"
      register: fetched
    - name: facts
      tao.fleet.platform_facts:
        sysroot: "{{ tao_fleet_sysroot }}"
    - name: build once
      tao.fleet.trt_engine:
        model_path: "{{ fetched.path }}"
        model: "{{ lookup('tao.fleet.model_catalog', '%(model)s') | tao.fleet.model_artifact(ansible_facts.tao_platform) }}"
        platform: "{{ ansible_facts.tao_platform }}"
        store: "{{ tao_fleet_store }}"
"""

PAIR = """    - name: stat %(rep)d
      ansible.builtin.stat:
        path: "{{ bench[inventory_hostname].path }}"
        get_checksum: false
    - name: engine %(rep)d
      tao.fleet.trt_engine:
        model_path: "{{ bench[inventory_hostname].path }}"
        model: "{{ bench[inventory_hostname].model }}"
        platform: "{{ bench[inventory_hostname].platform }}"
        store: "{{ tao_fleet_store }}"
"""

BUILD = """    - name: build %(rep)d
      tao.fleet.trt_engine:
        model_path: "{{ bench[inventory_hostname].path }}"
        model: "{{ bench[inventory_hostname].model }}"
        platform: "{{ bench[inventory_hostname].platform }}"
        store: "%(store)s"
"""


class Bench:
    def __init__(self, args, workdir: Path):
        self.args = args
        self.workdir = workdir
        (workdir / "callbacks").mkdir()
        (workdir / "callbacks" / "tao_fleet_bench.py").write_text(TIMING_CALLBACK)
        self.runs = 0
        self.inventory = None

    def fleet(self, *command: str) -> str:
        proc = subprocess.run([sys.executable, str(FLEET_PY), *command], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit("fleet.py %s failed:\n%s" % (" ".join(command), proc.stderr))
        return proc.stdout

    def playbook(self, text: str, limit: str | None = None, extra: dict | None = None) -> list:
        self.runs += 1
        path = self.workdir / ("play-%d.yml" % self.runs)
        path.write_text(text)
        record = self.workdir / ("record-%d.json" % self.runs)
        command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", self.inventory, str(path)]
        if limit:
            command += ["--limit", limit]
        if extra:
            extra_path = self.workdir / ("extra-%d.json" % self.runs)
            extra_path.write_text(json.dumps(extra))
            command += ["--extra-vars", "@%s" % extra_path]
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_path()),
                   ANSIBLE_CALLBACK_PLUGINS=str(self.workdir / "callbacks"),
                   ANSIBLE_CALLBACKS_ENABLED="tao_fleet_bench", TAO_FLEET_BENCH_RECORD=str(record),
                   ANSIBLE_FORKS="10", ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")
        proc = subprocess.run(command, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit("ansible-playbook failed:\n%s" % proc.stdout[-6000:])
        return json.loads(record.read_text())


def collections_path() -> Path:
    linked = REPO / "tests" / "output" / "collections"
    if (linked / "ansible_collections" / "tao" / "fleet").exists():
        return linked
    root = Path(tempfile.mkdtemp(prefix="tao-fleet-bench-collections-"))
    (root / "ansible_collections" / "tao").mkdir(parents=True)
    (root / "ansible_collections" / "tao" / "fleet").symlink_to(REPO)
    return root


def duration(task: dict) -> float:
    return max(task["ends"]) - task["start"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--name", default="tfb1", help="fleet name (default tfb1)")
    parser.add_argument("--subnet", default="198.18.31", help="fleet /24 in 198.18.0.0/16 (default 198.18.31)")
    parser.add_argument("--reps", type=int, default=7, help="stat / trt_engine pairs (default 7)")
    parser.add_argument("--builds", type=int, default=3, help="TensorRT-RTX builds on dgpu-x86 (default 3)")
    parser.add_argument("--keep", action="store_true", help="leave the fleet up")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tao-fleet-bench-"))
    bench = Bench(args, workdir)
    bench.inventory = bench.fleet("up", "--name", args.name, "--subnet", args.subnet).strip().splitlines()[-1]
    try:
        state = json.loads((Path(bench.inventory).parent / "fleet.json").read_text())
        subprocess.run([sys.executable, str(DEMO_MODEL), "--out", state["mirror"]["root"]], check=True,
                       stdout=subprocess.DEVNULL)
        setup = bench.playbook(SETUP % {"model_dir": demo_model.model_dir(demo_model.DEFAULT_VERSION),
                                        "etlt": demo_model.ETLT_FILE, "model": demo_model.MODEL})
        tasks = {task["name"]: task for task in setup}
        hosts = sorted(tasks["build once"]["results"])
        per_host = {}
        for host in hosts:
            facts = tasks["facts"]["results"][host]["ansible_facts"]["tao_platform"]
            engine = tasks["build once"]["results"][host]
            per_host[host] = {"path": tasks["fetch"]["results"][host]["path"], "platform": facts,
                              "model": {"model": engine["model_name"],
                                        "artifact": {"key": demo_model.ETLT_KEY, "file": demo_model.ETLT_FILE}}}

        timed = bench.playbook("- hosts: fleet\n  gather_facts: false\n  tasks:\n" +
                               "".join(PAIR % {"rep": rep} for rep in range(args.reps)), extra={"bench": per_host})
        stat_times = [duration(t) for t in timed if t["name"].startswith("stat ")]
        engine_times = [duration(t) for t in timed if t["name"].startswith("engine ")]
        for task in timed:
            if task["name"].startswith("engine "):
                outcome = [(r.get("changed"), r.get("reused"), r.get("failed")) for r in task["results"].values()]
                assert all(o == (False, True, False) for o in outcome), "not the reuse path: %s" % outcome

        host = "dgpu-x86"
        builds = bench.playbook("- hosts: %s\n  gather_facts: false\n  tasks:\n" % host + "".join(
            BUILD % {"rep": rep, "store": workdir / ("build-store-%d" % rep)} for rep in range(args.builds)),
            extra={"bench": per_host})
        build_seconds = [t["results"][host]["build_seconds"] for t in builds]
        build_tasks = [duration(t) for t in builds]
        assert all(t["results"][host]["built"] for t in builds)

        data = os.urandom(1 << 20) * 100
        started = time.monotonic()
        hashlib.sha256(data).hexdigest()
        hash_seconds = time.monotonic() - started

        skip, stat = statistics.median(engine_times), statistics.median(stat_times)
        print("hosts: %s (%d), %d repetitions each, one playbook run, forks 10"
              % (", ".join(hosts), len(hosts), args.reps))
        print("trt_engine reuse path / ansible.builtin.stat, median task time over all hosts: %.2f" % (skip / stat))
        print("  (min %.2f, max %.2f over the repetitions, paired in order)" % (
            min(e / s for e, s in zip(engine_times, stat_times)), max(e / s for e, s in zip(engine_times, stat_times))))
        print("TensorRT-RTX 1.7.1.116 build of the stand-in on %s, median of %d: %.2f s in TensorRT, %.2f s task "
              "(fresh store each time; this CPU-only machine)" % (host, args.builds, statistics.median(build_seconds),
                                                                  statistics.median(build_tasks)))
        print("sha256 of 100 MiB here / reuse-path task: %.2f (the reuse path hashes the model file each run)"
              % (hash_seconds / skip))
        print("raw seconds: stat %s; trt_engine %s; builds %s" % (
            [round(t, 3) for t in stat_times], [round(t, 3) for t in engine_times], build_seconds))
    finally:
        if not args.keep:
            bench.fleet("down", "--name", args.name)


if __name__ == "__main__":
    main()
