# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The rollout filters (canary per platform class, cumulative waves, thresholds, the verdict), called
directly. Controller code: needs ansible-core (ansible-test runs it on the controller Pythons)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

pytest.importorskip('ansible')

from ansible_collections.tao.fleet.plugins.filter.rollout import (  # noqa: E402
    FilterModule,
    RolloutError,
    rollout_judge,
    rollout_plan,
    rollout_settings,
    rollout_verdict,
    split_waves,
)
from ansible_collections.tao.fleet.plugins.module_utils._report import build_report  # noqa: E402

# Twelve hosts of three platform classes, in inventory order (as fleet.py --hosts 12 lays them out).
HOSTS = ['orin-%02d' % n if n % 3 == 1 else 'nano-%02d' % n if n % 3 == 2 else 'dgpu-%02d' % n for n in range(1, 13)]
CLASSES = dict((host, {'orin': 'jetpack6.2-orin_nx_16gb', 'nano': 'jetpack4.6.6-nano_4gb',
                       'dgpu': 'dgpu-rtx_4000_sff_ada_generation-580'}[host[:4]]) for host in HOSTS)


def deployed(host, wave='1', changed=True):
    return {'host': host, 'status': 'deployed' if changed else 'unchanged', 'stage': 'release', 'wave': wave,
            'model': {'name': 'peoplenet_standin', 'artifact': 'etlt'},
            'release': {'active': 'a' * 64, 'previous': 'b' * 64, 'changed': changed}, 'error': None,
            'changed': changed}


def failed(host, stage='smoke', code='smoke_failed', wave='1'):
    return {'host': host, 'status': 'failed', 'stage': stage, 'wave': wave,
            'error': {'msg': 'Smoke test of engine 1234 failed: 0 detections\nsecond line', 'cause': 'c', 'fix': 'f',
                      'code': code, 'stage': stage}, 'changed': False}


def test_registered_under_their_names():
    filters = FilterModule().filters()
    assert filters['rollout_plan'] is rollout_plan and filters['rollout_judge'] is rollout_judge
    assert filters['rollout_settings'] is rollout_settings and filters['rollout_verdict'] is rollout_verdict


# ---- settings ----------------------------------------------------------------------------------

def test_default_settings_are_10_50_100_percent_and_no_failure_allowed():
    settings = rollout_settings({})
    assert [wave['size'] for wave in settings['waves']] == ['10%', '50%', '100%']
    assert settings['failure_threshold'] == '0' and settings['canary'] is True and settings['rollback'] is True


@pytest.mark.parametrize('value, text', [(3, '3'), ('3', '3'), ('12.5%', '12.5%'), (' 50 % ', '50%'), ('100%', '100%')])
def test_wave_sizes_are_counts_or_percentages(value, text):
    assert rollout_settings({'waves': [value]})['waves'][0]['size'] == text


@pytest.mark.parametrize('waves, message', [
    (['0%'], 'percentage must be above 0%'),
    (['150%'], 'at most 100%'),
    ([0], 'needs at least one host'),
    ([True], 'neither a host count'),
    (['ten'], 'neither a host count'),
    ('10%', 'non-empty list'),
    ([], 'non-empty list'),
    (['50%', '10%'], 'deploy_model_waves[1] (10%) does not go past deploy_model_waves[0] (50%)'),
    ([{'size': '10%', 'threshold': 1}], 'must be a size or {size, failure_threshold}'),
])
def test_bad_waves_name_the_entry_and_the_rule(waves, message):
    with pytest.raises(RolloutError) as caught:
        rollout_settings({'waves': waves})
    assert message in str(caught.value)


def test_bad_threshold_and_unknown_settings_are_refused():
    with pytest.raises(RolloutError, match='deploy_model_failure_threshold is .*neither'):
        rollout_settings({'failure_threshold': 'some'})
    with pytest.raises(RolloutError, match='unknown rollout setting'):
        rollout_settings({'wave': ['10%']})
    with pytest.raises(RolloutError, match='deploy_model_canary must be true or false'):
        rollout_settings({'canary': 'yes'})


def test_a_wave_may_carry_its_own_threshold():
    settings = rollout_settings({'waves': [{'size': 1, 'failure_threshold': 0}, {'size': '100%', 'failure_threshold': '25%'}],
                                 'failure_threshold': 2})
    assert [(w['size'], w['failure_threshold']) for w in settings['waves']] == [('1', '0'), ('100%', '25%')]


