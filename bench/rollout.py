# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Fleet scale benchmark: the per-host way against tao.fleet and against the floor, on one simulated fleet.

    sudo tests/output/controller/bin/python bench/rollout.py [--hosts 50] [--forks 25] [--name tfkb]
        [--subnet 198.18.62] [--strategy linear|mitogen_linear] [--repeat 3] [--repeat-first 0] [--sweep]
        [--out docs/bench/rollout.txt] [--keep]

Brings up a simulated fleet of its own (tests/fleet/fleet.py: real sshd hosts in network namespaces) of
``--hosts`` hosts in 3 platform classes (orin-nx-jp62, thor-jp70, dgpu-x86: real TensorRT-RTX 1.7 builds,
smoke tests on onnxruntime-cpu), serves the PeopleNet stand-in from the fleet's mirror (the origin), and runs
with real ansible-playbook, one after the other:

  b  tao.fleet, first run: playbooks/deploy_peoplenet.yml (controller model cache, engine share: defaults)
  c  tao.fleet, second run (nothing to do)
  a  the per-host way as a plain playbook: get_url from the origin + the build command
     (bench/per_host_build.py, the same TensorRT layer) on every host
  d  the floor: one get_url to the controller, one build per class (copy the model to the class's first
     host, build, fetch the engine), a plain copy of the engine to every host, an empty play over all hosts
  e  an empty playbook with c's plays, serial batches and task rounds (ping where c ran a module on the
     hosts, debug where its task ran on the controller only, a skipped debug where it was skipped)
  f  an empty playbook, one play over all hosts, as many tasks as the host that ran most tasks in c

