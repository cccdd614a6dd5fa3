# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Engine store on real files in tmp dirs; the kill -9 tests use real child processes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import engine_fingerprint
from ansible_collections.tao.fleet.plugins.module_utils import _store
from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore

MODEL = 'peoplenet'
PLATFORM = {'tensorrt': '8.5.2.2', 'compute_capability': '7.2', 'soc': 'tegra194'}


def build_engine(store, payload, model=MODEL, smoke=True, created_at=None, build=None):
    """Build -> publish -> (smoke) the way trt_engine and engine_smoke will; returns the fingerprint."""
    model_sha = hashlib.sha256(payload).hexdigest()
    fingerprint, inputs = engine_fingerprint(model_sha, PLATFORM, build or {})
    build_dir = store.temp_dir(model)
    store.write_engine(build_dir, b'ENGINE:' + payload)
    store.write_manifest(build_dir, fingerprint, inputs, created_at=created_at, build={'tensorrt': '8.5.2.2'})
    result = store.publish(model, build_dir)
    assert result['fingerprint'] == fingerprint
    if smoke is not None:
        store.record_smoke(model, fingerprint, smoke, backend='test', detections=2,
                           reason=None if smoke else 'no person detected')
    return fingerprint


def stamp(index):
    return '2026-01-01T00:00:%02d.000000Z' % index


@pytest.fixture
def store(tmp_path):
    return EngineStore(str(tmp_path / 'store'))


def link_target(store, name, model=MODEL):
    path = os.path.join(store.model_dir(model), name)
    return os.readlink(path) if os.path.lexists(path) else None


def active_engine_is_complete(store, model=MODEL):
    """The invariant: active resolves to an engine that verifies."""
    fingerprint = link_target(store, 'active', model)
    assert fingerprint is not None, 'active link is missing'
    with open(store.active_engine_path(model), 'rb') as handle:
        assert handle.read().startswith(b'ENGINE:')
    assert store.verify(model, fingerprint).intact
    return fingerprint


# ---- paths and names ------------------------------------------------------------------------

def test_layout_paths(store):
    fingerprint = 'ab' * 32
    assert store.engine_path(MODEL, fingerprint) == os.path.join(store.root, 'engines', MODEL, fingerprint, 'model.engine')
    assert store.active_engine_path(MODEL) == os.path.join(store.root, 'engines', MODEL, 'active', 'model.engine')
    assert store.model_file_path('cd' * 32) == os.path.join(store.root, 'models', 'cd' * 32)
    assert os.path.dirname(store.timing_cache_path(PLATFORM)) == os.path.join(store.root, 'timing_cache')


@pytest.mark.parametrize('bad', ['', '.hidden', '../up', 'a/b', 'x' * 129, None])
def test_bad_model_names_are_refused(store, bad):
    with pytest.raises(TaoFleetError) as caught:
        store.temp_dir(bad)
    assert caught.value.code == 'store_name_invalid'


@pytest.mark.parametrize('bad', ['AB' * 32, 'ab' * 31, '../' + 'a' * 61, None])
def test_bad_fingerprints_are_refused(store, bad):
    with pytest.raises(TaoFleetError) as caught:
        store.verify(MODEL, bad)
    assert caught.value.code == 'store_name_invalid'


def test_relative_store_is_refused():
    with pytest.raises(TaoFleetError) as caught:
        EngineStore('relative/store')
    assert caught.value.code == 'store_name_invalid'


def test_timing_cache_round_trip(store):
    assert store.read_timing_cache(PLATFORM) is None
    store.write_timing_cache(PLATFORM, b'cache-1')
    store.write_timing_cache(PLATFORM, b'cache-2')
    assert store.read_timing_cache(PLATFORM) == b'cache-2'
    assert os.listdir(os.path.dirname(store.timing_cache_path(PLATFORM))) == [
        os.path.basename(store.timing_cache_path(PLATFORM))]


# ---- build, publish, verify -----------------------------------------------------------------

def test_temp_dir_records_its_builder(store):
    path = store.temp_dir(MODEL)
    assert os.path.dirname(path) == store.model_dir(MODEL)
    assert os.path.basename(path).startswith('.tmp-')
    with open(os.path.join(path, 'builder.pid')) as handle:
        info = json.load(handle)
    assert info['pid'] == os.getpid()
    assert _store.builder_alive(info) is True