# ---- waves -------------------------------------------------------------------------------------

def sizes(count, waves):
    return [len(wave['hosts']) for wave in split_waves(['h%d' % n for n in range(count)], rollout_settings({'waves': waves})['waves'])]


@pytest.mark.parametrize('count, expected', [(9, [1, 4, 4]), (6, [1, 2, 3]), (2, [1, 1]), (1, [1]), (0, [])])
def test_default_waves_are_cumulative_and_drop_empty_ones(count, expected):
    assert sizes(count, ['10%', '50%', '100%']) == expected


def test_counts_mix_with_percentages_and_the_rest_forms_a_last_wave():
    assert sizes(10, [1, '50%']) == [1, 4, 5]
    assert sizes(3, [5]) == [3]


def test_waves_keep_inventory_order_and_are_numbered_from_1():
    waves = split_waves(['a', 'b', 'c', 'd'], rollout_settings({'waves': [1, 3]})['waves'])
    assert [(w['name'], w['hosts']) for w in waves] == [('1', ['a']), ('2', ['b', 'c']), ('3', ['d'])]


# ---- the plan ----------------------------------------------------------------------------------

def test_canary_is_the_first_host_of_each_platform_class_in_inventory_order():
    plan = rollout_plan(HOSTS, CLASSES, {})
    assert plan['canary']['hosts'] == ['orin-01', 'nano-02', 'dgpu-03']
    assert plan['rest'] == HOSTS[3:]
    assert [w['hosts'] for w in plan['waves']] == [['orin-04'], ['nano-05', 'dgpu-06', 'orin-07', 'nano-08'],
                                                   ['dgpu-09', 'orin-10', 'nano-11', 'dgpu-12']]
    assert plan['serial'] == [1, 4, 4]
    assert plan['wave_of']['orin-01'] == 'canary' and plan['wave_of']['dgpu-12'] == '3'
    assert sorted(plan['classes']) == sorted(set(CLASSES.values()))


def test_hosts_that_failed_their_facts_take_no_part_and_the_next_of_their_class_is_canary():
    results = {'orin-01': {'status': 'unreachable', 'stage': 'facts'}, 'nano-02': None}
    classes = dict(CLASSES, **{'dgpu-03': None})
    plan = rollout_plan(HOSTS, classes, {}, results=results)
    assert plan['excluded'] == ['orin-01', 'dgpu-03']
    assert plan['canary']['hosts'] == ['nano-02', 'orin-04', 'dgpu-06']
    assert 'orin-01' not in plan['wave_of'] and len(plan['rest']) == 12 - 2 - 3


def test_without_canary_every_host_goes_into_the_waves():
    plan = rollout_plan(HOSTS[:4], CLASSES, {'canary': False, 'waves': ['50%']})
    assert plan['canary']['hosts'] == [] and [w['hosts'] for w in plan['waves']] == [HOSTS[:2], HOSTS[2:4]]


def test_a_fleet_with_one_host_per_class_has_no_wave_and_a_serial_ansible_accepts():
    plan = rollout_plan(HOSTS[:3], CLASSES, {})
    assert plan['waves'] == [] and plan['serial'] == [1]


def test_bad_settings_fail_the_plan():
    with pytest.raises(RolloutError, match=r'deploy_model_waves\[0\] is \'200%\': a percentage'):
        rollout_plan(HOSTS, CLASSES, {'waves': ['200%']})


# ---- judging -----------------------------------------------------------------------------------

def test_any_canary_failure_halts_before_the_waves():
    plan = rollout_plan(HOSTS, CLASSES, {'failure_threshold': '50%'})
    results = {'orin-01': deployed('orin-01', 'canary'), 'nano-02': failed('nano-02', wave='canary'),
               'dgpu-03': deployed('dgpu-03', 'canary')}
    judged = rollout_judge(plan, 'canary', results)
    assert judged['halted'] and judged['halted_at'] == 'canary'
    assert judged['canary']['outcome'] == 'failed'
    assert 'nano-02 (failed at smoke, smoke_failed): Smoke test of engine 1234 failed: 0 detections' in judged['reason']
    assert 'second line' not in judged['reason']
    assert plan['halted'] is False, 'the input plan is not changed'


def test_a_canary_without_a_result_counts_as_unreachable():
    plan = rollout_plan(HOSTS, CLASSES, {})
    judged = rollout_judge(plan, 'canary', {'orin-01': deployed('orin-01'), 'nano-02': deployed('nano-02')})
    assert judged['halted'] and 'dgpu-03 (unreachable' in judged['reason']


