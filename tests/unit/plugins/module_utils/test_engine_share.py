# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""trt_engine's engine-share import (``shared_engine``) and ``build: false``.

The engines are built by the TensorRT TEST DOUBLE through the real child process of _build.py (as in
test_engine.py, whose Host helper this file uses); what is proved is the import's checks and files:
an entry is installed only when it is this host's fingerprint and its bytes are the manifest's, and
anything else falls back to a build, never to the entry.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import importlib
import json
import os
import shutil
import sys

import pytest

from ansible_collections.tao.fleet.plugins.module_utils import _build, _engine
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore

from ansible_collections.tao.fleet.tests.unit.plugins.module_utils.test_engine import Host


@pytest.fixture
def host(tmp_path):
    """test_engine's double-TensorRT host; afterwards the double is gone from sys.path and sys.modules."""
    made = Host(tmp_path / 'host')
    yield made
    sys.path[:] = [path for path in sys.path if path != made.site]
    for name in [name for name in sys.modules if name.startswith(('tensorrt', 'tao_fleet_trt_double'))]:
        del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture
def canary(host):
    """A host that built the fp16 engine, and a share entry made from it (as the action plugin publishes)."""
    built = host.run(precision='fp16')
    share = str(host.tmp / 'share' / built['fingerprint'])
    shutil.copytree(os.path.dirname(built['engine_path']), share)
    return host, built, share


def other_store(host, name='store-b'):
    return str(host.tmp / name)


def test_an_entry_with_this_fingerprint_is_installed_without_a_build(canary, monkeypatch):
    host, built, share = canary
    monkeypatch.setattr(_build, 'run_in_child', lambda *a, **k: pytest.fail('a shared engine was built again'))
    store = other_store(host)
    result = host.run(precision='fp16', store=store, shared_engine=share)
    assert (result['changed'], result['built'], result['shared'], result['reused']) == (True, False, True, False)
    assert result['fingerprint'] == built['fingerprint'] and result['build_seconds'] == built['build_seconds']
    status = EngineStore(store).verify('peoplenet', built['fingerprint'])
    assert status.intact
    with open(result['engine_path'], 'rb') as mine, open(built['engine_path'], 'rb') as theirs:
        assert mine.read() == theirs.read()
    manifest = status.manifest
    assert manifest['build']['source'] == 'share' and manifest['build']['shared']['imported_from'] == share
    assert 'smoke' not in manifest          # every host runs its own smoke test
    with open(built['manifest']['path']) as handle:
        assert json.load(handle)['build']['source'] == 'build'
    again = host.run(precision='fp16', store=store, shared_engine=share)
    assert (again['changed'], again['reused'], again['shared']) == (False, True, False)


def test_the_manifest_may_come_with_the_call_instead_of_as_a_file(canary, monkeypatch):
    # the action plugin sends the manifest in the module arguments and copies only the engine file
    host, built, share = canary
    with open(os.path.join(share, 'manifest.json')) as handle:
        manifest = json.load(handle)
    engine_only = str(host.tmp / 'engine-only')
    os.makedirs(engine_only)
    shutil.copyfile(os.path.join(share, 'model.engine'), os.path.join(engine_only, 'model.engine'))
    monkeypatch.setattr(_build, 'run_in_child', lambda *a, **k: pytest.fail('a shared engine was built again'))
    params = host.params(precision='fp16', store=other_store(host), shared_engine=engine_only,
                         shared_manifest=manifest)
    result, _warnings = _engine.ensure_engine(params)
    assert (result['shared'], result['fingerprint']) == (True, built['fingerprint'])


def test_a_sent_manifest_is_checked_as_a_file_would_be(canary):
    host, built, share = canary
    with open(os.path.join(share, 'manifest.json')) as handle:
        manifest = json.load(handle)
    manifest['engine']['sha256'] = 'f' * 64
    params = host.params(precision='fp16', store=other_store(host), shared_engine=share, shared_manifest=manifest)
    result, warnings = _engine.ensure_engine(params)
    assert (result['built'], result['shared']) == (True, False)
    assert any('was not used' in warning and 'sha256' in warning for warning in warnings), warnings


def flip_an_engine_byte(share):
    with open(os.path.join(share, 'model.engine'), 'r+b') as handle:
        handle.seek(40)
        byte = handle.read(1)
        handle.seek(40)
        handle.write(bytes([byte[0] ^ 0xFF]))


