# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Controller-side decisions of a canary-then-waves rollout (role tao.fleet.deploy_model).

Plain data in, plain data out, so the plays stay declarative and every rule is unit-tested here:
``rollout_settings`` checks the playbook's settings, ``rollout_plan`` picks one canary per platform
class and splits the rest into waves, ``rollout_judge`` holds a finished canary or wave against its
failure threshold, ``rollout_verdict`` sums up the run (report facts and the closing message).
Documentation for ansible-doc: the sidecar files ``rollout_*.yml`` beside this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

from ansible.errors import AnsibleFilterError

CANARY = 'canary'
# the deploying plays of playbooks/deploy_model.yml, each its own tag (with tag deploy for both)
STAGES = (CANARY, 'waves')
DEFAULT_WAVES = ('10%', '50%', '100%')
FAILING_STATUSES = ('failed', 'unreachable')
_PERCENT = re.compile(r'^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$')
_COUNT = re.compile(r'^\s*([0-9]+)\s*$')


class RolloutError(AnsibleFilterError):
    """A rollout setting or state that cannot be used; the message names it and the fix."""


# ---- settings ----------------------------------------------------------------------------------

def _amount(value, where, allow_zero):
    """('percent', float) or ('count', int) from 5, '5', '12.5%'. Booleans are refused: YAML's
    ``yes`` would otherwise count as one host."""
    if isinstance(value, bool) or value is None:
        match = None
    elif isinstance(value, int):
        match = _COUNT.match(str(value))
    else:
        text = str(value)
        match = _PERCENT.match(text)
        if match:
            percent = float(match.group(1))
            if percent > 100 or (percent == 0 and not allow_zero):
                raise RolloutError('%s is %r: a percentage must be %s 100%%.'
                                   % (where, value, 'from 0% to' if allow_zero else 'above 0% and at most'))
            return 'percent', percent
        match = _COUNT.match(text)
    if not match:
        raise RolloutError('%s is %r, which is neither a host count (3) nor a percentage (\'10%%\').'
                           % (where, value))
    count = int(match.group(1))
    if count == 0 and not allow_zero:
        raise RolloutError('%s is 0: a wave needs at least one host (or a percentage such as \'10%%\').' % where)
    return 'count', count


def _text(kind, amount):
    if kind == 'count':
        return str(amount)
    return '%s%%' % (('%d' % amount) if amount == int(amount) else ('%g' % amount))


def rollout_settings(settings):
    """Checked and normalised rollout settings; every problem raises naming the playbook variable it
    comes from (deploy_model_waves, deploy_model_failure_threshold, ...).

    ``settings``: ``waves`` (list of wave ends, each a host count, a percentage of the hosts after
    the canary, or ``{size, failure_threshold}``; cumulative: ``['10%', '50%', '100%']``),
    ``failure_threshold`` (failed hosts a wave may have: count or percentage of the wave),
    ``canary`` (bool), ``rollback`` (bool), ``id``, ``model``, ``stages`` (which of ``canary`` and ``waves``
    this run deploys: the playbook's ``--tags`` and ``--skip-tags``; default both)."""
    if not isinstance(settings, dict):
        raise RolloutError('rollout settings must be a dict, got %s.' % type(settings).__name__)
    known = set(('waves', 'failure_threshold', 'canary', 'rollback', 'id', 'model', 'stages'))
    unknown = sorted(set(settings) - known)
    if unknown:
        raise RolloutError('unknown rollout setting(s) %s; known: %s.' % (', '.join(unknown), ', '.join(sorted(known))))
    threshold = settings.get('failure_threshold', 0)
    default_kind, default_amount = _amount(threshold, 'deploy_model_failure_threshold', allow_zero=True)
    waves = settings.get('waves')
    if waves is None:
        waves = list(DEFAULT_WAVES)
    if isinstance(waves, (str, bytes)) or not isinstance(waves, (list, tuple)) or not waves:
        raise RolloutError('deploy_model_waves must be a non-empty list such as [\'10%%\', \'50%%\', \'100%%\'], '
                           'got %r.' % (waves,))
    normalised = []
    for index, wave in enumerate(waves):
        where = 'deploy_model_waves[%d]' % index
        if isinstance(wave, dict):
            extra = sorted(set(wave) - set(('size', 'failure_threshold')))
            if extra or 'size' not in wave:
                raise RolloutError('%s must be a size or {size, failure_threshold}, got keys %s.'
                                   % (where, ', '.join(sorted(wave)) or 'none'))
            size = wave['size']
            kind, amount = _amount(wave.get('failure_threshold', threshold), where + '.failure_threshold',
                                   allow_zero=True) if 'failure_threshold' in wave else (default_kind, default_amount)
        else:
            size, kind, amount = wave, default_kind, default_amount
        end_kind, end = _amount(size, where, allow_zero=False)
        normalised.append({'end': [end_kind, end], 'size': _text(end_kind, end),
                           'failure_threshold': _text(kind, amount), 'threshold': [kind, amount]})
    previous = None
    for index, wave in enumerate(normalised):
        if previous is not None and previous['end'][0] == wave['end'][0] and wave['end'][1] <= previous['end'][1]:
            raise RolloutError('deploy_model_waves[%d] (%s) does not go past deploy_model_waves[%d] (%s): waves are '
                               'cumulative, each names '
                               'how far the rollout has got (\'10%%\', \'50%%\', \'100%%\').'
                               % (index, wave['size'], index - 1, previous['size']))
        previous = wave
    for name, variable in (('canary', 'deploy_model_canary'), ('rollback', 'deploy_model_rollback_on_halt')):
        if not isinstance(settings.get(name, True), bool):
            raise RolloutError('%s must be true or false, got %r.' % (variable, settings.get(name)))
    stages = settings.get('stages', list(STAGES))
    if isinstance(stages, (str, bytes)) or not isinstance(stages, (list, tuple)) or set(stages) - set(STAGES):
        raise RolloutError('stages must be a list of %s, got %r.' % (' and '.join(STAGES), stages))
    if 'waves' in stages and 'canary' not in stages and settings.get('canary', True):
        raise RolloutError('The tags of this run deploy the waves without their canary (--tags waves, or --skip-tags '
                           'canary): a wave starts only after the canary of each platform class passed in the same '
                           'run. Run without those tags (canaries already on the new engine cost nothing: their '
                           'deployment record answers without a host call), or --tags canary first, or set '
                           'deploy_model_canary: false.')
    return {'waves': normalised, 'failure_threshold': _text(default_kind, default_amount),
            'canary': settings.get('canary', True), 'rollback': settings.get('rollback', True),
            'id': settings.get('id') or None, 'model': settings.get('model') or None,
            'stages': [stage for stage in STAGES if stage in stages]}


