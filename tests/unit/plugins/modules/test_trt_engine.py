# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""trt_engine through AnsibleModule: arguments, check mode, results, failures and warnings.

The build child imports the TensorRT TEST DOUBLE (tests/doubles, 8.5.2.2), not TensorRT.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import sys

import pytest
import yaml

from ansible.module_utils.common.warnings import get_warning_messages

from ansible_collections.tao.fleet.plugins.doc_fragments import trt_engine as trt_engine_options
from ansible_collections.tao.fleet.plugins.module_utils import _etlt
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import BUILD_OPTION_DEFAULTS
from ansible_collections.tao.fleet.plugins.modules import trt_engine
from ansible_collections.tao.fleet.tests.unit.plugins.modules.double_host import VERSION, double_installed
from ansible_collections.tao.fleet.tests.unit.plugins.modules.module_harness import AnsibleExitJson, AnsibleFailJson, module_args

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..'))
sys.path.insert(0, os.path.join(REPO, 'tests', 'doubles'))
import onnx_writer  # noqa: E402


@pytest.fixture
def host(tmp_path):
    """The double installed where the build child imports it, Xavier NX facts naming it, an .etlt."""
    with double_installed(tmp_path) as facts:
        model = tmp_path / 'peoplenet.etlt'
        model.write_bytes(_etlt.encode_etlt(onnx_writer.peoplenet_shaped(), 'tlt_encode'))
        yield {'model_path': str(model), 'platform': facts, 'store': str(tmp_path / 'store'), 'model_name': 'peoplenet'}


def run(base, **args):
    arguments = dict(base)
    arguments.update(args)
    with module_args(arguments):
        try:
            trt_engine.main()
        except AnsibleExitJson as done:
            return done.args[0]
        except AnsibleFailJson as failed:
            return failed.args[0]
    raise AssertionError('the module returned without exit_json or fail_json')


def test_builds_then_reuses(host):
    first = run(host, converter_args='-k tlt_encode -t fp16')
    assert first['changed'] is True and first['built'] is True and first['reused'] is False
    assert first['engine_path'] == os.path.join(host['store'], 'engines', 'peoplenet', first['fingerprint'],
                                                'model.engine')
    assert first['tensorrt']['version'] == VERSION and first['tensorrt']['test_double'] is True
    assert first['manifest']['engine']['size'] == os.path.getsize(first['engine_path'])
    assert 'warnings' not in first                      # Ansible consumes that key: build_warnings instead
    assert isinstance(first['build_warnings'], list)
    second = run(host, model_key='tlt_encode', precision='fp16')
    assert second['changed'] is False and second['reused'] is True and second['fingerprint'] == first['fingerprint']


def test_check_mode_predicts_a_build_and_writes_nothing(host):
    result = run(host, model_key='tlt_encode', _ansible_check_mode=True)
    assert result['changed'] is True and result['built'] is False
    assert not os.path.exists(host['store'])


def test_failure_names_cause_and_fix(host):
    result = run(host, model_key='wrong_key')
    assert result['failed'] is True and result['error_code'] == 'model_key_rejected'
    assert result['cause'] and 'tlt_encode' in result['fix']


def test_own_warnings_are_module_warnings(host):
    run(host, converter_args='-k tlt_encode -e saved.engine')
    assert any('-e saved.engine is ignored' in warning for warning in get_warning_messages())


def test_converter_args_conflict_is_an_error(host):
    result = run(host, model_key='tlt_encode', precision='fp32', converter_args='-t fp16')
    assert result['failed'] is True and result['error_code'] == 'invalid_argument'


def test_build_timeout_must_be_positive(host):
    result = run(host, model_key='tlt_encode', build_timeout=0)
    assert result['failed'] is True and result['error_code'] == 'invalid_argument'


def test_documented_defaults_are_the_fingerprint_defaults():
    """The options have no argspec defaults (so converter_args conflicts can be told apart); the text says
    what unset means, and must say what _fingerprint.BUILD_OPTION_DEFAULTS holds."""
    # trt_engine and engine_deploy document them in one doc fragment
    options = yaml.safe_load(trt_engine_options.ModuleDocFragment.DOCUMENTATION)['options']
    assert 'tao.fleet.trt_engine' in yaml.safe_load(trt_engine.DOCUMENTATION)['extends_documentation_fragment']
    said = dict((name, re.search(r'Unset means (?:tao-converter.s default, )?C\(([^)]+)\)', ' '.join(option['description'])))
                for name, option in options.items())
    assert said['precision'].group(1) == BUILD_OPTION_DEFAULTS['precision']
    assert said['max_batch_size'].group(1) == str(BUILD_OPTION_DEFAULTS['max_batch_size'])
    assert said['input_order'].group(1) == BUILD_OPTION_DEFAULTS['input_order']
    assert BUILD_OPTION_DEFAULTS['workspace'] == 1 << 30 and said['workspace'].group(1) == '1G'
    for name in ('precision', 'max_batch_size', 'input_order', 'workspace', 'strict_types', 'dla_core'):
        assert 'default' not in options[name]