It prints origin bytes (the mirror's request log), builds (engine manifests, build command results), wall
times, the ratios b/a, b/d, c/e and c/f, c/e again for ``--repeat`` alternating pairs of c and e (the
machine's speed drifts), and the slowest tasks of b and c. ``--sweep`` then times c and e
again for forks 10/25/50, with pipelining off, and with the other strategy (linear or mitogen_linear).
``--repeat-first N`` ends with N alternating pairs of b and d, each from empty stores, cache and share.
``--strategy mitogen_linear`` runs everything under mitogen (installed from PyPI into ~/.cache/tao_fleet).
The stores are emptied before a, b and d. Everything shares this machine's cores with the hosts: compare
ratios, not seconds. Root is needed (network namespaces). Tears its fleet down (unless --keep).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLEET_PY = REPO / "tests" / "fleet" / "fleet.py"
DEMO_MODEL = REPO / "tests" / "fleet" / "demo_model.py"
DEMO_GROUP_VARS = REPO / "inventory" / "demo" / "group_vars"
PLAYBOOK = REPO / "playbooks" / "deploy_peoplenet.yml"
sys.path.insert(0, str(REPO / "tests" / "fleet"))
import demo_model  # noqa: E402

PROFILES = ("orin-nx-jp62", "thor-jp70", "dgpu-x86")
MODEL_SUFFIXES = (".onnx", ".etlt")
# tasks of c that run on the controller only (no connection to the host)
# the role's one engine_deploy task
DEPLOY_TASK = "Fetch the model, build or reuse the engine, smoke-test it and make it active"
LOCAL_ACTIONS = {"set_fact", "debug", "fail", "assert", "group_by", "meta", "validate_argument_spec",
                 "include_tasks", "import_tasks", "include_role", "import_role", "add_host"}

RECORD_CALLBACK = '''
import json, os, time
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    """Every play (serial batches count as plays) and every task round in it: action, hosts it ran on or
    skipped, seconds from its start to its last result; and each host's results by task name (bench only)."""
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "tao_fleet_bench_record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plays = []
        self.results = {}

    def v2_playbook_on_play_start(self, play):
        self.plays.append({"name": play.get_name(), "rounds": []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.plays[-1]["rounds"].append({"name": task.get_name(), "action": task.action.split(".")[-1],
                                         "start": time.monotonic(), "end": None, "ran": [], "skipped": []})

    def _done(self, result, kind="ran"):
        current = self.plays[-1]["rounds"][-1]
        host = result._host.get_name()
        current[kind].append(host)
        current["end"] = time.monotonic()
        if kind == "ran":
            self.results.setdefault(host, {})[result._task.get_name()] = result._result

    def v2_runner_on_ok(self, result):
        self._done(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result)

    def v2_runner_on_unreachable(self, result):
        self._done(result)

    def v2_runner_on_skipped(self, result):
        self._done(result, "skipped")

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["TAO_FLEET_BENCH_RECORD"], "w") as out:
            json.dump({"plays": self.plays, "results": self.results}, out, default=str)
'''

PER_HOST = """- name: The per-host way - every host downloads from the origin and builds
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Download the model from the origin
      ansible.builtin.get_url:
        url: "{{ tao_mirror_url }}/%(path)s"
        dest: "{{ tao_fleet_store }}/%(file)s"
        mode: "0644"
    - name: Build the engine (the converter)
      ansible.builtin.command:
        argv: ["{{ ansible_python_interpreter }}", "%(script)s", "{{ tao_fleet_store }}/%(file)s",
               "{{ tao_fleet_store }}", "{{ tao_fleet_sysroot }}", "%(model)s"%(key)s]
      environment:
        PYTHONPATH: "%(collections)s"
      register: built
      changed_when: (built.stdout | from_json).built
"""

FLOOR = """- name: Floor 1 - one download, to the controller
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Download the model once
      ansible.builtin.get_url:
        url: "%(origin)s/%(path)s"
        dest: "%(work)s/%(file)s"
        mode: "0644"

- name: Floor 2 - one build per platform class, on its first host
  hosts: "%(builders)s"
  gather_facts: false
  tasks:
    - name: Copy the model to the builder
      ansible.builtin.copy:
        src: "%(work)s/%(file)s"
        dest: "{{ tao_fleet_store }}/%(file)s"
        mode: "0644"
    - name: Build the engine
      ansible.builtin.command:
        argv: ["{{ ansible_python_interpreter }}", "%(script)s", "{{ tao_fleet_store }}/%(file)s",
               "{{ tao_fleet_store }}", "{{ tao_fleet_sysroot }}", "%(model)s"%(key)s]
      environment:
        PYTHONPATH: "%(collections)s"
      register: built
      changed_when: true
    - name: Bring the engine back to the controller
      ansible.builtin.fetch:
        src: "{{ (built.stdout | from_json).engine_path }}"
        dest: "%(work)s/engines/{{ tao_fleet_profile }}.engine"
        flat: true

- name: Floor 3 - a plain copy of its class's engine to every host
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Copy the engine
      ansible.builtin.copy:
        src: "%(work)s/engines/{{ tao_fleet_profile }}.engine"
        dest: "{{ tao_fleet_store }}/model.engine"
        mode: "0644"

- name: Floor 4 - an empty play over every host
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Connect
      ansible.builtin.ping:
"""


class Bench:
    def __init__(self, args, workdir: Path):
        self.args = args
        self.workdir = workdir
        (workdir / "callbacks").mkdir()
        (workdir / "callbacks" / "tao_fleet_bench_record.py").write_text(RECORD_CALLBACK)
        self.runs = 0
        self.inventory = None
        self.state = None

    def fleet(self, *command: str) -> str:
        proc = subprocess.run([sys.executable, str(FLEET_PY), *command], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit("fleet.py %s failed:\n%s" % (" ".join(command), proc.stderr))
        return proc.stdout

    def playbook(self, text_or_path, forks: int, extra: dict | None = None,
                 strategy: str | None = None) -> tuple[float, dict]:
        """Runs one playbook; returns (wall seconds, record)."""
        self.runs += 1
        path = Path(text_or_path) if isinstance(text_or_path, Path) else self.workdir / ("play-%d.yml" % self.runs)
        if not isinstance(text_or_path, Path):
            path.write_text(text_or_path)
        record = self.workdir / ("record-%d.json" % self.runs)
        command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(self.inventory), str(path)]
        if extra:
            extra_path = self.workdir / ("extra-%d.json" % self.runs)
            extra_path.write_text(json.dumps(extra))
            command += ["--extra-vars", "@%s" % extra_path]
        env = dict(os.environ, **strategy_env(strategy or self.args.strategy))
        env.update(ANSIBLE_COLLECTIONS_PATH=str(collections_path()),
                   ANSIBLE_CALLBACK_PLUGINS=str(self.workdir / "callbacks"),
                   ANSIBLE_CALLBACKS_ENABLED="tao_fleet_bench_record", TAO_FLEET_BENCH_RECORD=str(record),
                   ANSIBLE_FORKS=str(forks), ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
                   ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
        started = time.monotonic()
        proc = subprocess.run(command, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, check=False)
        seconds = time.monotonic() - started
        (self.workdir / ("stdout-%d.txt" % self.runs)).write_text(proc.stdout)
        if proc.returncode != 0:
            raise SystemExit("ansible-playbook %s failed (log %s):\n%s"
                             % (path, self.workdir / ("stdout-%d.txt" % self.runs), proc.stdout[-6000:]))
        return seconds, json.loads(record.read_text())

    def hosts(self) -> list[dict]:
        return self.state["hosts"]

    def clear_stores(self) -> None:
        for host in self.hosts():
            shutil.rmtree(host["store"], ignore_errors=True)
            os.makedirs(host["store"])

    def log_mark(self) -> int:
        log = Path(self.state["mirror"]["log"])
        return len(log.read_text().splitlines()) if log.exists() else 0

    def origin(self, since: int) -> dict:
        """Model files the origin sent since a mark: GETs with bytes, and the bytes."""
        lines = Path(self.state["mirror"]["log"]).read_text().splitlines()[since:]
        gets = [r for r in map(json.loads, lines)
                if r["method"] == "GET" and r["path"].endswith(MODEL_SUFFIXES) and r.get("bytes_sent")]
        return {"downloads": len(gets), "bytes": sum(r["bytes_sent"] for r in gets),
                "files": sorted(set(r["path"] for r in gets))}

    def manifest_builds(self) -> tuple[int, int, set]:
        """(engines built on their host, engines taken from the share, fingerprints) over every store."""
        built = shared = 0
        fingerprints = set()
        for host in self.hosts():
            model_dir = Path(host["store"]) / "engines" / demo_model.MODEL
            for entry in (model_dir.iterdir() if model_dir.is_dir() else []):
                if len(entry.name) != 64:
                    continue
                source = json.loads((entry / "manifest.json").read_text())["build"].get("source")
                built += source == "build"
                shared += source == "share"
                fingerprints.add(entry.name)
        return built, shared, fingerprints


MITOGEN = "mitogen==0.3.54"


def strategy_env(strategy: str) -> dict:
    """Environment that makes ansible-playbook use ``strategy`` (linear, or mitogen_linear: mitogen from PyPI,
    installed once under ~/.cache/tao_fleet/mitogen)."""
    if not strategy.startswith("mitogen"):
        return {"ANSIBLE_STRATEGY": strategy}
    home = Path(os.environ.get("TAO_FLEET_CACHE", Path.home() / ".cache" / "tao_fleet")) / "mitogen" / MITOGEN
    if not (home / "ansible_mitogen").is_dir():
        home.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".mitogen-", dir=str(home.parent)))
        pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(staging),
                              MITOGEN], check=False)
        if pip.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise SystemExit("could not install %s from PyPI into %s (pip exit %d); fix: make PyPI reachable, or run "
                             "without --strategy (linear)" % (MITOGEN, home, pip.returncode))
        staging.rename(home)
    return {"ANSIBLE_STRATEGY": strategy, "ANSIBLE_STRATEGY_PLUGINS": str(home / "ansible_mitogen" / "plugins" / "strategy"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(home), os.environ.get("PYTHONPATH")]))}


