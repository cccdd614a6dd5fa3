# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""tao.fleet.trt_engine through real ansible-playbook on the simulated fleet.

The PeopleNet stand-in (tests/fleet/demo_model.py) is served by the fleet's mirror, fetched to each host with
tao.fleet.model_fetch and built there: by real TensorRT-RTX 1.7 on the hosts whose venv has it (dgpu-x86,
orin-nx-jp62, agx-orin-jp62, thor-jp70; real engines, built on this CPU-only machine) and by the TensorRT
TEST DOUBLE on nano-jp46 (8.2.1.8) and xavier-nx-jp51 (8.5.2.2), whose "engines" are not plans.

Failures run where they can be real: the wrong key, the corrupt ONNX (TensorRT-RTX's own parser errors), UFF on
TensorRT-RTX, the kill -9 (a real SIGKILL of the build process found through builder.pid; the task's
environment sets the test-only TAO_FLEET_TEST_BUILD_DELAY so the build is still running when the test looks),
the memory limit (TensorRT-RTX under RLIMIT_DATA), the time limit and the full disk (a real tmpfs) all on
dgpu-x86; INT8 without a calibration cache, UFF without input dims and DLA where there is none on the double
hosts (nano, xavier) and on TensorRT-RTX (no DLA).

Run with TAO_FLEET_IT_NAME / TAO_FLEET_IT_SUBNET set to a fleet of your own (conftest.py).
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "fleet"))
import demo_model  # noqa: E402

MODEL = demo_model.MODEL
# The store name these tests build under: other tests' engines of the stand-in stay untouched.
NAME = "trt_engine_it"
RTX_HOSTS = ("dgpu-x86", "orin-nx-jp62", "agx-orin-jp62", "thor-jp70")
DOUBLE_HOSTS = {"nano-jp46": "8.2.1.8", "xavier-nx-jp51": "8.5.2.2"}
ETLT_URL = "{{ tao_mirror_url }}/%s/%s" % (demo_model.model_dir(demo_model.DEFAULT_VERSION), demo_model.ETLT_FILE)
ONNX_URL = "{{ tao_mirror_url }}/%s/%s" % (demo_model.model_dir(demo_model.DEFAULT_VERSION), demo_model.ONNX_FILE)
CATALOG = ("        model: \"{{ lookup('tao.fleet.model_catalog', '%s') "
           "| tao.fleet.model_artifact(ansible_facts.tao_platform) }}\"\n" % MODEL)
# fp16 where the TensorRT has precision flags (the doubles), fp32 (= the model's types) on TensorRT-RTX
PRECISION = "precision: \"{{ 'fp32' if tao_fleet_profile in %s else 'fp16' }}\"" % (list(RTX_HOSTS),)
POISON = '''import os
with open(os.environ["TAO_FLEET_POISON_MARKER"], "a") as handle:
    handle.write(__name__ + "\\n")
raise ImportError("tensorrt must not be imported on the reuse path")
'''


def playbook(engine_options, hosts="all", fetch_url=ETLT_URL, engine_env=None, catalog=True):
    """Fetch the stand-in, gather platform facts, run trt_engine with ``engine_options`` (YAML lines);
    ``catalog`` passes the stand-in's catalog entry (key, store name, UFF input) as ``model``."""
    env = ""
    if engine_env:
        env = "      environment:\n" + "".join("        %s: \"%s\"\n" % item for item in sorted(engine_env.items()))
    return (
        "- hosts: %s\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: fetch\n"
        "      tao.fleet.model_fetch:\n"
        "        urls: [\"%s\"]\n"
        "        checksum_url: \"{{ tao_mirror_url }}/SHA256SUMS\"\n"
        "        store: \"{{ tao_fleet_store }}\"\n"
        "      register: fetched\n"
        "    - name: facts\n"
        "      tao.fleet.platform_facts:\n"
        "        sysroot: \"{{ tao_fleet_sysroot }}\"\n"
        "    - name: engine\n"
        "      tao.fleet.trt_engine:\n"
        "        model_path: \"{{ model_path | default(fetched.path) }}\"\n"
        "%s"
        "        platform: \"{{ ansible_facts.tao_platform }}\"\n"
        "        store: \"{{ engine_store | default(tao_fleet_store) }}\"\n"
        "        model_name: %s\n"
        "%s"
        "%s"
    ) % (hosts, fetch_url, CATALOG if catalog else "", NAME, "".join("        %s\n" % line for line in engine_options), env)


