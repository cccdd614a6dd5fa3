# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The deployment record (module_utils/_deploy_record.py): engine_deploy writes it after a deployment, the
store listing (platform_facts' tao_store) reads it back with a stat of its files, and engine_deploy's action
plugin answers from it without calling the host (that half, which needs the controller, is tested in
tests/unit/plugins/action/test_engine_deploy_record.py).

Same host as test_engine_deploy.py: the build child imports the TensorRT TEST DOUBLE; the smoke test runs
the real onnxruntime on the stand-in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os

import pytest

from ansible_collections.tao.fleet.plugins.module_utils._deploy_record import (
    deploy_key, find_record, quick_result, read_records, record_path, write_record)
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import FINGERPRINT_SCHEMA
from ansible_collections.tao.fleet.plugins.module_utils import _store as _store_module
from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore
from ansible_collections.tao.fleet.plugins.module_utils._store_contents import store_contents
from ansible_collections.tao.fleet.tests.unit.plugins.modules.test_engine_deploy import (  # noqa: F401 pylint: disable=unused-import
    MODEL, host, run)

MODEL_SHA = 'a' * 64


def deployed(host, record_id='id-1', **args):
    result = run(host, deploy_record_id=record_id, **args)
    assert result.get('failed') is not True, result
    return result


def record_of(host):
    return read_records(host['store']).get(MODEL)


def test_a_deployment_is_recorded_with_its_files_and_reads_back_intact(host, tmp_path):
    first = deployed(host, consumers={'deepstream': True, 'deepstream_dir': str(tmp_path / 'ds')})
    record = record_of(host)
    assert record['key'] == 'id-1' and record['intact'] is True and record['changed'] == []
    assert record['result']['fingerprint'] == first['fingerprint']
    assert record['result']['release']['active'] == first['fingerprint']
    # the smoke test's record comes from the manifest as the smoke stage left it
    assert record['result']['manifest']['smoke']['passed'] is True
    # the store listing carries it, as platform_facts returns it
    assert store_contents(host['store'])['deploys'][MODEL]['key'] == 'id-1'


def test_the_records_answer_is_what_a_reuse_call_says(host):
    deployed(host)
    called = run(host)
    answered = quick_result(record_of(host))
    for key in ('fingerprint', 'engine_path', 'model_name', 'reused', 'built', 'shared', 'changed', 'stage', 'smoke'):
        assert answered[key] == called[key], key
    for key in ('active', 'previous', 'active_before', 'changed', 'engine_path'):
        assert answered['release'][key] == called['release'][key], key
    assert answered['manifest']['smoke'] == called['manifest']['smoke']
    assert answered['model'] == dict((key, called['model'][key]) for key in answered['model'])


def test_a_changed_file_or_link_breaks_the_record(host):
    first = deployed(host)
    engine = first['engine_path']
    stat = os.stat(engine)
    os.utime(engine, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1000))
    record = record_of(host)
    assert record['intact'] is False and record['changed'] == [engine] and record['result'] is None
    assert find_record(store_contents(host['store']), 'id-1')[1].startswith('files changed since')
    os.utime(engine, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert record_of(host)['intact'] is True
    # another engine made active (a later deployment without a record, engine_release, a rollback)
    other = run(host, workspace='512M')
    assert EngineStore(host['store']).links(MODEL)['active'] == other['fingerprint']
    assert record_of(host)['changed'] == [os.path.join(host['store'], 'engines', MODEL, 'active')]
    EngineStore(host['store']).rollback(MODEL, from_fingerprint=other['fingerprint'])
    assert EngineStore(host['store']).links(MODEL)['active'] == first['fingerprint']
    assert record_of(host)['intact'] is True


def test_no_record_without_an_id_or_in_check_mode(host):
    run(host)
    assert record_of(host) is None
    run(host, deploy_record_id='id-1', _ansible_check_mode=True)
    assert record_of(host) is None


def test_a_failed_deployment_leaves_the_earlier_record_which_still_holds(host):
    first = deployed(host)
    failed = run(host, deploy_record_id='id-2', workspace='512M',
                 smoke=dict(host['smoke'], expect={'min_detections': 99}))
    assert failed['failed'] is True and failed['stage'] == 'smoke'
    record = record_of(host)
    assert record['key'] == 'id-1' and record['intact'] is True
    assert record['result']['fingerprint'] == first['fingerprint']


def test_a_run_whose_active_link_another_run_switched_meanwhile_records_nothing(host):
    # issue 16, row 9: run A released its engine, run B (other options) switched active before A wrote its
    # record; A's record would pair A's options with B's link, and a later quick_check would skip the host
    first = deployed(host, record_id='run-b', precision='fp32')
    os.unlink(record_path(host['store'], MODEL))
    later = deployed(host, record_id='run-a', precision='fp16')
    assert later['fingerprint'] != first['fingerprint']
    os.unlink(record_path(host['store'], MODEL))
    active = os.path.dirname(later['release']['engine_path'])
    os.unlink(active)
    os.symlink(first['fingerprint'], active)          # what run B's release leaves
    problem = write_record(host['store'], 'run-a', later)
    assert problem and 'another run switched' in problem and first['fingerprint'] in problem
    assert not os.path.exists(record_path(host['store'], MODEL))


def test_the_record_is_written_under_the_models_store_lock(host, monkeypatch):
    result = deployed(host)
    os.unlink(record_path(host['store'], MODEL))
    store = EngineStore(host['store'], lock_timeout=0.2)
    monkeypatch.setattr(_store_module, 'EngineStore', lambda root: EngineStore(root, lock_timeout=0.2))
    with store._lock(MODEL):   # another task's release holds it
        problem = write_record(host['store'], 'id-1', result)
    assert problem and 'busy' in problem
    assert not os.path.exists(record_path(host['store'], MODEL))
    assert write_record(host['store'], 'id-1', result) is None


def test_a_record_that_is_not_ours_is_ignored(host):
    deployed(host)
    with open(record_path(host['store'], 'junk'), 'w') as handle:
        handle.write('{not json')
    with open(record_path(host['store'], 'old'), 'w') as handle:
        handle.write('{"schema": 99, "key": "x"}')
    assert sorted(read_records(host['store'])) == [MODEL]


# -- the key of the options (computed on the controller) -----------------------------------------------

PLATFORM = {'platform_key': {'kind': 'jetson', 'jetpack': '6.2', 'tensorrt': '10.3.0'},
            'memory': {'available_mb': 1200}, 'uptime_seconds': 5}


def task_args(**overrides):
    args = {'model_name': MODEL, 'platform': copy.deepcopy(PLATFORM), 'store': '/opt/tao', 'precision': 'fp16',
            'model_key': 'tlt_encode', 'engine_share': '/srv/share',
            'fetch': {'ngc': 'nvidia/tao/peoplenet:v1', 'file': 'm.etlt', 'api_key': 'nvapi-x', 'name': MODEL,
                      'controller_cache': '/cache'},
            'smoke': {'model_entry': {'id': MODEL}, 'runs': 20}, 'keep': 3, 'quick_check': True}
    args.update(overrides)
    return args


def key_of(args, sha=MODEL_SHA):
    return deploy_key(args, sha, FINGERPRINT_SCHEMA)[0]


def test_the_key_follows_what_the_host_ends_up_with():
    base = key_of(task_args())
    assert base and len(base) == 64
    # the platform's volatile facts, secrets, where the model comes from and controller paths do not count
    volatile = task_args(platform=dict(PLATFORM, memory={'available_mb': 80}, uptime_seconds=99))
    assert key_of(volatile) == base
    assert key_of(task_args(model_key='other', engine_share='/elsewhere', quick_check=False)) == base
    assert key_of(task_args(fetch=dict(task_args()['fetch'], api_key='nvapi-y', urls=['http://m/x']))) == base
    # what decides the engine, the smoke test, the files and the store does
    changed_platform = dict(PLATFORM, platform_key=dict(PLATFORM['platform_key'], jetpack='6.1'))
    for args in (task_args(platform=changed_platform), task_args(precision='int8'), task_args(keep=2),
                 task_args(smoke={'model_entry': {'id': MODEL}, 'runs': 5}), task_args(store='/data/tao'),
                 task_args(consumers={'deepstream': True}), task_args(fetch=dict(task_args()['fetch'], name='x'))):
        assert key_of(args) != base
    assert key_of(task_args(), sha='b' * 64) != base


def test_no_key_where_a_call_may_change_something():
    assert deploy_key(task_args(), None, FINGERPRINT_SCHEMA) == (
        None, "the model's sha256 is not known before the call (no fetch.controller_cache or fetch.sha256)")
    assert deploy_key(task_args(platform={'kind': 'jetson'}), MODEL_SHA, FINGERPRINT_SCHEMA)[1] == \
        'no platform facts in platform'
    for args, name in ((task_args(smoke={'model_entry': {}, 'rerun': 'true'}), 'smoke.rerun'),
                       (task_args(keep_decrypted_model='/tmp/x.onnx'), 'keep_decrypted_model'),
                       (task_args(converter_args='-k key -t fp16'), 'converter_args')):
        assert deploy_key(args, MODEL_SHA, FINGERPRINT_SCHEMA) == (None, '%s is set' % name)
    assert key_of(task_args(smoke={'model_entry': {}, 'rerun': 'false'}))


# -- a malformed record never fails platform_facts (issue 16, row 13) ------------------------------------

def write_raw_record(store, name, text):
    path = record_path(store, name)
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path))
    with open(path, 'w') as handle:
        handle.write(text)