def collections_path() -> Path:
    linked = REPO / "tests" / "output" / "collections"
    if (linked / "ansible_collections" / "tao" / "fleet").exists():
        return linked
    root = Path(tempfile.mkdtemp(prefix="tao-fleet-bench-collections-"))
    (root / "ansible_collections" / "tao").mkdir(parents=True)
    (root / "ansible_collections" / "tao" / "fleet").symlink_to(REPO)
    return root


def empty_playbook(record: dict) -> tuple[str, int, int]:
    """The plays and serial batches of a recorded run, each with as many task rounds as it had: a ping where
    the task ran a module on the hosts, a debug where it ran on the controller only, a skipped debug where it
    was skipped on every host. Returns (playbook, task rounds, remote rounds)."""
    plays, rounds, remote = [], 0, 0
    for play in record["plays"]:
        hosts = sorted(set(h for r in play["rounds"] for h in r["ran"] + r["skipped"]))
        if not hosts:
            continue
        tasks = []
        for number, task in enumerate(play["rounds"]):
            rounds += 1
            if not task["ran"]:
                tasks.append("    - name: Round %d\n      ansible.builtin.debug:\n        msg: skipped\n"
                             "      when: false\n" % number)
            elif task["action"] in LOCAL_ACTIONS:
                tasks.append("    - name: Round %d\n      ansible.builtin.debug:\n        msg: empty\n" % number)
            else:
                remote += 1
                tasks.append("    - name: Round %d\n      ansible.builtin.ping:\n" % number)
        plays.append("- name: %s\n  hosts: %s\n  gather_facts: false\n  tasks:\n%s"
                     % (json.dumps("empty " + play["name"]), ",".join(hosts), "".join(tasks)))
    return "\n".join(plays), rounds, remote