def engines(store):
    path = Path(store) / "engines" / NAME
    return sorted(p.name for p in path.iterdir() if len(p.name) == 64) if path.is_dir() else []


def snapshot(store):
    found = {}
    for root, dirs, files in os.walk(store):
        for name in dirs + files:
            path = os.path.join(root, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode):
                found[os.path.relpath(path, store)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            else:
                found[os.path.relpath(path, store)] = stat.S_IFMT(info.st_mode)
    return found


def engine_result(run, host):
    return run.result(host, "engine")


def failure(run, host):
    entry = [e for e in run.results[host] if e["task"] == "engine"][-1]
    assert entry["failed"] is True, entry
    return entry["result"]


@pytest.fixture(scope="module")
def served(fleet):
    """The stand-in on the fleet's mirror (the generator writes the same bytes every time)."""
    subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "fleet" / "demo_model.py"), "--out", fleet.mirror_root],
                   check=True, stdout=subprocess.DEVNULL)
    return fleet


@pytest.fixture
def clean_stores(served):
    for host in served.hosts:
        subprocess.run(["rm", "-rf", os.path.join(host.store, "engines", NAME)], check=True)
    return served


def test_real_rtx_and_double_engines_then_reuse_without_tensorrt(clean_stores, ansible, tmp_path):
    fleet = clean_stores
    first = ansible.playbook(playbook(["precision: fp32"]))
    assert first.rc == 0, first.stdout + first.stderr
    for host in fleet.hosts:
        result = engine_result(first, host.name)
        assert (result["changed"], result["built"], result["reused"]) == (True, True, False), result
        engine = Path(result["engine_path"]).read_bytes()
        assert hashlib.sha256(engine).hexdigest() == result["manifest"]["engine"]["sha256"]
        assert engines(host.store) == [result["fingerprint"]]
        manifest = json.loads(Path(result["manifest"]["path"]).read_text())
        assert manifest["inputs"] == result["fingerprint_inputs"]
        assert manifest["build"]["model"]["sha256"] == result["model"]["sha256"]
        assert manifest["build"]["builder"]["python"].startswith(host.profile["python"] + ".")
        if host.profile["name"] in RTX_HOSTS:
            # a real TensorRT-RTX plan, built by the real library in the host's own Python
            assert result["tensorrt"] == {"version": "1.7.1.116", "flavour": "tensorrt_rtx", "test_double": False,
                                          "label": "TensorRT-RTX 1.7.1.116", "generation": "rtx1"}
            assert not engine.startswith(b"TAOFLEET") and len(engine) > 100000
            assert result["fingerprint_inputs"]["build"]["precision"] == "strongly_typed"
            jetson = host.profile["name"] != "dgpu-x86"
            assert result["targets"]["device_supported"] is not jetson
            warned = any("will NOT run here" in w for w in result.get("warnings", []))
            assert warned is jetson, result.get("warnings")
            assert manifest["build"]["targets"] == result["targets"]
        else:
            version = DOUBLE_HOSTS[host.profile["name"]]
            assert engine.startswith(("TAOFLEET-TRT-DOUBLE %s " % version).encode())
            assert result["tensorrt"]["test_double"] is True and result["timing_cache"]["used"] is True
            assert Path(result["timing_cache"]["path"]).is_file()

    poison = tmp_path / "poison"
    for name in ("tensorrt", "tensorrt_rtx", "tensorrt_bindings", "tensorrt_rtx_bindings"):
        (poison / name).mkdir(parents=True)
        (poison / name / "__init__.py").write_text(POISON)
    marker = tmp_path / "imported"
    second = ansible.playbook(playbook(["precision: fp32"], engine_env={
        "PYTHONPATH": str(poison), "TAO_FLEET_POISON_MARKER": str(marker)}))
    assert second.rc == 0, second.stdout + second.stderr
    for host in fleet.hosts:
        result = engine_result(second, host.name)
        assert (result["changed"], result["built"], result["reused"]) == (False, False, True), result
        assert result["fingerprint"] == engine_result(first, host.name)["fingerprint"]
        assert len(engines(host.store)) == 1
    assert not marker.exists(), marker.read_text()