@pytest.mark.parametrize('threshold, failures, halts', [
    (0, 0, False), (0, 1, True), (1, 1, False), (1, 2, True),
    ('25%', 1, False), ('25%', 2, True), ('24%', 1, True), ('100%', 4, False),
])
def test_a_wave_halts_only_above_its_threshold(threshold, failures, halts):
    plan = rollout_plan(HOSTS, CLASSES, {'failure_threshold': threshold})
    wave = plan['waves'][1]['hosts']
    assert len(wave) == 4
    results = dict((host, failed(host, wave='2') if index < failures else deployed(host, '2'))
                   for index, host in enumerate(wave))
    judged = rollout_judge(plan, '2', results)
    assert judged['halted'] is halts
    assert judged['waves'][1]['outcome'] == ('failed' if halts else 'passed')
    assert judged['waves'][1]['failures'] == failures
    if halts:
        assert judged['reason'].startswith('Wave 2 failed on %d of 4 hosts, more than its failure threshold of %s'
                                           % (failures, judged['waves'][1]['failure_threshold']))


def test_unreachable_hosts_count_as_failures():
    plan = rollout_plan(HOSTS, CLASSES, {})
    results = {'orin-04': {'host': 'orin-04', 'status': 'unreachable', 'stage': 'engine',
                           'error': {'code': 'host_unreachable', 'msg': 'orin-04 stopped answering'}}}
    judged = rollout_judge(plan, '1', results)
    assert judged['halted'] and 'orin-04 (unreachable at engine, host_unreachable)' in judged['reason']


def test_waves_after_a_halt_are_skipped_and_the_reason_stays():
    plan = rollout_judge(rollout_plan(HOSTS, CLASSES, {}), '1', {'orin-04': failed('orin-04')})
    later = rollout_judge(plan, '2', {})
    assert later['waves'][1]['outcome'] == 'skipped' and later['reason'] == plan['reason']
    assert later['halted_at'] == '1'


def test_an_unknown_wave_is_an_error():
    with pytest.raises(RolloutError, match='no wave'):
        rollout_judge(rollout_plan(HOSTS, CLASSES, {}), '7', {})


# ---- the verdict -------------------------------------------------------------------------------

def test_a_clean_rollout_passes_and_reports_every_wave():
    plan = rollout_plan(HOSTS, CLASSES, {})
    results = dict((host, deployed(host, plan['wave_of'][host])) for host in HOSTS)
    for wave in ['canary', '1', '2', '3']:
        plan = rollout_judge(plan, wave, results)
    verdict = rollout_verdict(plan, results)
    assert verdict['failed'] is False and verdict['counts'] == {'deployed': 12}
    assert [(w['name'], w['outcome']) for w in verdict['rollout']['waves']] == [
        ('canary', 'passed'), ('1', 'passed'), ('2', 'passed'), ('3', 'passed')]
    assert verdict['rollout']['artifact'] == 'etlt' and verdict['rollout']['halted'] is False
    assert 'finished on 12 hosts (12 deployed)' in verdict['msg']


def test_a_halted_rollout_fails_and_names_hosts_causes_and_rollbacks():
    plan = rollout_plan(HOSTS, CLASSES, {'id': 'r1', 'model': 'peoplenet_standin'})
    results = dict((host, deployed(host, plan['wave_of'][host])) for host in HOSTS[:8])
    results['dgpu-06'] = failed('dgpu-06', stage='engine', code='model_key_rejected', wave='2')
    plan = rollout_judge(rollout_judge(rollout_judge(plan, 'canary', results), '1', results), '2', results)
    switched = ['orin-01', 'nano-02', 'dgpu-03', 'orin-04', 'nano-05', 'orin-07', 'nano-08']
    for host in switched:
        results[host] = dict(results[host], status='rolled_back', stage='rollback')
    for host in plan['waves'][2]['hosts']:
        results[host] = {'host': host, 'status': 'skipped', 'wave': plan['wave_of'][host]}
    plan = rollout_judge(plan, '3', results)
    verdict = rollout_verdict(plan, results)
    assert verdict['failed'] is True
    assert verdict['msg'].startswith('Rollout r1 of peoplenet_standin HALTED: wave 2 failed on 1 of 4 hosts')
    assert 'Returned to their previous engine (7): %s.' % ', '.join(switched) in verdict['msg']
    assert 'dgpu-06 (failed at engine, model_key_rejected)' in verdict['msg']
    assert verdict['rolled_back'] == switched
    outcomes = dict((w['name'], w['outcome']) for w in verdict['rollout']['waves'])
    assert outcomes == {'canary': 'rolled_back', '1': 'rolled_back', '2': 'failed', '3': 'skipped'}
    assert verdict['skipped'] == plan['waves'][2]['hosts']
    assert verdict['rollout']['rolled_back'] is True and verdict['rollout']['reason'] == plan['reason']