def test_publish_makes_a_complete_readable_engine_dir(store):
    fingerprint = build_engine(store, b'model-a', smoke=None)
    directory = store.engine_dir(MODEL, fingerprint)
    assert sorted(os.listdir(directory)) == ['manifest.json', 'model.engine']
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o755
    manifest = store.read_manifest(MODEL, fingerprint)
    assert manifest['fingerprint'] == fingerprint
    assert manifest['engine']['sha256'] == hashlib.sha256(b'ENGINE:model-a').hexdigest()
    assert manifest['engine']['size'] == len(b'ENGINE:model-a')
    assert manifest['model'] == MODEL
    assert store.verify(MODEL, fingerprint).intact
    assert [name for name in os.listdir(store.model_dir(MODEL)) if name.startswith('.tmp-')] == []


def test_publish_keeps_an_intact_engine_that_is_already_there(store):
    fingerprint = build_engine(store, b'model-a', smoke=True)
    before = os.stat(store.engine_path(MODEL, fingerprint))
    model_sha = hashlib.sha256(b'model-a').hexdigest()
    again, inputs = engine_fingerprint(model_sha, PLATFORM, {})
    build_dir = store.temp_dir(MODEL)
    store.write_engine(build_dir, b'ENGINE:model-a')
    store.write_manifest(build_dir, again, inputs)
    result = store.publish(MODEL, build_dir)
    assert result['reused'] is True and result['replaced_corrupt'] is False
    assert not os.path.exists(build_dir)
    assert os.stat(store.engine_path(MODEL, fingerprint)).st_ino == before.st_ino
    assert store.read_manifest(MODEL, fingerprint)['smoke']['passed'] is True


def test_publish_replaces_a_corrupt_engine(store):
    fingerprint = build_engine(store, b'model-a', smoke=None)
    with open(store.engine_path(MODEL, fingerprint), 'r+b') as handle:
        handle.write(b'X')
    assert store.verify(MODEL, fingerprint).code == 'engine_corrupt'
    model_sha = hashlib.sha256(b'model-a').hexdigest()
    _again, inputs = engine_fingerprint(model_sha, PLATFORM, {})
    build_dir = store.temp_dir(MODEL)
    store.write_engine(build_dir, b'ENGINE:model-a')
    store.write_manifest(build_dir, fingerprint, inputs)
    result = store.publish(MODEL, build_dir)
    assert result['replaced_corrupt'] is True
    assert store.verify(MODEL, fingerprint).intact
    assert [n for n in os.listdir(store.model_dir(MODEL)) if n.startswith('.')] == ['.lock']


def test_publish_refuses_a_dir_outside_the_model_dir(store, tmp_path):
    outside = tmp_path / '.tmp-outside'
    outside.mkdir()
    with pytest.raises(TaoFleetError) as caught:
        store.publish(MODEL, str(outside))
    assert caught.value.code == 'store_name_invalid'


def test_publish_refuses_an_incomplete_build(store):
    build_dir = store.temp_dir(MODEL)
    store.write_engine(build_dir, b'ENGINE:x')
    with pytest.raises(TaoFleetError) as caught:
        store.publish(MODEL, build_dir)
    assert caught.value.code == 'engine_corrupt'
    assert 'manifest' in str(caught.value)


def test_manifest_must_match_its_fingerprint(store):
    fingerprint, inputs = engine_fingerprint('aa' * 32, PLATFORM, {})
    build_dir = store.temp_dir(MODEL)
    store.write_engine(build_dir, b'ENGINE:x')
    with pytest.raises(TaoFleetError) as caught:
        store.write_manifest(build_dir, 'bb' * 32, inputs)
    assert caught.value.code == 'engine_corrupt'
    with pytest.raises(TaoFleetError):
        store.write_manifest(build_dir, fingerprint, dict(inputs, model_sha256='cc' * 32))


def _tamper_manifest(store, fingerprint, change):
    path = store.manifest_path(MODEL, fingerprint)
    with open(path) as handle:
        manifest = json.load(handle)
    change(manifest)
    with open(path, 'w') as handle:
        json.dump(manifest, handle)


