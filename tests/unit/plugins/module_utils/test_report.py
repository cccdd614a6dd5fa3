# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The fleet report's data, JSON and JUnit XML, from the result sets in tests/report/fixtures."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.tao.fleet.plugins.module_utils._report import (
    OK_STATUSES,
    PROBLEM_STATUSES,
    SCHEMA,
    build_report,
    normalize_result,
    render_json,
    render_junit,
    RESULT_SECTIONS,
)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
FIXTURES = os.path.join(REPO, 'tests', 'report', 'fixtures')
SCENARIOS = sorted(name[:-len('.json')] for name in os.listdir(FIXTURES) if name.endswith('.json'))
STAMP = '2026-11-23T08:07:09Z'


def scenario(name):
    with open(os.path.join(FIXTURES, name + '.json')) as handle:
        return json.load(handle)


def report_of(name, **options):
    data = scenario(name)
    return build_report(data['hosts'], data['results'], data['rollout'], generated_at=STAMP, **options)


def test_fixtures_cover_the_required_scenarios():
    assert set(SCENARIOS) >= set(['clean', 'canary_failure', 'wave_rollback', 'unreachable', 'all_failed'])


@pytest.mark.parametrize('name', SCENARIOS)
def test_one_entry_per_host_problems_first(name):
    data = scenario(name)
    report = report_of(name)
    assert sorted(entry['host'] for entry in report['hosts']) == sorted(data['hosts'])
    statuses = [entry['status'] for entry in report['hosts']]
    problem = [status in PROBLEM_STATUSES for status in statuses]
    # every problem host comes before every other host
    assert problem == sorted(problem, reverse=True), statuses
    first_failed = [status for status in statuses if status in ('failed', 'unreachable')]
    assert statuses[:len(first_failed)] == first_failed, statuses


@pytest.mark.parametrize('name', SCENARIOS)
def test_every_entry_has_every_schema_key(name):
    for entry in report_of(name)['hosts']:
        for section, keys in RESULT_SECTIONS.items():
            assert set(keys) <= set(entry[section]), (entry['host'], section)
        for key in ('host', 'status', 'stage', 'wave', 'platform_class', 'error', 'changed', 'reported'):
            assert key in entry
        if entry['status'] in ('failed', 'unreachable'):
            assert entry['error'] and entry['error']['msg'], entry['host']


def test_host_without_a_result_is_unreachable_with_cause_and_fix():
    report = report_of('unreachable')
    missing = [entry for entry in report['hosts'] if not entry['reported']]
    assert [entry['host'] for entry in missing] == ['agx-orin-jp62']
    entry = missing[0]
    assert entry['status'] == 'unreachable' and report['hosts'][0] is entry
    assert entry['error']['code'] == 'host_unreachable'
    assert entry['error']['cause'] and '--limit' in entry['error']['fix']
    assert report['summary']['by_status']['unreachable'] == 1
    assert report['summary']['outcome'] == 'failed'


def test_missing_hosts_can_count_as_skipped():
    report = report_of('unreachable', missing_status='skipped')
    entry = [item for item in report['hosts'] if item['host'] == 'agx-orin-jp62'][0]
    assert entry['status'] == 'skipped' and entry['error'] is None
    assert report['summary']['outcome'] == 'succeeded'
    with pytest.raises(ValueError):
        report_of('unreachable', missing_status='deployed')


def test_hosts_left_out_on_purpose_are_skipped_not_unreachable():
    data = scenario('unreachable')
    report = build_report(data['hosts'] + ['later-01'], data['results'], data['rollout'], generated_at=STAMP,
                          skipped_hosts=['later-01', 'nano-jp46'])
    by_host = dict((entry['host'], entry['status']) for entry in report['hosts'])
    assert by_host['later-01'] == 'skipped' and by_host['agx-orin-jp62'] == 'unreachable'
    assert by_host['nano-jp46'] == 'deployed'  # a recorded result always wins


def test_clean_rollout_succeeds():
    report = report_of('clean')
    summary = report['summary']
    assert summary['outcome'] == 'succeeded' and summary['problems'] == 0
    assert summary['by_status']['deployed'] == 5 and summary['by_status']['unchanged'] == 1
    assert summary['engines'] == {'built': 5, 'reused': 1, 'shared': 0}
    assert summary['test_doubles'] == 2
    assert summary['canary']['outcome'] == 'passed'
    assert [wave['name'] for wave in summary['waves']] == ['canary']


