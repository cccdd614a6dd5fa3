# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The controller half of the engine share (plugins/action/trt_engine.py): the check before an entry is
published, and the per-fingerprint lock that makes hosts of one class wait for one build. The whole flow
(copy to hosts, build, publish, a corrupt entry rebuilt) runs in tests/integration/test_scale.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import multiprocessing
import os

from ansible_collections.tao.fleet.plugins.action.trt_engine import ShareLock, entry_problem

FINGERPRINT = 'ab' * 32
ENGINE = b'engine bytes ' * 1000


def write_entry(directory, engine=ENGINE, fingerprint=FINGERPRINT):
    os.makedirs(directory)
    with open(os.path.join(directory, 'model.engine'), 'wb') as handle:
        handle.write(engine)
    manifest = {'fingerprint': fingerprint, 'engine': {'file': 'model.engine', 'size': len(ENGINE),
                                                       'sha256': hashlib.sha256(ENGINE).hexdigest()}}
    with open(os.path.join(directory, 'manifest.json'), 'w') as handle:
        json.dump(manifest, handle)
    return directory


def test_a_whole_entry_passes(tmp_path):
    assert entry_problem(write_entry(str(tmp_path / 'entry')), FINGERPRINT) is None


def test_an_engine_that_is_not_the_manifests_is_refused(tmp_path):
    entry = write_entry(str(tmp_path / 'entry'), engine=ENGINE[:-1] + b'X')
    assert 'does not match the sha256' in entry_problem(entry, FINGERPRINT)


def test_an_entry_of_another_fingerprint_is_refused(tmp_path):
    entry = write_entry(str(tmp_path / 'entry'), fingerprint='cd' * 32)
    assert 'another fingerprint' in entry_problem(entry, FINGERPRINT)


def test_a_half_written_entry_is_refused(tmp_path):
    entry = write_entry(str(tmp_path / 'entry'))
    os.unlink(os.path.join(entry, 'model.engine'))
    assert entry_problem(entry, FINGERPRINT).startswith('unreadable')


def _take_lock_and_read(share, marker, out):
    with ShareLock(share, FINGERPRINT):
        with open(marker) as handle:
            out.put(handle.read())


def test_a_second_process_waits_for_the_first_to_release_the_fingerprint(tmp_path):
    share, marker = str(tmp_path / 'share'), str(tmp_path / 'marker')
    with open(marker, 'w') as handle:
        handle.write('building')
    out = multiprocessing.Queue()
    with ShareLock(share, FINGERPRINT):
        waiter = multiprocessing.Process(target=_take_lock_and_read, args=(share, marker, out))
        waiter.start()
        waiter.join(1)
        assert waiter.is_alive()         # still waiting: the lock is held
        with open(marker, 'w') as handle:
            handle.write('published')
    waiter.join(30)
    assert out.get(timeout=5) == 'published'
    assert os.listdir(os.path.join(share, '.locks')) == [FINGERPRINT + '.lock']
