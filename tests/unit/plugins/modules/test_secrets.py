# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Secrets in module arguments (issue 16, row 6; plugins/module_utils/_secrets.py): a private model key given
in a catalog entry and ``user:password@`` in a URL never reach ``invocation`` or a result, and the action
plugins send a catalog entry's private key to the host only as ``model_key`` (no_log); that half, which needs
the controller, is tests/unit/plugins/action/test_trt_engine.py
``test_the_share_action_calls_the_module_without_the_key_in_its_dicts``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.module_utils import basic

from ansible_collections.tao.fleet.plugins.module_utils._engine_options import ENGINE_OPTION_SPEC
from ansible_collections.tao.fleet.plugins.module_utils._secrets import hide_model_keys, protect
from ansible_collections.tao.fleet.tests.unit.plugins.modules.module_harness import module_args

SECRET_KEY = 'my-private-etlt-key'
PASSWORD = 's3cr3t-pw'
ARTIFACT = {'id': 'etlt', 'file': 'model.etlt', 'format': 'etlt-onnx', 'key': SECRET_KEY}


def task_args():
    return {'model_path': '/store/models/' + 'a' * 64, 'model_name': 'mine',
            'model': {'model': 'mine', 'artifact': dict(ARTIFACT), 'rejected': [dict(ARTIFACT, id='uff')]},
            'fetch': {'urls': ['http://fleet:%s@mirror.example/model.etlt' % PASSWORD], 'sha256': 'a' * 64}}


def returned(args, protected, capsys):
    """What the module prints for Ansible (the real exit_json: invocation included, no_log values masked)."""
    spec = dict(ENGINE_OPTION_SPEC, fetch=dict(type='dict'))
    with module_args(args):
        module = basic.AnsibleModule(argument_spec=spec)
    if protected:
        protect(module)
    # what exit_json does before it exits (conftest replaces exit_json itself)
    module._return_formatted({'changed': False,
                              'msg': 'failed for %s at %s' % (SECRET_KEY, args['fetch']['urls'][0])})
    return capsys.readouterr().out


def test_a_catalog_key_and_a_url_password_are_masked_in_invocation_and_result(capsys):
    out = returned(task_args(), True, capsys)
    assert SECRET_KEY not in out and PASSWORD not in out
    assert json.loads(out)['invocation']['module_args']['model']['artifact']['id'] == 'etlt'


def test_without_protect_they_would_be_returned(capsys):
    # what every module returned before (the row's finding)
    out = returned(task_args(), False, capsys)
    assert SECRET_KEY in out and PASSWORD in out


def test_the_action_sends_a_catalog_key_only_as_model_key():
    hidden = hide_model_keys(task_args())
    assert hidden['model_key'] == SECRET_KEY
    assert SECRET_KEY not in json.dumps(dict(hidden, model_key=None))
    assert task_args()['model']['artifact']['key'] == SECRET_KEY          # the task's own args are not changed


def test_a_given_model_key_wins_and_public_keys_stay():
    args = dict(task_args(), model_key='given')
    assert hide_model_keys(args)['model_key'] == 'given'
    public = {'model': {'artifact': dict(ARTIFACT, key='tlt_encode')}, 'model_path': '/m'}
    assert hide_model_keys(public) is public
