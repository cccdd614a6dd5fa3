# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""_download.py against the real model mirror (tests/fleet/mirror.py) on 127.0.0.1, over real HTTP and
HTTPS, with real tmpfs mounts for a full disk and a read-only store. No ansible-core needed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import importlib.util
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from ansible_collections.tao.fleet.plugins.module_utils import _download
from ansible_collections.tao.fleet.plugins.module_utils._download import FetchSpec, fetch_model
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
MIRROR_SCRIPT = os.path.join(REPO, 'tests', 'fleet', 'mirror.py')

NGC_REF = 'nvidia/tao/standin:v1'
FILE_NAME = 'standin.etlt'
LEGACY_PATH = '/v2/models/nvidia/tao/standin/versions/v1/files/%s' % FILE_NAME
API_PATH = '/v2/models/org/nvidia/team/tao/standin/v1/files'
NEW_LEGACY_PATH = '/v2/models/nvidia/tao/standin/versions/v2/files/%s' % FILE_NAME
MODEL_SIZE = 600 * 1024 + 123
PERSONAL_KEY = 'nvapi-TESTKEY-0123456789abcdef0123456789abcdef'
LEGACY_KEY = 'bGVnYWN5LWtleS1mb3ItdGVzdHMtb25seQ-LEGACYKEY'