@pytest.mark.parametrize('damage,reason', [
    (lambda s, f: open(s.engine_path(MODEL, f), 'r+b').write(b'Z'), 'sha256'),
    (lambda s, f: open(s.engine_path(MODEL, f), 'ab').write(b'more'), 'bytes'),
    (lambda s, f: os.unlink(s.engine_path(MODEL, f)), 'missing'),
    (lambda s, f: os.unlink(s.manifest_path(MODEL, f)), 'manifest'),
    (lambda s, f: open(s.manifest_path(MODEL, f), 'w').write('{"trunc'), 'manifest'),
    (lambda s, f: _tamper_manifest(s, f, lambda m: m.update(fingerprint='cd' * 32)), 'fingerprint'),
    (lambda s, f: _tamper_manifest(s, f, lambda m: m['inputs'].update(model_sha256='cd' * 32)), 'inputs'),
])
def test_verify_names_what_is_wrong(store, damage, reason):
    fingerprint = build_engine(store, b'model-a')
    damage(store, fingerprint)
    status = store.verify(MODEL, fingerprint)
    assert not status.intact and status.code == 'engine_corrupt'
    assert reason in status.reason
    error = status.error()
    assert error.code == 'engine_corrupt' and fingerprint in error.msg and error.fix


def test_verify_missing_engine(store):
    status = store.verify(MODEL, 'ab' * 32)
    assert status.code == 'engine_missing'
    build_engine(store, b'model-a')
    assert store.verify(MODEL, 'ab' * 32).code == 'engine_missing'
    assert store.verify(MODEL, 'ab' * 32).error().code == 'engine_missing'


def test_update_manifest_merges_and_protects_build_facts(store):
    fingerprint = build_engine(store, b'model-a', smoke=None)
    store.update_manifest(MODEL, fingerprint, {'note': 'first'})
    manifest = store.record_smoke(MODEL, fingerprint, True, backend='onnxruntime', detections=3,
                                  latency_ms={'p50': 4, 'p95': 6})
    assert manifest['note'] == 'first'
    assert manifest['smoke']['passed'] is True and manifest['smoke']['at'].endswith('Z')
    assert store.read_manifest(MODEL, fingerprint)['smoke']['latency_ms'] == {'p50': 4, 'p95': 6}
    assert store.verify(MODEL, fingerprint).intact
    for key in ('fingerprint', 'engine', 'inputs'):
        with pytest.raises(TaoFleetError):
            store.update_manifest(MODEL, fingerprint, {key: 'x'})
    assert sorted(os.listdir(store.engine_dir(MODEL, fingerprint))) == ['manifest.json', 'model.engine']


# ---- activate and roll back -----------------------------------------------------------------

def test_first_activation(store):
    fingerprint = build_engine(store, b'model-a')
    result = store.activate(MODEL, fingerprint)
    assert result['changed'] is True
    assert result['before'] == {'active': None, 'previous': None, 'rolled_back_from': None}
    assert result['after'] == {'active': fingerprint, 'previous': None, 'rolled_back_from': None}
    assert link_target(store, 'active') == fingerprint
    assert active_engine_is_complete(store) == fingerprint


def test_activation_keeps_the_old_engine_as_previous_and_is_idempotent(store):
    first = build_engine(store, b'model-a')
    second = build_engine(store, b'model-b')
    store.activate(MODEL, first)
    result = store.activate(MODEL, second)
    assert result['changed'] and result['after'] == {'active': second, 'previous': first, 'rolled_back_from': None}
    again = store.activate(MODEL, second)
    assert again['changed'] is False and again['before'] == again['after']
    assert store.links(MODEL) == {'active': second, 'previous': first, 'rolled_back_from': None}


@pytest.mark.parametrize('smoke,reason', [(None, 'no smoke test'), (False, 'no person detected')])
def test_smoke_failure_leaves_the_previous_engine_active(store, smoke, reason):
    good = build_engine(store, b'model-a')
    store.activate(MODEL, good)
    bad = build_engine(store, b'model-b', smoke=smoke)
    with pytest.raises(TaoFleetError) as caught:
        store.activate(MODEL, bad)
    error = caught.value
    assert error.code == 'not_smoke_tested'
    assert bad in error.msg and reason in error.msg
    assert 'engine_smoke' in error.fix and 'force' in error.fix
    assert store.links(MODEL) == {'active': good, 'previous': None, 'rolled_back_from': None}
    assert active_engine_is_complete(store) == good


