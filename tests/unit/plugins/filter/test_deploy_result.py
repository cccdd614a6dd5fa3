# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""deploy_model_result: one host's result built from what the stages of role deploy_model registered.
The stage results below have the shapes the modules return (their RETURN docs); the platform facts are
the fixture trees' expected facts. Controller code: needs ansible-core."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

pytest.importorskip('ansible')

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.tao.fleet.plugins.filter.deploy_result import (  # noqa: E402
    FilterModule,
    deploy_model_result,
    deploy_model_rolled_back,
)
from ansible_collections.tao.fleet.plugins.module_utils._report import normalize_result  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
NEW, OLD = 'a' * 64, 'b' * 64


def facts(profile):
    with open(os.path.join(REPO, 'tests', 'fixtures', 'sysroots', profile + '.expected.json')) as handle:
        platform = json.load(handle)['tao_platform']
    platform['python'] = {'version': '3.10.13'}
    return platform


CHOICE = {'model': 'peoplenet_standin', 'artifact_id': 'etlt', 'precision': None,
          'artifact': {'id': 'etlt', 'file': 'peoplenet_standin.etlt', 'ngc': 'nvidia/tao/peoplenet_standin:demo_v1.0'}}
FETCH = {'changed': True, 'path': '/store/models/' + 'c' * 64, 'sha256': 'c' * 64, 'size': 105100,
         'source': 'http://198.18.51.1:8080/v2/models/nvidia/tao/peoplenet_standin/versions/demo_v1.0/files/x.etlt',
         'bytes_transferred': 105100, 'cache_hit': False}
ENGINE = {'changed': True, 'built': True, 'reused': False, 'fingerprint': NEW, 'build_seconds': 0.41,
          'engine_path': '/store/engines/peoplenet_standin/%s/model.engine' % NEW,
          'tensorrt': {'label': 'TensorRT-RTX 1.7.1.116'},
          'targets': {'compute_capabilities': [], 'chosen_by': 'TensorRT-RTX 1.7.1.116 default targets',
                      'device_compute_capability': '8.7', 'device_supported': False},
          'manifest': {'smoke': None}}
SMOKE = {'changed': True, 'passed': True, 'failures': [], 'backend': 'onnxruntime-cpu (engine not executed)',
         'engine_executed': False, 'engine_not_executed_reason': 'TensorRT-RTX cannot run on compute capability 8.7',
         'detections': [{}, {}, {}], 'detection_count': 3,
         'latency_ms': {'p50': 0.9, 'p95': 1.2, 'max': 3.0, 'min': 0.8, 'mean': 1.0, 'runs': 20},
         'throughput_fps': 1000.0, 'published': None, 'throughput_ratio': None}
SKIPPED = {'changed': False, 'skipped': True, 'skip_reason': 'Conditional result was False'}


def outputs(**overrides):
    values = {'host': 'agx-orin-jp62', 'wave': 'canary', 'stage': 'release', 'failure': None,
              'name': 'peoplenet_standin', 'platform': facts('agx-orin-jp62'), 'choice': CHOICE, 'fetch': FETCH,
              'calibration': SKIPPED, 'engine': ENGINE, 'smoke': SMOKE, 'consumers': SKIPPED, 'active_before': OLD,
              'release': {'changed': True, 'active': NEW, 'previous': OLD, 'rolled_back_from': None}}
    values.update(overrides)
    return values


def test_registered_under_their_names():
    filters = FilterModule().filters()
    assert filters['deploy_model_result'] is deploy_model_result
    assert filters['deploy_model_rolled_back'] is deploy_model_rolled_back


def test_a_deployed_jetson_host():
    result = deploy_model_result(outputs())
    assert (result['status'], result['stage'], result['wave'], result['error']) == ('deployed', 'release', 'canary', None)
    assert result['changed'] is True
    assert result['platform_class'] == 'jetpack6.2.1-agx_orin_64gb'
    assert result['platform'] == {
        'kind': 'jetson', 'module': 'Jetson AGX Orin 64GB', 'module_id': 'p3701-0005', 'soc': 'tegra234',
        'jetpack': '6.2.1', 'l4t': '36.4.4', 'compute_capability': '8.7', 'dla_cores': 2,
        'power_mode': {'name': 'MAXN', 'id': 0, 'jetson_clocks': True},
        'tensorrt': {'version': '10.3.0.30', 'flavour': 'tensorrt', 'test_double': False}, 'python': '3.10.13'}
    assert result['model'] == {'name': 'peoplenet_standin', 'artifact': 'etlt', 'file': 'peoplenet_standin.etlt',
                               'sha256': 'c' * 64, 'source': FETCH['source'], 'bytes_transferred': 105100,
                               'cache_hit': False}
    assert result['engine']['fingerprint'] == NEW and result['engine']['built'] is True
    assert 'cannot target this device\'s compute capability 8.7' in result['engine']['targets_note']
    assert result['smoke'] == {'passed': True, 'backend': 'onnxruntime-cpu (engine not executed)',
                               'engine_executed': False, 'reason': 'TensorRT-RTX cannot run on compute capability 8.7',
                               'detections': 3, 'latency_ms': {'p50': 0.9, 'p95': 1.2, 'max': 3.0},
                               'throughput_fps': 1000.0, 'published_fps': None, 'published_ratio': None,
                               'fallback': None, 'tested_in_this_run': True}
    assert result['release'] == {'active': NEW, 'previous': OLD, 'changed': True, 'replaced': OLD}


