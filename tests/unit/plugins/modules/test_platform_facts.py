# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""platform_facts through AnsibleModule, on the fixture sysroots."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
from unittest import mock

import pytest

from ansible.module_utils import basic

from ansible_collections.tao.fleet.plugins.modules import platform_facts
from ansible_collections.tao.fleet.tests.unit.plugins.modules.module_harness import (
    AnsibleExitJson, AnsibleFailJson, exit_json, fail_json, module_args)

SYSROOTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'fixtures', 'sysroots')


@pytest.fixture
def warnings():
    """The messages the module passed to module.warn, in order."""
    seen = []

    def warn(self, message):
        seen.append(message)
    with mock.patch.multiple(basic.AnsibleModule, exit_json=exit_json, fail_json=fail_json, warn=warn):
        yield seen


def run(**args):
    with module_args(args):
        try:
            platform_facts.main()
        except AnsibleExitJson as done:
            return done.args[0]
        except AnsibleFailJson as failed:
            return failed.args[0]
    raise AssertionError('the module returned without exit_json or fail_json')


def expected(profile):
    with open(os.path.join(SYSROOTS, profile + '.expected.json')) as handle:
        return json.load(handle)['tao_platform']


@pytest.mark.parametrize('profile', ['nano-jp46', 'xavier-nx-jp51', 'orin-nx-jp62', 'agx-orin-jp62', 'thor-jp70',
                                     'dgpu-x86'])
def test_sets_tao_platform_facts_and_changes_nothing(warnings, profile):
    result = run(sysroot=os.path.join(SYSROOTS, profile), probe_interpreter=False)
    assert result['changed'] is False and 'failed' not in result
    facts = result['ansible_facts']['tao_platform']
    for name, value in expected(profile).items():
        assert facts[name] == value, name
    assert warnings == []


def test_check_mode_runs_every_probe(warnings):
    normal = run(sysroot=os.path.join(SYSROOTS, 'agx-orin-jp62'), probe_interpreter=False)
    checked = run(sysroot=os.path.join(SYSROOTS, 'agx-orin-jp62'), probe_interpreter=False, _ansible_check_mode=True)
    assert checked['changed'] is False
    assert checked['ansible_facts'] == normal['ansible_facts']
    assert checked['ansible_facts']['tao_platform']['power']['jetson_clocks'] is True


def test_warnings_reach_ansible(warnings, tmp_path):
    root = str(tmp_path / 'thor')
    shutil.copytree(os.path.join(SYSROOTS, 'thor-jp70'), root, symlinks=True)
    with open(os.path.join(root, 'etc/nv_tegra_release'), 'w') as handle:
        handle.write('# R40 (release), REVISION: 1.0, GCID: 1, BOARD: generic, EABI: aarch64, DATE: x\n')
    result = run(sysroot=root, probe_interpreter=False)
    facts = result['ansible_facts']['tao_platform']
    assert facts['jetpack'] is None and facts['supported'] is True
    assert warnings == facts['warnings']
    assert len(warnings) == 2
    assert 'partial upgrade' in warnings[0] and 'L4T R40.1.0 is not in' in warnings[1]


def test_default_sysroot_is_the_live_system(warnings):
    facts = run(probe_interpreter=False)['ansible_facts']['tao_platform']
    assert facts['sysroot'] == '/'
    assert facts['python']['version'] and facts['memory']['total_mb'] > 0


def test_missing_sysroot_fails_with_cause_and_fix(warnings, tmp_path):
    result = run(sysroot=str(tmp_path / 'absent'))
    assert result['failed'] is True and result['error_code'] == 'sysroot_missing'
    assert result['cause'] and result['fix']


def test_timeout_must_be_positive(warnings):
    result = run(sysroot=os.path.join(SYSROOTS, 'nano-jp46'), timeout=0)
    assert result['failed'] is True and result['error_code'] == 'invalid_argument'