def test_wave_failure_with_rollback():
    report = report_of('wave_rollback')
    summary = report['summary']
    assert summary['by_status']['failed'] == 2 and summary['by_status']['rolled_back'] == 10
    assert summary['halted'] and summary['rolled_back'] and summary['outcome'] == 'failed'
    assert [entry['host'] for entry in report['hosts'][:2]] == ['nano-jp46-02', 'thor-jp70-02']
    waves = dict((wave['name'], wave) for wave in summary['waves'])
    assert list(waves) == ['canary', '1']
    assert waves['canary']['outcome'] == 'rolled_back' and waves['1']['outcome'] == 'failed'
    assert summary['canary']['outcome'] == 'passed'  # as the playbook states it
    assert summary['engines']['shared'] == 4


def test_canary_failure_halts_and_skips_wave_one():
    report = report_of('canary_failure')
    summary = report['summary']
    assert report['hosts'][0]['host'] == 'xavier-nx-jp51'
    assert summary['by_status']['skipped'] == 6 and summary['canary']['outcome'] == 'failed'
    assert [wave['outcome'] for wave in summary['waves']] == ['failed', 'skipped']


def test_all_failed_with_partial_results():
    report = report_of('all_failed')
    assert report['summary']['by_status']['failed'] == 6
    nano = [entry for entry in report['hosts'] if entry['host'] == 'nano-jp46'][0]
    assert nano['platform']['tensorrt'] is None and nano['smoke']['latency_ms'] is None
    assert nano['error']['stage'] is None and nano['error']['code'] == 'facts_failed'
    assert report['chart']['classes'] == []


def test_waves_the_playbook_lists_but_never_started():
    data = scenario('clean')
    rollout = dict(data['rollout'], waves=[{'name': 'canary'}, {'name': '1', 'hosts': ['later-01']},
                                           {'name': '2', 'outcome': 'skipped'}])
    report = build_report(data['hosts'], data['results'], rollout, generated_at=STAMP)
    assert [(wave['name'], wave['outcome'], wave['hosts']) for wave in report['summary']['waves']][1:] == [
        ('1', 'not_started', ['later-01']), ('2', 'skipped', [])]


def test_unknown_and_missing_status_sort_with_problems():
    results = {'a': {'status': 'deployed'}, 'b': {'status': 'exploded'}, 'c': {'stage': 'engine'}}
    report = build_report(['a', 'b', 'c'], results, generated_at=STAMP)
    by_host = dict((entry['host'], entry) for entry in report['hosts'])
    assert by_host['c']['status'] == 'failed' and by_host['c']['error']['code'] == 'result_incomplete'
    assert [entry['host'] for entry in report['hosts']][-1] == 'a'
    assert report['summary']['outcome'] == 'failed' and report['summary']['problems'] == 2


def test_duplicate_hosts_and_non_dict_errors():
    report = build_report(['a', 'a'], {'a': {'status': 'failed', 'error': 'plain text'}}, generated_at=STAMP)
    assert len(report['hosts']) == 1
    assert report['hosts'][0]['error']['msg'] == 'plain text'


def test_result_is_copied_not_changed():
    result = {'status': 'deployed', 'smoke': {'passed': True}}
    entry = normalize_result('h', result)
    entry['smoke']['passed'] = False
    assert result == {'status': 'deployed', 'smoke': {'passed': True}}


def test_chart_is_the_median_per_platform_class():
    report = report_of('wave_rollback')
    rows = dict((row['platform_class'], row) for row in report['chart']['classes'])
    # nano-jp46-02 failed before its smoke test: its class has one measured host
    assert rows['jetpack4.6.6-nano_4gb']['hosts'] == ['nano-jp46']
    assert rows['jetpack5.1.2-xavier_nx_16gb']['hosts'] == ['xavier-nx-jp51', 'xavier-nx-jp51-02']
    assert rows['jetpack5.1.2-xavier_nx_16gb']['p50_ms'] == 1.12
    assert all(row['engine_executed'] is False for row in rows.values())
    assert all(row['backends'] == ['onnxruntime-cpu'] for row in rows.values())
    results = dict((host, {'status': 'deployed', 'platform_class': 'x',
                           'smoke': {'latency_ms': {'p50': p50, 'p95': p95}, 'engine_executed': True}})
                   for host, p50, p95 in (('a', 1, 4), ('b', 3, 5)))
    row = build_report(['a', 'b'], results, generated_at=STAMP)['chart']['classes'][0]
    assert (row['p50_ms'], row['p95_ms'], row['engine_executed']) == (2.0, 4.5, True)


