# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Pruning a host's store and the controller's cache, on real files in tmp dirs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import hashlib
import json
import os
import time

import pytest

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import engine_fingerprint
from ansible_collections.tao.fleet.plugins.module_utils._prune import (
    prune_controller_cache,
    prune_store,
    summary,
)
from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore

PLATFORM = {'tensorrt': '10.3.0', 'compute_capability': '8.7'}
DAY = 86400


def sha(data):
    return hashlib.sha256(data).hexdigest()


def age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def put_model(root, data, old=True):
    """A downloaded model file, as model_fetch leaves it: <root>/models/<sha256>."""
    directory = os.path.join(root, 'models')
    if not os.path.isdir(directory):
        os.makedirs(directory)
    path = os.path.join(directory, sha(data))
    with open(path, 'wb') as handle:
        handle.write(data)
    if old:
        age(path, 2 * DAY)
    return sha(data)


def build(store, model, data, index):
    """An engine built from the model file ``data``, smoke-tested, published; returns its fingerprint."""
    put_model(store.root, data)
    fingerprint, inputs = engine_fingerprint(sha(data), PLATFORM, {})
    build_dir = store.temp_dir(model)
    store.write_engine(build_dir, b'ENGINE:' + data)
    store.write_manifest(build_dir, fingerprint, inputs, created_at='2026-01-01T00:00:%02d.000000Z' % index)
    store.publish(model, build_dir)
    store.record_smoke(model, fingerprint, True, backend='test')
    return fingerprint


@pytest.fixture
def store(tmp_path):
    return EngineStore(str(tmp_path / 'store'))


@pytest.fixture
def three_releases(store):
    """peoplenet built from three model versions and released in turn: v3 active, v2 previous, v1 unlinked."""
    fingerprints = [build(store, 'peoplenet', b'model v%d' % index, index) for index in (1, 2, 3)]
    for fingerprint in fingerprints:
        store.activate('peoplenet', fingerprint)
    return fingerprints


def model_path(store, data):
    return os.path.join(store.root, 'models', sha(data))


def test_keeps_linked_engines_and_their_models_and_removes_the_rest(store, three_releases):
    v1, v2, v3 = three_releases
    result = prune_store(store.root)
    assert result['engines']['peoplenet']['removed'] == [v1]
    assert sorted(result['engines']['peoplenet']['kept']) == sorted([v2, v3])
    assert result['models']['removed'] == [sha(b'model v1')]
    assert not os.path.exists(store.engine_dir('peoplenet', v1))
    assert not os.path.exists(model_path(store, b'model v1'))
    # what the rollback needs is still there, and still verifies
    assert store.verify('peoplenet', v2).intact and store.verify('peoplenet', v3).intact
    assert os.path.exists(model_path(store, b'model v2')) and os.path.exists(model_path(store, b'model v3'))
    assert result['freed_bytes'] >= len(b'model v1') + len(b'ENGINE:model v1')
    assert result['kept'] == {'models': sorted([sha(b'model v2'), sha(b'model v3')]), 'engines': sorted([v2, v3])}
    assert result['changed']
    store.rollback('peoplenet')
    assert store.links('peoplenet')['active'] == v2


def test_a_second_prune_changes_nothing(store, three_releases):
    prune_store(store.root)
    again = prune_store(store.root)
    assert not again['changed']
    assert again['freed_bytes'] == 0
    assert summary(again, check_mode=False) == 'Nothing to remove.'


def test_keep_spares_the_newest_unlinked_engines(store, three_releases):
    result = prune_store(store.root, keep=3)
    assert result['engines']['peoplenet']['removed'] == []
    assert result['models']['removed'] == []
    assert not result['changed']


def test_check_mode_reports_the_same_and_removes_nothing(store, three_releases):
    before = sorted(os.listdir(os.path.join(store.root, 'models')))
    planned = prune_store(store.root, check_mode=True)
    assert planned['engines']['peoplenet']['removed'] == [three_releases[0]]
    assert planned['models']['removed'] == [sha(b'model v1')]
    assert sorted(os.listdir(os.path.join(store.root, 'models'))) == before
    assert store.verify('peoplenet', three_releases[0]).intact
    assert summary(planned, check_mode=True).startswith('Would remove 1 engine, 1 model file (')
    assert prune_store(store.root)['freed_bytes'] == planned['freed_bytes']


def test_a_young_model_file_is_kept(store, three_releases):
    # a deployment running now has fetched it and not built its engine yet
    fresh = put_model(store.root, b'model v4, just fetched', old=False)
    result = prune_store(store.root)
    assert fresh in result['models']['kept']
    assert os.path.exists(os.path.join(store.root, 'models', fresh))
    assert fresh in prune_store(store.root, min_age=0)['models']['removed']