@pytest.mark.parametrize('body', [
    '"files": 5', '"files": true', '"files": [5]', '"files": [[1, 2, 3, 4]]', '"links": ["ab"]',
    '"links": {"a": "b"}', '"result": [1]', '"recorded_at": {"t": 1}', '"files": [["/x", 1, 2]]'])
def test_a_malformed_record_is_flagged_not_a_crash(tmp_path, body):
    store = str(tmp_path / 'store')
    write_raw_record(store, 'peoplenet', '{"schema": 1, "key": "k", %s}' % body)
    write_raw_record(store, 'other', '{"schema": 1, "key": "k2", "files": [], "links": [], "result": {}}')
    records = read_records(store)
    assert records['other']['intact'] is True                   # the well-formed one is still read
    flagged = records['peoplenet']
    assert flagged['intact'] is False and flagged['result'] is None and flagged['key'] is None
    assert 'is malformed' in flagged['invalid'] and 'ignored' in flagged['invalid']
    assert find_record({'deploys': records}, 'k')[0] is None     # never used for quick_check
    assert store_contents(store)['deploys']['peoplenet']['invalid'] == flagged['invalid']


def test_a_record_nested_too_deep_to_parse_is_skipped(tmp_path):
    store = str(tmp_path / 'store')
    write_raw_record(store, 'deep', '[' * 30000 + ']' * 30000)     # under MAX_RECORD_BYTES: it is parsed
    write_raw_record(store, 'other', '{"schema": 1, "key": "k2", "files": [], "links": [], "result": {}}')
    assert sorted(read_records(store)) == ['other']