@pytest.mark.parametrize('name', SCENARIOS)
def test_json_round_trip(name):
    report = report_of(name)
    assert json.loads(render_json(report)) == json.loads(json.dumps(report))
    assert json.loads(render_json(report))['schema'] == SCHEMA == 1


@pytest.mark.parametrize('name', SCENARIOS)
def test_junit_one_testcase_per_host(name):
    report = report_of(name)
    root = ET.fromstring(render_junit(report).encode('utf-8'))
    suite = root.find('testsuite')
    cases = suite.findall('testcase')
    assert [case.get('name') for case in cases] == [entry['host'] for entry in report['hosts']]
    by_status = report['summary']['by_status']
    failures = sum(count for status, count in by_status.items() if status not in OK_STATUSES + ('skipped',))
    for element in (root, suite):
        assert element.get('tests') == str(len(cases))
        assert element.get('failures') == str(failures)
        assert element.get('skipped') == str(by_status['skipped'])
    for case, entry in zip(cases, report['hosts']):
        failure, skipped = case.find('failure'), case.find('skipped')
        if entry['status'] in OK_STATUSES:
            assert failure is None and skipped is None
        elif entry['status'] == 'skipped':
            assert skipped is not None and failure is None
        elif entry['error'] is None:
            assert entry['status'] == 'rolled_back'
            assert failure.get('message') == 'engine release rolled back: %s' % report['summary']['reason']
        else:
            assert failure.get('message') == entry['error']['msg'].split('\n')[0]
            if entry['error'].get('cause'):
                assert 'Cause: %s' % entry['error']['cause'] in failure.text
            if entry['error'].get('fix'):
                assert 'Fix: %s' % entry['error']['fix'] in failure.text
        assert entry['host'] in case.get('name') and case.find('system-out') is not None


def test_junit_survives_control_characters_and_markup():
    results = {'h': {'status': 'failed', 'error': {'msg': 'TensorRT said \x1b[31m<bad> & \x00 worse',
                                                   'cause': 'c', 'fix': 'f'}}}
    text = render_junit(build_report(['h'], results, generated_at=STAMP))
    failure = ET.fromstring(text.encode('utf-8')).find('testsuite/testcase/failure')
    assert '<bad> & ' in failure.get('message') and '\x00' not in failure.get('message')


def rolled_back_fleet():
    """The clean fleet after playbook rollback: every host back on its previous engine."""
    data = scenario('clean')
    results = {}
    for host, result in data['results'].items():
        results[host] = dict(result, status='rolled_back', stage='rollback', active_engine='b' * 64,
                             rolled_back_from=result['engine']['fingerprint'])
    return data['hosts'], results


def test_a_rollback_report_counts_rolled_back_hosts_as_done():
    hosts, results = rolled_back_fleet()
    rollback = build_report(hosts, results, {'kind': 'rollback'}, generated_at=STAMP)
    assert (rollback['summary']['kind'], rollback['summary']['outcome']) == ('rollback', 'succeeded')
    assert rollback['hosts'][0]['active_engine'] == 'b' * 64
    suite = ET.fromstring(render_junit(rollback).encode('utf-8')).find('testsuite')
    assert suite.get('failures') == '0'
    # the same hosts in a rollout's report: the new engine did not stay, which is a failure
    rollout = build_report(hosts, results, {}, generated_at=STAMP)
    assert (rollout['summary']['kind'], rollout['summary']['outcome']) == ('rollout', 'failed')
    assert ET.fromstring(render_junit(rollout).encode('utf-8')).find('testsuite').get('failures') == str(len(hosts))
    # a failed host still fails a rollback
    results[hosts[0]] = dict(results[hosts[0]], status='failed', error={'msg': 'no previous engine'})
    assert build_report(hosts, results, {'kind': 'rollback'}, generated_at=STAMP)['summary']['outcome'] == 'failed'
    with pytest.raises(ValueError, match='rollout kind'):
        build_report(hosts, results, {'kind': 'upgrade'}, generated_at=STAMP)