def test_each_change_rebuilds_exactly_once(clean_stores, ansible, tmp_path):
    fleet = clean_stores
    xavier, dgpu = fleet.host("xavier-nx-jp51"), fleet.host("dgpu-x86")
    limit = [xavier.name, dgpu.name]
    base = ansible.playbook(playbook([PRECISION]), limit=limit)
    assert base.rc == 0, base.stdout + base.stderr
    seen = {name: [engine_result(base, name)["fingerprint"]] for name in limit}

    def once(host, options, **kwargs):
        runs = [ansible.playbook(playbook(options, **kwargs.get("playbook", {})), limit=host.name,
                                 extra_vars=kwargs.get("extra_vars")) for _repeat in range(2)]
        for run in runs:
            assert run.rc == 0, run.stdout + run.stderr
        first, second = engine_result(runs[0], host.name), engine_result(runs[1], host.name)
        assert (first["built"], second["built"], second["reused"]) == (True, False, True)
        assert first["fingerprint"] not in seen[host.name] and second["fingerprint"] == first["fingerprint"]
        seen[host.name].append(first["fingerprint"])
        assert engines(host.store) == sorted(seen[host.name])
        return first

    # precision (the double: TensorRT 8.5 has precision flags; TensorRT-RTX is strongly typed)
    once(xavier, ["precision: fp32"])
    # the model file: the plain ONNX release instead of the .etlt, on real TensorRT-RTX
    onnx = once(dgpu, ["precision: fp32"], playbook={"fetch_url": ONNX_URL})
    assert onnx["model"]["encrypted"] is False and not Path(onnx["engine_path"]).read_bytes().startswith(b"TAOFLEET")
    # TensorRT itself: a venv whose double is 8.6.1 in front of the host's venv; platform_facts sees it
    venv = tmp_path / "venv-trt-8.6.1"
    subprocess.run([xavier.python, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import site; print(site.getsitepackages()[0])"],
                          check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    original = subprocess.run([xavier.python, "-c", "import site; print(site.getsitepackages()[0])"],
                              check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "doubles" / "install.py"), "--trt-version", "8.6.1",
                    "--site-packages", site, "--dla-cores", "2"], check=True, stdout=subprocess.DEVNULL)
    Path(site, "zz_host_venv.pth").write_text(original + "\n")
    upgraded = once(xavier, ["precision: fp32"], extra_vars={"ansible_python_interpreter": str(venv / "bin" / "python")})
    assert upgraded["tensorrt"]["version"] == "8.6.1"
    assert upgraded["fingerprint_inputs"]["platform"]["tensorrt"] == "8.6.1"
    assert Path(upgraded["engine_path"]).read_bytes().startswith(b"TAOFLEET-TRT-DOUBLE 8.6.1 ")


def test_check_mode_reports_a_build_and_writes_nothing(clean_stores, ansible):
    host = clean_stores.host("dgpu-x86")
    run = ansible.playbook(playbook(["precision: fp32", "max_batch_size: 4"]), limit=host.name, check=True)
    assert run.rc == 0, run.stdout + run.stderr
    result = engine_result(run, host.name)
    assert result["changed"] is True and result["built"] is False
    assert engines(host.store) == []


# ---- bad input: each a clear error, no partial engine, nothing else in the store changed ---------------

@pytest.fixture
def seeded(clean_stores, ansible):
    """One good engine in every store (so "nothing changed" means something), and the stores' snapshots."""
    run = ansible.playbook(playbook([PRECISION]))
    assert run.rc == 0, run.stdout + run.stderr
    return {host.name: snapshot(host.store) for host in clean_stores.hosts}


def assert_unchanged(fleet, seeded, names):
    for name in names:
        assert snapshot(fleet.host(name).store) == seeded[name], name


