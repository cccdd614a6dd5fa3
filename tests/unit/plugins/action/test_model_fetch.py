# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The run memo of the controller half of model_fetch and engine_deploy (plugins/plugin_utils/controller_cache.py): later hosts of one
run reuse the controller's answer only while its cached file is the one it verified. The whole flow (one
origin download, copies to the hosts) runs in tests/integration/test_scale.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

from ansible_collections.tao.fleet.plugins.plugin_utils.controller_cache import read_run_memo, run_memo_path, write_run_memo

DOWNLOAD = {'ngc': 'nvidia/tao/peoplenet:v1', 'file': 'model.etlt', 'checksum_url': 'http://mirror/SHA256SUMS',
            'api_key': 'nvapi-SECRET-never-written', 'timeout': 30}
MODEL = b'model bytes ' * 1000


def cached_model(tmp_path, data=MODEL):
    sha256 = hashlib.sha256(data).hexdigest()
    path = tmp_path / 'cache' / 'models' / sha256
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {'path': str(path), 'sha256': sha256, 'size': len(data), 'source': 'http://mirror/model.etlt',
            'bytes_transferred': len(data), 'cache_hit': False, 'run_memo': False}


def memo_for(tmp_path):
    return run_memo_path(str(tmp_path / 'run'), str(tmp_path / 'cache'), DOWNLOAD)


def test_a_later_host_of_the_run_gets_the_verified_answer(tmp_path):
    controller = cached_model(tmp_path)
    write_run_memo(memo_for(tmp_path), controller)
    assert read_run_memo(memo_for(tmp_path)) == controller


def test_no_memo_before_the_first_host(tmp_path):
    assert read_run_memo(memo_for(tmp_path)) is None


def test_a_cached_file_replaced_after_the_memo_is_fetched_again(tmp_path):
    controller = cached_model(tmp_path)
    write_run_memo(memo_for(tmp_path), controller)
    os.unlink(controller['path'])
    cached_model(tmp_path, MODEL[:-1] + b'X')
    assert read_run_memo(memo_for(tmp_path)) is None


def test_a_removed_cached_file_is_fetched_again(tmp_path):
    controller = cached_model(tmp_path)
    write_run_memo(memo_for(tmp_path), controller)
    os.unlink(controller['path'])
    assert read_run_memo(memo_for(tmp_path)) is None


def test_a_torn_memo_is_no_answer(tmp_path):
    write_run_memo(memo_for(tmp_path), cached_model(tmp_path))
    with open(memo_for(tmp_path), 'r+') as handle:
        handle.truncate(10)
    assert read_run_memo(memo_for(tmp_path)) is None


def test_the_key_is_every_source_option_but_the_api_key_which_is_never_written(tmp_path):
    run, cache = str(tmp_path / 'run'), str(tmp_path / 'cache')
    other_key = dict(DOWNLOAD, api_key='nvapi-OTHER')
    assert run_memo_path(run, cache, other_key) == run_memo_path(run, cache, DOWNLOAD)
    assert run_memo_path(run, cache, dict(DOWNLOAD, file='other.etlt')) != run_memo_path(run, cache, DOWNLOAD)
    assert run_memo_path(run, str(tmp_path / 'cache2'), DOWNLOAD) != run_memo_path(run, cache, DOWNLOAD)
    write_run_memo(memo_for(tmp_path), cached_model(tmp_path))
    for directory, _dirs, files in os.walk(run):
        for name in files:
            with open(os.path.join(directory, name)) as handle:
                assert 'SECRET' not in name + handle.read()


def test_an_unwritable_run_dir_only_costs_the_memo(tmp_path):
    blocker = tmp_path / 'run'
    blocker.write_text('a file where the run dir should be')
    write_run_memo(memo_for(tmp_path), cached_model(tmp_path))
    assert read_run_memo(memo_for(tmp_path)) is None
