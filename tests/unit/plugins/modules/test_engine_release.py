# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""engine_release through AnsibleModule, on a real store in a tmp dir."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

import pytest

from ansible.module_utils.common.warnings import get_warning_messages

from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import engine_fingerprint
from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore
from ansible_collections.tao.fleet.plugins.modules import engine_release
from ansible_collections.tao.fleet.tests.unit.plugins.modules.module_harness import AnsibleExitJson, AnsibleFailJson, module_args

MODEL = 'peoplenet'


@pytest.fixture
def store(tmp_path):
    return EngineStore(str(tmp_path / 'store'))


def run(store, **args):
    args.setdefault('store', store.root)
    args.setdefault('model', MODEL)
    with module_args(args):
        try:
            engine_release.main()
        except AnsibleExitJson as done:
            return done.args[0]
        except AnsibleFailJson as failed:
            return failed.args[0]
    raise AssertionError('the module returned without exit_json or fail_json')


def build(store, payload, smoke=True):
    fingerprint, inputs = engine_fingerprint(hashlib.sha256(payload).hexdigest(), {'tensorrt': '10.3.0'}, {})
    build_dir = store.temp_dir(MODEL)
    store.write_engine(build_dir, b'ENGINE:' + payload)
    store.write_manifest(build_dir, fingerprint, inputs)
    store.publish(MODEL, build_dir)
    if smoke is not None:
        store.record_smoke(MODEL, fingerprint, smoke, backend='test', reason=None if smoke else 'no boxes')
    return fingerprint


def test_activate_then_idempotent(store):
    first = build(store, b'a')
    result = run(store, fingerprint=first)
    assert result['changed'] is True and result['active'] == first and result['previous'] is None
    assert result['active_before'] is None
    assert result['engine_path'] == os.path.join(store.root, 'engines', MODEL, 'active', 'model.engine')
    with open(result['engine_path'], 'rb') as handle:
        assert handle.read() == b'ENGINE:a'
    again = run(store, fingerprint=first)
    assert again['changed'] is False and again['active'] == first and again['active_before'] == first


def test_second_release_keeps_previous(store):
    first, second = build(store, b'a'), build(store, b'b')
    run(store, fingerprint=first)
    result = run(store, fingerprint=second)
    assert (result['active'], result['previous'], result['active_before']) == (second, first, first)
    assert store.links(MODEL)['previous'] == first


def test_check_mode_predicts_and_changes_nothing(store):
    first, second = build(store, b'a'), build(store, b'b')
    run(store, fingerprint=first)
    result = run(store, fingerprint=second, _ansible_check_mode=True)
    assert result['changed'] is True and (result['active'], result['previous']) == (second, first)
    assert store.links(MODEL)['active'] == first


def test_diff_mode_shows_fingerprints_before_and_after(store):
    first, second = build(store, b'a'), build(store, b'b')
    run(store, fingerprint=first)
    result = run(store, fingerprint=second, _ansible_diff=True)
    assert result['diff'] == {'before': {'active': first, 'previous': None},
                              'after': {'active': second, 'previous': first}}
    assert 'diff' not in run(store, fingerprint=second)


def test_refuses_an_engine_without_a_passed_smoke_test(store):
    good, bad = build(store, b'a'), build(store, b'b', smoke=False)
    run(store, fingerprint=good)
    result = run(store, fingerprint=bad)
    assert result['failed'] is True and result['error_code'] == 'not_smoke_tested'
    # a failure still says what was active, so that the role's rescue knows nothing was switched
    assert result['active_before'] == good
    assert bad in result['msg'] and 'no boxes' in result['msg']
    assert 'force: true' in result['fix']
    assert store.links(MODEL)['active'] == good


def test_force_activates_and_warns(store):
    good, untested = build(store, b'a'), build(store, b'b', smoke=None)
    run(store, fingerprint=good)
    result = run(store, fingerprint=untested, force=True)
    assert result['changed'] is True and result['active'] == untested
    assert any(untested in warning and 'force' in warning for warning in get_warning_messages())


def test_corrupt_engine_is_refused_with_force(store):
    broken = build(store, b'a')
    with open(store.engine_path(MODEL, broken), 'ab') as handle:
        handle.write(b'extra')
    result = run(store, fingerprint=broken, force=True)
    assert result['failed'] is True and result['error_code'] == 'engine_corrupt'
    assert store.links(MODEL)['active'] is None


def test_state_active_needs_a_fingerprint(store):
    result = run(store)
    assert result['failed'] is True and 'fingerprint' in result['msg']


def test_rollback_then_idempotent(store):
    first, second = build(store, b'a'), build(store, b'b')
    run(store, fingerprint=first)
    run(store, fingerprint=second)
    result = run(store, state='rolled_back', _ansible_diff=True)
    assert result['changed'] is True
    assert (result['active'], result['previous'], result['rolled_back_from']) == (first, second, second)
    assert result['diff']['before'] == {'active': second, 'previous': first}
    again = run(store, state='rolled_back')
    assert again['changed'] is False and again['active'] == first
    guarded = run(store, state='rolled_back', fingerprint=second)
    assert guarded['changed'] is False and guarded['active'] == first


def test_rollback_guarded_by_fingerprint_leaves_other_releases(store):
    first, second = build(store, b'a'), build(store, b'b')
    run(store, fingerprint=first)
    run(store, fingerprint=second)
    result = run(store, state='rolled_back', fingerprint=first)
    assert result['changed'] is False and result['active'] == second


def test_rollback_without_previous(store):
    run(store, fingerprint=build(store, b'a'))
    result = run(store, state='rolled_back')
    assert result['failed'] is True and result['error_code'] == 'no_previous_engine'


def test_keep_removes_old_unlinked_engines(store):
    engines = [build(store, (u'model-%d' % index).encode()) for index in range(4)]
    for fingerprint in engines:
        assert run(store, fingerprint=fingerprint, keep=10)['removed'] == []
    preview = run(store, fingerprint=engines[3], keep=1, _ansible_check_mode=True)
    assert preview['changed'] is True and len(preview['removed']) == 2
    assert len(store.fingerprints(MODEL)) == 4
    result = run(store, fingerprint=engines[3], keep=1)
    assert sorted(result['removed']) == sorted(preview['removed'])
    assert set(result['removed']) == set(engines[:2])
    assert run(store, fingerprint=engines[3], keep=1)['changed'] is False


def test_default_keep_is_three(store):
    engines = [build(store, (u'model-%d' % index).encode()) for index in range(5)]
    for fingerprint in engines[:4]:
        run(store, fingerprint=fingerprint, keep=10)
    result = run(store, fingerprint=engines[4])
    assert set(result['removed']) == set(engines[:2])
    assert set(store.fingerprints(MODEL)) == set(engines[2:])


def test_negative_keep_is_refused(store):
    result = run(store, fingerprint=build(store, b'a'), keep=-1)
    assert result['failed'] is True and 'keep' in result['msg']


def test_unknown_model_is_engine_missing(store):
    result = run(store, model='trafficcamnet', fingerprint='ab' * 32)
    assert result['failed'] is True and result['error_code'] == 'engine_missing'
    assert result['fix']