# -- deploys/ never follows a planted symlink (issue 16, row 8) ---------------------------------------

def test_a_deploys_directory_planted_as_a_symlink_is_never_written_nor_read(host, tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / (MODEL + '.json')).write_text(
        '{"schema": 1, "key": "id-1", "files": [], "links": [], "result": {"fingerprint": "forged"}}')
    os.makedirs(host['store'], exist_ok=True)
    os.symlink(str(outside), os.path.join(host['store'], 'deploys'))
    result = run(host, deploy_record_id='id-1')
    assert result.get('failed') is not True, result
    from ansible.module_utils.common.warnings import get_warning_messages
    assert any('deployment record was not written' in warning and 'symlink' in warning
               for warning in get_warning_messages())
    assert sorted(os.listdir(str(outside))) == [MODEL + '.json']          # nothing written through the link
    assert 'forged' in (outside / (MODEL + '.json')).read_text()
    assert read_records(host['store']) == {}                               # and nothing read through it


def test_a_record_planted_as_a_symlink_is_flagged_not_read(tmp_path):
    store = str(tmp_path / 'store')
    forged = tmp_path / 'forged.json'
    forged.write_text('{"schema": 1, "key": "k", "files": [], "links": [], "result": {"fingerprint": "forged"}}')
    os.makedirs(os.path.join(store, 'deploys'))
    os.symlink(str(forged), record_path(store, 'peoplenet'))
    flagged = read_records(store)['peoplenet']
    assert flagged['key'] is None and flagged['result'] is None and 'symlink' in flagged['invalid']