def test_an_entry_whose_engine_bytes_differ_is_ignored_and_the_engine_built(canary):
    host, built, share = canary
    flip_an_engine_byte(share)
    store = other_store(host)
    result, warnings = _engine.ensure_engine(host.params(precision='fp16', store=store, shared_engine=share))
    assert (result['built'], result['shared']) == (True, False)
    assert any('was not used' in warning and 'sha256' in warning for warning in warnings), warnings
    with open(result['engine_path'], 'rb') as mine, open(built['engine_path'], 'rb') as good:
        assert mine.read() == good.read()


def test_an_entry_changed_with_its_manifest_is_refused_by_the_controllers_sha256(canary):
    # issue 16, row 2: someone replaced engine and manifest together (the manifest is the builder's own word);
    # the sha256 the controller recorded when it fetched the engine from its builder still tells
    host, built, share = canary
    flip_an_engine_byte(share)
    path = os.path.join(share, 'manifest.json')
    with open(path) as handle:
        manifest = json.load(handle)
    with open(os.path.join(share, 'model.engine'), 'rb') as handle:
        manifest['engine']['sha256'] = hashlib.sha256(handle.read()).hexdigest()
    with open(path, 'w') as handle:
        json.dump(manifest, handle)
    recorded = built['manifest']['engine']['sha256']
    store = other_store(host)
    result, warnings = _engine.ensure_engine(host.params(precision='fp16', store=store, shared_engine=share,
                                                         shared_sha256=recorded, build=False))
    assert (result['missing'], result['shared']) == (True, False)
    assert any('share index recorded %s' % recorded in warning for warning in warnings), warnings
    # the entry as the controller recorded it is taken
    shutil.rmtree(share)
    shutil.copytree(os.path.dirname(built['engine_path']), share)
    result, _warnings = _engine.ensure_engine(host.params(precision='fp16', store=store, shared_engine=share,
                                                          shared_sha256=recorded, build=False))
    assert result['shared'] is True


def test_an_entry_of_another_fingerprint_is_ignored(canary):
    host, built, share = canary
    result, warnings = _engine.ensure_engine(host.params(precision='fp32', store=other_store(host), shared_engine=share))
    assert result['built'] is True and result['fingerprint'] != built['fingerprint']
    assert any('this host needs %s' % result['fingerprint'] in warning for warning in warnings), warnings


def test_an_entry_refused_with_build_false_leaves_the_engine_missing_and_says_what_to_do(canary):
    # the engine share's speculative first call: build false, and an entry that is not this host's
    host, built, share = canary
    flip_an_engine_byte(share)
    store = other_store(host)
    result, warnings = _engine.ensure_engine(host.params(precision='fp16', store=store, shared_engine=share,
                                                         build=False))
    assert (result['missing'], result['built'], result['shared']) == (True, False, False)
    assert result['fingerprint'] == built['fingerprint']
    refused = [warning for warning in warnings if 'was not used' in warning]
    assert len(refused) == 1 and 'Building it here' not in refused[0], warnings
    assert 'stays missing (build is false)' in refused[0] and 'run again with build true' in refused[0]
    assert not os.path.exists(os.path.join(store, 'engines'))


def test_an_entry_whose_manifest_was_edited_is_ignored(canary):
    host, built, share = canary
    path = os.path.join(share, 'manifest.json')
    with open(path) as handle:
        manifest = json.load(handle)
    manifest['inputs']['build']['workspace'] = 1
    with open(path, 'w') as handle:
        json.dump(manifest, handle)
    result, warnings = _engine.ensure_engine(host.params(precision='fp16', store=other_store(host), shared_engine=share))
    assert result['built'] is True
    assert any('do not hash to its fingerprint' in warning for warning in warnings), warnings


def test_build_false_reports_missing_and_leaves_an_empty_store_empty(host):
    store = other_store(host)
    result = host.run(precision='fp16', store=store, build=False)
    assert (result['missing'], result['changed'], result['built']) == (True, False, False)
    assert not os.path.exists(store)
    built = host.run(precision='fp16', store=store)
    assert built['built'] is True
    reused = host.run(precision='fp16', store=store, build=False)
    assert (reused['missing'], reused['reused']) == (False, True)


def test_check_mode_says_it_would_take_the_entry_and_writes_nothing(canary):
    host, built, share = canary
    store = other_store(host)
    result = host.run(check_mode=True, precision='fp16', store=store, shared_engine=share)
    assert (result['changed'], result['shared'], result['built']) == (True, True, False)
    assert not os.path.exists(store)


def test_a_host_with_a_wrong_key_fails_as_a_build_would_even_when_the_share_has_the_engine(canary):
    host, built, share = canary
    store = other_store(host)
    with pytest.raises(TaoFleetError) as caught:
        host.run(precision='fp16', store=store, shared_engine=share, model_key='not_the_key')
    assert caught.value.code == 'model_key_rejected'
    assert EngineStore(store).fingerprints('peoplenet') == []