def flat_empty_playbook(record: dict) -> tuple[str, int]:
    """One play over all hosts with as many tasks as the host that ran most tasks in the run."""
    ran = {}
    for play in record["plays"]:
        for task in play["rounds"]:
            for host in task["ran"]:
                ran.setdefault(host, []).append(task["action"])
    actions = max((tasks for host, tasks in ran.items() if host != "localhost"), key=len)
    tasks = []
    for number, action in enumerate(actions):
        module = "debug:\n        msg: empty" if action in LOCAL_ACTIONS else "ping:"
        tasks.append("    - name: Task %d\n      ansible.builtin.%s\n" % (number, module))
    return "- name: Empty playbook\n  hosts: fleet\n  gather_facts: false\n  tasks:\n" + "".join(tasks), len(actions)


def changed_hosts(record: dict) -> list[str]:
    """Hosts (not the controller) that changed anything: a timed c must have none, or it was no second run."""
    return sorted(host for host, results in record["results"].items()
                  if host != "localhost" and any(result.get("changed") for result in results.values()))


def second_run_note(record: dict) -> str:
    changed = changed_hosts(record)
    return " (NOT a second run: %d hosts changed)" % len(changed) if changed else ""


def quick_checked(record: dict) -> tuple[int, int]:
    """(hosts whose engine_deploy was answered from their deployment record without a call, hosts that ran it)"""
    deploys = [result for host, results in record["results"].items() if host != "localhost"
               for name, result in results.items() if name.endswith(DEPLOY_TASK)]
    return sum(1 for result in deploys if (result.get("quick_check") or {}).get("used")), len(deploys)


def slowest(record: dict, count: int = 8) -> list[str]:
    """The task rounds that took longest, summed by task name."""
    total = {}
    for play in record["plays"]:
        for task in play["rounds"]:
            if task["end"] is not None:
                total[task["name"]] = total.get(task["name"], 0.0) + task["end"] - task["start"]
    return ["%6.1f s  %s" % (seconds, name) for name, seconds in sorted(total.items(), key=lambda i: -i[1])[:count]]


