# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""fleet_report_files through AnsibleModule, writing real files in a tmp dir."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import xml.etree.ElementTree as ET


from ansible_collections.tao.fleet.plugins.module_utils._report import build_report
from ansible_collections.tao.fleet.plugins.module_utils._report_html import render_html
from ansible_collections.tao.fleet.plugins.modules import fleet_report_files
from ansible_collections.tao.fleet.tests.unit.plugins.modules.module_harness import AnsibleExitJson, AnsibleFailJson, module_args

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
FIXTURES = os.path.join(REPO, 'tests', 'report', 'fixtures')
STAMP = '2026-11-23T08:07:09Z'


def scenario(name):
    with open(os.path.join(FIXTURES, name + '.json')) as handle:
        return json.load(handle)


def run(dest, fixture='wave_rollback', **args):
    data = scenario(fixture)
    args.setdefault('dest', str(dest))
    args.setdefault('hosts', data['hosts'])
    args.setdefault('results', data['results'])
    args.setdefault('rollout', data['rollout'])
    args.setdefault('generated_at', STAMP)
    with module_args(args):
        try:
            fleet_report_files.main()
        except AnsibleExitJson as done:
            return done.args[0]
        except AnsibleFailJson as failed:
            return failed.args[0]
    raise AssertionError('the module returned without exit_json or fail_json')


def test_writes_three_files_and_latest(tmp_path):
    result = run(tmp_path)
    assert result['changed'] is True and result['outcome'] == 'failed'
    report_dir = str(tmp_path / '20261123T080709Z')
    assert result['report_dir'] == report_dir and sorted(os.listdir(report_dir)) == [
        'report.html', 'report.json', 'report.junit.xml']
    assert os.readlink(str(tmp_path / 'latest')) == '20261123T080709Z'
    assert result['url'] == 'file://' + os.path.join(report_dir, 'report.html')
    assert result['url'] in result['msg'] and '2 failed' in result['msg']
    data = scenario('wave_rollback')
    with open(result['files']['json']) as handle:
        written = json.load(handle)
    assert written == json.loads(json.dumps(build_report(data['hosts'], data['results'], data['rollout'],
                                                         generated_at=STAMP)))
    with open(result['files']['html'], 'rb') as handle:
        assert handle.read().decode('utf-8') == render_html(build_report(
            data['hosts'], data['results'], data['rollout'], generated_at=STAMP))
    cases = ET.parse(result['files']['junit']).getroot().findall('testsuite/testcase')
    assert len(cases) == len(data['hosts'])
    assert sorted(os.listdir(str(tmp_path))) == ['20261123T080709Z', 'latest']


def test_same_inputs_change_nothing(tmp_path):
    run(tmp_path)
    mtime = os.stat(str(tmp_path / '20261123T080709Z' / 'report.html')).st_mtime_ns
    again = run(tmp_path)
    assert again['changed'] is False
    assert os.stat(str(tmp_path / '20261123T080709Z' / 'report.html')).st_mtime_ns == mtime


def test_check_mode_writes_nothing(tmp_path):
    result = run(tmp_path / 'reports', _ansible_check_mode=True)
    assert result['changed'] is True and 'would be written' in result['msg']
    assert not (tmp_path / 'reports').exists()


def test_a_later_run_moves_latest_and_keeps_the_older_report(tmp_path):
    run(tmp_path)
    later = run(tmp_path, fixture='clean', generated_at='2026-11-23T09:00:00Z')
    assert later['outcome'] == 'succeeded'
    assert os.readlink(str(tmp_path / 'latest')) == '20261123T090000Z'
    assert sorted(os.listdir(str(tmp_path))) == ['20261123T080709Z', '20261123T090000Z', 'latest']


def test_the_report_of_a_check_run_has_its_own_directory_and_leaves_latest_alone(tmp_path):
    run(tmp_path)
    data = scenario('clean')
    checked = run(tmp_path, fixture='clean', generated_at='2026-11-23T09:00:00Z',
                  rollout=dict(data['rollout'], check_mode=True))
    assert checked['check_run'] is True and checked['latest'] is None and 'check run' in checked['msg']
    assert checked['report_dir'] == str(tmp_path / '20261123T090000Z-check')
    assert os.readlink(str(tmp_path / 'latest')) == '20261123T080709Z'
    assert sorted(os.listdir(str(tmp_path))) == ['20261123T080709Z', '20261123T090000Z-check', 'latest']
    # a real run after it moves latest as before
    assert run(tmp_path, fixture='clean', generated_at='2026-11-23T10:00:00Z')['check_run'] is False
    assert os.readlink(str(tmp_path / 'latest')) == '20261123T100000Z'


def test_rewriting_a_named_report_replaces_changed_files(tmp_path):
    first = run(tmp_path, name='nightly')
    second = run(tmp_path, name='nightly', generated_at='2026-11-24T00:00:00Z')
    assert first['changed'] and second['changed']
    with open(second['files']['json']) as handle:
        assert json.load(handle)['generated_at'] == '2026-11-24T00:00:00Z'
    assert os.readlink(str(tmp_path / 'latest')) == 'nightly'


def test_no_latest_link_when_asked(tmp_path):
    result = run(tmp_path, latest=False)
    assert result['latest'] is None and not os.path.lexists(str(tmp_path / 'latest'))


def test_bad_inputs_fail_with_a_fix(tmp_path):
    (tmp_path / 'latest').mkdir()
    result = run(tmp_path)
    assert result['failed'] and 'not a symlink' in result['msg'] and 'latest: false' in result['fix']
    result = run(tmp_path / 'x', name='../escape')
    assert result['failed'] and result['error_code'] == 'invalid_argument'
    result = run(tmp_path / 'x', generated_at='yesterday')
    assert result['failed'] and 'YYYY-MM-DDTHH:MM:SSZ' in result['fix']


def test_every_host_without_a_result(tmp_path):
    result = run(tmp_path, results={})
    assert result['summary']['by_status']['unreachable'] == 12 and result['outcome'] == 'failed'
    assert os.path.isfile(result['files']['html'])
