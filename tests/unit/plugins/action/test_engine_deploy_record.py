# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The controller's half of the deployment record (tests/unit/plugins/modules/test_deploy_record.py has the
host's): engine_deploy's action plugin answers from a matching, intact record without calling the host, and
that answer makes the same role result (filter deploy_model_result) as a real reuse call, compared whole.

Same host as test_engine_deploy.py: the build child imports the TensorRT TEST DOUBLE; the smoke test runs
the real onnxruntime on the stand-in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

import pytest

from ansible_collections.tao.fleet.plugins.action.engine_deploy import ActionModule as EngineDeployAction
from ansible_collections.tao.fleet.plugins.filter.deploy_result import deploy_model_result
from ansible_collections.tao.fleet.plugins.module_utils._deploy_record import quick_result, record_path
from ansible_collections.tao.fleet.plugins.module_utils._store_contents import store_contents
from ansible_collections.tao.fleet.tests.unit.plugins.modules.test_deploy_record import (
    MODEL_SHA, deployed, key_of, record_of, task_args)
from ansible_collections.tao.fleet.tests.unit.plugins.modules.module_harness import module_methods_patched
from ansible_collections.tao.fleet.tests.unit.plugins.modules.test_engine_deploy import (  # noqa: F401 pylint: disable=unused-import
    MODEL, host, run)


@pytest.fixture(autouse=True)
def patched_module():
    # the module runs here as in tests/unit/plugins/modules (its conftest.py does this there)
    with module_methods_patched():
        yield


def role_result(host, engine_result):
    """What role deploy_model makes of an engine_deploy result (the fleet report reads this)."""
    return deploy_model_result({
        'host': 'h1', 'wave': 'canary', 'stage': 'fetch', 'failure': None, 'name': MODEL,
        'platform': host['platform'], 'choice': None, 'fetch': engine_result.get('fetch'), 'calibration': None,
        'engine': engine_result, 'smoke': engine_result.get('smoke'), 'consumers': engine_result.get('consumers'),
        'release': engine_result.get('release'), 'check_mode': False, 'unreachable_error': None})


def recorded_files(host):
    with open(record_path(host['store'], MODEL)) as handle:
        return [entry[0] for entry in json.load(handle)['files']]


def test_the_record_answers_what_a_reuse_call_answers(host, tmp_path):
    consumers = {'deepstream': True, 'deepstream_dir': str(tmp_path / 'ds'), 'triton': True,
                 'triton_repository': str(tmp_path / 'triton')}
    base = dict(host)
    model = base.pop('model_path')
    sha = hashlib.sha256(open(model, 'rb').read()).hexdigest()
    first = deployed(base, consumers=consumers, fetch={'src': model, 'sha256': sha, 'name': MODEL})
    record = record_of(host)
    assert first['fetch']['path'] in recorded_files(host)
    called = run(base, consumers=consumers, fetch={'src': 'controller:/nowhere', 'sha256': sha, 'name': MODEL})
    assert called['reused'] is True and called['changed'] is False and called['fetch']['cache_hit'] is True
    answered = quick_result(record)
    assert answered['changed'] is False and answered['stage'] == 'release' and 'not called' in answered['msg']
    assert role_result(host, answered) == role_result(host, called)
    summary = role_result(host, answered)
    assert summary['status'] == 'unchanged' and summary['model']['sha256'] == sha
    assert summary['smoke']['passed'] is True and summary['engine']['reused'] is True


def decide(args, contents):
    action = EngineDeployAction.__new__(EngineDeployAction)
    task_vars = {'ansible_facts': {'tao_store': contents}} if contents is not None else {}
    return action._quick_check(args, task_vars, MODEL_SHA), action._quick


def test_the_action_answers_from_a_matching_intact_record_only(host):
    args = task_args(store=host['store'])
    key = key_of(args)
    deployed(host, record_id=key)
    contents = store_contents(host['store'])
    answer, _quick = decide(dict(args), contents)
    assert answer['quick_check'] == {'used': True, 'reason': None,
                                     'recorded_at': contents['deploys'][MODEL]['recorded_at']}
    assert answer['reused'] is True and answer['changed'] is False
    # other options: the host is called, with the id to record the new deployment under
    other = task_args(store=host['store'], precision='int8')
    answer, quick = decide(other, contents)
    assert answer is None and quick == {'used': False, 'reason': 'no deployment record with these options'}
    assert other['deploy_record_id'] == key_of(task_args(store=host['store'], precision='int8'))
    # no facts of the store, or quick_check off
    assert decide(dict(args), None)[1]['reason'].startswith('no tao_store fact')
    assert decide(dict(args, quick_check='no'), contents)[1] == {'used': False, 'reason': 'quick_check is off'}