def machine() -> list[str]:
    def run(*command):
        try:
            return subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False).stdout.strip()
        except OSError:
            return "?"
    cpu = [line for line in run("lscpu").splitlines() if line.startswith(("Model name", "CPU(s):"))]
    memory = [line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")]
    core = run(str(Path(sys.executable).parent / "ansible"), "--version").splitlines()[:1]
    return cpu + memory + ["nproc: %s" % run("nproc"), "kernel: %s" % platform.release(),
                           "controller Python: %s" % platform.python_version()] + core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--forks", type=int, default=25)
    parser.add_argument("--name", default="tfkb", help="fleet name (default tfkb)")
    parser.add_argument("--subnet", default="198.18.62", help="fleet /24 in 198.18.0.0/16 (default 198.18.62)")
    parser.add_argument("--sweep", action="store_true", help="also time c and e for forks 10/25/50, pipelining off")
    parser.add_argument("--repeat", type=int, default=3, help="c and e again in this many alternating pairs (default 3)")
    parser.add_argument("--repeat-first", type=int, default=0,
                        help="b and d again in this many alternating pairs, each from empty stores and cache (default 0)")
    parser.add_argument("--out", help="also write the report to this file")
    parser.add_argument("--keep", action="store_true", help="leave the fleet up")
    parser.add_argument("--strategy", default="linear",
                        help="strategy of every run: linear (default) or mitogen_linear (%s from PyPI)" % MITOGEN)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tao-fleet-bench-rollout-"))
    bench = Bench(args, workdir)
    lines = ["# bench/rollout.py --hosts %d --forks %d --strategy %s --repeat %d --repeat-first %d%s"
             % (args.hosts, args.forks, args.strategy, args.repeat, args.repeat_first, " --sweep" if args.sweep else ""),
             "# %s" % time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())] + ["# " + line for line in machine()]

    def say(line=""):
        print(line, flush=True)
        lines.append(line)

    started = time.monotonic()
    say("load average at start (others share this machine): %.1f %.1f %.1f" % os.getloadavg())
    fleet_inventory = bench.fleet("up", "--name", args.name, "--subnet", args.subnet, "--hosts", str(args.hosts),
                                  "--profiles", ",".join(PROFILES)).strip().splitlines()[-1]
    try:
        bench.state = json.loads((Path(fleet_inventory).parent / "fleet.json").read_text())
        inventory = workdir / "inventory"
        inventory.mkdir()
        (inventory / "fleet.yml").symlink_to(fleet_inventory)
        (inventory / "group_vars").symlink_to(DEMO_GROUP_VARS)
        bench.inventory = inventory
        subprocess.run([sys.executable, str(DEMO_MODEL), "--out", bench.state["mirror"]["root"]], check=True,
                       stdout=subprocess.DEVNULL)
        say("fleet: %d hosts in %d platform classes (%s), forks %d, pipelining on (the fleet's inventory), strategy %s"
            % (args.hosts, len(PROFILES), ", ".join(PROFILES), args.forks, args.strategy))
        cache = workdir / "controller-cache"
        tao_vars = {"fleet_report_dir": str(workdir / "reports"), "deploy_model_controller_cache_dir": str(cache),
                    "deploy_model_smoke_runs": 3, "deploy_model_smoke_warmup": 1}

        # b and c: tao.fleet, first and second run
        bench.clear_stores()
        mark = bench.log_mark()
        b_seconds, b_record = bench.playbook(PLAYBOOK, args.forks, tao_vars)
        b_origin = bench.origin(mark)
        b_built, b_shared, b_fingerprints = bench.manifest_builds()
        mark = bench.log_mark()
        c_seconds, c_record = bench.playbook(PLAYBOOK, args.forks, tao_vars)
        c_origin = bench.origin(mark)

        # a: the per-host way, building the file b downloaded
        model_path = b_origin["files"][0].lstrip("/")
        model_file = model_path.rsplit("/", 1)[-1]
        fill = {"path": model_path, "file": model_file, "model": demo_model.MODEL,
                "script": REPO / "bench" / "per_host_build.py", "collections": collections_path(),
                "key": (', "%s"' % demo_model.ETLT_KEY) if model_file.endswith(".etlt") else "",
                "origin": bench.state["mirror"]["url"], "work": workdir}
        bench.clear_stores()
        mark = bench.log_mark()
        a_seconds, a_record = bench.playbook(PER_HOST % fill, args.forks)
        a_origin = bench.origin(mark)
        a_results = [r["Build the engine (the converter)"] for r in a_record["results"].values()]
        a_built = sum(json.loads(r["stdout"])["built"] for r in a_results)
        a_fingerprints = set(json.loads(r["stdout"])["fingerprint"] for r in a_results)

        # d: the floor
        bench.clear_stores()
        builders = [next(h["name"] for h in bench.hosts() if h["profile"]["name"] == p) for p in PROFILES]
        mark = bench.log_mark()
        d_seconds, _record = bench.playbook(FLOOR % dict(fill, builders=",".join(builders)), args.forks)
        d_origin = bench.origin(mark)

        # e: empty playbooks with c's task rounds (the same plays and batches), and flat (one play)
        empty, round_count, remote_count = empty_playbook(c_record)
        e_seconds, _record = bench.playbook(empty, args.forks)
        flat, flat_count = flat_empty_playbook(c_record)
        f_seconds, _record = bench.playbook(flat, args.forks)

        say()
        say("%-44s %12s %9s %7s %9s" % ("variant", "origin bytes", "downloads", "builds", "wall s"))
        rows = [("a per-host way (get_url + build on every host)", a_origin, a_built, a_seconds),
                ("b tao.fleet, first run", b_origin, b_built, b_seconds),
                ("c tao.fleet, second run", c_origin, 0, c_seconds),
                ("d floor (1 download, 1 build/class, copy)", d_origin, len(PROFILES), d_seconds)]
        for label, origin, builds, seconds in rows:
            say("%-44s %12d %9d %7d %9.1f" % (label, origin["bytes"], origin["downloads"], builds, seconds))
        say("%-44s %12s %9s %7s %9.1f" % ("e empty, c's plays+batches: %d rounds, %d remote" % (round_count, remote_count),
                                          "-", "-", "-", e_seconds))
        say("%-44s %12s %9s %7s %9.1f" % ("f empty, one play, %d tasks/host" % flat_count, "-", "-", "-", f_seconds))
        say()
        say("b took engines from the share on %d hosts; b and a built the same engines: %s"
            % (b_shared, "yes" if a_fingerprints == b_fingerprints else "NO (%s vs %s)" % (a_fingerprints, b_fingerprints)))
        say("ratios: b/a %.2f   b/d %.2f   c/e %.2f   c/f %.2f   (targets: b/d <= 1.5, c <= 1.2 x empty)%s"
            % (b_seconds / a_seconds, b_seconds / d_seconds, c_seconds / e_seconds, c_seconds / f_seconds,
               second_run_note(c_record)))
        say("c: engine_deploy answered %d of %d hosts from their deployment record, without a host call "
            "(quick_check; e has a ping in that round)" % quick_checked(c_record))
        if args.repeat or args.sweep:
            # a and d cleared the stores, so the next tao.fleet run deploys again: it is not timed, and brings
            # the stores back to what a second run finds (before this, the first pair's c was such a re-deploy).
            bench.playbook(PLAYBOOK, args.forks, tao_vars)
        if args.repeat:
            # The machine's speed drifts from minute to minute (the fleet shares its cores): c and e again, in
            # alternating pairs, so that each ratio compares runs made side by side.
            pairs = []
            for _number in range(args.repeat):
                c_again, c_again_record = bench.playbook(PLAYBOOK, args.forks, tao_vars)
                e_again, _record = bench.playbook(empty, args.forks)
                pairs.append((c_again, e_again, second_run_note(c_again_record)))
            ratios = sorted(c_run / e_run for c_run, e_run, _note in pairs)
            say("c/e in %d more pairs, each c then e: %s; median %.2f"
                % (len(pairs), ", ".join("%.1f/%.1f = %.2f%s" % (c_run, e_run, c_run / e_run, note)
                                         for c_run, e_run, note in pairs), ratios[len(ratios) // 2]))
        say()
        say("slowest tasks of b (summed over plays and batches):")
        for line in slowest(b_record):
            say("  " + line)
        say("slowest tasks of c:")
        for line in slowest(c_record):
            say("  " + line)

        if args.sweep:
            say()
            say("sweep (c = tao.fleet second run, e = the empty playbook):")
            say("%-44s %8s %8s %7s" % ("setting", "c s", "e s", "c/e"))
            other = "linear" if args.strategy.startswith("mitogen") else "mitogen_linear"
            settings = [("forks %d, pipelining on, %s" % (forks, args.strategy), forks, {}, args.strategy)
                        for forks in (10, 25, 50)]
            settings.append(("forks %d, pipelining off, %s" % (args.forks, args.strategy), args.forks,
                             {"ansible_pipelining": False}, args.strategy))
            settings.append(("forks %d, pipelining on, %s" % (args.forks, other), args.forks, {}, other))
            # every host called again, its model and engine hashed (the second run before the deployment record)
            settings.append(("forks %d, quick_check off, %s" % (args.forks, args.strategy), args.forks,
                             {"deploy_model_quick_check": False}, args.strategy))
            for label, forks, extra, strategy in settings:
                c_again, c_again_record = bench.playbook(PLAYBOOK, forks, dict(tao_vars, **extra), strategy)
                e_again, _record = bench.playbook(empty, forks, extra, strategy)
                say("%-44s %8.1f %8.1f %7.2f%s" % (label, c_again, e_again, c_again / e_again,
                                                   second_run_note(c_again_record)))
        if args.repeat_first:
            # d alone moves by a quarter from one run to the next here: b and d again, side by side, each from
            # nothing (no store, no controller cache, no share entry, no downloaded file), as the first ones
            pairs = []
            for _number in range(args.repeat_first):
                bench.clear_stores()
                shutil.rmtree(cache, ignore_errors=True)
                b_again, _record = bench.playbook(PLAYBOOK, args.forks, tao_vars)
                built_again = bench.manifest_builds()[0]
                bench.clear_stores()
                (workdir / model_file).unlink()
                d_again, _record = bench.playbook(FLOOR % dict(fill, builders=",".join(builders)), args.forks)
                pairs.append((b_again, d_again, built_again))
            ratios = sorted(b_run / d_run for b_run, d_run, _built in pairs)
            say()
            say("b/d in %d more pairs, each b then d from empty stores and cache: %s; median %.2f"
                % (len(pairs), ", ".join("%.1f/%.1f = %.2f (b built %d)" % (b_run, d_run, b_run / d_run, built)
                                         for b_run, d_run, built in pairs), ratios[len(ratios) // 2]))
        say()
        say("load average at the end: %.1f %.1f %.1f" % os.getloadavg())
        say("total %.0f s (fleet up included); logs in %s" % (time.monotonic() - started, workdir))
    finally:
        if not args.keep:
            bench.fleet("down", "--name", args.name)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
