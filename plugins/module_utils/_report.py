# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The fleet report's data: every host's rollout result, a summary, and the chart of smoke latency.

Input is what role ``deploy_model`` leaves on each host (``deploy_model_result``, schema in
docs/fleet-report.md) plus the rollout facts the playbook passes in (waves, canary, halt, rollback).
Hosts without a result are reported with ``missing_status`` (``unreachable`` by default: they never
ran the rollout's first task). Output is one dict (``schema: 1``) that ``report.json`` holds as-is
and from which the HTML page (``_report_html``) and JUnit XML (``render_junit``) are made.

Hosts are ordered problems first (failed, unreachable, rolled back), then skipped, deployed and
unchanged; inside a status by wave (canary first) and host name.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import json
import re
import xml.etree.ElementTree as ET

# a flag that came through a template may be text ('False'): one reading of it, the deployment record's
from ansible_collections.tao.fleet.plugins.module_utils._deploy_record import is_true

SCHEMA = 1

# Display order: what needs an operator first.
STATUS_ORDER = ('failed', 'unreachable', 'rolled_back', 'skipped', 'deployed', 'unchanged')
PROBLEM_STATUSES = ('failed', 'unreachable', 'rolled_back')
OK_STATUSES = ('deployed', 'unchanged')
MISSING_STATUSES = ('unreachable', 'skipped')
# An unknown status sorts with the problems: whatever it means, someone should look.
_UNKNOWN_STATUS_RANK = STATUS_ORDER.index('rolled_back')

# The per-host result schema (interfaces: role deploy_model -> role fleet_report). Missing keys
# are filled with None so every consumer can index without guarding.
RESULT_SECTIONS = {
    'platform': ('kind', 'module', 'module_id', 'soc', 'jetpack', 'l4t', 'compute_capability',
                 'dla_cores', 'power_mode', 'tensorrt', 'python'),
    'model': ('name', 'artifact', 'file', 'sha256', 'source', 'bytes_transferred', 'cache_hit'),
    'engine': ('fingerprint', 'path', 'built', 'reused', 'shared', 'build_seconds', 'targets_note', 'how'),
    'smoke': ('passed', 'backend', 'engine_executed', 'reason', 'detections', 'latency_ms',
              'throughput_fps', 'published_fps', 'published_ratio', 'fallback'),
    'release': ('active', 'previous', 'changed'),
}
RESULT_SCALARS = ('host', 'status', 'stage', 'wave', 'platform_class', 'error', 'changed', 'active_engine',
                  'rolled_back_from', 'check_mode')
# What a report is of: a rollout (rolled back hosts are a problem: the new engine did not stay) or a rollback
# (returning hosts to their previous engine is what was asked for).
KINDS = ('rollout', 'rollback')
ERROR_KEYS = ('msg', 'cause', 'fix', 'code', 'stage')

# XML 1.0 forbids most control characters; TensorRT logs and tracebacks can carry them.
_XML_INVALID = re.compile(u'[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')


def utc_timestamp(now=None):
    """'2026-11-23T08:07:09Z' (UTC, seconds)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime('%Y-%m-%dT%H:%M:%SZ')


def _number(value):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _median(values):
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2.0


def wave_rank(wave):
    """Canary first, then waves by number, then anything else by name, then hosts without a wave."""
    if wave is None or wave == '':
        return (3, 0, '')
    text = str(wave)
    if text.lower() == 'canary':
        return (0, 0, '')
    if re.match(r'^[0-9]+$', text):
        return (1, int(text), '')
    return (2, 0, text)


def status_rank(status):
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else _UNKNOWN_STATUS_RANK


def _missing_error(status):
    if status == 'unreachable':
        return {
            'msg': 'Host unreachable: it recorded no rollout result.',
            'cause': 'The host did not answer before the rollout\'s first task (SSH down, wrong '
                     'address or credentials, host powered off), so it never reported.',
            'fix': 'Check that the host is up and reachable (ansible -m ping <host>), then run the '
                   'rollout again for it (--limit <host>).',
            'code': 'host_unreachable', 'stage': None}
    return None


# Schema keys whose value is a mapping of scalars (or null); keys that may also be the platform facts' own
# dict (docs/fleet-report.md); every other schema key holds a scalar.
RESULT_MAPPINGS = (('platform', 'tensorrt'), ('platform', 'power_mode'), ('smoke', 'latency_ms'))
RESULT_FACT_DICTS = (('platform', 'jetpack'), ('platform', 'l4t'), ('platform', 'module'))
_SCALARS = (str, int, float, bool, type(None))


def result_problem(result):
    """Why one host's recorded result does not have the schema's types (a list or mapping where a scalar
    goes...), or None. Results come from hosts: one malformed result must not stop the fleet's report."""
    for key in RESULT_SCALARS:
        if key != 'error' and not isinstance(result.get(key), _SCALARS):
            return '%s is a %s' % (key, type(result.get(key)).__name__)
    error = result.get('error')
    if isinstance(error, dict):
        for key in ERROR_KEYS:
            if not isinstance(error.get(key), _SCALARS):
                return 'error.%s is a %s' % (key, type(error.get(key)).__name__)
    elif not isinstance(error, _SCALARS):
        return 'error is a %s' % type(error).__name__
    for section, keys in RESULT_SECTIONS.items():
        value = result.get(section)
        if not isinstance(value, dict):
            continue
        for key in keys:
            item = value.get(key)
            if (section, key) in RESULT_MAPPINGS and isinstance(item, dict):
                if not all(isinstance(inner, _SCALARS) for inner in item.values()):
                    return '%s.%s holds more than scalars' % (section, key)
            elif (section, key) in RESULT_MAPPINGS and item is not None:
                return '%s.%s is a %s, not a mapping' % (section, key, type(item).__name__)
            elif (section, key) in RESULT_FACT_DICTS and isinstance(item, dict):
                continue
            elif not isinstance(item, _SCALARS):
                return '%s.%s is a %s' % (section, key, type(item).__name__)
    return None


def _malformed(result, problem):
    """The stand-in for a result that does not have the schema's types: failed, with the reason."""
    stage = result.get('stage') if isinstance(result.get('stage'), str) else None
    return {'status': 'failed', 'stage': stage, 'changed': False, 'error': {
        'msg': 'The rollout result of this host is malformed (%s); it is reported without its details.' % problem,
        'cause': 'A value of the result has a type that role deploy_model never records: something on that host '
                 'or on the way changed what the host reported.',
        'fix': 'Look at the play output for this host, check the host, and run the rollout again for it '
               '(--limit <host>).',
        'code': 'result_malformed', 'stage': stage}}


def normalize_result(host, result, missing_status='unreachable'):
    """One host's entry: the recorded result with every schema key present, or a stand-in for a
    host that recorded none (``reported: false``), or one for a malformed result (``result_malformed``)."""
    reported = isinstance(result, dict) and bool(result)
    problem = result_problem(result) if reported else None
    if problem:
        result = _malformed(result, problem)
    entry = copy.deepcopy(result) if reported else {}
    for key in RESULT_SCALARS:
        entry.setdefault(key, None)
    for section, keys in RESULT_SECTIONS.items():
        value = entry.get(section)
        if not isinstance(value, dict):
            value = {}
        for key in keys:
            value.setdefault(key, None)
        entry[section] = value
    entry['host'] = host
    entry['reported'] = reported
    if not reported:
        entry['status'] = missing_status
        entry['error'] = _missing_error(missing_status)
        entry['changed'] = False
    elif not entry['status']:
        entry['status'] = 'failed'
        entry['error'] = entry['error'] or {
            'msg': 'The rollout result of this host has no status.',
            'cause': 'Role deploy_model stopped before it recorded how the host ended.',
            'fix': 'Look at the play output for this host; run the rollout again for it.',
            'code': 'result_incomplete', 'stage': entry.get('stage')}
    if isinstance(entry['error'], dict):
        for key in ERROR_KEYS:
            entry['error'].setdefault(key, None)
    elif entry['error'] is not None:
        entry['error'] = {'msg': str(entry['error']), 'cause': None, 'fix': None, 'code': None,
                          'stage': entry.get('stage')}
    entry['changed'] = bool(entry['changed'])
    entry['check_mode'] = is_true(entry['check_mode'])
    for key in ('warnings', 'platform_warnings'):
        warnings = entry.get(key)
        entry[key] = [str(w) for w in warnings] if isinstance(warnings, list) else []
    return entry


def order_hosts(entries):
    """Problems first (failed, unreachable, rolled back), then skipped, deployed, unchanged."""
    return sorted(entries, key=lambda entry: (status_rank(entry['status']), wave_rank(entry['wave']),
                                              str(entry['host'])))


def _count(entries, predicate):
    return sum(1 for entry in entries if predicate(entry))


def _wave_outcome(members):
    statuses = set(entry['status'] for entry in members)
    if statuses & set(('failed', 'unreachable')) or statuses - set(STATUS_ORDER):
        return 'failed'
    if 'rolled_back' in statuses:
        return 'rolled_back'
    if statuses == set(('skipped',)):
        return 'skipped'
    return 'passed'


def _waves(entries, given):
    """Hosts per wave in rollout order, each with its counts and outcome: the outcome the playbook
    states for that wave, else the one its hosts' statuses give. Waves the playbook lists but no
    host reached are kept (outcome ``not_started`` unless stated)."""
    stated = {}
    for wave in given if isinstance(given, list) else []:
        if isinstance(wave, dict) and wave.get('name') is not None:
            stated[str(wave['name'])] = wave
    by_wave = {}
    for entry in entries:
        key = None if entry['wave'] is None else str(entry['wave'])
        by_wave.setdefault(key, []).append(entry)
    for name in stated:
        by_wave.setdefault(name, [])
    waves = []
    for name in sorted(by_wave, key=wave_rank):
        members = by_wave[name]
        counts = {}
        for entry in members:
            counts[entry['status']] = counts.get(entry['status'], 0) + 1
        wave = stated.get(name) or {}
        outcome = wave.get('outcome') or (_wave_outcome(members) if members else 'not_started')
        hosts = sorted(str(entry['host']) for entry in members) or sorted(
            str(host) for host in wave.get('hosts') or [])
        waves.append({'name': name, 'hosts': hosts, 'by_status': counts, 'outcome': outcome})
    return waves


def _canary(rollout, waves):
    """The canary's outcome: what the playbook says, else what the canary wave's hosts say."""
    given = rollout.get('canary')
    derived = next((wave for wave in waves if (wave['name'] or '').lower() == 'canary'), None)
    canary = dict(given) if isinstance(given, dict) else {}
    if derived is not None:
        canary.setdefault('hosts', derived['hosts'])
        canary.setdefault('outcome', derived['outcome'])
    if 'outcome' not in canary and 'passed' in canary:
        canary['outcome'] = 'passed' if canary['passed'] else 'failed'
    if not canary:
        return None
    canary.setdefault('hosts', [])
    canary.setdefault('outcome', None)
    canary.setdefault('reason', None)
    return canary


def chart_data(entries):
    """Smoke latency p50/p95 per platform class: the median over the class's hosts that measured it."""
    classes = {}
    for entry in entries:
        latency = entry['smoke'].get('latency_ms') or {}
        if not isinstance(latency, dict):
            continue
        p50, p95 = _number(latency.get('p50')), _number(latency.get('p95'))
        if p50 is None and p95 is None:
            continue
        name = entry['platform_class'] or 'unknown platform'
        group = classes.setdefault(name, {'p50': [], 'p95': [], 'hosts': [], 'backends': set(),
                                          'executed': set()})
        if p50 is not None:
            group['p50'].append(p50)
        if p95 is not None:
            group['p95'].append(p95)
        group['hosts'].append(str(entry['host']))
        if entry['smoke'].get('backend'):
            group['backends'].add(str(entry['smoke']['backend']))
        group['executed'].add(entry['smoke'].get('engine_executed'))
    rows = []
    for name in sorted(classes):
        group = classes[name]
        executed = group['executed']
        rows.append({
            'platform_class': name,
            'hosts': sorted(group['hosts']),
            'p50_ms': _median(group['p50']),
            'p95_ms': _median(group['p95']),
            'backends': sorted(group['backends']),
            # True only when every host of the class timed the engine itself.
            'engine_executed': True if executed == {True} else (False if False in executed else None),
        })
    return {'metric': 'smoke latency', 'unit': 'ms', 'aggregate': 'median over hosts of the class',
            'classes': rows}


def report_kind(rollout):
    """'rollout' or 'rollback', from the rollout facts' ``kind`` (default rollout)."""
    kind = rollout.get('kind') or 'rollout'
    if kind not in KINDS:
        raise ValueError('rollout kind must be one of %s, got %r' % (', '.join(KINDS), kind))
    return kind


def problem_statuses(kind):
    """Statuses that make a report's outcome failed: a rolled back host is what a rollback asked for."""
    return PROBLEM_STATUSES if kind == 'rollout' else tuple(s for s in PROBLEM_STATUSES if s != 'rolled_back')


def summarize(entries, rollout):
    by_status = dict((status, 0) for status in STATUS_ORDER)
    for entry in entries:
        by_status[entry['status']] = by_status.get(entry['status'], 0) + 1
    kind = report_kind(rollout)
    problems = sum(by_status.get(status, 0) for status in by_status
                   if status in problem_statuses(kind) or status not in STATUS_ORDER)
    waves = _waves(entries, rollout.get('waves'))
    halted = bool(rollout.get('halted'))
    rolled_back = bool(rollout.get('rolled_back')) or by_status.get('rolled_back', 0) > 0
    return {
        'kind': kind,
        # a --check run: nothing changed, the statuses say what a real run would do
        'check_mode': is_true(rollout.get('check_mode')) or any(entry['check_mode'] for entry in entries),
        'warnings': _count(entries, lambda entry: bool(entry['warnings'] or entry['platform_warnings'])),
        'hosts': len(entries),
        'by_status': by_status,
        'problems': problems,
        'outcome': 'failed' if problems or halted or (rolled_back and kind == 'rollout') else 'succeeded',
        'changed': _count(entries, lambda entry: entry['changed']),
        'engines': {
            'built': _count(entries, lambda entry: entry['engine'].get('built') is True),
            'reused': _count(entries, lambda entry: entry['engine'].get('reused') is True),
            'shared': _count(entries, lambda entry: entry['engine'].get('shared') is True),
        },
        'smoke': {
            'passed': _count(entries, lambda entry: entry['smoke'].get('passed') is True),
            'failed': _count(entries, lambda entry: entry['smoke'].get('passed') is False),
            'engine_executed': _count(entries, lambda entry: entry['smoke'].get('engine_executed') is True),
        },
        'test_doubles': _count(entries, lambda entry: bool(
            (entry['platform'].get('tensorrt') or {}).get('test_double'))),
        'platform_classes': sorted(set(str(entry['platform_class']) for entry in entries
                                       if entry['platform_class'])),
        'waves': waves,
        'canary': _canary(rollout, waves),
        'halted': halted,
        'rolled_back': rolled_back,
        'reason': rollout.get('reason'),
    }


def build_report(hosts, results, rollout=None, generated_at=None, title=None,
                 missing_status='unreachable', skipped_hosts=None):
    """The report dict. ``hosts``: inventory names to report on; ``results``: host -> recorded
    ``deploy_model_result`` (absent, None or {} when the host recorded none). A host without a result
    gets ``missing_status``, or ``skipped`` when it is in ``skipped_hosts`` (left out on purpose, e.g.
    a wave the rollout never started)."""
    if missing_status not in MISSING_STATUSES:
        raise ValueError('missing_status must be one of %s' % ', '.join(MISSING_STATUSES))
    results = results or {}
    rollout = copy.deepcopy(rollout) if isinstance(rollout, dict) else {}
    seen = set()
    entries = []
    for host in hosts:
        if host in seen:
            continue
        seen.add(host)
        status = 'skipped' if host in (skipped_hosts or ()) else missing_status
        entries.append(normalize_result(host, results.get(host), status))
    entries = order_hosts(entries)
    return {
        'schema': SCHEMA,
        'title': title or 'tao.fleet rollout report',
        'generated_at': generated_at or utc_timestamp(),
        'rollout': rollout,
        'summary': summarize(entries, rollout),
        'chart': chart_data(entries),
        'hosts': entries,
    }


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=True, default=str) + '\n'