def test_force_activates_without_smoke_but_warns(store):
    good = build_engine(store, b'model-a')
    store.activate(MODEL, good)
    untested = build_engine(store, b'model-b', smoke=False)
    result = store.activate(MODEL, untested, force=True)
    assert result['changed'] and link_target(store, 'active') == untested
    assert any('force' in warning for warning in result['warnings'])


def test_corrupt_engine_is_refused_even_with_force(store):
    good = build_engine(store, b'model-a')
    store.activate(MODEL, good)
    broken = build_engine(store, b'model-b')
    with open(store.engine_path(MODEL, broken), 'r+b') as handle:
        handle.write(b'Z')
    with pytest.raises(TaoFleetError) as caught:
        store.activate(MODEL, broken, force=True)
    assert caught.value.code == 'engine_corrupt'
    assert link_target(store, 'active') == good


def test_activating_a_missing_engine(store):
    with pytest.raises(TaoFleetError) as caught:
        store.activate(MODEL, 'ab' * 32)
    assert caught.value.code == 'engine_missing'
    build_engine(store, b'model-a')
    with pytest.raises(TaoFleetError) as caught:
        store.activate(MODEL, 'ab' * 32)
    assert caught.value.code == 'engine_missing'


def test_check_mode_changes_nothing_and_predicts(store):
    first, second, third = [build_engine(store, ('model-%d' % index).encode()) for index in range(3)]
    store.activate(MODEL, first)
    store.activate(MODEL, second)
    listing = sorted(os.listdir(store.model_dir(MODEL)))
    result = store.activate(MODEL, third, check_mode=True)
    assert result['changed'] is True
    assert result['after'] == {'active': third, 'previous': second, 'rolled_back_from': None}
    rollback = store.rollback(MODEL, check_mode=True)
    assert rollback['changed'] is True
    assert rollback['after'] == {'active': first, 'previous': second, 'rolled_back_from': second}
    assert store.links(MODEL) == {'active': second, 'previous': first, 'rolled_back_from': None}
    assert sorted(os.listdir(store.model_dir(MODEL))) == listing


def test_check_mode_still_refuses_an_untested_engine(store):
    store.activate(MODEL, build_engine(store, b'model-a'))
    untested = build_engine(store, b'model-b', smoke=None)
    with pytest.raises(TaoFleetError) as caught:
        store.activate(MODEL, untested, check_mode=True)
    assert caught.value.code == 'not_smoke_tested'


def test_rollback_swaps_once_and_records_where_it_came_from(store):
    first = build_engine(store, b'model-a')
    second = build_engine(store, b'model-b')
    store.activate(MODEL, first)
    store.activate(MODEL, second)
    result = store.rollback(MODEL)
    assert result['changed'] is True
    assert result['after'] == {'active': first, 'previous': second, 'rolled_back_from': second}
    assert active_engine_is_complete(store) == first
    again = store.rollback(MODEL)
    assert again['changed'] is False and 'already rolled back' in again['message']
    assert store.rollback(MODEL, from_fingerprint=second)['changed'] is False
    assert store.links(MODEL)['active'] == first
    # Going forward again is an activation, and it forgets the rollback.
    forward = store.activate(MODEL, second)
    assert forward['after'] == {'active': second, 'previous': first, 'rolled_back_from': None}


def test_rollback_from_an_engine_that_is_not_active_does_nothing(store):
    first = build_engine(store, b'model-a')
    second = build_engine(store, b'model-b')
    store.activate(MODEL, first)
    store.activate(MODEL, second)
    result = store.rollback(MODEL, from_fingerprint=first)
    assert result['changed'] is False and 'not active' in result['message']
    assert store.links(MODEL)['active'] == second


def test_rollback_needs_a_previous_engine(store):
    first = build_engine(store, b'model-a')
    store.activate(MODEL, first)
    with pytest.raises(TaoFleetError) as caught:
        store.rollback(MODEL)
    assert caught.value.code == 'no_previous_engine'
    assert link_target(store, 'active') == first


def test_rollback_refuses_a_corrupt_previous_engine(store):
    first = build_engine(store, b'model-a')
    second = build_engine(store, b'model-b')
    store.activate(MODEL, first)
    store.activate(MODEL, second)
    os.unlink(store.engine_path(MODEL, first))
    with pytest.raises(TaoFleetError) as caught:
        store.rollback(MODEL)
    assert caught.value.code == 'engine_corrupt'
    assert store.links(MODEL) == {'active': second, 'previous': first, 'rolled_back_from': None}