def _load_mirror_module():
    spec = importlib.util.spec_from_file_location('tao_fleet_test_mirror', MIRROR_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mirror_module = _load_mirror_module()


def _payload(seed, size=MODEL_SIZE):
    """Deterministic bytes that differ per seed (a stand-in model file)."""
    blocks = [hashlib.sha256(('%s-%d' % (seed, i)).encode()).digest() for i in range(size // 32 + 1)]
    return b''.join(blocks)[:size]


def _write(root, rel_path, data):
    path = os.path.join(root, rel_path.lstrip('/'))
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path))
    with open(path, 'wb') as handle:
        handle.write(data)
    return path


def _sha(data):
    return hashlib.sha256(data).hexdigest()


class Site(object):
    """The mirror plus what it serves, reset for every test."""

    def __init__(self, process, root):
        self.process = process
        self.root = root
        self.url = process.url
        self.client = process.client
        self.model = _payload('v1')
        self.model_v2 = _payload('v2', MODEL_SIZE + 1000)
        _write(root, LEGACY_PATH, self.model)
        _write(root, NEW_LEGACY_PATH, self.model_v2)
        sums = '%s  %s\n%s  %s\n' % (_sha(self.model), LEGACY_PATH.lstrip('/'),
                                     _sha(self.model_v2), NEW_LEGACY_PATH.lstrip('/'))
        _write(root, 'SHA256SUMS', sums.encode())
        _write(root, 'MD5SUMS', ('%s  %s\n' % (hashlib.md5(self.model).hexdigest(),
                                               LEGACY_PATH.lstrip('/'))).encode())
        # Entries are logged when an answer ends, so they are ordered by the time each request came in
        # (a redirect may be logged after the request it led to; a stalled answer of an earlier test
        # may land during this one).
        self.started = time.time()

    def log(self):
        return sorted((e for e in self.client.log() if e['ts'] >= self.started), key=lambda e: e['ts'])

    def file_log(self, path=LEGACY_PATH):
        return [e for e in self.log() if e['path'] == path]


@pytest.fixture(scope='module')
def mirror_process():
    root = tempfile.mkdtemp(prefix='tao-mirror-')
    try:
        with mirror_module.MirrorProcess(root, os.path.join(root, 'requests.jsonl')) as process:
            yield process, root
    finally:
        shutil.rmtree(root)


@pytest.fixture
def site(mirror_process):
    process, root = mirror_process
    process.client.reset()
    return Site(process, root)


@pytest.fixture
def store(tmp_path):
    return str(tmp_path / 'store')


class Sleeps(list):
    """Stands in for time.sleep so retry waits are recorded, not spent."""

    def __call__(self, seconds):
        self.append(seconds)


def ngc_spec(site, store, **overrides):
    options = dict(store=store, ngc=NGC_REF, file=FILE_NAME, ngc_base_url=site.url,
                   sha256=_sha(site.model), retries=0)
    options.update(overrides)
    return FetchSpec(**options)


class Run(object):
    """One fetch: its result, its warnings, and the retry waits it asked for."""

    def __init__(self, spec, check_mode=False):
        self.sleeps = Sleeps()
        self.result, self.warnings = fetch_model(spec, check_mode=check_mode, sleep=self.sleeps)


run = Run


def fails(spec):
    with pytest.raises(TaoFleetError) as info:
        fetch_model(spec, sleep=Sleeps())
    return info.value


def partial_files(store):
    partial_dir = os.path.join(store, 'models', '.partial')
    if not os.path.isdir(partial_dir):
        return []
    return sorted(n for n in os.listdir(partial_dir) if not n.endswith('.lock'))


def model_files(store):
    models = os.path.join(store, 'models')
    if not os.path.isdir(models):
        return []
    return sorted(n for n in os.listdir(models) if not n.startswith('.') and n != 'by-name')


def read(path):
    with open(path, 'rb') as handle:
        return handle.read()


# -- the test mirror's own log ----------------------------------------------------------------------

def test_mirror_log_waits_for_an_answer_still_being_recorded():
    """A client can read an answer's last byte before the mirror's thread records it; tests that read the
    log right after a fetch must still see that request (it once made a test fail on a loaded CI machine)."""
    import threading
    state = mirror_module.MirrorState(tempfile.gettempdir(), None, None)
    late = {'ts': time.time(), 'path': '/late', 'fault': None}
    state.begin(late)
    threading.Timer(0.3, state.record, (late,)).start()
    assert [e['path'] for e in state.settled_entries(time.time(), wait=30)] == ['/late']


# -- plain download, cache, NGC URL shape ----------------------------------------------------------

def test_download_through_ngc_redirect_lands_verified_at_content_address(site, store):
    done = run(ngc_spec(site, store))
    result, warnings = done.result, done.warnings
    assert result['changed'] and not result['cache_hit']
    assert result['path'] == os.path.join(store, 'models', _sha(site.model))
    assert read(result['path']) == site.model
    assert result['size'] == len(site.model)
    assert result['bytes_transferred'] == len(site.model)
    assert result['resumed_from'] == 0
    assert result['source'] == site.url + API_PATH + '?redirect=true&path=' + FILE_NAME
    assert partial_files(store) == [] and warnings == []
    api, files = [e for e in site.log() if e['path'] == API_PATH], site.file_log()
    assert [e['status'] for e in api] == [302] and [e['status'] for e in files] == [200]
    assert files[0]['bytes_sent'] == len(site.model)


def test_second_run_moves_no_bytes_and_touches_no_network(site, store):
    run(ngc_spec(site, store))
    mark = len(site.log())
    result = run(ngc_spec(site, store)).result
    assert not result['changed'] and result['cache_hit']
    assert result['bytes_transferred'] == 0 and result['attempts'] == []
    assert site.log()[mark:] == []


def test_corrupted_cached_file_is_downloaded_again(site, store):
    path = run(ngc_spec(site, store)).result['path']
    with open(path, 'r+b') as handle:
        handle.write(b'\0' * 16)
    done = run(ngc_spec(site, store))
    result, warnings = done.result, done.warnings
    assert result['changed'] and read(path) == site.model
    assert any('does not match its checksum' in w for w in warnings)


def test_legacy_url_list_with_mirror_failing_first(site, store):
    broken = site.url + '/missing/' + FILE_NAME
    spec = FetchSpec(store=store, urls=[broken, site.url + LEGACY_PATH], sha256=_sha(site.model), retries=0)
    result = run(spec).result
    assert result['source'] == site.url + LEGACY_PATH
    assert [a['status'] for a in result['attempts']] == [None, 200]
    assert result['attempts'][0]['error'] == 'http_404'


def test_name_link_points_at_file_and_moves_atomically(site, store):
    first = run(ngc_spec(site, store, name='standin')).result
    link = os.path.join(store, 'models', 'by-name', 'standin')
    assert first['link'] == link and os.readlink(link) == os.path.join('..', _sha(site.model))
    again = run(ngc_spec(site, store, name='standin')).result
    assert not again['changed']
    moved = run(FetchSpec(store=store, ngc='nvidia/tao/standin:v2', file=FILE_NAME, ngc_base_url=site.url,
                          sha256=_sha(site.model_v2), name='standin', retries=0)).result
    assert moved['changed'] and read(link) == site.model_v2
    assert os.path.isfile(first['path'])


# -- resume -----------------------------------------------------------------------------------------

def test_cut_at_60_percent_resumes_within_the_run(site, store):
    site.client.set_fault(LEGACY_PATH, cut_at=0.6, times=1)
    done = run(ngc_spec(site, store, retries=1))
    result, sleeps = done.result, done.sleeps
    cut = int(len(site.model) * 0.6)
    assert read(result['path']) == site.model
    assert result['resumed_from'] == cut
    assert result['bytes_transferred'] == len(site.model)
    files = site.file_log()
    assert [(e['status'], e['range'], e['bytes_sent'], e['cut']) for e in files] == [
        (200, None, cut, True), (206, 'bytes=%d-' % cut, len(site.model) - cut, False)]
    assert sleeps == [0]


def test_cut_run_keeps_partial_and_next_run_transfers_only_the_rest(site, store):
    site.client.set_fault(LEGACY_PATH, cut_at=0.6, times=1)
    err = fails(ngc_spec(site, store))
    cut = int(len(site.model) * 0.6)
    assert err.code == 'transfer_interrupted' and 'after %d of %d bytes' % (cut, len(site.model)) in err.msg
    assert model_files(store) == []
    partial = os.path.join(store, 'models', '.partial', _sha(site.model))
    assert os.path.getsize(partial) == cut
    result = run(ngc_spec(site, store)).result
    assert result['resumed_from'] == cut
    assert result['bytes_transferred'] == len(site.model) - cut
    assert read(result['path']) == site.model and partial_files(store) == []
    assert site.file_log()[-1]['range'] == 'bytes=%d-' % cut and site.file_log()[-1]['if_range']


def test_connection_reset_mid_body_resumes(site, store):
    site.client.set_fault(LEGACY_PATH, cut_after=100000, reset=True, times=1)
    result = run(ngc_spec(site, store, retries=1)).result
    assert read(result['path']) == site.model
    assert result['resumed_from'] == site.file_log()[1]['offset'] > 0


def test_server_ignoring_range_restarts_from_zero_with_warning(site, store):
    site.client.set_fault(LEGACY_PATH, cut_at=0.5, times=1)
    fails(ngc_spec(site, store))
    site.client.set_fault(LEGACY_PATH, ignore_range=True)
    done = run(ngc_spec(site, store))
    result, warnings = done.result, done.warnings
    assert result['resumed_from'] == 0 and result['bytes_transferred'] == len(site.model)
    assert read(result['path']) == site.model
    assert any('ignored the Range request' in w for w in warnings)
    assert site.file_log()[-1]['range'] is not None and site.file_log()[-1]['status'] == 200


def test_server_ignoring_range_fails_when_told_and_keeps_partial(site, store):
    site.client.set_fault(LEGACY_PATH, cut_at=0.5, times=1)
    fails(ngc_spec(site, store))
    site.client.set_fault(LEGACY_PATH, ignore_range=True)
    err = fails(ngc_spec(site, store, range_ignored='fail'))
    assert err.code == 'range_ignored' and 'Range' in err.fix
    assert partial_files(store) == [_sha(site.model), _sha(site.model) + '.json']


def test_complete_partial_is_published_after_416(site, store):
    partial_dir = os.path.join(store, 'models', '.partial')
    os.makedirs(partial_dir)
    _write(partial_dir, _sha(site.model), site.model)
    result = run(ngc_spec(site, store)).result
    assert result['bytes_transferred'] == 0 and result['changed']
    assert read(result['path']) == site.model
    assert [e['status'] for e in site.file_log()] == [416]


def test_oversized_partial_restarts_after_416(site, store):
    partial_dir = os.path.join(store, 'models', '.partial')
    os.makedirs(partial_dir)
    _write(partial_dir, _sha(site.model), site.model + b'junk')
    result = run(ngc_spec(site, store)).result
    assert read(result['path']) == site.model
    assert [e['status'] for e in site.file_log()] == [416, 200]


def test_wrong_resumed_prefix_is_retried_whole_once(site, store):
    partial_dir = os.path.join(store, 'models', '.partial')
    os.makedirs(partial_dir)
    _write(partial_dir, _sha(site.model), b'\xff' * 1000)
    done = run(ngc_spec(site, store))
    result, warnings = done.result, done.warnings
    assert read(result['path']) == site.model
    assert result['bytes_transferred'] == (len(site.model) - 1000) + len(site.model)
    assert any('failed its checksum' in w for w in warnings)


# -- checksums --------------------------------------------------------------------------------------

def test_corrupt_download_fails_and_leaves_cached_file_and_link_intact(site, store):
    good = run(ngc_spec(site, store, name='standin')).result
    site.client.set_fault(NEW_LEGACY_PATH, corrupt=True)
    spec = FetchSpec(store=store, ngc='nvidia/tao/standin:v2', file=FILE_NAME, ngc_base_url=site.url,
                     sha256=_sha(site.model_v2), name='standin', retries=0)
    err = fails(spec)
    assert err.code == 'checksum_mismatch'
    assert 'expected %s' % _sha(site.model_v2) in err.msg and site.url in err.msg
    assert read(good['path']) == site.model
    assert os.readlink(good['link']) == os.path.join('..', _sha(site.model))
    assert model_files(store) == [_sha(site.model)] and partial_files(store) == []


def test_checksum_url_line_chosen_by_path(site, store):
    spec = FetchSpec(store=store, ngc=NGC_REF, file=FILE_NAME, ngc_base_url=site.url,
                     checksum_url=site.url + '/SHA256SUMS', retries=0)
    result = run(spec).result
    assert result['sha256'] == _sha(site.model) and result['checksum_from'] == site.url + '/SHA256SUMS'
    again = run(spec).result
    assert again['cache_hit'] and again['bytes_transferred'] == 0
    assert [e['path'] for e in site.log()][-1] == '/SHA256SUMS'


def test_checksum_url_without_the_file_is_a_clear_error(site, store):
    _write(site.root, 'OTHERSUMS', ('%s  other/file.bin\n' % ('a' * 64)).encode())
    err = fails(ngc_spec(site, store, sha256=None, checksum_url=site.url + '/OTHERSUMS'))
    assert err.code == 'checksum_not_listed' and FILE_NAME in err.msg


def test_md5_list_then_cache_hit_without_network(site, store):
    spec = FetchSpec(store=store, urls=[site.url + LEGACY_PATH], checksum_url=site.url + '/MD5SUMS', retries=0)
    result = run(spec).result
    assert result['md5'] == hashlib.md5(site.model).hexdigest() and result['sha256'] == _sha(site.model)
    pinned = FetchSpec(store=store, urls=[site.url + LEGACY_PATH], md5=result['md5'], retries=0)
    mark = len(site.log())
    again = run(pinned).result
    assert again['cache_hit'] and not again['changed'] and site.log()[mark:] == []


def test_md5_mismatch_fails(site, store):
    err = fails(FetchSpec(store=store, urls=[site.url + LEGACY_PATH], md5='0' * 32, retries=0))
    assert err.code == 'checksum_mismatch' and 'md5 expected' in err.msg


@pytest.fixture
def as_if_https(monkeypatch):
    """The test mirror speaks plain http; a file without a checksum is taken only over https (issue 16, row 5),
    and what follows (ref, HEAD revalidation) is the same for both."""
    monkeypatch.setattr(_download, 'plain_http', lambda url: False)


def test_plain_http_without_a_checksum_is_refused_and_the_next_source_tried(site, store, monkeypatch):
    # issue 16, row 5: a plain http mirror needs a checksum; the https source after it is still tried
    err = fails(FetchSpec(store=store, urls=[site.url + LEGACY_PATH], retries=0))
    assert err.code == 'checksum_required' and 'sha256' in err.fix and 'https' in err.fix
    assert site.log() == [] and not os.path.exists(os.path.join(store, 'models', _sha(site.model)))
    https_like = site.url.replace('127.0.0.1', 'localhost') + LEGACY_PATH
    monkeypatch.setattr(_download, 'plain_http', lambda url: '127.0.0.1' in url)
    result = run(FetchSpec(store=store, urls=[site.url + LEGACY_PATH, https_like], retries=0)).result
    assert result['source'] == https_like and result['sha256'] == _sha(site.model)
    # with a checksum, plain http is fine: the bytes are proven
    pinned = run(FetchSpec(store=str(store) + '-2', urls=[site.url + LEGACY_PATH], sha256=_sha(site.model))).result
    assert pinned['checksum_from'] == 'sha256'


def test_no_checksum_revalidates_with_head_and_redownloads_a_changed_file(site, store, as_if_https):
    spec = FetchSpec(store=store, urls=[site.url + LEGACY_PATH], retries=0)
    first = run(spec).result
    assert first['checksum_from'] == 'none'
    second = run(spec).result
    assert second['cache_hit'] and second['bytes_transferred'] == 0
    assert [a['method'] for a in second['attempts']] == ['HEAD']
    changed = _payload('changed')
    path = _write(site.root, LEGACY_PATH, changed)
    os.utime(path, (1, 1))
    third = run(spec).result
    assert third['changed'] and third['sha256'] == _sha(changed)
    assert read(first['path']) == site.model


def test_no_checksum_and_head_refused_downloads_again_and_is_unchanged_if_same_bytes(site, store, as_if_https):
    spec = FetchSpec(store=store, urls=[site.url + LEGACY_PATH], retries=0)
    first = run(spec).result
    site.client.set_fault(LEGACY_PATH, status=405, methods=['HEAD'])
    second = run(spec).result
    assert [(a['method'], a.get('error')) for a in second['attempts']] == [('HEAD', 'http_error'), ('GET', None)]
    assert second['bytes_transferred'] == len(site.model) and not second['changed']
    assert second['path'] == first['path'] and read(second['path']) == site.model


def test_sha256_accepts_ngc_base64_form(site, store):
    import base64
    b64 = base64.b64encode(hashlib.sha256(site.model).digest()).decode()
    result = run(ngc_spec(site, store, sha256=b64)).result
    assert result['sha256'] == _sha(site.model)


# -- HTTP failures ----------------------------------------------------------------------------------

@pytest.mark.parametrize('status,code', [(404, 'http_404'), (403, 'http_403'), (500, 'http_5xx'),
                                         (503, 'http_5xx')])
def test_http_errors_name_code_cause_and_fix(site, store, status, code):
    site.client.set_fault(LEGACY_PATH, status=status)
    err = fails(ngc_spec(site, store))
    assert err.code == code and ('HTTP %d' % status) in err.msg
    assert err.fix and err.cause
    assert model_files(store) == [] and partial_files(store) == []


def test_5xx_is_retried_then_succeeds(site, store):
    site.client.set_fault(LEGACY_PATH, status=500, times=1)
    done = run(ngc_spec(site, store, retries=2))
    result, sleeps = done.result, done.sleeps
    assert read(result['path']) == site.model and sleeps == [1]


def test_5xx_on_mirror_falls_through_to_ngc(site, store):
    mirror_url = site.url + '/mirror'
    site.client.set_fault('/mirror' + API_PATH, status=502)
    result = run(ngc_spec(site, store, mirror_url=mirror_url)).result
    assert result['source'].startswith(site.url + API_PATH)
    assert [a.get('error') for a in result['attempts']] == ['http_5xx', None]


def test_a_mirror_that_is_also_the_ngc_base_is_asked_once_without_a_key(site, store):
    # the demo fleet and air-gapped sites point both at one server: a 404 must not name it twice
    site.client.set_fault(API_PATH, status=404)
    with pytest.raises(TaoFleetError) as caught:
        run(ngc_spec(site, store, mirror_url=site.url))
    alone = [s['source'] for s in caught.value.details['sources']]
    assert alone and len(alone) == len(set(alone)), alone
    assert caught.value.msg.count(site.url + API_PATH) == 1, caught.value.msg
    # with an API key the second request differs (it carries the key), so NGC's is still made
    with pytest.raises(TaoFleetError) as caught:
        run(ngc_spec(site, store, mirror_url=site.url, api_key=PERSONAL_KEY))
    assert len(caught.value.details['sources']) == len(alone) + 1, caught.value.details


def test_429_waits_as_retry_after_asks(site, store):
    site.client.set_fault(LEGACY_PATH, status=429, retry_after=7, times=1)
    done = run(ngc_spec(site, store, retries=1))
    result, sleeps = done.result, done.sleeps
    assert sleeps == [7] and read(result['path']) == site.model


def test_429_asking_too_long_fails_without_waiting(site, store):
    site.client.set_fault(LEGACY_PATH, status=429, retry_after=3600)
    with pytest.raises(TaoFleetError) as info:
        fetch_model(ngc_spec(site, store, retries=3), sleep=Sleeps())
    assert info.value.code == 'http_429' and 'max_retry_wait' in info.value.msg


def test_all_sources_failing_lists_each_source_and_reason(site, store):
    closed = socket.socket()
    closed.bind(('127.0.0.1', 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    urls = [site.url + '/nothing/' + FILE_NAME, 'http://127.0.0.1:%d/%s' % (dead_port, FILE_NAME)]
    err = fails(FetchSpec(store=store, urls=urls, sha256=_sha(site.model), retries=0))
    assert err.code == 'all_sources_failed'
    assert [s['code'] for s in err.details['sources']] == ['http_404', 'unreachable']
    assert '[1] %s' % urls[0] in err.msg and '127.0.0.1:%d' % dead_port in err.msg
    assert 'refused' in err.msg


def test_stalled_server_times_out_as_unreachable(site, store):
    site.client.set_fault(LEGACY_PATH, stall=3)
    err = fails(ngc_spec(site, store, timeout=1))
    assert err.code == 'unreachable' and 'within the timeout' in err.msg


def test_redirect_fault_is_followed(site, store):
    site.client.set_fault('/elsewhere/' + FILE_NAME, redirect=LEGACY_PATH)
    spec = FetchSpec(store=store, urls=[site.url + '/elsewhere/' + FILE_NAME], sha256=_sha(site.model))
    assert read(run(spec).result['path']) == site.model


def test_redirect_loop_is_named(site, store):
    site.client.set_fault('/loop', redirect='/loop')
    err = fails(FetchSpec(store=store, urls=[site.url + '/loop'], sha256=_sha(site.model), retries=0))
    assert err.code == 'redirect_loop'


def test_body_without_content_length(site, store):
    site.client.set_fault(LEGACY_PATH, hide_length=True)
    assert read(run(ngc_spec(site, store)).result['path']) == site.model


# -- NGC API key --------------------------------------------------------------------------------------

def _assert_key_nowhere(key, *texts):
    for text in texts:
        assert key not in text


def test_personal_key_goes_to_ngc_only_not_mirror_nor_foreign_redirect(site, store):
    site.client.set_api_key(PERSONAL_KEY)
    site.client.set_fault(API_PATH, require_auth=True)
    site.client.set_redirect_origin('http://localhost:%d' % site.process.port)
    site.client.set_fault('/mirror' + API_PATH, status=404)
    done = run(ngc_spec(site, store, api_key=PERSONAL_KEY, mirror_url=site.url + '/mirror'))
    result, warnings = done.result, done.warnings
    assert read(result['path']) == site.model
    by_path = [(e['path'], e['host'].split(':')[0], e['auth'], e['auth_scheme']) for e in site.log()]
    assert by_path == [
        ('/mirror' + API_PATH, '127.0.0.1', False, None),
        (API_PATH, '127.0.0.1', True, 'Bearer'),
        (LEGACY_PATH, 'localhost', False, None),
    ]
    _assert_key_nowhere(PERSONAL_KEY, json.dumps(result), json.dumps(warnings),
                        read(os.path.join(site.root, 'requests.jsonl')).decode())


def test_legacy_key_is_traded_for_a_token_at_the_auth_url_only(site, store):
    site.client.set_api_key(LEGACY_KEY)
    site.client.set_fault(API_PATH, require_auth=True)
    result = run(ngc_spec(site, store, api_key=LEGACY_KEY, ngc_auth_url=site.url + '/token')).result
    assert read(result['path']) == site.model
    log = site.log()
    assert [(e['path'], e['auth_scheme'], e['status']) for e in log] == [
        ('/token', 'Basic', 200), (API_PATH, 'Bearer', 302), (LEGACY_PATH, 'Bearer', 200)]
    assert log[0]['query'] == 'service=ngc&scope=group%2Fngc%3Anvidia&scope=group%2Fngc%3Anvidia%2Ftao'


def test_wrong_legacy_key_is_rejected_with_cause_and_fix(site, store):
    site.client.set_api_key(LEGACY_KEY)
    site.client.set_fault(API_PATH, require_auth=True)
    err = fails(ngc_spec(site, store, api_key='wrong-key-xyz', ngc_auth_url=site.url + '/token'))
    assert err.code == 'http_401' and 'rejected the API key' in err.msg and 'api_key' in err.fix
    _assert_key_nowhere('wrong-key-xyz', str(err), json.dumps(err.to_result()))


def test_private_model_without_key_is_http_401_with_fix(site, store):
    site.client.set_api_key(PERSONAL_KEY)
    site.client.set_fault(API_PATH, require_auth=True)
    err = fails(ngc_spec(site, store))
    assert err.code == 'http_401' and 'NGC needs an API key' in err.msg and 'api_key' in err.fix


def test_key_never_sent_to_plain_urls_of_other_origin(site, store):
    spec = FetchSpec(store=store, urls=['http://localhost:%d%s' % (site.process.port, LEGACY_PATH)],
                     sha256=_sha(site.model), api_key=PERSONAL_KEY, ngc_base_url=site.url, retries=0)
    run(spec)
    assert [e['auth'] for e in site.log()] == [False]


def test_credentials_in_urls_become_basic_auth_for_that_origin_and_are_never_returned(site, store):
    url = 'http://user:secretpw@127.0.0.1:%d%s' % (site.process.port, LEGACY_PATH)
    result = run(FetchSpec(store=store, urls=[url], sha256=_sha(site.model), retries=0)).result
    assert 'secretpw' not in json.dumps(result)
    assert result['source'] == site.url + LEGACY_PATH
    assert [e['auth_scheme'] for e in site.log()] == ['Basic']
    for root, _dirs, names in os.walk(store):
        for name in names:
            if not name.startswith(result['sha256']):
                assert b'secretpw' not in read(os.path.join(root, name))


def test_credentials_in_checksum_url_become_basic_auth_and_are_never_returned(site, store):
    # issue 16, row 14: the list's user:password@ went into the request line and the request never worked
    url = 'http://user:secretpw@127.0.0.1:%d/SHA256SUMS' % site.process.port
    result = run(FetchSpec(store=store, urls=[site.url + LEGACY_PATH], checksum_url=url, retries=0)).result
    assert result['sha256'] == _sha(site.model) and result['checksum_from'] == site.url + '/SHA256SUMS'
    assert 'secretpw' not in json.dumps(result)
    assert [e['auth_scheme'] for e in site.log() if e['path'].endswith('SHA256SUMS')] == ['Basic']


# -- TLS --------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def tls_site():
    root = tempfile.mkdtemp(prefix='tao-mirror-tls-')
    try:
        certs = {}
        for name, san in (('ip', 'IP:127.0.0.1'), ('dns', 'DNS:localhost')):
            cert, key = os.path.join(root, name + '.crt'), os.path.join(root, name + '.key')
            subprocess.check_call(
                ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                 '-nodes', '-days', '2', '-subj', '/CN=tao-fleet-test', '-addext', 'subjectAltName=' + san,
                 '-keyout', key, '-out', cert], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            certs[name] = (cert, key)
        model = _payload('tls')
        _write(root, 'model.onnx', model)
        with mirror_module.MirrorProcess(root, os.path.join(root, 'ip.jsonl'), tls_cert=certs['ip'][0],
                                         tls_key=certs['ip'][1]) as ip_mirror:
            with mirror_module.MirrorProcess(root, os.path.join(root, 'dns.jsonl'), tls_cert=certs['dns'][0],
                                             tls_key=certs['dns'][1]) as dns_mirror:
                yield {'ip': ip_mirror, 'dns': dns_mirror, 'certs': certs, 'model': model}
    finally:
        shutil.rmtree(root)


def test_self_signed_certificate_is_a_tls_error_naming_ca_path(tls_site, store):
    url = tls_site['ip'].url + '/model.onnx'
    err = fails(FetchSpec(store=store, urls=[url], sha256=_sha(tls_site['model']), retries=0))
    assert err.code == 'tls_error' and 'ca_path' in err.fix and 'validate_certs' in err.fix
    assert 'certificate' in err.msg.lower()


def test_ca_path_makes_the_same_server_trusted(tls_site, store):
    url = tls_site['ip'].url + '/model.onnx'
    spec = FetchSpec(store=store, urls=[url], sha256=_sha(tls_site['model']), ca_path=tls_site['certs']['ip'][0])
    assert read(run(spec).result['path']) == tls_site['model']


def test_certificate_for_another_host_name_is_a_tls_error(tls_site, store):
    url = tls_site['dns'].url + '/model.onnx'
    err = fails(FetchSpec(store=store, urls=[url], sha256=_sha(tls_site['model']),
                          ca_path=tls_site['certs']['dns'][0], retries=0))
    assert err.code == 'tls_error'


def test_validate_certs_false_accepts_it(tls_site, store):
    url = tls_site['ip'].url + '/model.onnx'
    spec = FetchSpec(store=store, urls=[url], sha256=_sha(tls_site['model']), validate_certs=False)
    assert read(run(spec).result['path']) == tls_site['model']


# -- disk full, read-only store ---------------------------------------------------------------------

@pytest.fixture
def small_tmpfs():
    """A 256 KiB tmpfs (smaller than the model), unmounted even when the test fails."""
    mount_point = tempfile.mkdtemp(prefix='tao-tmpfs-')
    mounted = []

    def mount(options):
        subprocess.check_call(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', mount_point])
        mounted.append(True)
        return mount_point

    try:
        yield mount
    finally:
        if mounted:
            subprocess.call(['umount', mount_point])
        os.rmdir(mount_point)


def test_disk_full_known_size_fails_before_download(site, small_tmpfs):
    store = os.path.join(small_tmpfs('size=256k'), 'store')
    err = fails(ngc_spec(site, store))
    assert err.code == 'disk_full'
    assert err.details['needed_bytes'] == len(site.model)
    assert err.details['available_bytes'] < len(site.model)
    assert 'Free at least' in err.fix
    assert model_files(store) == [] and partial_files(store) == []


def test_disk_full_during_write_removes_partial(site, small_tmpfs):
    store = os.path.join(small_tmpfs('size=256k'), 'store')
    site.client.set_fault(LEGACY_PATH, hide_length=True)
    err = fails(ngc_spec(site, store))
    assert err.code == 'disk_full' and 'after writing' in err.msg
    assert model_files(store) == [] and partial_files(store) == []


def test_read_only_store_is_store_unwritable(site, small_tmpfs):
    mount_point = small_tmpfs('size=1m')
    store = os.path.join(mount_point, 'store')
    os.makedirs(os.path.join(store, 'models', '.partial'))
    subprocess.check_call(['mount', '-o', 'remount,ro', mount_point])
    err = fails(ngc_spec(site, store))
    assert err.code == 'store_unwritable' and 'Read-only' in err.msg and 'become' in err.fix


def test_store_below_read_only_mount_cannot_be_created(site, small_tmpfs):
    store = os.path.join(small_tmpfs('size=1m,ro'), 'store')
    err = fails(ngc_spec(site, store))
    assert err.code == 'store_unwritable'


# -- one store, several fetches at once (the controller's forks share its model cache) ----------------

def test_directory_made_by_another_fetch_between_check_and_create_is_not_an_error(site, store, monkeypatch):
    real_makedirs = os.makedirs

    def another_fetch_wins_the_race(path, *args, **kwargs):
        real_makedirs(path, *args, **kwargs)
        return real_makedirs(path, *args, **kwargs)

    monkeypatch.setattr(os, 'makedirs', another_fetch_wins_the_race)
    result = run(ngc_spec(site, store)).result
    assert result['changed'] and read(result['path']) == site.model


def _fetch_when_all_are_ready(spec, barrier, answers):
    barrier.wait()
    try:
        result = fetch_model(spec, sleep=Sleeps())[0]
        answers.put(('ok', result['path'], result['bytes_transferred']))
    except TaoFleetError as err:
        answers.put(('error', str(err), 0))


def test_forks_fetching_into_one_empty_store_at_once_download_once(site, store):
    forks = 6
    context = multiprocessing.get_context('fork')
    barrier, answers = context.Barrier(forks), context.Queue()
    processes = [context.Process(target=_fetch_when_all_are_ready, args=(ngc_spec(site, store), barrier, answers))
                 for _fork in range(forks)]
    for process in processes:
        process.start()
    got = [answers.get(timeout=60) for _process in processes]
    for process in processes:
        process.join(60)
    assert [answer[0] for answer in got] == ['ok'] * forks, got
    assert set(answer[1] for answer in got) == {os.path.join(store, 'models', _sha(site.model))}
    assert sum(answer[2] for answer in got) == len(site.model)
    assert [e['status'] for e in site.file_log()] == [200]


# -- check mode -------------------------------------------------------------------------------------

def test_check_mode_reports_download_and_writes_nothing(site, store):
    result = run(ngc_spec(site, store), check_mode=True).result
    assert result['changed'] and not result['cache_hit'] and result['bytes_transferred'] == 0
    assert result['path'] == os.path.join(store, 'models', _sha(site.model))
    assert not os.path.exists(store) and site.log() == []


def test_check_mode_reports_resume_offset_and_cache_hit(site, store):
    site.client.set_fault(LEGACY_PATH, cut_at=0.6, times=1)
    fails(ngc_spec(site, store))
    result = run(ngc_spec(site, store), check_mode=True).result
    assert result['resumed_from'] == int(len(site.model) * 0.6) and 'resuming at byte' in result['msg']
    run(ngc_spec(site, store))
    cached = run(ngc_spec(site, store, name='standin'), check_mode=True).result
    assert cached['cache_hit'] and cached['changed']
    assert not os.path.lexists(os.path.join(store, 'models', 'by-name', 'standin'))


# -- argument checks and helpers --------------------------------------------------------------------

@pytest.mark.parametrize('overrides,text', [
    (dict(ngc='nvidia/tao/peoplenet'), 'org/team/name:version'),
    (dict(file='../etc/passwd'), 'relative path'),
    (dict(sha256='abc'), 'hex digits'),
    (dict(store='relative/store'), 'absolute path'),
    (dict(urls=['http://x/y']), 'not both'),
    (dict(name='a/b'), 'no "/"'),
    (dict(ngc_base_url='ftp://x'), 'http:// or https://'),
])
def test_invalid_arguments(store, overrides, text):
    options = dict(store=store, ngc=NGC_REF, file=FILE_NAME, sha256='a' * 64)
    options.update(overrides)
    with pytest.raises(TaoFleetError) as info:
        FetchSpec(**options)
    assert info.value.code == 'invalid_argument' and text in info.value.msg


def test_redact_and_origin():
    assert _download.redact_url('https://u:p@h.example:8443/a?b=1') == 'https://h.example:8443/a?b=1'
    assert _download.url_origin('HTTPS://API.ngc.nvidia.com/v2') == ('https', 'api.ngc.nvidia.com', 443)
    assert _download.url_origin('http://h:80/') == _download.url_origin('http://h/')


def test_checksum_list_selection():
    entries = _download.parse_checksum_list(
        '%s  ./a/model.onnx\n%s *b/model.onnx\n%s  c/other.bin\n' % ('1' * 64, '2' * 64, '3' * 32))
    assert _download.select_checksum(entries, ['/b/model.onnx'], 'model.onnx') == ('sha256', '2' * 64)
    assert _download.select_checksum(entries, [], 'model.onnx') is None
    assert _download.select_checksum(entries, [], 'other.bin') == ('md5', '3' * 32)


# -- a hostile mirror: redirects and header numbers (issue 16, rows 10 and 11) ------------------------------

def test_a_redirect_of_the_model_to_a_local_file_is_refused(site, store, tmp_path):
    local = tmp_path / 'local-model'
    local.write_bytes(site.model)
    site.client.set_fault('/to-file', redirect='file://%s' % local)
    err = fails(FetchSpec(store=store, urls=[site.url + '/to-file'], sha256=_sha(site.model), retries=0))
    assert err.code == 'redirect_refused' and 'file: URL' in err.msg and err.fix
    assert model_files(store) == []


def test_a_redirect_of_the_checksum_list_to_a_local_file_is_refused(site, store, tmp_path):
    # the list would otherwise be read from the host's (or the controller's) own file system
    sums = tmp_path / 'SUMS'
    sums.write_text('%s  %s\n' % ('0' * 64, LEGACY_PATH.lstrip('/')))
    site.client.set_fault('/sums-elsewhere', redirect='file://%s' % sums)
    err = fails(ngc_spec(site, store, sha256=None, checksum_url=site.url + '/sums-elsewhere'))
    assert err.code == 'redirect_refused'
    assert [e['path'] for e in site.log()] == ['/sums-elsewhere']     # nothing else was asked for


@pytest.mark.parametrize('target', ['data:application/octet-stream;base64,AAAA', 'ftp://127.0.0.1/model',
                                    'gopher://127.0.0.1/x'])
def test_a_redirect_to_another_scheme_is_refused(site, store, target):
    site.client.set_fault('/odd-scheme', redirect=target)
    err = fails(FetchSpec(store=store, urls=[site.url + '/odd-scheme'], sha256=_sha(site.model), retries=0))
    assert err.code == 'redirect_refused'


def test_an_https_to_http_downgrade_is_refused_and_the_next_source_is_tried(tls_site, site, store):
    tls_site['ip'].client.set_fault('/downgrade', redirect=site.url + LEGACY_PATH)
    https_url = tls_site['ip'].url + '/downgrade'
    err = fails(FetchSpec(store=store, urls=[https_url], sha256=_sha(site.model), retries=0,
                          ca_path=tls_site['certs']['ip'][0]))
    assert err.code == 'redirect_refused' and 'from https to plain http' in err.msg
    assert site.file_log() == []                                   # the http server was never asked
    # a source that fails this way is one source: the next one still serves the file
    done = run(FetchSpec(store=store, urls=[https_url, site.url + LEGACY_PATH], sha256=_sha(site.model),
                         retries=0, ca_path=tls_site['certs']['ip'][0]))
    assert read(done.result['path']) == site.model


def test_http_to_https_and_same_scheme_redirects_are_still_followed():
    from ansible_collections.tao.fleet.plugins.module_utils._http import check_redirect
    check_redirect('http://mirror.example/a', 'https://cdn.example/b')
    check_redirect('https://mirror.example/a', 'https://cdn.example/b')
    check_redirect('http://mirror.example/a', 'HTTP://cdn.example/b')


@pytest.mark.parametrize('value, seconds', [
    ('120', 120), (' 7 ', 7), ('\u00b2', None), ('\u0663', None), ('9' * 5000, None), ('-5', None), ('1e3', None),
    ('Wed, 21 Oct 2015 07:28:00 GMT', 0), ('Wed, 21 Oct 99999999999 07:28:00 GMT', None), (None, None), ('', None)])
def test_retry_after_is_read_strictly(value, seconds):
    from ansible_collections.tao.fleet.plugins.module_utils._http import _parse_retry_after
    assert _parse_retry_after(value) == seconds


@pytest.mark.parametrize('retry_after', ['\u00b2', '9' * 5000])
def test_an_absurd_retry_after_is_a_retry_with_backoff_not_a_crash(site, store, retry_after):
    site.client.set_fault(LEGACY_PATH, status=503, retry_after=retry_after, times=1)
    done = run(ngc_spec(site, store, retries=1))
    assert read(done.result['path']) == site.model and len(done.sleeps) == 1


@pytest.mark.parametrize('value, parsed', [
    ('bytes 0-9/10', (0, 10)), ('bytes */10', (None, 10)), ('bytes 0-9/*', (0, None)),
    ('bytes \u0660-\u0669/\u0661\u0660', (None, None)), ('bytes 0-9/' + '9' * 5000, (None, None)),
    ('bytes 0-9/10\n', (None, None)), (None, (None, None))])
def test_content_range_is_read_strictly(value, parsed):
    assert _download._parse_content_range(value) == parsed


@pytest.mark.parametrize('value, number', [('10', 10), (' 10\t', 10), ('\u00b2', None), ('1' * 19, None),
                                           ('+1', None), ('1_000', None), ('', None), (None, None), (10, None)])
def test_header_numbers_take_ascii_digits_only(value, number):
    assert _download.header_number(value) == number


class _OddLengthServer(object):
    """An HTTP server on 127.0.0.1 that answers every GET with ``body`` and the Content-Length given."""

    def __init__(self, body, length):
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.0'

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header('Content-Length', length)
                self.send_header('Connection', 'close')
                self.end_headers()
                self.wfile.write(body)

        self.server = HTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d/model' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever)
        self.thread.daemon = True

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize('length', ['\u00b2', '9' * 40])
def test_an_absurd_content_length_is_an_unknown_length_not_a_crash(store, length):
    body = _payload('odd-length', 4096)
    with _OddLengthServer(body, length) as server:
        done = run(FetchSpec(store=store, urls=[server.url], sha256=_sha(body), retries=0))
    assert read(done.result['path']) == body


# -- a hostile local user: symlinks planted in the store (issue 16, row 8) --------------------------------

def victim_file(tmp_path, data=b'root-owned file outside the store\n'):
    victim = tmp_path / 'outside' / 'victim'
    victim.parent.mkdir()
    victim.write_bytes(data)
    os.chmod(str(victim), 0o600)
    return victim


def untouched(victim, data=b'root-owned file outside the store\n'):
    return victim.read_bytes() == data and (os.stat(str(victim)).st_mode & 0o777) == 0o600


def test_a_partial_file_planted_as_a_symlink_is_refused_and_its_target_untouched(site, store, tmp_path):
    victim = victim_file(tmp_path)
    partial_dir = os.path.join(store, 'models', '.partial')
    os.makedirs(partial_dir)
    os.symlink(str(victim), os.path.join(partial_dir, _sha(site.model)))
    err = fails(ngc_spec(site, store))
    assert err.code == 'store_unwritable' and 'symlink' in err.msg and err.fix
    assert untouched(victim)                               # not appended to, truncated, chmodded or moved
    assert model_files(store) == []


@pytest.mark.parametrize('planted', ['models', os.path.join('models', '.partial')])
def test_a_store_directory_planted_as_a_symlink_is_refused(site, store, tmp_path, planted):
    outside = tmp_path / 'outside-dir'
    outside.mkdir()
    link = os.path.join(store, planted)
    os.makedirs(os.path.dirname(link))
    if planted != 'models':
        os.makedirs(os.path.join(store, 'models'), exist_ok=True)
    os.symlink(str(outside), link)
    err = fails(ngc_spec(site, store))
    assert err.code == 'store_unwritable' and link in err.msg
    assert os.listdir(str(outside)) == []                  # nothing was written through the link


def test_a_lock_file_planted_as_a_symlink_creates_nothing_outside(site, store, tmp_path):
    target = tmp_path / 'outside' / 'created-by-root'
    target.parent.mkdir()
    partial_dir = os.path.join(store, 'models', '.partial')
    os.makedirs(partial_dir)
    os.symlink(str(target), os.path.join(partial_dir, _sha(site.model) + '.lock'))
    err = fails(ngc_spec(site, store))
    assert err.code == 'store_unwritable' and not target.exists()


def test_a_cached_model_planted_as_a_symlink_is_never_a_cache_hit(site, store, tmp_path):
    # the link even points at the right bytes: the store still never hands out a path through a link
    victim = victim_file(tmp_path, data=site.model)
    os.makedirs(os.path.join(store, 'models'))
    os.symlink(str(victim), os.path.join(store, 'models', _sha(site.model)))
    err = fails(ngc_spec(site, store))
    assert err.code == 'store_unwritable' and 'symlink' in err.msg
    assert site.log() == []                                 # refused before any download
    assert untouched(victim, data=site.model)


def test_a_validators_file_planted_as_a_symlink_is_not_read_and_is_replaced(site, store, tmp_path):
    secret = tmp_path / 'outside' / 'secret.json'
    secret.parent.mkdir()
    secret.write_text('{"url": "%s", "etag": "leaked", "total": 1}' % (site.url + LEGACY_PATH))
    partial_dir = os.path.join(store, 'models', '.partial')
    os.makedirs(partial_dir)
    os.symlink(str(secret), os.path.join(partial_dir, _sha(site.model) + '.json'))
    done = run(ngc_spec(site, store))
    assert read(done.result['path']) == site.model
    assert 'leaked' in secret.read_text()                  # the link's target was neither used nor written
    assert [e['if_range'] for e in site.file_log()] == [False]