def _text(value):
    return _XML_INVALID.sub(u'\ufffd', u'%s' % (value,))


def _first_line(text):
    return (text or '').strip().split('\n')[0]


def _testcase(suite, entry, reason, ok_statuses=OK_STATUSES):
    case = ET.SubElement(suite, 'testcase', {
        'classname': _text('tao.fleet.%s' % (entry['platform_class'] or 'unknown_platform')),
        'name': _text(entry['host'])})
    seconds = _number(entry['engine'].get('build_seconds'))
    if seconds is not None:
        case.set('time', '%.3f' % seconds)
    error = entry['error'] or {}
    status = entry['status']
    if status == 'skipped':
        ET.SubElement(case, 'skipped', {'message': _text(
            error.get('msg') or 'skipped by the rollout (not in a wave that ran)')})
    elif status not in ok_statuses:
        message = error.get('msg') or (
            'engine release rolled back%s' % (': %s' % reason if reason else '')
            if status == 'rolled_back' else 'status %s' % status)
        failure = ET.SubElement(case, 'failure', {'message': _text(_first_line(message)),
                                                  'type': _text(error.get('code') or status)})
        lines = ['Status: %s (stage %s)' % (status, error.get('stage') or entry['stage'] or 'unknown')]
        if error.get('cause'):
            lines.append('Cause: %s' % error['cause'])
        if error.get('fix'):
            lines.append('Fix: %s' % error['fix'])
        failure.text = _text('\n'.join(lines))
    out = ET.SubElement(case, 'system-out')
    out.text = _text(host_line(entry))
    return case


