# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""_download.py's ``src`` mode: a file that reached the host by other means (the controller's model
cache) is verified by sha256 on arrival and published atomically, or refused. No network, no ansible-core."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import subprocess
import sys

import pytest

from ansible_collections.tao.fleet.plugins.module_utils._download import FetchSpec, fetch_model
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError

PAYLOAD = os.urandom(300 * 1024 + 7)
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def arrived(tmp_path):
    path = tmp_path / 'arrived.etlt'
    path.write_bytes(PAYLOAD)
    return str(path)


@pytest.fixture
def store(tmp_path):
    return str(tmp_path / 'store')


def test_arrived_file_is_verified_and_published_at_its_content_address(arrived, store):
    result, warnings = fetch_model(FetchSpec(store, src=arrived, sha256=SHA256, name='standin'))
    final = os.path.join(store, 'models', SHA256)
    assert result['path'] == final and result['changed'] is True and result['cache_hit'] is False
    assert result['bytes_transferred'] == len(PAYLOAD) and result['source'] == arrived
    with open(final, 'rb') as handle:
        assert handle.read() == PAYLOAD
    assert os.readlink(os.path.join(store, 'models', 'by-name', 'standin')) == os.path.join('..', SHA256)
    assert os.listdir(os.path.join(store, 'models', '.partial')) == [SHA256 + '.lock']
    assert warnings == []


def test_second_run_does_not_read_src_at_all(arrived, store):
    fetch_model(FetchSpec(store, src=arrived, sha256=SHA256))
    os.unlink(arrived)
    result, _warnings = fetch_model(FetchSpec(store, src=arrived, sha256=SHA256))
    assert (result['changed'], result['cache_hit'], result['bytes_transferred']) == (False, True, 0)


def test_damaged_arrival_is_refused_and_nothing_is_published(arrived, store):
    damaged = bytearray(PAYLOAD)
    damaged[1000] ^= 0xFF
    with open(arrived, 'wb') as handle:
        handle.write(bytes(damaged))
    with pytest.raises(TaoFleetError) as caught:
        fetch_model(FetchSpec(store, src=arrived, sha256=SHA256))
    assert caught.value.code == 'checksum_mismatch' and SHA256 in str(caught.value)
    models = os.path.join(store, 'models')
    assert not os.path.exists(os.path.join(models, SHA256))
    assert [name for name in os.listdir(os.path.join(models, '.partial')) if not name.endswith('.lock')] == []


def test_missing_src_with_an_empty_store_names_the_code_the_action_plugin_waits_for(tmp_path, store):
    with pytest.raises(TaoFleetError) as caught:
        fetch_model(FetchSpec(store, src=str(tmp_path / 'not-copied-yet'), sha256=SHA256))
    assert caught.value.code == 'src_missing' and 'not-copied-yet' in str(caught.value)


def test_check_mode_says_it_would_copy_and_writes_nothing(arrived, store):
    result, _warnings = fetch_model(FetchSpec(store, src=arrived, sha256=SHA256), check_mode=True)
    assert result['changed'] is True and 'would copy' in result['msg'] and arrived in result['msg']
    assert not os.path.exists(os.path.join(store, 'models', SHA256))


@pytest.mark.parametrize('extra', [{}, {'urls': ['http://127.0.0.1:9/x']}, {'ngc': 'nvidia/tao/x:v1', 'file': 'x'},
                                   {'md5': 'd41d8cd98f00b204e9800998ecf8427e'}])
def test_src_needs_sha256_and_no_other_source(arrived, store, extra):
    arguments = dict(src=arrived, **extra)
    if extra:
        arguments['sha256'] = SHA256
    with pytest.raises(TaoFleetError) as caught:
        FetchSpec(store, **arguments)
    assert caught.value.code == 'invalid_argument'


def test_a_copy_and_a_cache_hit_load_no_network_code(arrived, store):
    # the host's half of every controller_cache run: ssl, urllib.request and http.client cost it tens of ms
    script = (
        "import sys\n"
        "from ansible_collections.tao.fleet.plugins.module_utils._download import FetchSpec, fetch_model\n"
        "for _ in range(2):\n"
        "    fetch_model(FetchSpec(%r, src=%r, sha256=%r))\n"
        "print(' '.join(sorted(m for m in ('ssl', 'urllib.request', 'http.client', "
        "'ansible_collections.tao.fleet.plugins.module_utils._http') if m in sys.modules)))\n"
    ) % (store, arrived, SHA256)
    loaded = subprocess.check_output([sys.executable, '-c', script], env=dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in sys.path if p))).decode().strip()
    assert loaded == '' and os.path.isfile(os.path.join(store, 'models', SHA256))