# ---- the plan ----------------------------------------------------------------------------------

def _wave_end(end, count):
    kind, amount = end
    if kind == 'count':
        return min(int(amount), count)
    return min(int(math.ceil(amount * count / 100.0 - 1e-9)), count)


def split_waves(hosts, waves):
    """The hosts after the canary, in order, cut at each wave's cumulative end. A wave that adds no
    host is dropped; hosts past the last end form one more wave (with the last wave's threshold)."""
    cut, start = [], 0
    for wave in waves:
        end = _wave_end(wave['end'], len(hosts))
        if end > start:
            cut.append((hosts[start:end], wave))
            start = end
    if start < len(hosts):
        cut.append((hosts[start:], waves[-1]))
    return [{'name': str(number), 'hosts': list(members), 'size': wave['size'],
             'failure_threshold': wave['failure_threshold'], 'threshold': wave['threshold'], 'outcome': None}
            for number, (members, wave) in enumerate(cut, 1)]


def rollout_plan(hosts, platform_classes, settings, results=None):
    """Canary and waves for ``hosts`` (target hosts in inventory order).

    ``platform_classes`` maps each deployable host to its platform class (JetPack and module, or
    dGPU and driver). Hosts without a class, or whose ``results`` entry (their deploy_model_result)
    already says failed or unreachable (the facts could not be read, or the host cannot build),
    take no part. The canary is the first host of each class in inventory order; every other host
    goes into the waves in inventory order."""
    settings = rollout_settings(settings)
    if not isinstance(hosts, (list, tuple)):
        raise RolloutError('hosts must be a list of inventory host names, got %s.' % type(hosts).__name__)
    classes = platform_classes or {}
    results = results or {}
    left_out = set(host for host in hosts
                   if isinstance(results.get(host), dict) and results[host]
                   and host_status(results[host]) in FAILING_STATUSES)
    by_class, canary, rest, excluded = {}, [], [], []
    for host in hosts:
        platform_class = classes.get(host)
        if host in left_out or not platform_class:
            excluded.append(host)
            continue
        members = by_class.setdefault(platform_class, [])
        if not members and settings['canary']:
            canary.append(host)
        else:
            rest.append(host)
        members.append(host)
    # hosts whose play the run's tags leave out: not touched, not reported (as with --limit)
    not_run = []
    if 'waves' not in settings['stages']:
        not_run, rest = rest, []
    if CANARY not in settings['stages']:
        not_run, canary = canary + not_run, []
    waves = split_waves(rest, settings['waves'])
    wave_of = dict((host, CANARY) for host in canary)
    for wave in waves:
        wave_of.update((host, wave['name']) for host in wave['hosts'])
    return {
        'schema': 1,
        'id': settings['id'], 'model': settings['model'],
        'hosts': [host for host in hosts if host not in not_run] if settings['stages'] else [],
        'excluded': excluded, 'stages': settings['stages'], 'not_run': not_run,
        'classes': by_class,
        'canary': {'hosts': canary, 'outcome': None, 'reason': None},
        'waves': waves,
        # serial of the wave play: one batch per wave (Ansible's serial takes the batch sizes)
        'serial': [len(wave['hosts']) for wave in waves] or [1],
        'rest': rest,
        'wave_of': wave_of,
        'failure_threshold': settings['failure_threshold'],
        'rollback': settings['rollback'],
        'halted': False, 'halted_at': None, 'headline': None, 'reason': None, 'failed': [],
    }