def test_a_dgpu_host_has_no_jetson_facts():
    result = deploy_model_result(outputs(platform=facts('dgpu-x86'), host='dgpu-x86'))
    platform = result['platform']
    assert platform['kind'] == 'dgpu' and platform['module'] == 'NVIDIA RTX 4000 SFF Ada Generation'
    assert (platform['jetpack'], platform['l4t'], platform['power_mode'], platform['module_id']) == (None, None, None, None)


def test_a_second_run_reuses_and_trusts_the_manifest_smoke_record():
    reused = dict(ENGINE, changed=False, built=False, reused=True,
                  manifest={'smoke': {'passed': True, 'backend': 'onnxruntime-cpu (engine not executed)',
                                      'engine_executed': False, 'reason': None,
                                      'engine_not_executed_reason': 'no CUDA device', 'detections': 3,
                                      'latency_ms': {'p50': 1.0, 'p95': 2.0, 'max': 3.0}, 'throughput_fps': 900.0,
                                      'throughput_ratio': None}})
    result = deploy_model_result(outputs(fetch=dict(FETCH, changed=False, cache_hit=True, bytes_transferred=0),
                                         engine=reused, smoke=SKIPPED, active_before=NEW,
                                         release={'changed': False, 'active': NEW, 'previous': OLD}))
    assert (result['status'], result['changed']) == ('unchanged', False)
    assert result['engine']['built'] is False and result['engine']['reused'] is True
    assert result['smoke']['tested_in_this_run'] is False and result['smoke']['reason'] == 'no CUDA device'
    assert result['smoke']['latency_ms'] == {'p50': 1.0, 'p95': 2.0, 'max': 3.0}
    assert result['release']['changed'] is False and result['release']['replaced'] is None


@pytest.mark.parametrize('before', [None, ''])
def test_a_first_deployment_replaced_nothing(before):
    result = deploy_model_result(outputs(active_before=before, release={'changed': True, 'active': NEW, 'previous': None}))
    assert result['status'] == 'deployed' and result['release']['replaced'] is None


def test_the_engine_active_before_comes_from_the_release_result():
    values = outputs(release={'changed': True, 'active': NEW, 'previous': OLD, 'rolled_back_from': None,
                              'active_before': OLD})
    del values['active_before']
    result = deploy_model_result(values)
    assert (result['status'], result['release']['replaced']) == ('deployed', OLD)
    values['release']['active_before'] = NEW
    assert deploy_model_result(values)['status'] == 'unchanged'


def test_a_cleanup_of_old_engines_is_no_switch():
    result = deploy_model_result(outputs(engine=dict(ENGINE, changed=False, built=False, reused=True), active_before=NEW,
                                         release={'changed': True, 'active': NEW, 'previous': OLD, 'removed': ['d' * 64]}))
    assert result['status'] == 'unchanged' and result['release']['changed'] is False and result['changed'] is True


def test_a_failed_smoke_test_records_stage_error_and_what_was_measured():
    failure = dict(SMOKE, changed=False, passed=False, failures=['expected 3 person boxes, decoded 0'],
                   detection_count=0, detections=[], failed=True, error_code='smoke_failed',
                   msg='Smoke test of engine %s (model peoplenet_standin) failed: expected 3 person boxes, decoded 0.' % NEW,
                   cause='The engine did not give what was expected.', fix='Check the model file.')
    result = deploy_model_result(outputs(stage='smoke', smoke=failure, failure=failure, release=None, active_before=None,
                                         consumers=None))
    assert (result['status'], result['stage'], result['release']) == ('failed', 'smoke', None)
    assert result['error'] == {'msg': failure['msg'], 'cause': failure['cause'], 'fix': failure['fix'],
                               'code': 'smoke_failed', 'stage': 'smoke'}
    assert result['smoke']['passed'] is False and result['smoke']['detections'] == 0
    assert result['smoke']['reason'] == 'expected 3 person boxes, decoded 0'
    normalized = normalize_result('agx-orin-jp62', result)
    assert normalized['status'] == 'failed' and normalized['error']['code'] == 'smoke_failed'


