# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""engine_deploy through AnsibleModule: the five stages in one call, what each failing stage leaves (the
engine active before stays active), check mode, and a second run that changes nothing.

The build child imports the TensorRT TEST DOUBLE (tests/doubles, 8.5.2.2), not TensorRT; the smoke test
runs the real onnxruntime on the CPU on the PeopleNet stand-in (tests/fleet/demo_model.py), as on the
simulated fleet.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os

import pytest
import yaml

from ansible_collections.tao.fleet.plugins.module_utils import _deploy
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._fetch_options import ARGUMENT_SPEC as FETCH_OPTIONS
from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore
from ansible_collections.tao.fleet.plugins.modules import engine_deploy
from ansible_collections.tao.fleet.tests.unit.plugins.modules.double_host import double_installed, load_demo_model
from ansible_collections.tao.fleet.tests.unit.plugins.modules.module_harness import AnsibleExitJson, AnsibleFailJson, module_args

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..'))
MODEL = 'peoplenet_standin'
with open(os.path.join(REPO, 'catalog', 'models.yml')) as handle:
    ENTRY = dict(yaml.safe_load(handle)['models'][MODEL], id=MODEL)
SCENE = {'boxes': 'scene', 'allow_extra_detections': False}
demo_model = load_demo_model()


@pytest.fixture
def host(tmp_path):
    """The double installed where the build child imports it, Xavier NX facts naming it, the stand-in .etlt."""
    with double_installed(tmp_path) as facts:
        model = tmp_path / 'standin.etlt'
        model.write_bytes(demo_model.etlt_bytes(demo_model.DEFAULT_VERSION))
        yield {'model_path': str(model), 'platform': facts, 'store': str(tmp_path / 'store'), 'model_name': MODEL,
               'model_key': 'tlt_encode', 'smoke': {'model_entry': ENTRY, 'expect': SCENE, 'warmup': 0, 'runs': 2}}


def run(base, **args):
    arguments = dict(base)
    arguments.update(args)
    with module_args(arguments):
        try:
            engine_deploy.main()
        except AnsibleExitJson as done:
            return done.args[0]
        except AnsibleFailJson as failed:
            return failed.args[0]
    raise AssertionError('the module returned without exit_json or fail_json')


def links(host):
    return EngineStore(host['store']).links(MODEL)


def smoke_with(host, **options):
    return dict(host['smoke'], **options)


def test_first_call_builds_tests_and_releases_and_the_second_changes_nothing(host):
    first = run(host)
    assert first.get('failed') is not True, first
    assert first['changed'] is True and first['built'] is True and first['stage'] == 'release'
    assert first['smoke']['passed'] is True and first['smoke']['changed'] is True
    assert first['smoke']['backend'] == 'onnxruntime-cpu (engine not executed)'
    assert first['consumers'] is None
    assert first['release']['active'] == first['fingerprint'] and first['release']['active_before'] is None
    assert links(host)['active'] == first['fingerprint']
    recorded = EngineStore(host['store']).read_manifest(MODEL, first['fingerprint'])['smoke']
    assert recorded['passed'] is True
    second = run(host)
    assert second['changed'] is False and second['reused'] is True and second['fingerprint'] == first['fingerprint']
    # a reused engine whose manifest records a passed test is not tested again
    assert second['smoke'] is None and second['stage'] == 'release'
    assert second['release']['changed'] is False and second['release']['active'] == first['fingerprint']
    rerun = run(host, smoke=smoke_with(host, rerun=True))
    assert rerun['smoke']['passed'] is True and rerun['changed'] is False


def test_a_failed_smoke_test_leaves_the_engine_active_before(host):
    before = run(host)['fingerprint']
    failed = run(host, workspace='512M', smoke=smoke_with(host, expect={'min_detections': 99}))
    assert failed['failed'] is True and failed['stage'] == 'smoke' and failed['error_code'] == 'smoke_failed'
    assert failed['built'] is True and failed['fingerprint'] != before
    assert failed['smoke']['passed'] is False and failed['smoke']['failures']
    assert failed['release'] is None and failed['consumers'] is None
    assert links(host)['active'] == before
    manifest = EngineStore(host['store']).read_manifest(MODEL, failed['fingerprint'])
    assert manifest['smoke']['passed'] is False


def test_a_real_model_without_a_picture_stops_before_the_release(host):
    entry = dict(ENTRY)
    entry.pop('stand_in', None)
    failed = run(host, smoke={'model_entry': entry, 'warmup': 0, 'runs': 2})
    assert failed['failed'] is True and failed['stage'] == 'smoke'
    assert failed['error_code'] == 'smoke_image_missing' and 'smoke.image' in failed['fix']
    assert failed['built'] is True and failed['release'] is None
    assert links(host)['active'] is None


def test_consumer_files_are_written_before_the_release(host, tmp_path):
    result = run(host, consumers={'deepstream': True, 'deepstream_dir': str(tmp_path / 'ds')})
    assert result.get('failed') is not True, result
    assert result['consumers']['written'] and result['stage'] == 'release'
    config = tmp_path / 'ds' / ('config_infer_primary_%s.txt' % MODEL)
    assert os.path.realpath(str(config)).startswith(os.path.realpath(os.path.join(
        host['store'], 'engines', MODEL, result['fingerprint'])))
    again = run(host, consumers={'deepstream': True, 'deepstream_dir': str(tmp_path / 'ds')})
    assert again['changed'] is False and again['consumers']['written'] == []