def test_a_by_name_link_keeps_its_model(store, three_releases):
    by_name = os.path.join(store.root, 'models', 'by-name')
    os.makedirs(by_name)
    os.symlink('../' + sha(b'model v1'), os.path.join(by_name, 'peoplenet'))
    result = prune_store(store.root)
    assert sha(b'model v1') in result['models']['kept']
    assert os.path.exists(model_path(store, b'model v1'))


def test_the_calibration_cache_of_a_kept_engine_is_kept(store):
    calibration = put_model(store.root, b'TRT-8601-EntropyCalibration2\n')
    put_model(store.root, b'model int8')
    fingerprint, inputs = engine_fingerprint(sha(b'model int8'), PLATFORM, {'precision': 'int8'}, calibration)
    build_dir = store.temp_dir('peoplenet')
    store.write_engine(build_dir, b'ENGINE:int8')
    store.write_manifest(build_dir, fingerprint, inputs)
    store.publish('peoplenet', build_dir)
    store.record_smoke('peoplenet', fingerprint, True, backend='test')
    store.activate('peoplenet', fingerprint)
    result = prune_store(store.root)
    assert sorted(result['models']['kept']) == sorted([calibration, sha(b'model int8')])


def test_retire_removes_a_model_whole_and_leaves_the_others(store, three_releases):
    dashcam = build(store, 'dashcamnet', b'dashcam v1', 1)
    store.activate('dashcamnet', dashcam)
    deploys = os.path.join(store.root, 'deploys')
    os.makedirs(deploys)
    with open(os.path.join(deploys, 'dashcamnet.json'), 'w') as handle:
        json.dump({'schema': 1}, handle)
    by_name = os.path.join(store.root, 'models', 'by-name')
    os.makedirs(by_name)
    os.symlink('../' + sha(b'dashcam v1'), os.path.join(by_name, 'dashcamnet'))
    result = prune_store(store.root, retire=['dashcamnet', 'never-deployed'])
    assert result['retired'] == ['dashcamnet']
    assert not os.path.lexists(store.model_dir('dashcamnet'))
    assert not os.path.lexists(os.path.join(deploys, 'dashcamnet.json'))
    assert not os.path.lexists(os.path.join(by_name, 'dashcamnet'))
    assert sha(b'dashcam v1') in result['models']['removed']
    assert store.links('peoplenet')['active'] == three_releases[2]
    assert [name for name in os.listdir(os.path.join(store.root, 'engines')) if name.startswith('.')] == []


def test_retire_in_check_mode_removes_nothing(store, three_releases):
    result = prune_store(store.root, retire=['peoplenet'], check_mode=True)
    assert result['retired'] == ['peoplenet']
    assert store.links('peoplenet')['active'] == three_releases[2]


def test_retire_refuses_a_name_that_is_a_path(store):
    with pytest.raises(TaoFleetError) as caught:
        prune_store(store.root, retire=['../models'])
    assert caught.value.code == 'store_name_invalid'


def test_refs_to_a_removed_file_go_and_old_partials_go(store, three_releases):
    refs = os.path.join(store.root, 'models', '.refs')
    partial = os.path.join(store.root, 'models', '.partial')
    os.makedirs(refs)
    os.makedirs(partial)
    for name, target in (('old.json', sha(b'model v1')), ('new.json', sha(b'model v3'))):
        with open(os.path.join(refs, name), 'w') as handle:
            json.dump({'sha256': target}, handle)
    for name, days in (('stale', 8), ('stale.lock', 8), ('resuming', 1)):
        with open(os.path.join(partial, name), 'wb') as handle:
            handle.write(b'x' * 10)
        age(os.path.join(partial, name), days * DAY)
    result = prune_store(store.root)
    assert sorted(os.listdir(refs)) == ['new.json']
    assert result['partial_removed'] == ['stale']
    assert sorted(os.listdir(partial)) == ['resuming', 'stale.lock']


def test_a_symlinked_models_dir_is_refused_and_its_target_untouched(store, three_releases, tmp_path):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    victim = elsewhere / sha(b'victim')
    victim.write_bytes(b'victim')
    age(str(victim), 2 * DAY)
    models = os.path.join(store.root, 'models')
    os.rename(models, str(tmp_path / 'real-models'))
    os.symlink(str(elsewhere), models)
    with pytest.raises(TaoFleetError) as caught:
        prune_store(store.root)
    assert caught.value.code == 'store_unwritable'
    assert victim.read_bytes() == b'victim'