# ---- judging a wave ----------------------------------------------------------------------------

def host_status(result):
    """A host's status from its deploy_model_result; a host that recorded nothing is unreachable
    (it dropped out before its result could be set)."""
    if not isinstance(result, dict) or not result:
        return 'unreachable'
    return result.get('status') or 'failed'


def _cause(host, result):
    """'host (status at stage, code): first line of the message', for messages and the report."""
    result = result if isinstance(result, dict) else {}
    error = result.get('error') if isinstance(result.get('error'), dict) else {}
    stage = error.get('stage') or result.get('stage')
    code = error.get('code')
    message = str(error.get('msg') or ('no result recorded' if not result else 'no error recorded')).strip()
    message = message.splitlines()[0] if message else ''
    if len(message) > 200:
        message = message[:197] + '...'
    return '%s (%s%s, %s): %s' % (host, host_status(result), (' at ' + stage) if stage else '',
                                  code or 'no code', message)


def _allowed(threshold, size):
    kind, amount = threshold
    return float(amount) if kind == 'count' else amount * size / 100.0


def _find_wave(plan, name):
    if str(name) == CANARY:
        return {'name': CANARY, 'hosts': plan['canary']['hosts'], 'threshold': ['count', 0],
                'failure_threshold': '0'}
    for wave in plan['waves']:
        if wave['name'] == str(name):
            return wave
    raise RolloutError('the rollout plan has no wave %r (waves: canary, %s).'
                       % (name, ', '.join(w['name'] for w in plan['waves']) or 'none'))


def rollout_judge(plan, wave_name, results):
    """The plan after wave ``wave_name`` (``canary`` or ``1``, ``2``...) finished: its outcome, and
    whether the rollout halts. ``results`` maps hosts to their deploy_model_result.

    The canary halts the rollout on any failed or unreachable host; a wave halts it when more of
    its hosts failed than its threshold allows (a count, or a percentage of the wave). A wave that
    starts after the halt is marked ``skipped``."""
    plan = dict(plan)
    wave = _find_wave(plan, wave_name)
    results = results or {}
    failing = [host for host in wave['hosts'] if host_status(results.get(host)) in FAILING_STATUSES]
    halted_before = plan['halted']
    if halted_before:
        outcome = 'skipped'
    else:
        size = len(wave['hosts'])
        exceeded = len(failing) > _allowed(wave['threshold'], size)
        outcome = 'failed' if exceeded else 'passed'
        if exceeded:
            if wave['name'] == CANARY:
                headline = ('the canary failed on %d of %d platform classes, so no wave was started'
                            % (len(failing), size))
            else:
                headline = ('wave %s failed on %d of %d hosts, more than its failure threshold of %s allows'
                            % (wave['name'], len(failing), size, wave['failure_threshold']))
            causes = '; '.join(_cause(host, results.get(host)) for host in failing)
            plan.update(halted=True, halted_at=wave['name'], headline=headline,
                        reason='%s%s: %s' % (headline[0].upper(), headline[1:], causes))
        plan['failed'] = list(plan.get('failed') or []) + failing
    if wave['name'] == CANARY:
        plan['canary'] = dict(plan['canary'], outcome=outcome,
                              reason=plan['reason'] if outcome == 'failed' else None)
    else:
        plan['waves'] = [dict(w, outcome=outcome, failures=len(failing)) if w['name'] == wave['name'] else w
                         for w in plan['waves']]
    return plan


# ---- the verdict -------------------------------------------------------------------------------

def _artifacts(results):
    """The artifacts the hosts were built from, e.g. 'etlt' or 'etlt, onnx' (a mixed fleet)."""
    found = set()
    for result in results.values():
        model = result.get('model') if isinstance(result, dict) else None
        if isinstance(model, dict) and model.get('artifact'):
            found.add(str(model['artifact']))
    return ', '.join(sorted(found)) or None