def write_model(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    path.chmod(0o644)
    return str(path)


def test_wrong_key(clean_stores, seeded, ansible):
    # a new max batch: the engine is not in the store, so the model must be decrypted (reuse never decrypts)
    run = ansible.playbook(playbook([PRECISION, "max_batch_size: 4", "model_key: not_the_key"]),
                           limit="dgpu-x86,xavier-nx-jp51")
    for name in ("dgpu-x86", "xavier-nx-jp51"):
        result = failure(run, name)
        assert result["error_code"] == "model_key_rejected" and result["cause"] and result["fix"]
        assert "key" in result["msg"]
    assert_unchanged(clean_stores, seeded, ("dgpu-x86", "xavier-nx-jp51"))


def test_corrupt_onnx_shows_tensorrt_rtx_parser_errors(clean_stores, seeded, ansible, tmp_path):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Conv", ["not_registered", "w"], ["output_cov/Sigmoid"], name="conv_cov")], "broken",
        [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output_cov/Sigmoid", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor("w", TensorProto.FLOAT, [3, 3, 16, 16], [0.0] * 2304)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = write_model(tmp_path, "broken.onnx", model.SerializeToString())
    run = ansible.playbook(playbook(["precision: fp32"]), limit="dgpu-x86",
                           extra_vars={"model_path": path})
    result = failure(run, "dgpu-x86")
    assert result["error_code"] == "onnx_parse_failed"
    parser_errors = result["error_details"]["parser_errors"]
    assert parser_errors and any("not_registered" in line or "INVALID_GRAPH" in line for line in parser_errors)
    assert parser_errors[0] in result["msg"] and "TensorRT-RTX 1.7.1.116" in result["msg"]
    assert_unchanged(clean_stores, seeded, ("dgpu-x86",))


def uff_etlt():
    sys.path.insert(0, str(REPO_ROOT / "tests" / "doubles"))
    import onnx_writer
    from ansible_collections.tao.fleet.plugins.module_utils._etlt import encode_etlt

    field = onnx_writer._field
    shape = field(1, "shape") + field(2, field(8, b"\x03\xa0\x04\xc0\x07"))
    graph = field(1, "main") + field(2, field(1, "input_1") + field(3, "Input") + field(4, shape)) + \
        field(2, field(1, "conv1/convolution") + field(2, "input_1") + field(3, "Conv"))
    meta_graph = field(1, 1) + field(2, 1) + field(3, field(1, "tensorflow_extension") + field(2, 1)) + \
        field(4, graph) + field(5, field(1, "conv1/kernel") + field(2, b"\x11" * 600))
    return encode_etlt(meta_graph, "tlt_encode", "input_1")


@pytest.fixture
def collection_importable(collections_path):
    sys.path.insert(0, collections_path)
    yield
    sys.path.remove(collections_path)


def test_uff_on_tensorrt_rtx_and_uff_without_input_dims(clean_stores, seeded, ansible, tmp_path, collection_importable):
    path = write_model(tmp_path, "peoplenet_uff.etlt", uff_etlt())
    run = ansible.playbook(playbook(["model_key: tlt_encode", PRECISION,
                                     "output_names: [output_cov/Sigmoid, output_bbox/BiasAdd]"], catalog=False),
                           limit="dgpu-x86,xavier-nx-jp51", extra_vars={"model_path": path})
    rtx = failure(run, "dgpu-x86")
    assert rtx["error_code"] == "uff_unsupported" and "TensorRT-RTX 1.7.1.116" in rtx["msg"] and "ONNX" in rtx["fix"]
    double = failure(run, "xavier-nx-jp51")
    assert double["error_code"] == "uff_input_required" and "input_dims" in double["msg"] and "-d" in double["fix"]
    assert_unchanged(clean_stores, seeded, ("dgpu-x86", "xavier-nx-jp51"))


def test_int8_without_calibration_cache(clean_stores, seeded, ansible):
    run = ansible.playbook(playbook(["converter_args: -t int8"]), limit="xavier-nx-jp51")
    result = failure(run, "xavier-nx-jp51")
    assert result["error_code"] == "int8_needs_calibration" and "fp16" in result["fix"]
    assert_unchanged(clean_stores, seeded, ("xavier-nx-jp51",))


def test_dla_where_there_is_none(clean_stores, seeded, ansible):
    run = ansible.playbook(playbook([PRECISION, "dla_core: 0"]), limit="nano-jp46,dgpu-x86")
    nano, rtx = failure(run, "nano-jp46"), failure(run, "dgpu-x86")
    assert nano["error_code"] == "dla_unavailable" and "no DLA" in nano["msg"]
    assert rtx["error_code"] == "dla_unavailable" and "TensorRT-RTX" in rtx["msg"]
    assert_unchanged(clean_stores, seeded, ("nano-jp46", "dgpu-x86"))


def test_dla_layer_counts_on_the_double(clean_stores, seeded, ansible):
    run = ansible.playbook(playbook(["precision: fp16", "converter_args: -u 1", "min_dla_layers: 100%"]),
                           limit="xavier-nx-jp51")
    assert run.rc == 0, run.stdout + run.stderr
    dla = engine_result(run, "xavier-nx-jp51")["dla"]
    assert dla["core"] == 1 and dla["layers"] > 10 and dla["layers_on_gpu"] == 0


def test_build_killed_with_kill_9(clean_stores, seeded, ansible):
    host = clean_stores.host("dgpu-x86")
    killed = []

    def kill_when_building():
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            for record in Path(host.store, "engines", NAME).glob(".tmp-*/builder.pid"):
                try:
                    pid = json.loads(record.read_text()).get("build_pid")
                except (OSError, ValueError):
                    continue
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=kill_when_building)
    thread.start()
    run = ansible.playbook(playbook(["precision: fp32", "max_batch_size: 4"], engine_env={"TAO_FLEET_TEST_BUILD_DELAY": "120"}),
                           limit=host.name)
    thread.join()
    result = failure(run, host.name)
    assert killed and result["error_code"] == "build_killed" and "signal 9" in result["msg"]
    assert result["error_details"]["build_pid"] == killed[0] and "OOM killer" in result["cause"]
    assert_unchanged(clean_stores, seeded, (host.name,))


def test_build_out_of_memory_and_over_time(clean_stores, seeded, ansible):
    host = clean_stores.host("dgpu-x86")
    run = ansible.playbook(playbook(["precision: fp32", "max_batch_size: 4", "build_memory_limit: 100M",
                                     "build_timeout: 40"]), limit=host.name)
    result = failure(run, host.name)
    assert result["error_code"] == "build_out_of_memory", result
    assert "100 MiB" in result["msg"] and "build_memory_limit" in result["fix"]
    assert_unchanged(clean_stores, seeded, (host.name,))

    run = ansible.playbook(playbook(["precision: fp32", "max_batch_size: 4", "build_timeout: 3"],
                                    engine_env={"TAO_FLEET_TEST_BUILD_DELAY": "120"}), limit=host.name)
    result = failure(run, host.name)
    assert result["error_code"] == "build_timeout" and "build_timeout (3 s)" in result["msg"]
    assert_unchanged(clean_stores, seeded, (host.name,))


@pytest.fixture
def host_tmpfs(clean_stores, tmp_path):
    """A 4 MiB tmpfs mounted in dgpu-x86's mount namespace (ip netns exec gives each host's sshd its own, and
    this machine's / is a private mount, so a mount made here would not reach the host); this process sees it
    through /proc/<sshd pid>/root. Yields (path on the host, the same path seen from here)."""
    host = clean_stores.host("dgpu-x86")
    sshd = Path(host.sshd_pidfile).read_text().strip()
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    subprocess.run(["nsenter", "-t", sshd, "-m", "mount", "-t", "tmpfs", "-o", "size=4m", "tao-fleet-it",
                    str(mount_point)], check=True)
    try:
        yield mount_point, Path("/proc/%s/root" % sshd) / str(mount_point).lstrip("/")
    finally:
        subprocess.run(["nsenter", "-t", sshd, "-m", "umount", "-l", str(mount_point)], check=False)


def test_store_disk_full(clean_stores, ansible, host_tmpfs):
    host = clean_stores.host("dgpu-x86")
    mount_point, seen = host_tmpfs
    store = {"engine_store": str(mount_point / "store")}
    first = ansible.playbook(playbook(["precision: fp32"]), limit=host.name, extra_vars=store)
    assert first.rc == 0, first.stdout + first.stderr
    assert engine_result(first, host.name)["engine_path"].startswith(str(mount_point))
    before = snapshot(str(seen / "store"))
    assert len(before) > 3
    info = os.statvfs(str(seen))
    (seen / "filler").write_bytes(b"\0" * max(0, info.f_bavail * info.f_frsize - 64 * 1024))
    run = ansible.playbook(playbook(["precision: fp32", "max_batch_size: 4"]), limit=host.name, extra_vars=store)
    result = failure(run, host.name)
    assert result["error_code"] == "disk_full" and "df -h" in result["fix"]
    assert snapshot(str(seen / "store")) == before