def test_a_check_run_is_marked_from_the_rollout_or_any_host():
    data = scenario('clean')
    assert report_of('clean')['summary']['check_mode'] is False
    assert build_report(data['hosts'], data['results'], dict(data['rollout'], check_mode=True),
                        generated_at=STAMP)['summary']['check_mode'] is True
    # through a template the flag may arrive as text
    assert build_report(data['hosts'], data['results'], dict(data['rollout'], check_mode='False'),
                        generated_at=STAMP)['summary']['check_mode'] is False
    results = dict(data['results'])
    first = data['hosts'][0]
    results[first] = dict(results[first], check_mode=True)
    report = build_report(data['hosts'], results, data['rollout'], generated_at=STAMP)
    assert report['summary']['check_mode'] is True
    assert [e['host'] for e in report['hosts'] if e['check_mode']] == [first]


def test_warnings_are_kept_per_host_and_counted():
    data = scenario('clean')
    results = dict(data['results'])
    first = data['hosts'][0]
    results[first] = dict(results[first], warnings=['Made active engine 0123 again'])
    report = build_report(data['hosts'], results, data['rollout'], generated_at=STAMP)
    assert report['summary']['warnings'] == 1
    entry = [e for e in report['hosts'] if e['host'] == first][0]
    assert entry['warnings'] == ['Made active engine 0123 again']
    assert all(e['warnings'] == [] for e in report['hosts'] if e['host'] != first)


# ---- one host's malformed result never stops the fleet's report (issue 16, row 13) ----------------------

@pytest.mark.parametrize('malformed', [
    {'status': ['deployed']}, {'status': 'deployed', 'platform_class': {'a': 1}},
    {'status': 'deployed', 'platform': {'tensorrt': 'ten'}}, {'status': 'deployed', 'engine': {'fingerprint': 5.5j}},
    {'status': 'deployed', 'engine': {'fingerprint': ['ab']}}, {'status': 'failed', 'error': {'msg': ['x']}},
    {'status': 'deployed', 'smoke': {'latency_ms': {'p50': [1]}}}, {'status': 'deployed', 'wave': {'n': 1}},
    {'status': 'failed', 'error': ['not', 'text']}, {'status': 'deployed', 'smoke': {'latency_ms': 'fast'}},
])
def test_a_malformed_host_result_is_flagged_and_the_report_still_renders(malformed):
    good = scenario('clean')
    hosts = list(good['hosts']) + ['liar']
    results = dict(good['results'], liar=malformed)
    report = build_report(hosts, results, good['rollout'], generated_at=STAMP)
    by_host = dict((entry['host'], entry) for entry in report['hosts'])
    liar = by_host['liar']
    assert liar['status'] == 'failed' and liar['error']['code'] == 'result_malformed'
    assert 'malformed' in liar['error']['msg'] and liar['error']['fix']
    assert all(by_host[host]['status'] == normalize_result(host, good['results'].get(host))['status']
               for host in good['hosts'])                      # every other host as before
    render_json(report)
    ET.fromstring(render_junit(report).split('\n', 1)[1])
    from ansible_collections.tao.fleet.plugins.module_utils._report_html import render_html
    assert 'liar' in render_html(report)


def test_well_formed_results_of_every_fixture_are_not_flagged():
    # jetpack, l4t and module may be the platform facts' own dicts (docs/fleet-report.md)
    facts_dicts = {'status': 'deployed', 'platform': {'jetpack': {'version': '6.2.1', 'major': 6},
                                                      'l4t': {'release': '36.4.4'}, 'module': {'name': 'Orin'}}}
    assert normalize_result('h', facts_dicts)['status'] == 'deployed'
    for name in SCENARIOS:
        for entry in report_of(name)['hosts']:
            assert (entry['error'] or {}).get('code') != 'result_malformed', (name, entry['host'])
