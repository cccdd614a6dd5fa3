# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""tao.fleet.engine_smoke on every host of the simulated fleet, through real ansible-playbook over ssh/paramiko.

Setup: each host's own Python puts the PeopleNet stand-in (.etlt, tests/fleet/demo_model.py) into its store
and builds engines from it with the TensorRT it has: the TensorRT test double on the JetPack 4/5 hosts, real
TensorRT-RTX 1.7 (default targets; it cannot target Jetson's 8.7 or 11.0) on the others. No host has a GPU,
so no engine executes: every smoke test must say `onnxruntime-cpu (engine not executed)` with the reason,
and find the demo scene's rectangles on the CPU from the same decrypted model.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = "peoplenet_standin"
SEED = r'''
import hashlib, json, os, shutil, sys
from ansible_collections.tao.fleet.plugins.module_utils._etlt import read_model_file
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import engine_fingerprint
from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore
from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import build, import_tensorrt

store_root, model, host, etlt = sys.argv[1:5]
store = EngineStore(store_root)
with open(etlt, "rb") as handle:
    data = handle.read()
sha = hashlib.sha256(data).hexdigest()
models = os.path.join(store.root, "models")
if not os.path.isdir(models):
    os.makedirs(models)
shutil.copyfile(etlt, store.model_file_path(sha))
trt = import_tensorrt()
payload = read_model_file(etlt, "tlt_encode").payload
result = build(trt, {"model": payload, "max_batch": 2})
engines = {}
for name, precision in (("A", "fp32"), ("B", "fp16")):
    fingerprint, inputs = engine_fingerprint(sha, {"host": host, "tensorrt": trt.version}, {"precision": precision})
    if not store.verify(model, fingerprint).intact:
        build_dir = store.temp_dir(model)
        store.write_engine(build_dir, result["engine"])
        store.write_manifest(build_dir, fingerprint, inputs, build={"tensorrt": trt.version, "flavour": trt.flavour})
        store.publish(model, build_dir)
    engines[name] = fingerprint
print(json.dumps({"python": sys.version.split()[0], "tensorrt": [trt.flavour, trt.version, trt.test_double],
                  "engine_head": result["engine"][:19].decode("latin-1"), "engines": engines}))
'''

SMOKE = """
- hosts: all
  gather_facts: false
  vars:
    standin: "{{ lookup('tao.fleet.model_catalog', 'peoplenet_standin') }}"
  tasks:
    - name: smoke %(which)s
      tao.fleet.engine_smoke:
        model: peoplenet_standin
        fingerprint: "{{ engines[inventory_hostname].%(which)s }}"
        model_entry: "{{ standin }}"
        store: "{{ tao_fleet_store }}"
        sysroot: "{{ tao_fleet_sysroot }}"
        warmup: 1
        runs: 5
%(options)s
    - name: release %(which)s
      tao.fleet.engine_release:
        model: peoplenet_standin
        fingerprint: "{{ engines[inventory_hostname].%(which)s }}"
        store: "{{ tao_fleet_store }}"
"""

NOT_EXECUTED_BECAUSE = {
    "nano-jp46": "the TensorRT on this host is the tao.fleet test double",
    "xavier-nx-jp51": "the TensorRT on this host is the tao.fleet test double",
    "orin-nx-jp62": "TensorRT-RTX cannot run on compute capability 8.7 (Jetson)",
    "agx-orin-jp62": "TensorRT-RTX cannot run on compute capability 8.7 (Jetson)",
    "thor-jp70": "TensorRT-RTX cannot run on compute capability 11.0 (Jetson)",
    "dgpu-x86": "no CUDA device",
}


def smoke_play(which, **options):
    lines = "".join("        %s: %s\n" % (key, json.dumps(value)) for key, value in options.items())
    return SMOKE % {"which": which, "options": lines.rstrip("\n")}


def model_dir(host):
    return os.path.join(host.store, "engines", MODEL)


def active(host):
    path = os.path.join(model_dir(host), "active")
    return os.readlink(path) if os.path.islink(path) else None


def manifest(host, fingerprint):
    with open(os.path.join(model_dir(host), fingerprint, "manifest.json")) as handle:
        return json.load(handle)


def iou(a, b):
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - width * height
    return width * height / union


@pytest.fixture
def engines(fleet, ansible, collections_path, tmp_path):
    """Engines A and B of the stand-in in every host's store, built there by the host's own TensorRT."""
    sys.path.insert(0, str(REPO / "tests" / "fleet"))
    import demo_model
    etlt = tmp_path / demo_model.ETLT_FILE
    etlt.write_bytes(demo_model.etlt_bytes(demo_model.DEFAULT_VERSION))
    os.chmod(str(tmp_path), 0o755)
    for host in fleet.hosts:
        shutil.rmtree(model_dir(host), ignore_errors=True)
    seed = tmp_path / "seed_engines.py"
    seed.write_text(SEED)
    run = ansible.playbook(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: seed engines\n"
        "      ansible.builtin.script:\n"
        "        cmd: \"%s {{ tao_fleet_store }} %s {{ inventory_hostname }} %s\"\n"
        "        executable: \"{{ ansible_python_interpreter }}\"\n"
        "      environment:\n"
        "        PYTHONPATH: \"%s\"\n" % (seed, MODEL, etlt, collections_path))
    assert run.rc == 0, run.stdout + run.stderr
    seeded = {}
    for host in fleet.hosts:
        # the script module's stdout also carries the host Python's warnings (a pty joins stderr): take the last line
        output = json.loads(run.result(host.name, "seed engines")["stdout"].strip().splitlines()[-1])
        assert output["python"].startswith(host.profile["python"] + "."), output
        double = host.profile["tensorrt"]["provider"] == "double"
        assert output["tensorrt"][2] is double, output
        # the double's engines say what they are; TensorRT-RTX's are real plans
        assert output["engine_head"].startswith("TAOFLEET-TRT-DOUBLE") is double, output
        seeded[host.name] = output["engines"]
    return seeded


def test_smoke_finds_the_scene_on_every_host_and_says_what_ran(fleet, ansible, engines):
    run = ansible.playbook(smoke_play("A", expect={"boxes": "scene", "allow_extra_detections": False}),
                           extra_vars={"engines": engines})
    assert run.rc == 0, run.stdout + run.stderr
    for host in fleet.hosts:
        result = run.result(host.name, "smoke A")
        assert result["changed"] is True and result["passed"] is True, result
        assert result["backend"] == "onnxruntime-cpu (engine not executed)" and result["engine_executed"] is False
        assert NOT_EXECUTED_BECAUSE[host.profile["name"]] in result["engine_not_executed_reason"], (
            host.name, result["engine_not_executed_reason"])
        rects = result["input"]["rects"]
        assert result["input"]["seed"] == 3 and len(rects) == 3
        assert len(result["detections"]) == 3 and all(d["label"] == "person" for d in result["detections"])
        for rect in rects:
            assert max(iou(rect, [d["left"], d["top"], d["right"], d["bottom"]]) for d in result["detections"]) >= 0.9
        latency = result["latency_ms"]
        assert latency["runs"] == 5 and 0 < latency["p50"] <= latency["p95"] <= latency["max"]
        assert result["throughput_fps"] > 0 and result["throughput_ratio"] is None
        assert "did not execute" in result["throughput_ratio_reason"]
        smoke = manifest(host, engines[host.name]["A"])["smoke"]
        assert smoke["passed"] is True and smoke["backend"] == result["backend"] and smoke["detections"] == 3
        assert smoke["engine_not_executed_reason"] == result["engine_not_executed_reason"]
        assert active(host) == engines[host.name]["A"]
    # the sysroot's power state: Nano's nvpmodel MAXN with jetson_clocks off, none on the dGPU box
    assert run.result("nano-jp46", "smoke A")["power_mode"] == {
        "nvpmodel_id": 0, "nvpmodel_name": "MAXN", "jetson_clocks": False}
    assert run.result("dgpu-x86", "smoke A")["power_mode"] is None

    again = ansible.playbook(smoke_play("A", expect={"boxes": "scene"}), extra_vars={"engines": engines})
    assert again.rc == 0, again.stdout + again.stderr
    assert all(again.result(host.name, "smoke A")["changed"] is False for host in fleet.hosts)


def test_an_unmet_expectation_fails_and_the_previous_engine_stays_active(fleet, ansible, engines):
    first = ansible.playbook(smoke_play("A"), extra_vars={"engines": engines})
    assert first.rc == 0, first.stdout + first.stderr
    failing = ansible.playbook(smoke_play("B", scene={"seed": 1, "count": 0, "distractors": 0}),
                               extra_vars={"engines": engines})
    assert failing.rc != 0
    for host in fleet.hosts:
        result = failing.result(host.name, "smoke B")
        assert result["error_code"] == "smoke_failed", result
        assert result["passed"] is False and result["detection_count"] == 0
        assert "yields nothing" in result["msg"] and result["backend"] == "onnxruntime-cpu (engine not executed)"
        assert failing.stats[host.name]["failures"] == 1
        smoke = manifest(host, engines[host.name]["B"])["smoke"]
        assert smoke["passed"] is False and "yields nothing" in smoke["reason"]
        assert active(host) == engines[host.name]["A"]
    forced_release = ansible.playbook(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: release B anyway\n"
        "      tao.fleet.engine_release:\n"
        "        model: peoplenet_standin\n"
        "        fingerprint: \"{{ engines[inventory_hostname].B }}\"\n"
        "        store: \"{{ tao_fleet_store }}\"\n"
        "      ignore_errors: true\n", extra_vars={"engines": engines})
    for host in fleet.hosts:
        assert forced_release.result(host.name, "release B anyway")["error_code"] == "not_smoke_tested"
        assert active(host) == engines[host.name]["A"]