def test_a_halted_first_deployment_keeps_the_engines_it_has_nothing_to_return_from():
    plan = rollout_plan(HOSTS[:6], CLASSES, {'id': 'r3', 'model': 'm'})
    results = {'orin-01': deployed('orin-01', 'canary'), 'nano-02': failed('nano-02', wave='canary'),
               'dgpu-03': deployed('dgpu-03', 'canary')}
    plan = rollout_judge(plan, 'canary', results)
    verdict = rollout_verdict(plan, results)
    assert verdict['kept'] == ['orin-01', 'dgpu-03'] and verdict['rolled_back'] == []
    assert 'Kept the new engine, having none before it to return to (2): orin-01, dgpu-03.' in verdict['msg']
    off = rollout_verdict(rollout_judge(rollout_plan(HOSTS[:6], CLASSES, {'rollback': False}), 'canary', results),
                          results)
    assert 'Rollback is off (deploy_model_rollback_on_halt: false)' in off['msg']


def test_failures_under_the_threshold_still_fail_the_run():
    plan = rollout_plan(HOSTS[:6], CLASSES, {'failure_threshold': '50%'})
    results = dict((host, deployed(host, plan['wave_of'][host])) for host in HOSTS[:6])
    results['dgpu-06'] = {'host': 'dgpu-06', 'status': 'unreachable', 'stage': 'fetch',
                          'error': {'code': 'host_unreachable', 'msg': 'dgpu-06 stopped answering at stage fetch'}}
    for wave in ['canary', '1', '2']:
        plan = rollout_judge(plan, wave, results)
    verdict = rollout_verdict(plan, results)
    assert plan['halted'] is False and verdict['failed'] is True
    assert 'not on every host: 1 of 6 failed or were unreachable' in verdict['msg']
    assert 'dgpu-06 (unreachable at fetch, host_unreachable)' in verdict['msg']


def test_a_check_run_says_so():
    plan = rollout_plan(HOSTS[:3], CLASSES, {})
    results = dict((host, dict(deployed(host, 'canary'), check_mode=True)) for host in HOSTS[:3])
    verdict = rollout_verdict(rollout_judge(plan, 'canary', results), results)
    assert verdict['failed'] is False and verdict['msg'].startswith('Check mode: nothing was changed')
    # what a real run would do, not what happened; and the report is told it is of a check run
    assert 'would finish on 3 hosts' in verdict['msg'] and ' finished' not in verdict['msg']
    assert (verdict['rollout']['check_mode'], verdict['rollout']['kind']) == (True, 'rollout')
    report = build_report(HOSTS[:3], results, rollout=verdict['rollout'], generated_at='2026-11-23T08:07:09Z')
    assert report['summary']['check_mode'] is True
    real = dict((host, deployed(host, 'canary')) for host in HOSTS[:3])
    assert rollout_verdict(rollout_judge(plan, 'canary', real), real)['rollout']['check_mode'] is False


def test_a_host_without_facts_is_left_out_of_the_plan_not_a_crash():
    # an offline host: no facts (no class) and its facts stage's result says unreachable
    gone = {'host': HOSTS[0], 'status': 'unreachable', 'stage': 'facts',
            'error': {'code': 'host_unreachable', 'msg': 'did not answer'}}
    classes = dict(CLASSES, **{HOSTS[0]: ''})
    plan = rollout_plan(HOSTS[:3], classes, {}, results={HOSTS[0]: gone, HOSTS[1]: {}, HOSTS[2]: {}})
    assert plan['excluded'] == [HOSTS[0]] and HOSTS[0] not in plan['wave_of']
    assert sorted(plan['canary']['hosts'] + plan['rest']) == sorted(HOSTS[1:3])