def host_line(entry):
    """One line a CI log can show: platform, TensorRT, engine, smoke."""
    trt = entry['platform'].get('tensorrt') or {}
    smoke = entry['smoke']
    latency = smoke.get('latency_ms') or {}
    parts = ['platform %s' % (entry['platform_class'] or 'unknown'),
             '%s %s%s' % (trt.get('flavour') or 'tensorrt', trt.get('version') or 'unknown',
                          ' (test double)' if trt.get('test_double') else ''),
             'engine %s%s' % ((entry['engine'].get('fingerprint') or 'none')[:12],
                              ' built' if entry['engine'].get('built') else (
                                  ' reused' if entry['engine'].get('reused') else ''))]
    if smoke.get('passed') is not None:
        parts.append('smoke %s, %s detections, p50 %s ms, p95 %s ms, backend %s%s' % (
            'passed' if smoke['passed'] else 'failed', smoke.get('detections'),
            latency.get('p50') if isinstance(latency, dict) else None,
            latency.get('p95') if isinstance(latency, dict) else None,
            smoke.get('backend'),
            ' (engine not executed)' if smoke.get('engine_executed') is False else ''))
    return '; '.join(parts)


def _indent(element, level=0):
    # ElementTree.indent exists from Python 3.9 only; CI logs and people read this file too.
    pad = '\n' + '  ' * level
    children = list(element)
    if children:
        if not (element.text or '').strip():
            element.text = pad + '  '
        for child in children:
            _indent(child, level + 1)
            if not (child.tail or '').strip():
                child.tail = pad + '  '
        children[-1].tail = pad