def test_a_release_that_fails_after_switching_is_undone(host, monkeypatch):
    before = run(host)['fingerprint']

    def failing_gc(self, model, **kwargs):
        raise TaoFleetError('cleanup failed', code='not_writable')
    monkeypatch.setattr(EngineStore, 'gc', failing_gc)
    failed = run(host, workspace='512M')
    assert failed['failed'] is True and failed['stage'] == 'release' and failed['error_code'] == 'not_writable'
    assert failed['smoke']['passed'] is True and failed['release']['failed'] is True
    assert failed['release']['active_before'] == before
    assert links(host)['active'] == before


def test_an_engine_failure_runs_no_later_stage(host):
    failed = run(host, model_key='wrong_key')
    assert failed['failed'] is True and failed['stage'] == 'engine' and failed['error_code'] == 'model_key_rejected'
    assert failed['smoke'] is None and failed['release'] is None
    assert 'wrong_key' not in json.dumps(failed)


def test_build_false_without_an_engine_says_missing_and_stops(host):
    result = run(host, build=False)
    assert result['missing'] is True and result['stage'] == 'engine' and result['smoke'] is None
    assert not os.path.exists(os.path.join(host['store'], 'engines', MODEL, result['fingerprint']))


def test_check_mode_stops_at_a_build_it_would_make_and_writes_nothing(host):
    checked = run(host, _ansible_check_mode=True)
    assert checked['changed'] is True and checked['stage'] == 'engine' and checked['smoke'] is None
    assert not os.path.exists(os.path.join(host['store'], 'engines', MODEL, checked['fingerprint']))
    deployed = run(host)
    again = run(host, _ansible_check_mode=True)
    assert again['changed'] is False and again['stage'] == 'release'
    assert again['release']['active'] == deployed['fingerprint']


def test_the_model_is_fetched_into_the_store_in_the_same_call(host):
    model = host['model_path']
    sha = hashlib.sha256(open(model, 'rb').read()).hexdigest()
    base = dict(host)
    del base['model_path']
    result = run(base, fetch={'src': model, 'sha256': sha, 'name': MODEL})
    assert result.get('failed') is not True, result
    assert result['fetch']['path'] == os.path.join(host['store'], 'models', sha) and result['fetch']['changed'] is True
    assert result['built'] is True and result['stage'] == 'release' and links(host)['active'] == result['fingerprint']
    # the engine of the fetched file is the engine of the file itself
    assert run(host)['fingerprint'] == result['fingerprint']
    again = run(base, fetch={'src': 'controller:/nowhere', 'sha256': sha})
    assert again['changed'] is False and again['fetch']['cache_hit'] is True and again['reused'] is True


def test_a_missing_or_damaged_model_stops_at_fetch(host):
    base = dict(host)
    del base['model_path']
    missing = run(base, fetch={'src': 'controller:/nowhere', 'sha256': 'a' * 64})
    assert missing['failed'] is True and missing['stage'] == 'fetch' and missing['error_code'] == 'src_missing'
    assert missing['fetch']['failed'] is True and missing['smoke'] is None and missing.get('fingerprint') is None
    damaged = run(base, fetch={'src': host['model_path'], 'sha256': 'b' * 64})
    assert damaged['failed'] is True and damaged['stage'] == 'fetch' and damaged['error_code'] == 'checksum_mismatch'
    assert not os.path.exists(os.path.join(host['store'], 'engines'))


def test_check_mode_stops_at_a_download_it_would_make(host):
    base = dict(host)
    del base['model_path']
    sha = hashlib.sha256(open(host['model_path'], 'rb').read()).hexdigest()
    checked = run(base, _ansible_check_mode=True, fetch={'src': host['model_path'], 'sha256': sha})
    assert checked['changed'] is True and checked['stage'] == 'fetch' and checked.get('fingerprint') is None
    assert not os.path.exists(os.path.join(host['store'], 'models', sha))


def test_controller_cache_must_not_reach_the_host(host):
    result = run(host, fetch={'src': host['model_path'], 'sha256': 'a' * 64, 'controller_cache': '/cache'})
    assert result['failed'] is True and result['stage'] == 'fetch' and 'action plugin' in result['msg']


def test_options_are_trt_engine_options_plus_the_later_stages():
    documented = yaml.safe_load(engine_deploy.DOCUMENTATION)
    assert set(documented['options']) == set(['fetch', 'smoke', 'consumers', 'keep', 'quick_check', 'deploy_record_id'])
    assert set(documented['options']['fetch']['suboptions']) == set(FETCH_OPTIONS) - set(['store'])
    assert 'tao.fleet.trt_engine' in documented['extends_documentation_fragment']
    assert set(documented['options']['smoke']['suboptions']) == set(engine_deploy.SMOKE_OPTIONS)
    assert set(documented['options']['consumers']['suboptions']) == set(engine_deploy.CONSUMER_OPTIONS)
    assert _deploy.STAGES == ('fetch', 'engine', 'smoke', 'consumers', 'release')


def test_the_engine_share_option_is_refused_on_the_host(host):
    result = run(host, engine_share='/srv/share')
    assert result['failed'] is True and result['error_code'] == 'invalid_argument'
    assert 'action plugin' in result['msg'] and result['stage'] == 'engine'