@pytest.mark.parametrize('options', [{'keep': -1}, {'keep': True}, {'min_age': -5}, {'partial_max_age': '1d'}])
def test_bad_numbers_are_refused(store, options):
    with pytest.raises(TaoFleetError) as caught:
        prune_store(store.root, **options)
    assert caught.value.code == 'invalid_argument'


# ---- the controller's cache ---------------------------------------------------------------------

def share_entry(share, data, days=2):
    fingerprint = sha(data)
    entry = os.path.join(share, fingerprint)
    os.makedirs(entry)
    with open(os.path.join(entry, 'model.engine'), 'wb') as handle:
        handle.write(data)
    age(entry, days * DAY)
    return fingerprint


@pytest.fixture
def cache(tmp_path):
    root = str(tmp_path / 'cache')
    share = os.path.join(root, 'engines')
    os.makedirs(share)
    return root, share


def test_the_cache_keeps_what_hosts_keep(cache):
    root, share = cache
    kept_model, dropped_model = put_model(root, b'in use'), put_model(root, b'retired')
    kept, dropped, young = share_entry(share, b'e1'), share_entry(share, b'e2'), share_entry(share, b'e3', days=0)
    predictions = os.path.join(share, '.predictions')
    os.makedirs(predictions)
    # the controller's index: a record per entry, and an old one whose entry a killed publish never renamed in
    index = os.path.join(share, '.index')
    os.makedirs(index)
    for fingerprint in (kept, dropped, young, sha(b'never renamed in')):
        with open(os.path.join(index, fingerprint + '.json'), 'w') as handle:
            handle.write('{}')
        age(os.path.join(index, fingerprint + '.json'), 2 * DAY)
    for key, fingerprint in (('a', kept), ('b', dropped)):
        with open(os.path.join(predictions, key), 'w') as handle:
            handle.write(fingerprint)
    result = prune_controller_cache(root, keep_models=[kept_model], keep_fingerprints=[kept])
    assert result['models']['removed'] == [dropped_model]
    assert result['share']['removed'] == [dropped]
    assert sorted(result['share']['kept']) == sorted([kept, young])
    assert sorted(os.listdir(predictions)) == ['a']
    assert sorted(os.listdir(index)) == [kept + '.json', young + '.json']
    assert sorted(name for name in os.listdir(share) if not name.startswith('.')) == sorted([kept, young])
    assert not prune_controller_cache(root, keep_models=[kept_model], keep_fingerprints=[kept])['changed']


def test_a_share_entry_being_published_is_kept(cache):
    root, share = cache
    busy = share_entry(share, b'busy')
    os.makedirs(os.path.join(share, '.locks'))
    with open(os.path.join(share, '.locks', busy + '.lock'), 'a') as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        result = prune_controller_cache(root)
        assert result['share']['kept'] == [busy]
    assert prune_controller_cache(root)['share']['removed'] == [busy]


def test_the_cache_in_check_mode_removes_nothing(cache):
    root, share = cache
    model = put_model(root, b'unused')
    entry = share_entry(share, b'unused engine')
    result = prune_controller_cache(root, check_mode=True)
    assert result['models']['removed'] == [model] and result['share']['removed'] == [entry]
    assert os.path.exists(os.path.join(root, 'models', model)) and os.path.isdir(os.path.join(share, entry))


def test_the_cache_refuses_keep_values_of_another_shape(cache):
    with pytest.raises(TaoFleetError) as caught:
        prune_controller_cache(cache[0], keep_fingerprints=['../victim'])
    assert caught.value.code == 'invalid_argument'


def test_a_cache_that_is_not_there_is_nothing_to_prune(tmp_path):
    result = prune_controller_cache(str(tmp_path / 'never-made'))
    assert not result['changed'] and result['freed_bytes'] == 0


def test_what_a_killed_retire_left_is_removed_by_the_next_prune(store, three_releases):
    # a retire renames the model dir out of sight first; killed before deleting it, it leaves this
    trash = os.path.join(store.root, 'engines', '.trash-0123abcd')
    os.makedirs(os.path.join(trash, 'f' * 64))
    with open(os.path.join(trash, 'f' * 64, 'model.engine'), 'wb') as handle:
        handle.write(b'x' * 100)
    assert prune_store(store.root, keep=3, check_mode=True)['freed_bytes'] == 100 and os.path.isdir(trash)
    result = prune_store(store.root, keep=3)
    assert result['changed'] and result['freed_bytes'] == 100 and not os.path.exists(trash)
    assert summary(result, check_mode=False) == 'Removed leftovers of killed work (100 B).'