def render_junit(report):
    """JUnit XML: one testcase per host; failure (message = error msg, text = cause and fix) for
    failed, unreachable and rolled back hosts; skipped for skipped hosts."""
    hosts = report['hosts']
    ok_statuses = OK_STATUSES + (('rolled_back',) if report['summary'].get('kind') == 'rollback' else ())
    failures = _count(hosts, lambda entry: entry['status'] not in ok_statuses + ('skipped',))
    skipped = _count(hosts, lambda entry: entry['status'] == 'skipped')
    counts = {'tests': str(len(hosts)), 'failures': str(failures), 'errors': '0',
              'skipped': str(skipped)}
    model = (report.get('rollout') or {}).get('model')
    root = ET.Element('testsuites', dict(counts, name=_text(report['title'])))
    suite = ET.SubElement(root, 'testsuite', dict(
        counts, name=_text('tao.fleet rollout%s' % (' of %s' % model if model else '')),
        timestamp=_text(report['generated_at'])))
    properties = ET.SubElement(suite, 'properties')
    summary = report['summary']
    canary = summary.get('canary') or {}
    for name, value in (('schema', report['schema']), ('kind', summary.get('kind')),
                        ('check_mode', summary.get('check_mode')), ('outcome', summary['outcome']),
                        ('canary', canary.get('outcome')), ('halted', summary['halted']),
                        ('rolled_back', summary['rolled_back']), ('reason', summary['reason'])):
        if isinstance(value, bool):
            value = 'true' if value else 'false'
        if value is not None:
            ET.SubElement(properties, 'property', {'name': name, 'value': _text(value)})
    for entry in hosts:
        _testcase(suite, entry, summary['reason'], ok_statuses)
    _indent(root)
    body = ET.tostring(root, encoding='unicode')
    return u'<?xml version="1.0" encoding="UTF-8"?>\n%s\n' % body