def rollout_verdict(plan, results):
    """How the run ends: ``failed`` (the rollout halted, or a host is failed or unreachable),
    ``msg`` (names the hosts and causes), ``counts`` per status, ``problems`` (one line per host),
    and ``rollout``, the facts role tao.fleet.fleet_report shows."""
    results = results or {}
    hosts = list(plan.get('hosts') or [])
    statuses = dict((host, host_status(results.get(host))) for host in hosts)
    counts = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    problems = [_cause(host, results.get(host)) for host in hosts if statuses[host] in FAILING_STATUSES]
    rolled_back = [host for host in hosts if statuses[host] == 'rolled_back']
    halted = bool(plan.get('halted'))
    # a host's first engine has nothing to return to: a halted rollout leaves it active
    kept = [host for host in hosts if halted and statuses[host] == 'deployed']

    def outcome(members, stated):
        if stated in (None, 'passed') and any(statuses.get(host) == 'rolled_back' for host in members):
            return 'rolled_back'
        return stated or ('skipped' if halted else 'not_started')

    waves = [{'name': CANARY, 'hosts': plan['canary']['hosts'],
              'outcome': outcome(plan['canary']['hosts'], plan['canary'].get('outcome'))}] if plan['canary']['hosts'] else []
    waves += [{'name': wave['name'], 'hosts': wave['hosts'], 'outcome': outcome(wave['hosts'], wave.get('outcome')),
               'failure_threshold': wave['failure_threshold']} for wave in plan['waves']]
    summary = ', '.join('%d %s' % (counts[status], status) for status in sorted(counts))
    check_mode = any(isinstance(result, dict) and bool(result.get('check_mode')) for result in results.values())
    finished = 'would finish' if check_mode else 'finished'
    model = plan.get('model') or 'the model'
    lines = []
    if halted:
        lines.append('Rollout %s of %s HALTED: %s.' % (plan.get('id') or '', model, plan.get('headline')))
        if rolled_back:
            lines.append('Returned to their previous engine (%d): %s.' % (len(rolled_back), ', '.join(rolled_back)))
        if kept and plan.get('rollback'):
            lines.append('Kept the new engine, having none before it to return to (%d): %s.'
                         % (len(kept), ', '.join(kept)))
        elif kept:
            lines.append('Rollback is off (deploy_model_rollback_on_halt: false), so these keep the new engine '
                         '(%d): %s.' % (len(kept), ', '.join(kept)))
        if not (rolled_back or kept):
            lines.append('No host had switched engines in this run, so none was rolled back.')
    elif problems:
        lines.append('Rollout %s of %s %s, but not on every host: %d of %d failed or were unreachable.'
                     % (plan.get('id') or '', model, finished, len(problems), len(hosts)))
    else:
        lines.append('Rollout %s of %s %s on %d hosts (%s).'
                     % (plan.get('id') or '', model, finished, len(hosts), summary or 'no hosts'))
    if problems:
        lines.append('Failed or unreachable (%d): %s.' % (len(problems), '; '.join(problems)))
    if plan.get('not_run'):
        lines.append('Only the %s ran (the run\'s tags left out the %s): not touched (%d): %s.' % (
            ' and '.join(plan.get('stages') or ['platform stage']),
            ' and '.join(stage for stage in STAGES if stage not in (plan.get('stages') or [])),
            len(plan['not_run']), ', '.join(plan['not_run'])))
    warned = [host for host in hosts if isinstance(results.get(host), dict) and results[host].get('platform_warnings')]
    if warned:
        lines.append('Platform warnings on %d host(s), in the fleet report: %s.' % (len(warned), ', '.join(warned)))
    if check_mode:
        lines.insert(0, 'Check mode: nothing was changed; the statuses say what a real run would do.')
    canary = dict(plan['canary'])
    rollout = {
        'kind': 'rollout',
        'check_mode': check_mode,
        'id': plan.get('id'), 'model': plan.get('model'), 'artifact': _artifacts(results),
        'failure_threshold': plan.get('failure_threshold'),
        'waves': waves, 'canary': {'hosts': canary['hosts'], 'outcome': canary.get('outcome') or (
            'not_started' if canary['hosts'] else None), 'reason': canary.get('reason')},
        'halted': halted, 'rolled_back': bool(rolled_back),
        'reason': plan.get('reason') if halted else ('; '.join(problems) or None),
    }
    return {'failed': halted or bool(problems), 'msg': ' '.join(line.strip() for line in lines),
            'lines': lines, 'counts': counts, 'problems': problems, 'rolled_back': rolled_back, 'kept': kept,
            'skipped': [host for host in hosts if statuses[host] == 'skipped'], 'rollout': rollout}


class FilterModule(object):
    def filters(self):
        return {
            'rollout_settings': rollout_settings,
            'rollout_plan': rollout_plan,
            'rollout_judge': rollout_judge,
            'rollout_verdict': rollout_verdict,
        }