def test_a_fetch_that_failed_in_the_one_engine_deploy_call_is_reported_at_fetch():
    # engine_deploy's failed result is registered as the engine stage's, but names the stage that failed
    fetch = {'failed': True, 'msg': 'sha256 of the copy differs', 'error_code': 'checksum_mismatch'}
    failure = {'failed': True, 'changed': False, 'stage': 'fetch', 'fetch': fetch, 'smoke': None, 'consumers': None,
               'release': None, 'msg': fetch['msg'], 'error_code': 'checksum_mismatch', 'fix': 'Fetch it again.'}
    result = deploy_model_result(outputs(stage='fetch', fetch=fetch, engine=failure, failure=failure, smoke=None,
                                         consumers=None, release=None, active_before=None))
    assert (result['status'], result['stage'], result['engine']) == ('failed', 'fetch', None)
    assert result['error']['code'] == 'checksum_mismatch' and result['error']['stage'] == 'fetch'


def test_a_smoke_failure_of_the_one_call_is_reported_at_smoke_though_registered_as_the_engine():
    smoke = dict(SMOKE, passed=False, failed=True, failures=['expected 99 detections'], error_code='smoke_failed',
                 msg='Smoke test failed')
    failure = dict(ENGINE, failed=True, stage='smoke', fetch=FETCH, smoke=smoke, consumers=None, release=None,
                   msg='Smoke test failed', error_code='smoke_failed')
    result = deploy_model_result(outputs(stage='fetch', engine=failure, failure=failure, smoke=smoke, consumers=None,
                                         release=None, active_before=None))
    assert (result['status'], result['stage']) == ('failed', 'smoke')
    assert result['engine']['fingerprint'] == NEW and result['smoke']['passed'] is False


def test_the_roles_own_checks_carry_cause_fix_and_code():
    check = {'failed': True, 'changed': False,
             'msg': {'msg': 'No artifact fits', 'cause': 'UFF only', 'fix': 'add an ONNX artifact',
                     'code': 'no_artifact_fits'}}
    result = deploy_model_result(outputs(stage='fetch', failure=check, fetch=None, calibration=None, engine=None,
                                         smoke=None, consumers=None, release=None))
    assert result['error'] == {'msg': 'No artifact fits', 'cause': 'UFF only', 'fix': 'add an ONNX artifact',
                               'code': 'no_artifact_fits', 'stage': 'fetch'}
    assert result['engine'] is None and result['model']['artifact'] == 'etlt'


def test_a_host_that_stopped_answering_is_unreachable():
    lost = {'failed': True, 'msg': {'msg': 'agx-orin-jp62 stopped answering at stage engine: timed out',
                                    'cause': 'SSH', 'fix': 'bring it back', 'code': 'host_unreachable', 'stage': None}}
    result = deploy_model_result(outputs(stage='engine', failure=lost, engine={'unreachable': True, 'msg': 'timed out'},
                                         smoke=None, release=None))
    assert (result['status'], result['error']['stage'], result['engine']) == ('unreachable', 'engine', None)


GONE = {'cause': 'SSH went away', 'fix': 'bring it back', 'code': 'host_unreachable', 'stage': None}


def test_an_unreachable_stage_result_wins_over_the_failure_of_the_task_after_it():
    # fetch never answered; the engine task then failed on the path fetch never sent
    missing = {'failed': True, 'msg': "'dict object' has no attribute 'path'"}
    result = deploy_model_result(outputs(stage='engine', failure=missing, unreachable_error=GONE,
                                         fetch={'unreachable': True, 'msg': 'Connection timed out', 'changed': False},
                                         engine=None, smoke=None, release=None))
    assert result['status'] == 'unreachable'
    assert result['stage'] == 'fetch'
    assert result['error'] == {'msg': 'agx-orin-jp62 stopped answering at stage fetch: Connection timed out',
                               'cause': 'SSH went away', 'fix': 'bring it back', 'code': 'host_unreachable',
                               'stage': 'fetch'}


def test_a_host_gone_at_the_release_is_unreachable_without_any_failure():
    result = deploy_model_result(outputs(failure=None, unreachable_error=GONE, active_before=None,
                                         release={'unreachable': True, 'msg': 'timed out'}))
    assert (result['status'], result['stage'], result['error']['code']) == ('unreachable', 'release', 'host_unreachable')
    assert result['release'] is None and result['changed'] is True   # the engine it built is there


