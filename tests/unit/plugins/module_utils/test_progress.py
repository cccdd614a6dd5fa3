# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The progress file of a running deployment, on real files and real processes (the build child is forked)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.tao.fleet.plugins.module_utils import _build, _progress
from ansible_collections.tao.fleet.plugins.module_utils._progress import Progress, read_progress
from ansible_collections.tao.fleet.plugins.module_utils._store_contents import store_contents


@pytest.fixture
def store(tmp_path):
    path = tmp_path / 'store'
    path.mkdir()
    return str(path)


def test_each_stage_is_written_and_read_back_as_running(store):
    progress = Progress(store, 'peoplenet')
    progress.stage('fetch')
    assert read_progress(store)['peoplenet']['stage'] == 'fetch'
    progress.stage('engine')
    seen = read_progress(store, now=time.time() + 65)['peoplenet']
    assert (seen['stage'], seen['running']) == ('engine', True)
    assert 64 <= seen['seconds'] <= 67 and 64 <= seen['stage_seconds'] <= 67
    assert store_contents(store)['progress']['peoplenet']['stage'] == 'engine'


def test_finish_removes_the_file(store):
    progress = Progress(store, 'peoplenet')
    progress.stage('engine')
    progress.finish()
    assert read_progress(store) == {}
    progress.finish()       # twice is harmless


def test_updates_are_throttled_and_a_new_stage_clears_them(store):
    progress = Progress(store, 'peoplenet')
    progress.stage('engine')
    progress.written = 0.0
    progress.update(build_seconds=3)
    progress.update(build_seconds=4)          # within the interval: kept in memory, not written
    assert read_progress(store)['peoplenet']['details'] == {'build_seconds': 3}
    progress.stage('smoke')
    assert read_progress(store)['peoplenet']['details'] == {}


def test_a_file_whose_writer_is_gone_is_not_running(store):
    child = subprocess.Popen([sys.executable, '-c', 'pass'])
    child.wait()
    progress = Progress(store, 'peoplenet')
    progress.state['pid'] = child.pid
    progress.stage('engine')
    assert read_progress(store)['peoplenet']['running'] is False


def test_a_reused_pid_is_told_apart_by_its_start_time(store):
    progress = Progress(store, 'peoplenet')
    progress.state['start'] = str(int(progress.state['start']) + 1)
    progress.stage('engine')
    assert read_progress(store)['peoplenet']['running'] is False


def test_no_store_or_a_bad_name_writes_nothing(store, tmp_path):
    for progress in (Progress(None, 'peoplenet'), Progress(store, '../escape')):
        progress.stage('engine')
        progress.update(build_seconds=1)
        progress.finish()
    assert not os.path.exists(os.path.join(store, 'progress'))
    assert not (tmp_path / 'escape.json').exists()


def test_a_store_that_cannot_be_written_never_fails_the_deployment(tmp_path):
    blocked = tmp_path / 'store'
    blocked.mkdir()
    (blocked / 'progress').write_text('a file where the directory goes')
    progress = Progress(str(blocked), 'peoplenet')
    progress.stage('engine')                  # no exception
    progress.update(build_seconds=1)
    assert progress.path is None


def test_a_planted_symlink_is_neither_written_through_nor_read(store, tmp_path):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    (elsewhere / 'peoplenet.json').write_text(json.dumps({'schema': 1, 'stage': 'planted'}))
    os.symlink(str(elsewhere), os.path.join(store, 'progress'))
    progress = Progress(store, 'peoplenet')
    progress.stage('engine')
    assert read_progress(store) == {}
    assert json.loads((elsewhere / 'peoplenet.json').read_text())['stage'] == 'planted'


def test_garbage_in_the_progress_dir_is_skipped(store):
    directory = os.path.join(store, 'progress')
    os.makedirs(directory)
    for name, text in (('a.json', 'not json'), ('b.json', '[1, 2]'), ('c.json', '{"schema": 99}')):
        with open(os.path.join(directory, name), 'w') as handle:
            handle.write(text)
    assert read_progress(store) == {}


def test_a_running_build_reports_its_seconds_memory_and_tensorrts_last_line(store, tmp_path, monkeypatch):
    monkeypatch.setattr(_progress, 'MIN_INTERVAL_SECONDS', 0.5)
    build_dir = tmp_path / 'build'
    build_dir.mkdir()
    progress = Progress(store, 'peoplenet')
    progress.stage('engine')
    seen = []

    def target():
        for step in range(1, 4):
            sys.stderr.write('[TRT] building step %d of 3\n' % step)
            sys.stderr.flush()
            time.sleep(0.8)
        return {'done': True}

    real_collect = _build._collect

    def watching_collect(read_fd, pid, deadline, tick=None):
        def spy(child):
            tick(child)
            seen.append(read_progress(store)['peoplenet']['details'])
        return real_collect(read_fd, pid, deadline, spy)

    monkeypatch.setattr(_build, '_collect', watching_collect)
    _progress.set_current(progress)
    try:
        assert _build.run_in_child(target, str(build_dir), 30) == {'done': True}
    finally:
        _progress.set_current(None)
    last = read_progress(store)['peoplenet']['details']
    assert last['build_seconds'] >= 1 and last['build_pid'] > 0
    assert last['tensorrt_said'].startswith('[TRT] building step ')
    assert any(entry.get('build_memory_mb') for entry in seen)


def test_without_a_deployment_a_build_writes_no_progress(store, tmp_path):
    build_dir = tmp_path / 'build'
    build_dir.mkdir()
    assert _progress.current() is None
    assert _build.run_in_child(lambda: {'done': True}, str(build_dir), 30) == {'done': True}
    assert read_progress(store) == {}