def test_the_report_takes_the_verdict_as_its_rollout():
    """The rollout facts go to role tao.fleet.fleet_report unchanged: its summary must agree."""
    plan = rollout_plan(HOSTS[:6], CLASSES, {'id': 'r2', 'model': 'peoplenet_standin'})
    results = dict((host, deployed(host, plan['wave_of'][host])) for host in HOSTS[:3])
    results['orin-04'] = failed('orin-04')
    plan = rollout_judge(rollout_judge(plan, 'canary', results), '1', results)
    for host in HOSTS[:3]:
        results[host] = dict(results[host], status='rolled_back', stage='rollback')
    for host in HOSTS[4:6]:
        results[host] = {'host': host, 'status': 'skipped', 'wave': plan['wave_of'][host]}
    plan = rollout_judge(rollout_judge(plan, '2', results), '3', results)
    verdict = rollout_verdict(plan, results)
    report = build_report(HOSTS[:6], results, rollout=verdict['rollout'], generated_at='2026-11-23T08:07:09Z')
    summary = report['summary']
    assert summary['outcome'] == 'failed' and summary['halted'] is True and summary['rolled_back'] is True
    assert summary['by_status']['rolled_back'] == 3 and summary['by_status']['skipped'] == 2
    assert [(w['name'], w['outcome']) for w in summary['waves']] == [
        ('canary', 'rolled_back'), ('1', 'failed'), ('2', 'skipped'), ('3', 'skipped')]
    assert summary['canary']['outcome'] == 'passed'


def test_platform_warnings_are_counted_in_the_closing_message():
    plan = rollout_plan(HOSTS[:3], CLASSES, {})
    results = dict((host, deployed(host, 'canary')) for host in HOSTS[:3])
    assert 'Platform warnings' not in rollout_verdict(rollout_judge(plan, 'canary', results), results)['msg']
    results[HOSTS[1]] = dict(results[HOSTS[1]], platform_warnings=['venv TensorRT is not the system one'])
    verdict = rollout_verdict(rollout_judge(plan, 'canary', results), results)
    assert verdict['failed'] is False
    assert 'Platform warnings on 1 host(s), in the fleet report: %s.' % HOSTS[1] in verdict['msg']


# ---- the run's tags: which deploying plays run --------------------------------------------------------------

def test_canary_only_leaves_the_waves_hosts_out_of_the_run_and_the_verdict_names_them():
    plan = rollout_plan(HOSTS, CLASSES, {'stages': ['canary']})
    assert plan['canary']['hosts'] == ['orin-01', 'nano-02', 'dgpu-03']
    assert plan['waves'] == [] and plan['rest'] == [] and plan['serial'] == [1]
    assert plan['hosts'] == ['orin-01', 'nano-02', 'dgpu-03'] and plan['not_run'] == HOSTS[3:]
    judged = rollout_judge(plan, 'canary', dict((host, deployed(host, 'canary')) for host in plan['canary']['hosts']))
    verdict = rollout_verdict(judged, dict((host, deployed(host, 'canary')) for host in plan['canary']['hosts']))
    assert not verdict['failed']
    assert verdict['msg'].startswith('Rollout  of the model finished on 3 hosts (3 deployed).')
    assert 'Only the canary ran (the run\'s tags left out the waves): not touched (9): orin-04, nano-05' in verdict['msg']


def test_no_deploying_stage_plans_and_deploys_no_host():
    plan = rollout_plan(HOSTS, CLASSES, {'stages': []})
    assert (plan['hosts'], plan['canary']['hosts'], plan['waves'], plan['stages']) == ([], [], [], [])
    assert plan['not_run'] == HOSTS


def test_both_stages_are_the_default_and_leave_nobody_out():
    plan = rollout_plan(HOSTS, CLASSES, {})
    assert plan['stages'] == ['canary', 'waves'] and plan['not_run'] == [] and plan['hosts'] == HOSTS
    assert 'Only the' not in rollout_verdict(plan, {})['msg']


def test_waves_without_their_canary_are_refused_unless_the_canary_is_off():
    with pytest.raises(RolloutError, match='deploy the waves without their canary'):
        rollout_plan(HOSTS, CLASSES, {'stages': ['waves']})
    plan = rollout_plan(HOSTS, CLASSES, {'stages': ['waves'], 'canary': False})
    assert plan['canary']['hosts'] == [] and plan['not_run'] == [] and len(plan['rest']) == 12


@pytest.mark.parametrize('stages', ['canary', ['canary', 'report'], None])
def test_stages_of_another_shape_are_refused(stages):
    with pytest.raises(RolloutError, match='stages must be a list of canary and waves'):
        rollout_settings({'stages': stages})
