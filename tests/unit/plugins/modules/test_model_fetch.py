# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""model_fetch through AnsibleModule: argument rules, check mode, results, failures and no_log, against
the real model mirror (tests/fleet/mirror.py) on 127.0.0.1."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile

import pytest

from ansible.module_utils.common.warnings import get_warning_messages

from ansible_collections.tao.fleet.plugins.modules import model_fetch
from ansible_collections.tao.fleet.tests.unit.plugins.modules.module_harness import AnsibleExitJson, AnsibleFailJson, module_args

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
MIRROR_SCRIPT = os.path.join(REPO, 'tests', 'fleet', 'mirror.py')
FILE_PATH = '/v2/models/nvidia/tao/standin/versions/v1/files/standin.onnx'
MODEL = b''.join(hashlib.sha256(b'%d' % i).digest() for i in range(4096))
SHA256 = hashlib.sha256(MODEL).hexdigest()
API_KEY = 'nvapi-MODULE-TEST-KEY-0123456789abcdef'


@pytest.fixture(scope='module')
def mirror():
    spec = importlib.util.spec_from_file_location('tao_fleet_test_mirror', MIRROR_SCRIPT)
    mirror_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mirror_module)
    root = tempfile.mkdtemp(prefix='tao-mirror-module-')
    try:
        path = os.path.join(root, FILE_PATH.lstrip('/'))
        os.makedirs(os.path.dirname(path))
        with open(path, 'wb') as handle:
            handle.write(MODEL)
        with mirror_module.MirrorProcess(root, os.path.join(root, 'requests.jsonl')) as process:
            yield process
    finally:
        shutil.rmtree(root)


@pytest.fixture
def client(mirror):
    mirror.client.reset()
    return mirror.client


@pytest.fixture
def store(tmp_path):
    return str(tmp_path / 'store')


def run(**args):
    with module_args(args):
        try:
            model_fetch.main()
        except AnsibleExitJson as done:
            return done.args[0]
        except AnsibleFailJson as failed:
            return failed.args[0]
    raise AssertionError('the module returned without exit_json or fail_json')


def ngc_args(mirror, store, **extra):
    args = dict(ngc='nvidia/tao/standin:v1', file='standin.onnx', ngc_base_url=mirror.url, sha256=SHA256,
                store=store, retries=0)
    args.update(extra)
    return args


@pytest.mark.parametrize('args,text', [
    (dict(), 'one of the following is required: urls, ngc'),
    (dict(urls=['http://127.0.0.1:9/a'], ngc='a/b:c', file='f'), 'mutually exclusive'),
    (dict(ngc='a/b:c'), 'parameters are required together: ngc, file'),
    (dict(urls=['http://127.0.0.1:9/a'], checksum_url='http://127.0.0.1:9/S', sha256='a' * 64),
     'mutually exclusive'),
    (dict(urls=['http://127.0.0.1:9/a'], mirror_url='http://127.0.0.1:9'), 'mutually exclusive'),
    (dict(urls=['http://127.0.0.1:9/a'], range_ignored='maybe'), 'range_ignored must be one of'),
])
def test_argument_rules(store, args, text):
    args.setdefault('store', store)
    result = run(**args)
    assert result['failed'] is True and text in result['msg']


def test_bad_ngc_reference_fails_with_code_cause_and_fix(store):
    result = run(ngc='peoplenet', file='x.onnx', store=store)
    assert result['failed'] is True and result['error_code'] == 'invalid_argument'
    assert result['cause'] and 'org/team/name:version' in result['msg'] and 'nvidia/tao/' in result['fix']


def test_check_mode_predicts_download_and_writes_nothing(mirror, client, store):
    before = len(client.log())
    result = run(_ansible_check_mode=True, **ngc_args(mirror, store))
    assert result['changed'] is True and result['cache_hit'] is False
    assert result['path'] == os.path.join(store, 'models', SHA256) and 'would download' in result['msg']
    assert not os.path.exists(store) and client.log(before) == []


def test_download_then_second_run_unchanged_then_check_mode_unchanged(mirror, client, store):
    first = run(**ngc_args(mirror, store, name='standin'))
    assert first['changed'] is True and first['size'] == len(MODEL) and first['bytes_transferred'] == len(MODEL)
    with open(first['link'], 'rb') as handle:
        assert handle.read() == MODEL
    second = run(**ngc_args(mirror, store, name='standin'))
    assert second['changed'] is False and second['bytes_transferred'] == 0 and second['cache_hit'] is True
    checked = run(_ansible_check_mode=True, **ngc_args(mirror, store, name='standin'))
    assert checked['changed'] is False


def test_warning_reaches_ansible_when_range_is_ignored(mirror, client, store):
    client.set_fault(FILE_PATH, cut_at=0.5, times=1)
    assert run(**ngc_args(mirror, store))['error_code'] == 'transfer_interrupted'
    client.set_fault(FILE_PATH, ignore_range=True)
    result = run(**ngc_args(mirror, store))
    assert result['changed'] is True and result['resumed_from'] == 0
    assert any('ignored the Range request' in w for w in get_warning_messages())


def test_failure_carries_error_code_cause_fix_and_sources(mirror, client, store):
    client.set_fault(FILE_PATH, status=404)
    result = run(**ngc_args(mirror, store))
    assert result['failed'] is True and result['error_code'] == 'http_404'
    assert result['cause'] and result['fix']
    assert result['error_details']['sources'][0]['code'] == 'http_404'


def test_api_key_is_no_log_and_absent_from_result(mirror, client, store):
    client.set_api_key(API_KEY)
    client.set_fault('/v2/models/org/nvidia/team/tao/standin/v1/files', require_auth=True)
    before = len(client.log())
    result = run(**ngc_args(mirror, store, api_key=API_KEY))
    assert result['changed'] is True and API_KEY not in json.dumps(result)
    assert model_fetch.ARGUMENT_SPEC['api_key']['no_log'] is True
    # Ordered by arrival: the mirror logs an answer when it ends, so a redirect may be logged after its follow-up.
    requests = sorted(client.log(before), key=lambda e: e['ts'])
    assert [(e['auth'], e['status']) for e in requests] == [(True, 302), (True, 200)]
