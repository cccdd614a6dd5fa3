# -*- coding: utf-8 -*-
"""_smoke: statistics, power mode, published figures, expectations, output roles, the bounded child
process, and whole smoke tests on a real engine store with the PeopleNet stand-in.

Backends exercised here: onnxruntime on the CPU (real), and the decision that the engine cannot run
(a test-double engine; an engine with no TensorRT, pycuda or CUDA driver on this machine, found by
the real child process). The TensorRT + pycuda run itself is test_runtime.py (double + fake buffers)
and tests/gpu (real pycuda on a GPU).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import faulthandler
import hashlib
import json
import os
import signal
import sys
import time

import numpy
import pytest
import yaml

from ansible_collections.tao.fleet.plugins.module_utils import _image, _smoke, _smoke_backends
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._etlt import decode_etlt
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import engine_fingerprint
from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore
from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import LoadedTensorRT, build
from ansible_collections.tao.fleet.tests.unit.plugins.modules.double_host import load_demo_model

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..', '..'))
sys.path.insert(0, os.path.join(REPO, 'tests', 'doubles'))
import harness  # noqa: E402

with open(os.path.join(REPO, 'catalog', 'models.yml')) as handle:
    CATALOG = yaml.safe_load(handle)['models']
STANDIN = dict(CATALOG['peoplenet_standin'], id='peoplenet_standin')
PEOPLENET = dict(CATALOG['peoplenet'], id='peoplenet')
MODEL = 'peoplenet_standin'

demo_model = load_demo_model()


def facts(profile):
    with open(os.path.join(REPO, 'tests', 'fixtures', 'sysroots', '%s.expected.json' % profile)) as handle:
        return json.load(handle)['tao_platform']


# ---- statistics ---------------------------------------------------------------------------------

@pytest.mark.parametrize('values', [[5.0], [3.0, 1.0], [float(v) for v in range(1, 21)], [0.7, 9.1, 0.8, 0.75, 0.9]])
def test_percentiles_agree_with_numpy(values):
    for fraction in (0.5, 0.95):
        assert _smoke.percentile(values, fraction) == pytest.approx(numpy.percentile(values, fraction * 100))


def test_latency_stats_and_throughput():
    stats = _smoke.latency_stats([2.0, 4.0, 6.0, 8.0])
    assert stats == {'p50': 5.0, 'p95': 7.7, 'max': 8.0, 'min': 2.0, 'mean': 5.0, 'runs': 4}
    assert _smoke.throughput_fps([2.0, 4.0, 6.0, 8.0], batch=4) == 800.0
    assert _smoke.latency_stats([]) is None


# ---- power mode and published figures ------------------------------------------------------------

def test_power_mode_from_each_fixture():
    assert _smoke.power_mode(facts('nano-jp46')) == (
        {'nvpmodel_id': 0, 'nvpmodel_name': 'MAXN', 'jetson_clocks': False}, None)
    assert _smoke.power_mode(facts('xavier-nx-jp51'))[0]['nvpmodel_name'] == 'MODE_10W_DESKTOP'
    mode, reason = _smoke.power_mode(facts('orin-nx-jp62'))
    assert mode is None and 'nvpmodel.conf does not exist' in reason
    mode, reason = _smoke.power_mode(facts('dgpu-x86'))
    assert mode is None and 'dGPU' in reason


@pytest.mark.parametrize('profile, device', [
    ('nano-jp46', 'jetson_nano'), ('xavier-nx-jp51', 'jetson_xavier_nx'), ('orin-nx-jp62', 'jetson_orin_nx'),
    ('agx-orin-jp62', 'jetson_agx_orin'), ('thor-jp70', 'jetson_agx_thor'), ('dgpu-x86', None)])
def test_published_device_names(profile, device):
    assert _smoke.published_device(facts(profile)) == device


@pytest.mark.parametrize('gpu, device', [('Tesla T4', 't4'), ('NVIDIA L4', 'l4'), ('NVIDIA L40S', None),
                                         ('NVIDIA RTX 4000 SFF Ada Generation', None)])
def test_published_dgpu_names(gpu, device):
    assert _smoke.published_device({'kind': 'dgpu', 'gpu': {'name': gpu}}) == device


def test_ratio_to_published_throughput():
    orin = facts('orin-nx-jp62')
    figure, ratio, reason = _smoke.compare_published(PEOPLENET, orin, 'int8', 186.0, True)
    assert figure['fps'] == 372 and ratio == 0.5 and reason is None
    figure, ratio, reason = _smoke.compare_published(PEOPLENET, orin, 'fp16', 186.0, True)
    assert ratio is None and 'are at int8; this engine is fp16' in reason
    figure, ratio, reason = _smoke.compare_published(PEOPLENET, orin, 'int8', 186.0, False)
    assert ratio is None and 'did not execute' in reason
    assert 'no published figure for jetson_agx_thor' in _smoke.compare_published(
        PEOPLENET, facts('thor-jp70'), 'fp16', 10.0, True)[2]
    assert 'no published throughput for model peoplenet_standin' in _smoke.compare_published(
        STANDIN, orin, 'fp32', 10.0, True)[2]


def test_engine_readiness_reasons():
    double = LoadedTensorRT(None, 'tensorrt', '8.2.1.8', True)
    assert 'test double 8.2.1.8' in _smoke_backends.engine_readiness(double, facts('nano-jp46'))[0]
    rtx = LoadedTensorRT(None, 'tensorrt_rtx', '1.7.1.116', False)
    (reason,) = _smoke_backends.engine_readiness(rtx, facts('orin-nx-jp62'))
    assert reason.startswith('TensorRT-RTX cannot run on compute capability 8.7 (Jetson)')
    assert 'compute capability 11.0' in _smoke_backends.engine_readiness(rtx, facts('thor-jp70'))[0]
    assert _smoke_backends.engine_readiness(rtx, facts('dgpu-x86')) == []
    assert _smoke_backends.engine_readiness(LoadedTensorRT(None, 'tensorrt', '10.3.0', False), facts('orin-nx-jp62')) == []


# ---- expectations and outputs -------------------------------------------------------------------

def detection(label, box, confidence=0.99):
    return dict(zip(('left', 'top', 'right', 'bottom'), box), label=label, confidence=confidence, class_id=0)


def failures(expect, detections, latency=None, rects=None):
    settings = _smoke.resolve_expect(expect, rects, ['person', 'bag', 'face'])
    return _smoke.check_expectations(settings, detections, latency or {'p50': 1.0, 'p95': 2.0})


def test_a_model_that_yields_nothing_fails_by_default():
    assert failures(None, []) == ['0 detection(s), expected at least 1 (the model yields nothing)']
    assert failures({'min_detections': 0}, []) == []


def test_golden_boxes_iou_and_score_tolerance():
    found = [detection('person', (10, 10, 50, 90), 0.9), detection('bag', (100, 100, 120, 120))]
    assert failures({'boxes': [{'left': 10, 'top': 10, 'right': 50, 'bottom': 91}]}, found) == []
    problems = failures({'boxes': [{'left': 10, 'top': 10, 'right': 50, 'bottom': 200}]}, found)
    assert len(problems) == 1 and 'best IoU 0.421' in problems[0]
    assert failures({'boxes': [{'label': 'bag', 'left': 10, 'top': 10, 'right': 50, 'bottom': 90}]}, found)
    problems = failures({'boxes': [{'left': 10, 'top': 10, 'right': 50, 'bottom': 90, 'confidence': 0.5}]}, found)
    assert 'confidence 0.9000, expected 0.5000 +- 0.0500' in problems[0]
    assert failures({'boxes': [{'left': 10, 'top': 10, 'right': 50, 'bottom': 90, 'confidence': 0.5}],
                     'score_tolerance': 0.45}, found) == []
    problems = failures({'boxes': [{'left': 10, 'top': 10, 'right': 50, 'bottom': 90}],
                         'allow_extra_detections': False}, found)
    assert problems == ['1 detection(s) match no expected box: bag [100, 100, 120, 120]']


def test_scene_boxes_classes_counts_and_latency():
    rects = [[0, 0, 32, 64], [64, 0, 96, 64]]
    found = [detection('person', (0, 0, 32, 64)), detection('person', (64, 0, 96, 63))]
    assert failures({'boxes': 'scene', 'allow_extra_detections': False}, found, rects=rects) == []
    assert failures({'boxes': 'scene'}, found[:1], rects=rects)[0].startswith('person box [64.0, 0.0, 96.0, 64.0] not found')
    with pytest.raises(TaoFleetError, match='not a generated scene'):
        failures({'boxes': 'scene'}, found)
    assert failures({'classes': ['person', 'face']}, found) == ['no face detected (found: person)']
    assert failures({'max_detections': 1}, found) == ['2 detections, expected at most 1']
    assert failures({'max_latency_ms': 1.5}, found) == ['latency p95 2.000 ms is above the limit 1.500 ms']
    with pytest.raises(TaoFleetError, match='Unknown expect key'):
        failures({'min_detection': 1}, found)


def test_output_roles_by_name_and_by_shape():
    onnx_names = [('output_bbox/BiasAdd:0', (1, 12, 34, 60)), ('output_cov/Sigmoid:0', (1, 3, 34, 60))]
    assert _smoke.output_roles(onnx_names, STANDIN) == {'coverage': 'output_cov/Sigmoid:0', 'bbox': 'output_bbox/BiasAdd:0'}
    renamed = [('cov', (1, 3, 34, 60)), ('boxes', (1, 12, 34, 60))]
    assert _smoke.output_roles(renamed, STANDIN) == {'coverage': 'cov', 'bbox': 'boxes'}
    with pytest.raises(TaoFleetError) as caught:
        _smoke.output_roles([('a', (1, 5, 34, 60)), ('b', (1, 7, 34, 60))], STANDIN)
    assert caught.value.code == 'engine_io_mismatch' and 'a [1, 5, 34, 60]' in caught.value.msg


def test_the_default_input_is_the_scene_the_demo_mirror_publishes():
    image, described, rects = _smoke.load_input(None, None, (3, 544, 960))
    published = demo_model.scene_files()['images/peoplenet_standin/scene-s3-k3-960x544.png']
    assert image == _image.decode_png(published)
    index = json.loads(demo_model.scene_files()['images/peoplenet_standin/scenes.json'].decode())
    scene = [s for s in index['scenes'] if s['file'] == 'scene-s3-k3-960x544.png'][0]
    assert rects == scene['persons'] and described['seed'] == 3 and described['source'] == 'generated'


def test_an_image_file_input(tmp_path):
    path = str(tmp_path / 'site.png')
    scene = _image.demo_scene(4, 5, width=1920, height=1088, distractors=1)
    _image.save_image(path, scene.image)
    image, described, rects = _smoke.load_input(path, None, (3, 544, 960))
    with open(path, 'rb') as handle:
        assert described == {'source': 'file', 'path': path, 'sha256': hashlib.sha256(handle.read()).hexdigest(),
                             'width': 1920, 'height': 1088}
    assert rects is None and image.width == 1920
    tensor = _smoke.preprocess(image, STANDIN, (3, 544, 960), batch=2)
    assert tensor.shape == (2, 3, 544, 960) and tensor.dtype == numpy.float32


def test_preprocessing_other_than_rgb_over_255():
    image = _image.RgbImage(960, 544)
    image.fill(0, 0, 960, 544, (10, 20, 30))
    entry = dict(STANDIN, preprocessing={'color_format': 'bgr', 'layout': 'nchw', 'scale': 0.5, 'mean': [1, 2, 3]})
    tensor = _smoke.preprocess(image, entry, (3, 544, 960), batch=1)
    assert tensor[0, :, 0, 0].tolist() == [(30 - 1) * 0.5, (20 - 2) * 0.5, (10 - 3) * 0.5]


# ---- the child process --------------------------------------------------------------------------

def test_child_returns_values_and_errors():
    assert _smoke_backends.run_in_child(lambda: {'pid': os.getpid()}, 30)['pid'] != os.getpid()

    def refuses():
        raise TaoFleetError('no', cause='c', fix='f', code='engine_io_mismatch', details={'x': 1})
    with pytest.raises(TaoFleetError) as caught:
        _smoke_backends.run_in_child(refuses, 30)
    assert (caught.value.code, caught.value.details) == ('engine_io_mismatch', {'x': 1})


def test_child_crash_and_hang_fail_the_smoke_test():
    with pytest.raises(TaoFleetError) as caught:
        _smoke_backends.run_in_child(lambda: (faulthandler.disable(), os.kill(os.getpid(), signal.SIGSEGV)), 30)
    assert caught.value.code == 'smoke_crashed' and caught.value.details['signal'] == signal.SIGSEGV
    with pytest.raises(TaoFleetError) as caught:
        _smoke_backends.run_in_child(lambda: time.sleep(60), 1)
    assert caught.value.code == 'smoke_timeout'


class SteppedClock(object):
    """The ``time`` module as _smoke_backends sees it on a Jetson without an RTC: its wall clock jumps a day
    forward at every reading (NTP steps it), its monotonic clock does not."""

    def __init__(self, step):
        self.wall = time.time()
        self.step = step

    def time(self):
        self.wall += self.step
        return self.wall

    def __getattr__(self, name):
        return getattr(time, name)


@pytest.mark.parametrize('step', [86400.0, -86400.0])
def test_a_wall_clock_step_neither_ends_nor_stretches_the_smoke_deadline(monkeypatch, step):
    monkeypatch.setattr(_smoke_backends, 'time', SteppedClock(step))
    assert _smoke_backends.run_in_child(lambda: (time.sleep(0.3), 'healthy')[1], 5) == 'healthy'
    began = time.monotonic()
    with pytest.raises(TaoFleetError) as caught:
        _smoke_backends.run_in_child(lambda: time.sleep(30), 1)
    assert caught.value.code == 'smoke_timeout' and time.monotonic() - began < 10


# ---- whole smoke tests on a store ---------------------------------------------------------------

@pytest.fixture
def store(tmp_path):
    """A store holding the stand-in .etlt under models/<sha256> and two engines of it: one the
    TensorRT test double 8.2.1.8 built (with its manifest's fingerprint), one opaque plan."""
    root = str(tmp_path / 'store')
    engine_store = EngineStore(root)
    etlt = demo_model.etlt_bytes(demo_model.DEFAULT_VERSION)
    sha = hashlib.sha256(etlt).hexdigest()
    os.makedirs(os.path.join(root, 'models'))
    with open(engine_store.model_file_path(sha), 'wb') as handle:
        handle.write(etlt)
    trt = harness.load('8.2.1.8', tmp_path)
    try:
        double_engine = build(trt, {'model': decode_etlt(etlt, 'tlt_encode').payload, 'max_batch': 4})['engine']
    finally:
        harness.unload()
    fingerprints = {}
    for name, data in (('double', double_engine), ('opaque', b'TensorRT plan bytes (opaque to the store)')):
        fingerprint, inputs = engine_fingerprint(sha, {'case': name}, {'precision': 'fp16'})
        build_dir = engine_store.temp_dir(MODEL)
        engine_store.write_engine(build_dir, data)
        engine_store.write_manifest(build_dir, fingerprint, inputs)
        engine_store.publish(MODEL, build_dir)
        fingerprints[name] = fingerprint
    return engine_store, fingerprints, sha


def smoke(engine_store, fingerprint, **options):
    options.setdefault('runs', 3)
    options.setdefault('warmup', 1)
    return _smoke.smoke(engine_store.root, MODEL, STANDIN, fingerprint=fingerprint, **options)


def test_double_engine_falls_back_to_onnxruntime_and_finds_the_rectangles(store, tmp_path):
    engine_store, fingerprints, sha = store
    harness.load('8.2.1.8', tmp_path / 'double')    # the host's TensorRT is the test double: it says so itself
    try:
        result, changed = smoke(engine_store, fingerprints['double'], platform=facts('nano-jp46'),
                                expect={'boxes': 'scene', 'allow_extra_detections': False})
    finally:
        harness.unload()
    assert changed is True and result['passed'] is True
    assert result['backend'] == 'onnxruntime-cpu (engine not executed)' and result['engine_executed'] is False
    assert 'the TensorRT on this host is the tao.fleet test double 8.2.1.8' in result['engine_not_executed_reason']
    assert result['fallback'] is True
    boxes = sorted([d['left'], d['top'], d['right'], d['bottom']] for d in result['detections'])
    assert boxes == sorted(result['input']['rects']) and len(boxes) == 3
    assert result['latency_ms']['runs'] == 3 and result['throughput_fps'] > 0
    assert result['power_mode'] == {'nvpmodel_id': 0, 'nvpmodel_name': 'MAXN', 'jetson_clocks': False}
    assert result['throughput_ratio'] is None and 'did not execute' in result['throughput_ratio_reason']
    recorded = engine_store.read_manifest(MODEL, fingerprints['double'])['smoke']
    assert recorded['passed'] is True and recorded['detections'] == 3 and recorded['engine_executed'] is False
    assert recorded['input']['seed'] == 3 and 'rects' not in recorded['input']
    assert set(recorded['latency_ms']) == set(['p50', 'p95', 'max']) and recorded['at'].endswith('Z')
    harness.load('8.2.1.8', tmp_path / 'double')
    try:
        again, changed = smoke(engine_store, fingerprints['double'], platform=facts('nano-jp46'))
    finally:
        harness.unload()
    assert changed is False and again['manifest_smoke']['at'] == recorded['at']


def test_an_engine_without_tensorrt_or_gpu_here_says_why(store):
    """The real child process looks for TensorRT, pycuda and a CUDA device on this machine."""
    engine_store, fingerprints, sha = store
    result, _changed = smoke(engine_store, fingerprints['opaque'], platform=facts('dgpu-x86'))
    assert result['backend'] == 'onnxruntime-cpu (engine not executed)' and result['passed'] is True
    reason = result['engine_not_executed_reason']
    assert 'TensorRT is not importable' in reason or 'pycuda is not importable' in reason or 'no CUDA device' in reason
    with pytest.raises(TaoFleetError) as caught:
        smoke(engine_store, fingerprints['opaque'], backend='tensorrt')
    assert caught.value.code == 'engine_not_executable' and caught.value.details['engine_not_executed_reason'] == reason


def test_backend_onnxruntime_is_never_an_engine_run(store):
    engine_store, fingerprints, sha = store
    result, _changed = smoke(engine_store, fingerprints['opaque'], backend='onnxruntime')
    assert result['engine_executed'] is False and result['engine_not_executed_reason'] == 'backend onnxruntime was requested'
    assert result['fallback'] is False      # asked for, not fallen back to


# ---- the gate cannot be skipped by content (issue 16, row 3) ---------------------------------------

def real_tensorrt_host(monkeypatch, pycuda=False, driver=None):
    """This process (and the smoke child it forks) looks like a host with a real TensorRT 10.3: no test double
    marker. ``driver``: what the libcuda probe says (None: a CUDA device is there)."""
    monkeypatch.setattr(_smoke_backends, 'import_tensorrt',
                        lambda platform=None: LoadedTensorRT(None, 'tensorrt', '10.3.0', False))

    def no_pycuda():
        raise _smoke_backends.OptionalImportError('pycuda', 'running the engine', 'pip install pycuda',
                                                  details={'import_error': 'No module named pycuda'})
    monkeypatch.setattr(_smoke_backends._runtime, 'import_pycuda', no_pycuda)
    monkeypatch.setattr(_smoke_backends, '_driver_probe', lambda: driver)


def test_an_engine_that_starts_like_a_test_doubles_is_still_handed_to_tensorrt(store, monkeypatch):
    engine_store, fingerprints, sha = store
    with open(engine_store.engine_path(MODEL, fingerprints['double']), 'rb') as handle:
        assert handle.read().startswith(b'TAOFLEET-TRT-DOUBLE')
    handed = []

    def child(job, timeout):
        handed.append(job)
        return {'executed': False, 'reasons': ['TensorRT refused the plan'], 'real_tensorrt': True,
                'no_device': False, 'tensorrt': {'version': '10.3.0', 'flavour': 'tensorrt', 'test_double': False}}
    monkeypatch.setattr(_smoke, 'run_in_child', child)
    with pytest.raises(TaoFleetError) as caught:
        smoke(engine_store, fingerprints['double'], platform=facts('orin-nx-jp62'))
    assert len(handed) == 1                        # the bytes did not decide: TensorRT was asked
    assert caught.value.code == 'smoke_fallback_refused'
    assert 'smoke' not in engine_store.read_manifest(MODEL, fingerprints['double'])   # never recorded as passed


def test_a_real_tensorrt_host_with_a_gpu_never_falls_back_to_the_cpu(store, monkeypatch):
    engine_store, fingerprints, sha = store
    real_tensorrt_host(monkeypatch, driver=None)     # TensorRT and a CUDA device; only pycuda is missing
    with pytest.raises(TaoFleetError) as caught:
        smoke(engine_store, fingerprints['opaque'], platform=facts('orin-nx-jp62'))
    assert caught.value.code == 'smoke_fallback_refused'
    assert 'pycuda is not importable' in caught.value.msg and 'TensorRT 10.3.0' in caught.value.msg
    assert 'backend onnxruntime' in caught.value.fix
    assert 'smoke' not in engine_store.read_manifest(MODEL, fingerprints['opaque'])


def test_a_real_tensorrt_host_without_a_gpu_falls_back_and_says_so(store, monkeypatch):
    engine_store, fingerprints, sha = store
    real_tensorrt_host(monkeypatch, driver='no CUDA device: cuInit returned CUDA error 100')
    result, _changed = smoke(engine_store, fingerprints['opaque'], platform=facts('orin-nx-jp62'))
    assert result['passed'] is True and result['fallback'] is True and result['engine_executed'] is False
    assert 'no CUDA device' in result['engine_not_executed_reason']
    assert result['tensorrt'] == {'version': '10.3.0', 'flavour': 'tensorrt', 'test_double': False}


def test_check_mode_records_nothing(store):
    engine_store, fingerprints, sha = store
    result, changed = smoke(engine_store, fingerprints['double'], check_mode=True)
    assert changed is True and result['passed'] is True
    assert 'smoke' not in engine_store.read_manifest(MODEL, fingerprints['double'])


def test_an_unmet_expectation_fails_is_recorded_and_keeps_the_previous_engine(store):
    engine_store, fingerprints, sha = store
    smoke(engine_store, fingerprints['double'])
    engine_store.activate(MODEL, fingerprints['double'])
    with pytest.raises(TaoFleetError) as caught:
        smoke(engine_store, fingerprints['opaque'], scene={'seed': 1, 'count': 0, 'distractors': 0})
    assert caught.value.code == 'smoke_failed' and 'the model yields nothing' in caught.value.msg
    assert caught.value.details['detection_count'] == 0 and caught.value.details['changed'] is True
    recorded = engine_store.read_manifest(MODEL, fingerprints['opaque'])['smoke']
    assert recorded['passed'] is False and 'yields nothing' in recorded['reason']
    with pytest.raises(TaoFleetError) as refused:
        engine_store.activate(MODEL, fingerprints['opaque'])
    assert refused.value.code == 'not_smoke_tested'
    assert engine_store.links(MODEL)['active'] == fingerprints['double']


def test_the_active_engine_is_the_default_and_its_absence_is_explained(store):
    engine_store, fingerprints, sha = store
    with pytest.raises(TaoFleetError) as caught:
        smoke(engine_store, None)
    assert caught.value.code == 'engine_missing'
    smoke(engine_store, fingerprints['double'])
    engine_store.activate(MODEL, fingerprints['double'])
    assert smoke(engine_store, None)[0]['fingerprint'] == fingerprints['double']


def test_the_model_must_be_the_one_the_engine_was_built_from(store, tmp_path):
    engine_store, fingerprints, sha = store
    other = str(tmp_path / 'other.onnx')
    with open(other, 'wb') as handle:
        handle.write(demo_model.onnx_bytes('demo_v9'))
    with pytest.raises(TaoFleetError) as caught:
        smoke(engine_store, fingerprints['double'], model_path=other)
    assert caught.value.code == 'model_mismatch'
    os.unlink(engine_store.model_file_path(sha))
    with pytest.raises(TaoFleetError) as caught:
        smoke(engine_store, fingerprints['double'])
    assert caught.value.code == 'model_missing' and 'model_fetch' in caught.value.fix


def test_a_manifest_may_name_the_decrypted_payload(store):
    """trt_engine may record either the downloaded file's sha256 or the decrypted payload's."""
    engine_store, fingerprints, sha = store
    etlt_path = engine_store.model_file_path(sha)
    with open(etlt_path, 'rb') as handle:
        payload_sha = hashlib.sha256(decode_etlt(handle.read(), 'tlt_encode').payload).hexdigest()
    fingerprint, inputs = engine_fingerprint(payload_sha, {'case': 'payload'}, {'precision': 'fp32'})
    build_dir = engine_store.temp_dir(MODEL)
    engine_store.write_engine(build_dir, b'another opaque plan')
    engine_store.write_manifest(build_dir, fingerprint, inputs)
    engine_store.publish(MODEL, build_dir)
    assert smoke(engine_store, fingerprint, model_path=etlt_path)[0]['passed'] is True


def test_a_corrupt_engine_is_refused_before_anything_runs(store):
    engine_store, fingerprints, sha = store
    with open(engine_store.engine_path(MODEL, fingerprints['opaque']), 'ab') as handle:
        handle.write(b'x')
    with pytest.raises(TaoFleetError) as caught:
        smoke(engine_store, fingerprints['opaque'])
    assert caught.value.code == 'engine_corrupt'


# ---- issue 17: the TensorRT job on the double's engines (FakeCuda for pycuda; no plan executes here) ------

def double_tensorrt_host(monkeypatch, trt):
    """The child's TensorRT is the double (its readiness check waved through) and pycuda is FakeCuda, so
    tensorrt_job's own code runs: engine, DLA core, batch, bind, buffers, execute. It proves the job's API
    use and decisions, not TensorRT's behaviour."""
    from ansible_collections.tao.fleet.tests.unit.plugins.module_utils.test_runtime import FakeCuda

    class Cuda(FakeCuda):
        def __init__(self):
            FakeCuda.__init__(self)
            self.Device.count = staticmethod(lambda: 1)
    monkeypatch.setattr(_smoke_backends, 'import_tensorrt', lambda platform=None: LoadedTensorRT.wrap(trt))
    monkeypatch.setattr(_smoke_backends, 'engine_readiness', lambda loaded, platform: [])
    monkeypatch.setattr(_smoke_backends._runtime, 'import_pycuda', Cuda)
    monkeypatch.setitem(sys.modules, 'pycuda', type(sys)('pycuda'))


UFF_PEOPLENET = {'format': 'uff', 'model': b'uff', 'input_name': 'input_1', 'input_dims': [3, 544, 960],
                 'output_names': ['output_cov/Sigmoid', 'output_bbox/BiasAdd'], 'max_batch': 16}


@pytest.mark.parametrize('version', ['8.5.2.2', '8.6.1'])
def test_a_uff_engine_of_tensorrt_8_5_and_8_6_runs_in_the_job_at_batch_1(tmp_path, monkeypatch, version):
    """Issue 17 row 1 (done-when): before, bind failed with engine_io_mismatch ([1,3,544,960] vs [3,544,960])."""
    trt = harness.load(version, tmp_path)
    try:
        engine_bytes = build(trt, UFF_PEOPLENET)['engine']
        double_tensorrt_host(monkeypatch, trt)
        tensor = numpy.zeros((1, 3, 544, 960), numpy.float32)
        result = _smoke_backends.tensorrt_job(engine_bytes, tensor, {}, 1, 2, 0)
        executed = [c for c in trt.__tao_fleet_calls__ if c[0] == 'IExecutionContext.execute_async']
    finally:
        harness.unload()
    assert result['executed'] is True and result['batch'] == 1
    assert [name for name, _array in result['outputs']] == UFF_PEOPLENET['output_names']
    assert len(executed) == 3 and all(call[1] == 1 for call in executed)


def test_a_dla_engine_runs_in_the_job_on_its_core_and_at_its_build_batch(tmp_path, monkeypatch):
    """Issue 17 rows 4 and 5: Runtime.DLA_core set before deserializing; implicit-batch DLA at max batch."""
    trt = harness.load('8.2.1.8', tmp_path, dla_cores=2)
    try:
        engine_bytes = build(trt, dict(UFF_PEOPLENET, precision='fp16', dla_core=1, max_batch=2))['engine']
        double_tensorrt_host(monkeypatch, trt)
        tensor = numpy.arange(3 * 544 * 960, dtype=numpy.float32).reshape(1, 3, 544, 960)
        result = _smoke_backends.tensorrt_job(engine_bytes, tensor, {}, 0, 1, 0, dla_core=1)
        with pytest.raises(TaoFleetError) as caught:   # the double refuses a DLA engine on a runtime left at -1
            _smoke_backends.tensorrt_job(engine_bytes, tensor, {}, 0, 1, 0)
    finally:
        harness.unload()
    assert result['executed'] is True and result['batch'] == 2
    assert any('run at batch 2' in w for w in result['warnings'])
    assert caught.value.code == 'engine_deserialize_failed'


def test_the_smoke_test_hands_the_job_the_engines_dla_core(store, monkeypatch):
    engine_store, fingerprints, sha = store
    engine_store.update_manifest(MODEL, fingerprints['double'], {'build': {'dla': {'core': 1, 'layers': 3}}})
    seen = []

    def job(engine_bytes, tensor, platform, warmup, runs, device, dla_core=None):
        seen.append(dla_core)
        return {'executed': False, 'reasons': ['TensorRT refused the plan'], 'real_tensorrt': False,
                'no_device': True, 'tensorrt': None}
    monkeypatch.setattr(_smoke, 'tensorrt_job', job)
    monkeypatch.setattr(_smoke, 'run_in_child', lambda work, timeout: work())
    smoke(engine_store, fingerprints['double'])
    smoke(engine_store, fingerprints['opaque'])
    assert seen == [1, None]