def test_any_other_failure_keeps_its_message():
    result = deploy_model_result(outputs(stage='fetch', failure={'failed': True, 'msg': "'dict object' has no attribute 'x'"},
                                         engine=None, smoke=None, consumers=None, release=None))
    assert result['error'] == {'msg': "'dict object' has no attribute 'x'", 'cause': None, 'fix': None, 'code': None,
                               'stage': 'fetch'}


def test_check_mode_says_what_a_real_run_would_do():
    would_fetch = dict(FETCH, path=None, bytes_transferred=0)
    result = deploy_model_result(outputs(stage='release', fetch=would_fetch, engine=SKIPPED, smoke=SKIPPED,
                                         release=SKIPPED, active_before=None, check_mode=True))
    assert (result['status'], result['error'], result['check_mode'], result['changed']) == ('deployed', None, True, True)
    assert result['engine'] is None and result['release'] is None
    assert 'check_mode' not in deploy_model_result(outputs())


def test_stopping_before_the_release_without_a_failure_is_reported_incomplete():
    result = deploy_model_result(outputs(release=None))
    assert result['status'] == 'failed' and result['error']['code'] == 'result_incomplete'


def test_bad_input_is_explained():
    with pytest.raises(AnsibleFilterError, match='host name'):
        deploy_model_result({'stage': 'fetch'})
    with pytest.raises(AnsibleFilterError, match='unknown stage'):
        deploy_model_result(outputs(stage='deploy'))


def test_a_rollback_returns_to_the_previous_engine_and_a_second_one_changes_nothing():
    deployed = deploy_model_result(outputs())
    first = deploy_model_rolled_back(deployed, {'changed': True, 'active': OLD, 'previous': NEW, 'rolled_back_from': NEW},
                                     fingerprint=NEW)
    assert (first['status'], first['stage'], first['error']) == ('rolled_back', 'rollback', None)
    assert first['release'] == {'active': OLD, 'previous': NEW, 'changed': True}
    assert first['engine']['fingerprint'] == NEW and first['wave'] == 'canary'
    again = deploy_model_rolled_back(first, {'changed': False, 'active': OLD, 'previous': NEW, 'rolled_back_from': NEW},
                                     fingerprint=NEW)
    assert again['status'] == 'rolled_back' and again['release']['changed'] is False
    plain = deploy_model_rolled_back({'host': 'h'}, {'changed': False, 'active': OLD, 'previous': NEW,
                                                     'rolled_back_from': NEW})
    assert plain['status'] == 'unchanged'


def test_a_failed_rollback_is_reported_at_stage_rollback():
    failure = {'failed': True, 'msg': 'Model peoplenet_standin has no previous engine to roll back to.',
               'cause': 'first deployment', 'fix': 'activate a known good fingerprint', 'error_code': 'no_previous_engine'}
    result = deploy_model_rolled_back(deploy_model_result(outputs()), None, failure=failure, fingerprint=NEW)
    assert (result['status'], result['stage']) == ('failed', 'rollback')
    assert result['error']['code'] == 'no_previous_engine' and result['release']['active'] == NEW
    with pytest.raises(AnsibleFilterError, match='neither a rollback result nor a failure'):
        deploy_model_rolled_back({'host': 'h'}, None)


def test_the_stage_is_the_last_one_with_a_registered_result():
    # the role names only facts, fetch and smoke itself; a module that ran (or failed) later moves the stage on
    failure = {'failed': True, 'changed': False, 'msg': 'The model decrypts to garbage.', 'error_code': 'model_key_rejected'}
    result = deploy_model_result(outputs(stage='fetch', engine=failure, failure=failure, smoke=None, consumers=None,
                                         release=None))
    assert (result['status'], result['stage'], result['error']['stage']) == ('failed', 'engine', 'engine')
    release_failed = {'failed': True, 'changed': False, 'msg': 'rename failed', 'error_code': 'store_write_failed'}
    result = deploy_model_result(outputs(stage='smoke', failure=release_failed, release=release_failed))
    assert (result['stage'], result['error']['code']) == ('release', 'store_write_failed')


def test_a_stage_the_role_named_is_kept_until_a_later_result_is_registered():
    # the smoke stage's own check fails before engine_smoke runs: the stage is smoke, not engine
    check = {'failed': True, 'changed': False, 'msg': {'msg': 'No picture', 'code': 'smoke_image_missing'}}
    result = deploy_model_result(outputs(stage='smoke', failure=check, smoke=None, consumers=None, release=None))
    assert (result['stage'], result['error']['stage']) == ('smoke', 'smoke')


