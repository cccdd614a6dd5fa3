# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""engine_smoke through AnsibleModule: arguments, check mode, idempotence, failures with their results,
platform facts from a sysroot fixture, and the model key kept out of the result.

The engine is one that the TensorRT test double built, so the backend is onnxruntime on the CPU
(the real one) with the reason; the TensorRT + pycuda path is covered by test_runtime.py and tests/gpu.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import sys

import pytest
import yaml


from ansible_collections.tao.fleet.plugins.module_utils._etlt import decode_etlt
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import engine_fingerprint
from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore
from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import build
from ansible_collections.tao.fleet.plugins.modules import engine_smoke
from ansible_collections.tao.fleet.tests.unit.plugins.modules.double_host import load_demo_model
from ansible_collections.tao.fleet.tests.unit.plugins.modules.module_harness import AnsibleExitJson, AnsibleFailJson, module_args

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
sys.path.insert(0, os.path.join(REPO, 'tests', 'doubles'))
import harness  # noqa: E402

MODEL = 'peoplenet_standin'
with open(os.path.join(REPO, 'catalog', 'models.yml')) as handle:
    ENTRY = dict(yaml.safe_load(handle)['models'][MODEL], id=MODEL)
SYSROOT = os.path.join(REPO, 'tests', 'fixtures', 'sysroots', 'nano-jp46')


demo_model = load_demo_model()


def run(**args):
    with module_args(args):
        try:
            engine_smoke.main()
        except AnsibleExitJson as done:
            return done.args[0]
        except AnsibleFailJson as failed:
            return failed.args[0]
    raise AssertionError('the module returned without exit_json or fail_json')


@pytest.fixture
def stored(tmp_path):
    """A store with the stand-in .etlt and one engine the TensorRT test double built from it."""
    root = str(tmp_path / 'store')
    store = EngineStore(root)
    etlt = demo_model.etlt_bytes(demo_model.DEFAULT_VERSION)
    sha = hashlib.sha256(etlt).hexdigest()
    os.makedirs(os.path.join(root, 'models'))
    with open(store.model_file_path(sha), 'wb') as handle:
        handle.write(etlt)
    # the test double stays loaded through the test, as on the nano host it plays: the loaded TensorRT module,
    # not the engine's bytes, says that the engine is a test double's
    trt = harness.load('8.2.1.8', tmp_path)
    try:
        engine = build(trt, {'model': decode_etlt(etlt, 'tlt_encode').payload, 'max_batch': 2})['engine']
        fingerprint, inputs = engine_fingerprint(sha, {'profile': 'nano-jp46'}, {'precision': 'fp16'})
        build_dir = store.temp_dir(MODEL)
        store.write_engine(build_dir, engine)
        store.write_manifest(build_dir, fingerprint, inputs)
        store.publish(MODEL, build_dir)
        yield store, fingerprint
    finally:
        harness.unload()


def args(store, fingerprint, **extra):
    given = dict(store=store.root, sysroot=SYSROOT, model=MODEL, fingerprint=fingerprint, model_entry=ENTRY,
                 warmup=1, runs=3)
    given.update(extra)
    return given


def test_smoke_on_the_demo_scene_reports_boxes_latency_backend_and_power(stored):
    store, fingerprint = stored
    result = run(**args(store, fingerprint, expect={'boxes': 'scene', 'allow_extra_detections': False}))
    assert result.get('failed') is not True, result
    assert result['changed'] is True and result['passed'] is True
    assert result['backend'] == 'onnxruntime-cpu (engine not executed)' and result['engine_executed'] is False
    assert 'the TensorRT on this host is the tao.fleet test double 8.2.1.8' in result['engine_not_executed_reason']
    assert result['fallback'] is True
    assert sorted([d['left'], d['top'], d['right'], d['bottom']] for d in result['detections']) == \
        sorted(result['input']['rects'])
    assert set(result['latency_ms']) == set(['p50', 'p95', 'max', 'min', 'mean', 'runs'])
    # facts gathered from the nano sysroot fixture
    assert result['power_mode'] == {'nvpmodel_id': 0, 'nvpmodel_name': 'MAXN', 'jetson_clocks': False}
    assert result['throughput_ratio'] is None and result['throughput_ratio_reason']
    assert result['manifest_smoke']['passed'] is True
    assert store.read_manifest(MODEL, fingerprint)['smoke']['backend'] == result['backend']


def test_second_run_is_unchanged_and_check_mode_writes_nothing(stored):
    store, fingerprint = stored
    checked = run(_ansible_check_mode=True, **args(store, fingerprint))
    assert checked['changed'] is True and 'smoke' not in store.read_manifest(MODEL, fingerprint)
    assert run(**args(store, fingerprint))['changed'] is True
    manifest = store.read_manifest(MODEL, fingerprint)
    assert run(**args(store, fingerprint))['changed'] is False
    assert run(_ansible_check_mode=True, **args(store, fingerprint))['changed'] is False
    assert store.read_manifest(MODEL, fingerprint) == manifest


def test_unmet_expectation_fails_with_the_result_and_records_it(stored):
    store, fingerprint = stored
    result = run(**args(store, fingerprint, expect={'min_detections': 4, 'classes': ['face']}))
    assert result['failed'] is True and result['error_code'] == 'smoke_failed'
    assert result['passed'] is False and result['detection_count'] == 3 and result['changed'] is True
    assert result['failures'] == ['3 detection(s), expected at least 4', 'no face detected (found: person)']
    assert 'engine_release keeps the previous engine' in result['cause']
    smoke = store.read_manifest(MODEL, fingerprint)['smoke']
    assert smoke['passed'] is False and 'no face detected' in smoke['reason']


def test_backend_tensorrt_fails_where_the_engine_cannot_execute(stored):
    store, fingerprint = stored
    result = run(**args(store, fingerprint, backend='tensorrt'))
    assert result['failed'] is True and result['error_code'] == 'engine_not_executable'
    assert 'tao.fleet test double 8.2.1.8' in result['msg']


def test_image_and_scene_are_exclusive_and_bad_values_are_named(stored, tmp_path):
    store, fingerprint = stored
    assert 'mutually exclusive' in run(**args(store, fingerprint, image='/x.png', scene={'seed': 1}))['msg']
    assert run(**args(store, fingerprint, runs=0))['error_code'] == 'invalid_argument'
    missing = run(**args(store, fingerprint, image=str(tmp_path / 'none.png')))
    assert missing['failed'] is True and 'none.png' in missing['msg']


def test_model_key_is_no_log(stored):
    store, fingerprint = stored
    secret = 'not-the-key-0123456789'
    result = run(**args(store, fingerprint, model_key=secret))
    assert result['failed'] is True and result['error_code'] == 'model_key_rejected'
    assert secret not in json.dumps(result)