def test_links_are_relative_symlinks_replaced_by_rename(store):
    first = build_engine(store, b'model-a')
    second = build_engine(store, b'model-b')
    store.activate(MODEL, first)
    store.activate(MODEL, second)
    names = os.listdir(store.model_dir(MODEL))
    assert not [name for name in names if name.startswith('.link-') or name.startswith('.write-')]
    assert os.readlink(os.path.join(store.model_dir(MODEL), 'active')) == second


# ---- links and paths that are not the store's own -------------------------------------------

def test_writes_never_follow_a_symlink_inside_the_store(store, tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    os.makedirs(os.path.join(store.root, 'engines'))
    os.symlink(str(outside), store.model_dir(MODEL))
    with pytest.raises(TaoFleetError) as caught:
        store.temp_dir(MODEL)
    assert caught.value.code == 'store_unwritable' and 'symlink' in caught.value.msg
    with pytest.raises(TaoFleetError):
        store.gc(MODEL, keep=0)
    with pytest.raises(TaoFleetError):
        store.activate(MODEL, 'ab' * 32)
    assert os.listdir(str(outside)) == []


def test_store_root_may_be_a_symlink(tmp_path):
    real = tmp_path / 'real'
    real.mkdir()
    os.symlink(str(real), str(tmp_path / 'link'))
    store = EngineStore(str(tmp_path / 'link'))
    fingerprint = build_engine(store, b'model-a')
    assert os.path.isdir(str(real / 'engines' / MODEL / fingerprint))


@pytest.mark.parametrize('target', ['/etc', '../other', 'ab' * 31])
def test_a_foreign_link_is_reported_not_followed(store, target):
    first = build_engine(store, b'model-a')
    os.symlink(target, os.path.join(store.model_dir(MODEL), 'previous'))
    with pytest.raises(TaoFleetError) as caught:
        store.activate(MODEL, first)
    assert caught.value.code == 'store_link_invalid'
    assert 'rm ' in caught.value.fix


def test_a_directory_named_active_is_reported(store):
    first = build_engine(store, b'model-a')
    os.mkdir(os.path.join(store.model_dir(MODEL), 'active'))
    with pytest.raises(TaoFleetError) as caught:
        store.activate(MODEL, first)
    assert caught.value.code == 'store_link_invalid'


def test_a_symlinked_fingerprint_dir_is_not_an_engine(store, tmp_path):
    first = build_engine(store, b'model-a')
    fake = 'ef' * 32
    os.symlink(store.engine_dir(MODEL, first), os.path.join(store.model_dir(MODEL), fake))
    assert store.verify(MODEL, fake).code == 'engine_corrupt'
    assert fake not in store.fingerprints(MODEL)


def test_lock_held_elsewhere_gives_store_busy(tmp_path):
    store = EngineStore(str(tmp_path / 'store'), lock_timeout=0.3)
    first = build_engine(store, b'model-a')
    holder = subprocess.Popen(
        [sys.executable, '-c', textwrap.dedent('''
            import fcntl, os, sys, time
            fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
            fcntl.flock(fd, fcntl.LOCK_EX)
            sys.stdout.write('LOCKED\\n'); sys.stdout.flush()
            time.sleep(60)
        '''), os.path.join(store.model_dir(MODEL), '.lock')],
        stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b'LOCKED\n'
        with pytest.raises(TaoFleetError) as caught:
            store.activate(MODEL, first)
        assert caught.value.code == 'store_busy'
    finally:
        holder.kill()
        holder.wait()
    assert store.activate(MODEL, first)['changed'] is True


# ---- gc -------------------------------------------------------------------------------------

def test_gc_keeps_the_newest_and_everything_linked(store):
    engines = [build_engine(store, ('model-%d' % index).encode(), created_at=stamp(index)) for index in range(6)]
    store.activate(MODEL, engines[0])
    store.activate(MODEL, engines[1])
    assert store.fingerprints(MODEL) == list(reversed(engines))
    preview = store.gc(MODEL, keep=2, check_mode=True)
    assert sorted(preview['removed']) == sorted(engines[2:4])
    assert len(store.fingerprints(MODEL)) == 6
    result = store.gc(MODEL, keep=2)
    assert sorted(result['removed']) == sorted(engines[2:4])
    assert sorted(store.fingerprints(MODEL)) == sorted([engines[0], engines[1], engines[4], engines[5]])
    assert store.gc(MODEL, keep=2) == {'removed': [], 'stale_removed': []}
    assert active_engine_is_complete(store) == engines[1]
    assert not [name for name in os.listdir(store.model_dir(MODEL)) if name.startswith('.trash-')]


def test_gc_keep_zero_keeps_only_linked_engines(store):
    engines = [build_engine(store, ('model-%d' % index).encode(), created_at=stamp(index)) for index in range(3)]
    store.activate(MODEL, engines[2])
    store.gc(MODEL, keep=0)
    assert store.fingerprints(MODEL) == [engines[2]]


def test_gc_protects_the_links_a_pending_release_would_leave(store):
    engines = [build_engine(store, ('model-%d' % index).encode(), created_at=stamp(index)) for index in range(3)]
    store.activate(MODEL, engines[1])
    store.activate(MODEL, engines[0])
    after = store.activate(MODEL, engines[2], check_mode=True)['after']
    assert store.gc(MODEL, keep=0, check_mode=True, links=after)['removed'] == [engines[1]]


def test_gc_removes_what_killed_builds_left(store, tmp_path):
    store.activate(MODEL, build_engine(store, b'model-a'))
    model_dir = store.model_dir(MODEL)
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    dead_dir = store.temp_dir(MODEL)
    with open(os.path.join(dead_dir, 'builder.pid')) as handle:
        builder = json.load(handle)
    with open(os.path.join(dead_dir, 'builder.pid'), 'w') as handle:
        json.dump(dict(builder, pid=dead.pid), handle)
    live_dir = store.temp_dir(MODEL)
    unknown_dir = store.temp_dir(MODEL)
    os.unlink(os.path.join(unknown_dir, 'builder.pid'))
    os.mkdir(os.path.join(model_dir, '.trash-left'))
    os.symlink('ab' * 32, os.path.join(model_dir, '.link-left'))

    result = store.gc(MODEL)
    assert sorted(result['stale_removed']) == sorted([os.path.basename(dead_dir), '.trash-left', '.link-left'])
    assert os.path.isdir(live_dir) and os.path.isdir(unknown_dir)
    later = store.gc(MODEL, now=os.stat(unknown_dir).st_mtime + _store.DEFAULT_TEMP_GRACE_SECONDS + 1)
    assert later['stale_removed'] == [os.path.basename(unknown_dir)]
    assert os.path.isdir(live_dir)


def test_builder_alive_sees_pid_reuse_and_other_hosts():
    info = _store._builder_info()
    assert _store.builder_alive(info) is True
    assert _store.builder_alive(dict(info, start='1')) is False
    assert _store.builder_alive(dict(info, host='elsewhere')) is None
    assert _store.builder_alive(None) is None


def test_gc_rejects_negative_keep(store):
    with pytest.raises(TaoFleetError):
        store.gc(MODEL, keep=-1)


# ---- full disk and read-only store on a real tmpfs -------------------------------------------

@pytest.fixture
def small_tmpfs(tmp_path):
    mount_point = tmp_path / 'small'
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip('mounting a tmpfs needs root')
    mounted = subprocess.call(['mount', '-t', 'tmpfs', '-o', 'size=256k,nr_inodes=256', 'tao-fleet-test',
                               str(mount_point)], stderr=subprocess.DEVNULL)
    if mounted != 0:
        pytest.skip('mount -t tmpfs is not permitted here')
    try:
        yield str(mount_point)
    finally:
        subprocess.call(['umount', '-l', str(mount_point)])


def fill_disk(mount_point):
    """Write zeros until the filesystem is full; return the file that holds them."""
    filler = os.path.join(mount_point, 'filler')
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b'\0' * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_full_disk_leaves_nothing_half_written(small_tmpfs):
    store = EngineStore(os.path.join(small_tmpfs, 'store'))
    first = build_engine(store, b'model-a')
    manifest_before = open(store.manifest_path(MODEL, first), 'rb').read()
    build_dir = store.temp_dir(MODEL)
    with pytest.raises(TaoFleetError) as caught:
        store.write_engine(build_dir, b'\0' * (512 * 1024))
    assert caught.value.code == 'disk_full'
    assert 'df -h' in caught.value.fix
    assert sorted(os.listdir(build_dir)) == ['builder.pid']

    # Fill what is left, then a manifest rewrite must fail whole.
    filler = fill_disk(small_tmpfs)
    with pytest.raises(TaoFleetError) as caught:
        store.record_smoke(MODEL, first, True, backend='test', notes='x' * 65536)
    assert caught.value.code == 'disk_full'
    assert open(store.manifest_path(MODEL, first), 'rb').read() == manifest_before
    assert sorted(os.listdir(store.engine_dir(MODEL, first))) == ['manifest.json', 'model.engine']
    os.unlink(filler)
    assert store.gc(MODEL)['stale_removed'] == []


def test_full_disk_at_build_start_leaves_no_build_dir(small_tmpfs):
    store = EngineStore(os.path.join(small_tmpfs, 'store'))
    build_engine(store, b'model-a')
    fill_disk(small_tmpfs)
    with pytest.raises(TaoFleetError) as caught:
        store.temp_dir(MODEL)
    assert caught.value.code == 'disk_full'
    assert [name for name in os.listdir(store.model_dir(MODEL)) if name.startswith('.tmp-')] == []
    # the fix names a directory that still exists, so its df command works as written
    named = caught.value.fix.split('df -h ', 1)[1].split(')', 1)[0]
    assert os.path.isdir(named), caught.value.fix


def test_read_only_store_is_store_unwritable(small_tmpfs):
    store = EngineStore(os.path.join(small_tmpfs, 'store'))
    first = build_engine(store, b'model-a')
    assert subprocess.call(['mount', '-o', 'remount,ro', small_tmpfs]) == 0
    with pytest.raises(TaoFleetError) as caught:
        store.activate(MODEL, first)
    assert caught.value.code == 'store_unwritable'
    assert 'become' in caught.value.fix
    assert store.verify(MODEL, first).intact


# ---- kill -9 with real processes ------------------------------------------------------------

CHILD = textwrap.dedent('''
    import os, sys, time
    from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore

    root, model, operation, pause_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    args = sys.argv[5:]
    calls = [0]

    def pausing(name, real):
        def call(*a, **k):
            calls[0] += 1
            if calls[0] == pause_at:
                sys.stdout.write('PAUSED %d %s\\n' % (calls[0], name))
                sys.stdout.flush()
                time.sleep(600)
            return real(*a, **k)
        return call

    # Count every step that changes the model directory: the kill lands just before step N.
    for name in ('rename', 'symlink', 'unlink'):
        setattr(os, name, pausing(name, getattr(os, name)))

    store = EngineStore(root)
    if operation == 'activate':
        store.activate(model, args[0])
    elif operation == 'rollback':
        store.rollback(model)
    elif operation == 'loop':
        sys.stdout.write('READY\\n')
        sys.stdout.flush()
        while True:
            for fingerprint in args:
                store.activate(model, fingerprint)
                store.rollback(model)
    elif operation == 'publish':
        import hashlib
        from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import engine_fingerprint
        sys.stdout.write('READY\\n')
        sys.stdout.flush()
        index = 0
        while True:
            index += 1
            payload = ('model-%d-%d' % (os.getpid(), index % 3)).encode()
            fingerprint, inputs = engine_fingerprint(hashlib.sha256(payload).hexdigest(), {'t': '1'}, {})
            build_dir = store.temp_dir(model)
            store.write_engine(build_dir, b'ENGINE:' + payload * 20000)
            store.write_manifest(build_dir, fingerprint, inputs)
            store.publish(model, build_dir)
            sys.stdout.write('PUBLISHED\\n')
            sys.stdout.flush()
            store.record_smoke(model, fingerprint, True, backend='test', run=index)
    sys.stdout.write('DONE %d\\n' % calls[0])
''')


def run_child(store, operation, pause_at, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path))
    return subprocess.Popen([sys.executable, '-c', CHILD, store.root, MODEL, operation, str(pause_at)] + list(args),
                            stdout=subprocess.PIPE, env=env)


def kill_at_every_step(store, operation, *args):
    """Run ``operation`` in a child, killing it with SIGKILL just before its 1st, 2nd, ... change
    of the model directory; yield after each kill, until a run completes."""
    pause_at = 1
    while True:
        child = run_child(store, operation, pause_at, *args)
        line = child.stdout.readline().decode()
        if line.startswith('PAUSED'):
            child.send_signal(signal.SIGKILL)
            child.wait()
            assert child.returncode == -signal.SIGKILL
            yield pause_at, line.strip()
            pause_at += 1
            continue
        child.wait()
        assert line.startswith('DONE') and child.returncode == 0, line
        return


def _state(store):
    return store.links(MODEL)


def test_kill_9_at_every_step_of_an_activation(store):
    engines = [build_engine(store, ('model-%d' % index).encode()) for index in range(3)]
    store.activate(MODEL, engines[0])
    store.activate(MODEL, engines[1])
    store.rollback(MODEL)
    start = _state(store)
    assert start == {'active': engines[0], 'previous': engines[1], 'rolled_back_from': engines[1]}
    expected = {'active': engines[2], 'previous': engines[0], 'rolled_back_from': None}
    kills = 0
    for _step, _where in kill_at_every_step(store, 'activate', engines[2]):
        kills += 1
        assert active_engine_is_complete(store) in (engines[0], engines[2])
        # A rerun finishes the release from whatever the kill left.
        assert store.activate(MODEL, engines[2])['after'] == expected
        assert active_engine_is_complete(store) == engines[2]
        _restore(store, start)
    assert kills >= 5  # remove rolled_back_from, 2 x (symlink + rename)
    assert _state(store) == expected


def test_kill_9_at_every_step_of_a_rollback(store):
    engines = [build_engine(store, ('model-%d' % index).encode()) for index in range(2)]
    store.activate(MODEL, engines[0])
    store.activate(MODEL, engines[1])
    start = _state(store)
    expected = {'active': engines[0], 'previous': engines[1], 'rolled_back_from': engines[1]}
    kills = 0
    for _step, _where in kill_at_every_step(store, 'rollback'):
        kills += 1
        assert active_engine_is_complete(store) in engines
        assert store.rollback(MODEL)['after'] == expected
        _restore(store, start)
    assert kills >= 6  # 3 x (symlink + rename)
    assert _state(store) == expected


def _restore(store, links):
    model_dir = store.model_dir(MODEL)
    for name, target in links.items():
        path = os.path.join(model_dir, name)
        if os.path.lexists(path):
            os.unlink(path)
        if target:
            os.symlink(target, path)
    store.gc(MODEL, keep=10)


def _kill_at_random(store, operation, args, rounds, check, progress=None):
    """Kill a looping child after a random stretch; with ``progress``, every other round first
    waits for that line, so some kills surely land after real work, however slow the machine."""
    chooser = random.Random(20261123)
    for round_number in range(rounds):
        child = run_child(store, operation, 0, *args)
        assert child.stdout.readline() == b'READY\n'
        if progress and round_number % 2:
            assert child.stdout.readline() == progress
        # Let it run for a random stretch: the kill lands anywhere in the loop.
        time.sleep(chooser.uniform(0.0, 0.08))
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        check()


def test_kill_9_at_random_points_of_a_release_loop(store):
    engines = [build_engine(store, ('model-%d' % index).encode()) for index in range(3)]
    store.activate(MODEL, engines[0])
    store.activate(MODEL, engines[1])

    def check():
        assert active_engine_is_complete(store) in engines
        previous = store.links(MODEL)['previous']
        assert previous is None or store.verify(MODEL, previous).intact

    _kill_at_random(store, 'loop', engines, 25, check)
    store.gc(MODEL, keep=0)
    assert not [n for n in os.listdir(store.model_dir(MODEL)) if n.startswith('.link-')]


def test_kill_9_at_random_points_of_builds(store):
    def check():
        for fingerprint in store.fingerprints(MODEL):
            assert store.verify(MODEL, fingerprint).intact, fingerprint

    _kill_at_random(store, 'publish', [], 25, check, progress=b'PUBLISHED\n')
    assert store.fingerprints(MODEL)
    store.gc(MODEL, keep=10)
    leftovers = [n for n in os.listdir(store.model_dir(MODEL)) if n.startswith('.') and n != '.lock']
    assert leftovers == []
    for fingerprint in store.fingerprints(MODEL):
        for name in os.listdir(store.engine_dir(MODEL, fingerprint)):
            assert name in ('manifest.json', 'model.engine')