def test_check_mode_says_an_engine_would_be_built_not_reused():
    # engine_deploy in check mode: changed, neither built nor reused (nothing was built)
    would_build = dict(ENGINE, changed=True, built=False, reused=False)
    result = deploy_model_result(outputs(engine=would_build, smoke=SKIPPED, release=SKIPPED, check_mode=True,
                                         store_before={'active': OLD, 'rolled_back_from': None}))
    assert result['engine']['how'] == 'would be built' and result['engine']['reused'] is False
    shared = deploy_model_result(outputs(engine=dict(would_build, shared=True), smoke=SKIPPED, release=SKIPPED,
                                         check_mode=True))
    assert shared['engine']['how'] == 'would be taken from the engine share'
    # and what runs now is what ran before: check mode switched nothing
    assert result['active_engine'] == OLD
    assert deploy_model_result(outputs())['engine']['how'] == 'built'
    assert deploy_model_result(outputs(engine=dict(ENGINE, built=False, reused=True)))['engine']['how'] == 'reused'


def test_the_engine_active_now_is_the_release_s_or_the_one_before_a_failure():
    deployed = deploy_model_result(outputs(store_before={'active': OLD}))
    assert (deployed['active_engine'], deployed['active_before_run']) == (NEW, OLD)
    failure = {'failed': True, 'msg': 'smoke test failed', 'error_code': 'smoke_failed', 'stage': 'smoke'}
    failed = deploy_model_result(outputs(failure=failure, release=None, store_before={'active': OLD}))
    assert failed['status'] == 'failed' and failed['active_engine'] == OLD
    # a host with nothing in its store (facts without store, or a first deployment that failed) runs nothing
    assert deploy_model_result(outputs(failure=failure, release=None))['active_engine'] is None


def test_making_a_rolled_back_engine_active_again_is_said():
    back = {'active': OLD, 'previous': NEW, 'rolled_back_from': NEW}
    result = deploy_model_result(outputs(store_before=back))
    assert result['status'] == 'deployed'
    assert len(result['warnings']) == 1 and result['warnings'][0].startswith('Made active engine %s again' % NEW[:12])
    assert 'tao.fleet.rollback' in result['warnings'][0]
    # another engine than the one rolled back from, or no switch at all: nothing to say
    assert deploy_model_result(outputs(store_before=dict(back, rolled_back_from='d' * 64)))['warnings'] == []
    unchanged = outputs(store_before=dict(back, active=NEW), active_before=NEW)
    assert deploy_model_result(unchanged)['warnings'] == []
    checked = deploy_model_result(outputs(store_before=back, check_mode=True))
    assert checked['warnings'][0].startswith('A real run would make active engine %s again' % NEW[:12])


def test_a_rollback_records_the_engine_active_now_its_platform_and_check_mode():
    rolled = {'changed': True, 'active': OLD, 'active_before': NEW, 'previous': NEW, 'rolled_back_from': NEW}
    result = deploy_model_rolled_back({'host': 'h'}, rolled, platform=facts('agx-orin-jp62'))
    assert (result['status'], result['active_engine'], result['rolled_back_from']) == ('rolled_back', OLD, NEW)
    assert result['platform_class'] == facts('agx-orin-jp62')['platform_class']
    assert result['platform']['jetpack'] == facts('agx-orin-jp62')['jetpack']['version']
    assert result['platform_warnings'] == [str(w) for w in facts('agx-orin-jp62').get('warnings') or []]
    assert 'check_mode' not in result
    checked = deploy_model_rolled_back({'host': 'h'}, rolled, check_mode=True)
    # the engine that would be left is still the one running
    assert (checked['status'], checked['check_mode'], checked['active_engine']) == ('rolled_back', True, NEW)


def test_the_platform_warnings_go_to_the_result_not_its_console_warnings():
    platform = dict(facts('agx-orin-jp62'), warnings=['The interpreter running this module imports a venv TensorRT'])
    result = deploy_model_result(outputs(platform=platform))
    assert result['platform_warnings'] == platform['warnings'] and result['warnings'] == []
    assert deploy_model_result(outputs(platform=dict(platform, warnings=None)))['platform_warnings'] == []


def test_a_pass_from_the_cpu_fallback_says_so():
    # engine_smoke's fallback: backend auto ran the model on onnxruntime-cpu (the engine did not execute)
    assert deploy_model_result(outputs(smoke=dict(SMOKE, fallback=True)))['smoke']['fallback'] is True
    assert deploy_model_result(outputs(smoke=dict(SMOKE, fallback=False)))['smoke']['fallback'] is False
