# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The fleet report as one self-contained HTML page (inline CSS, inline SVG chart, no script).

An operator opens it from disk or from a CI artifact store: nothing is fetched (a
Content-Security-Policy meta tag forbids any request), nothing runs, and it prints. Every value
from a host is escaped: error messages carry tool output verbatim.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from html import escape

from ansible_collections.tao.fleet.plugins.module_utils._report import (
    PROBLEM_STATUSES,
    STATUS_ORDER,
)

P50_COLOUR = '#1f5fbf'
P95_COLOUR = '#7ea6e0'
STATUS_LABELS = {
    'failed': ('Failed', u'\u2715'),
    'unreachable': ('Unreachable', u'\u29bb'),
    'rolled_back': ('Rolled back', u'\u21ba'),
    'skipped': ('Skipped', u'\u2013'),
    'deployed': ('Deployed', u'\u2713'),
    'unchanged': ('Unchanged', u'='),
}
FLAVOURS = {'tensorrt': 'TensorRT', 'tensorrt_rtx': 'TensorRT-RTX'}
WAVE_OUTCOMES = {'passed': ('passed', u'\u2713'), 'failed': ('failed', u'\u2715'),
                 'rolled_back': ('rolled back', u'\u21ba'), 'skipped': ('not run', u'\u2013'),
                 'not_started': ('not started', u'\u2013')}

CSS = u'''
:root {
  --ink: #1d2433; --muted: #566074; --line: #d9dee7; --paper: #ffffff; --wash: #f5f7fa;
  --failed: #a61b1b; --failed-bg: #fdecec; --unreachable: #5b2a86; --unreachable-bg: #f3ecfa;
  --rolled_back: #8a4600; --rolled_back-bg: #fff2e0; --skipped: #4b5563; --skipped-bg: #eef0f3;
  --deployed: #0f6b33; --deployed-bg: #e6f5ec; --unchanged: #1f4e8c; --unchanged-bg: #e8f0fb;
}
* { box-sizing: border-box; }
html { background: var(--wash); }
body { margin: 0; color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
  "Liberation Sans", "DejaVu Sans", Arial, sans-serif; }
.page { max-width: 1500px; margin: 0 auto; padding: 24px 16px 40px; }
header.top { background: var(--paper); border: 1px solid var(--line); border-radius: 10px; padding: 20px 24px; }
.eyebrow { text-transform: uppercase; letter-spacing: .08em; font-size: 12px; color: var(--muted); font-weight: 600; }
h1 { font-size: 24px; margin: 4px 0 6px; }
h2 { font-size: 17px; margin: 0 0 12px; }
.meta { color: var(--muted); margin: 0; }
.outcome { margin-top: 14px; padding: 10px 14px; border-radius: 8px; font-weight: 600; border-left: 6px solid; }
.outcome.failed { background: var(--failed-bg); color: var(--failed); }
.outcome.succeeded { background: var(--deployed-bg); color: var(--deployed); }
.active { display: block; margin-top: 3px; }
tr.warning-row td { background: #fffbea; border-bottom: 2px solid var(--line); padding-top: 0; }
tr.warning-row .warning { border-left: 3px solid #ecd98b; padding: 6px 12px; }
.warning p { margin: 3px 0; overflow-wrap: anywhere; }
.warning .k { color: #7a4d00; font-weight: 700; }
section.panel { background: var(--paper); border: 1px solid var(--line); border-radius: 10px; padding: 18px 18px; margin-top: 18px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; list-style: none; padding: 0; margin: 0 0 16px; }
.cards li { min-width: 118px; padding: 10px 14px; border-radius: 8px; border: 1px solid var(--line); background: var(--wash); }
.cards .n { display: block; font-size: 24px; font-weight: 700; line-height: 1.1; }
.cards .label { color: var(--muted); font-size: 13px; }
.cards li.zero { opacity: .55; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0; }
.facts dt { color: var(--muted); font-weight: 600; }
.facts dd { margin: 0; }
.notes { margin: 14px 0 0; padding: 10px 14px; background: #fffbea; border: 1px solid #ecd98b; border-radius: 8px; }
.notes p { margin: 2px 0; }
table { border-collapse: collapse; width: 100%; }
.table-wrap { overflow-x: auto; }
.hostname { white-space: nowrap; }
/* narrow enough minimums that the nine columns fit a 1280 px window without a sideways scroll */
td.platform { overflow-wrap: anywhere; min-width: 130px; }
td.engine { min-width: 130px; overflow-wrap: anywhere; }
.note { display: block; }
th, td { text-align: left; vertical-align: top; padding: 8px 6px; border-bottom: 1px solid var(--line); }
thead th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted);
  background: var(--wash); border-bottom: 2px solid var(--line); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.small { font-size: 12px; color: var(--muted); }
.mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600;
  white-space: nowrap; border: 1px solid currentColor; }
.badge.warn { color: #7a4d00; background: #fff4d6; }
.badge.info { color: #344054; background: #eef0f3; }
.status { display: inline-block; padding: 3px 8px; border-radius: 6px; font-weight: 700; white-space: nowrap; }
''' + u''.join(
    u'.status.%(s)s, tr.host-row.%(s)s td:first-child { color: var(--%(s)s); }\n'
    u'.status.%(s)s { background: var(--%(s)s-bg); }\n'
    u'tr.host-row.%(s)s td:first-child { box-shadow: inset 5px 0 0 var(--%(s)s); }\n'
    % {'s': status} for status in STATUS_ORDER) + u'''
.status.other { color: var(--failed); background: var(--failed-bg); }
tr.host-row.problem td { background: #fffafa; }
tr.error-row td { background: #fff7f7; border-bottom: 2px solid var(--line); padding-top: 0; }
tr.error-row .error { border-left: 3px solid var(--failed); padding: 6px 12px; }
.error .msg { font-weight: 600; white-space: pre-wrap; overflow-wrap: anywhere; }
.error p { margin: 3px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.error .k { color: var(--muted); font-weight: 700; }
.chart-wrap { overflow-x: auto; }
.key { display: inline-block; width: 14px; height: 10px; margin: 0 5px 0 10px; border: 1px solid #1f5fbf; vertical-align: baseline; }
.key.p50 { background: #1f5fbf; } .key.p95 { background: #7ea6e0; border-color: #7ea6e0; }
.key.hatched { background: repeating-linear-gradient(45deg, #1f5fbf 0 3px, #ffffff 3px 6px); }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", "DejaVu Sans", Arial, sans-serif; }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 6px; }
.waves td, .waves th { padding: 6px 10px; }
footer { color: var(--muted); font-size: 12px; margin-top: 18px; }
@media print {
  html, body { background: #fff; }
  .page { max-width: none; padding: 0; }
  header.top, section.panel { border: none; padding: 0; margin-top: 14px; }
  tr { break-inside: avoid; }
  thead { display: table-header-group; }
  .status, .badge, .outcome, .cards li, tr.host-row td, tr.error-row td {
    -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
'''


def _e(value):
    return escape(u'%s' % (value,), quote=True)


def _or_dash(value):
    return u'\u2014' if value is None or value == '' else _e(value)


def _version(value):
    """JetPack / L4T as the platform facts give them: a string or a dict with version/release."""
    if isinstance(value, dict):
        return value.get('version') or value.get('release')
    return value


def _module_text(platform):
    module = platform.get('module')
    if isinstance(module, dict):
        return module.get('description') or module.get('name') or module.get('id')
    return module or platform.get('module_id')


def _power_text(power):
    if not isinstance(power, dict):
        return power
    parts = []
    if power.get('name'):
        parts.append(u'%s%s' % (power['name'], u' (id %s)' % power['id'] if power.get('id') is not None else u''))
    if power.get('jetson_clocks') is not None:
        parts.append(u'jetson_clocks %s' % (u'on' if power['jetson_clocks'] else u'off'))
    return u', '.join(parts) or None


def _number(value, digits=1):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None if value is None else u'%s' % (value,)
    if isinstance(value, int):
        return u'%d' % value
    return (u'%.' + str(digits) + u'f') % value


def _status_cell(status):
    label, icon = STATUS_LABELS.get(status, (status, u'?'))
    css = status if status in STATUS_LABELS else 'other'
    return u'<span class="status %s"><span aria-hidden="true">%s</span> %s</span>' % (css, icon, _e(label))


def _outcome_text(report):
    summary = report['summary']
    counts = summary['by_status']
    rollback = summary.get('kind') == 'rollback'
    check = summary.get('check_mode')
    noun = u'Rollback' if rollback else u'Rollout'
    if check:
        noun = u'Check run of the %s (nothing was changed)' % noun.lower()
    if summary['outcome'] == 'succeeded':
        if rollback:
            return u'\u2713 %s %s: %d of %d hosts %s to their previous engine, %d %s on it.' % (
                noun, u'would succeed' if check else u'succeeded', counts.get('rolled_back', 0), summary['hosts'],
                u'would return' if check else u'returned', counts.get('unchanged', 0),
                u'would stay' if check else u'already were')
        done = counts.get('deployed', 0) + counts.get('unchanged', 0)
        if check:
            return u'\u2713 %s: a real run would put %d of %d hosts on the new engine (%d would change).' % (
                noun, done, summary['hosts'], summary['changed'])
        return u'\u2713 Rollout succeeded: %d of %d hosts run the new engine (%d changed).' % (
            done, summary['hosts'], summary['changed'])
    parts = []
    for status in PROBLEM_STATUSES:
        if rollback and status == 'rolled_back':
            continue
        if counts.get(status):
            parts.append(u'%d %s' % (counts[status], STATUS_LABELS[status][0].lower()))
    others = sum(count for status, count in counts.items() if status not in STATUS_ORDER)
    if others:
        parts.append(u'%d with an unknown status' % others)
    if summary['halted']:
        parts.append(u'rollout halted')
    text = u'\u2715 %s %s: %s.' % (noun, u'would fail' if check else u'failed', u', '.join(parts or [u'see below']))
    if summary.get('reason'):
        text += u' %s' % summary['reason']
    return text


def _header(report):
    rollout = report.get('rollout') or {}
    summary = report['summary']
    subject = []
    if rollout.get('model'):
        subject.append(u'model <strong>%s</strong>' % _e(rollout['model']))
    if rollout.get('artifact'):
        subject.append(u'artifact %s' % _e(rollout['artifact']))
    if rollout.get('id'):
        subject.append(u'rollout %s' % _e(rollout['id']))
    meta = [u'Generated %s' % _e(report['generated_at'])] + subject + [
        u'%d hosts' % summary['hosts'], u'report schema %s' % _e(report['schema'])]
    kind = u'rollback report' if summary.get('kind') == 'rollback' else u'fleet report'
    check = (u' <span class="badge warn" data-check-mode="true">check mode: nothing was changed</span>'
             if summary.get('check_mode') else u'')
    return (u'<header class="top"><div class="eyebrow">tao.fleet \u00b7 %s%s</div>'
            u'<h1>%s</h1><p class="meta">%s</p>'
            u'<div class="outcome %s%s" role="status" data-outcome="%s">%s</div></header>') % (
        kind, check, _e(report['title']), u' \u00b7 '.join(meta), _e(summary['outcome']),
        u' check-run' if summary.get('check_mode') else u'', _e(summary['outcome']), _e(_outcome_text(report)))


def _wave_text(wave):
    label, icon = WAVE_OUTCOMES.get(wave['outcome'], (wave['outcome'], u'?'))
    return u'%s %s' % (icon, label)


def _summary(report):
    summary = report['summary']
    cards = []
    for status in STATUS_ORDER + tuple(sorted(s for s in summary['by_status'] if s not in STATUS_ORDER)):
        count = summary['by_status'].get(status, 0)
        label = STATUS_LABELS.get(status, (status, u''))[0]
        cards.append(u'<li class="%s" data-status="%s"><span class="n">%d</span><span class="label">%s</span></li>' % (
            'zero' if not count else 'nonzero', _e(status), count, _e(label.lower())))
    facts = []
    canary = summary.get('canary')
    if canary:
        facts.append((u'Canary', u'%s%s%s' % (
            _e(canary.get('outcome') or u'unknown'),
            u' \u2014 ' + _e(u', '.join(str(h) for h in canary.get('hosts') or [])) if canary.get('hosts') else u'',
            u' (%s)' % _e(canary['reason']) if canary.get('reason') else u'')))
    rollback = summary.get('kind') == 'rollback'
    if summary['waves'] and not rollback:
        facts.append((u'Waves', u' \u2192 '.join(
            u'%s: %s' % (_e(wave['name'] if wave['name'] is not None else u'no wave'), _e(_wave_text(wave)))
            for wave in summary['waves'])))
    rollout = report.get('rollout') or {}
    if rollout.get('failure_threshold') is not None:
        facts.append((u'Failure threshold', _e(rollout['failure_threshold'])))
    facts.append((u'Halted', u'yes' if summary['halted'] else u'no'))
    facts.append((u'Rolled back', u'yes' if summary['rolled_back'] else u'no'))
    if summary.get('reason'):
        facts.append((u'Reason', _e(summary['reason'])))
    # a rollback builds and tests nothing: the engine each host runs now is in its row
    if not rollback:
        engines = summary['engines']
        facts.append((u'Engines', u'%d built, %d reused from the host\'s store, %d taken from the engine share' % (
            engines['built'], engines['reused'], engines['shared'])))
        smoke = summary['smoke']
        facts.append((u'Smoke tests', u'%d passed, %d failed; %d executed the TensorRT engine itself' % (
            smoke['passed'], smoke['failed'], smoke['engine_executed'])))
    facts.append((u'Platform classes', _e(u', '.join(summary['platform_classes']) or u'none reported')))
    notes = []
    if summary['test_doubles']:
        notes.append(u'<p><span class="badge warn">test double</span> %d host(s) built with tao.fleet\'s '
                     u'TensorRT test double, not a real TensorRT: their engine is a stand-in file.</p>'
                     % summary['test_doubles'])
    not_executed = sum(1 for entry in report['hosts'] if entry['smoke'].get('engine_executed') is False)
    if not_executed:
        notes.append(u'<p><span class="badge warn">engine not executed</span> %d host(s) ran their smoke '
                     u'test on another backend (e.g. onnxruntime-cpu): the detections and latency are '
                     u'those of the ONNX model on that backend, not of the TensorRT engine.</p>' % not_executed)
    return (u'<section class="panel" aria-labelledby="summary-h"><h2 id="summary-h">Summary</h2>'
            u'<ul class="cards">%s</ul><dl class="facts">%s</dl>%s</section>') % (
        u''.join(cards), u''.join(u'<dt>%s</dt><dd>%s</dd>' % fact for fact in facts),
        u'<div class="notes">%s</div>' % u''.join(notes) if notes else u'')


def _hatch(name, colour):
    return (u'<pattern id="%s" width="6" height="6" patternUnits="userSpaceOnUse" '
            u'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
            u'<rect width="3" height="6" fill="%s"/></pattern>' % (name, colour))


def _nice_ceiling(value):
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10 ** exponent
        if candidate >= value:
            return float(candidate)
    return float(10 ** (exponent + 1))


def _chart(report):
    rows = report['chart']['classes']
    if not rows:
        return (u'<section class="panel" aria-labelledby="chart-h"><h2 id="chart-h">Smoke latency by '
                u'platform class</h2><p class="small">No host reported a smoke latency.</p></section>')
    label_w, plot_w, right_pad, row_h, bar_h, top, bottom = 300, 560, 70, 54, 16, 34, 34
    width = label_w + plot_w + right_pad
    height = top + row_h * len(rows) + bottom
    peak = max([value for row in rows for value in (row['p50_ms'], row['p95_ms']) if value is not None] or [1])
    ceiling = _nice_ceiling(peak)

    def x(value):
        return label_w + plot_w * (value / ceiling)

    parts = [u'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-title chart-desc" '
             u'width="%d" height="%d" viewBox="0 0 %d %d" class="chart">' % (width, height, width, height),
             u'<title id="chart-title">Smoke latency p50 and p95 by platform class, milliseconds</title>',
             u'<desc id="chart-desc">%s</desc>' % _e(u'; '.join(
                 u'%s: p50 %s ms, p95 %s ms' % (row['platform_class'], _number(row['p50_ms'], 2),
                                                _number(row['p95_ms'], 2)) for row in rows)),
             u'<defs>%s%s</defs>' % (_hatch('hatch-p50', P50_COLOUR), _hatch('hatch-p95', P95_COLOUR))]
    ticks = 5
    for index in range(ticks + 1):
        value = ceiling * index / ticks
        tick_x = x(value)
        parts.append(u'<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e3e7ee"/>' % (
            tick_x, top - 6, tick_x, height - bottom + 4))
        parts.append(u'<text x="%.1f" y="%d" font-size="11" fill="#566074" text-anchor="middle">%s</text>' % (
            tick_x, height - bottom + 18, _e(_number(value, 1 if ceiling < 10 else 0))))
    parts.append(u'<text x="%d" y="%d" font-size="11" fill="#566074" text-anchor="end">ms</text>' % (
        width - 8, height - bottom + 18))
    for index, row in enumerate(rows):
        y0 = top + index * row_h
        executed = row['engine_executed']
        label = row['platform_class']
        parts.append(u'<g class="chart-row" data-platform-class="%s">' % _e(label))
        parts.append(u'<text x="%d" y="%d" font-size="13" font-weight="600" fill="#1d2433" text-anchor="end">%s</text>' % (
            label_w - 12, y0 + 17, _e(label)))
        sub = u'%d host%s' % (len(row['hosts']), u'' if len(row['hosts']) == 1 else u's')
        # backend names may already say '(engine not executed)'; said once, the label fits beside the plot
        backends = u', '.join(b.replace(u' (engine not executed)', u'') for b in row['backends'])
        if executed is False:
            sub += u' \u00b7 %s (engine not executed)' % (backends or u'other backend')
        elif backends:
            sub += u' \u00b7 %s' % backends
        parts.append(u'<text x="%d" y="%d" font-size="11" fill="#566074" text-anchor="end">%s</text>' % (
            label_w - 12, y0 + 33, _e(sub)))
        for offset, key, colour in ((0, 'p50_ms', P50_COLOUR), (bar_h + 3, 'p95_ms', P95_COLOUR)):
            value = row[key]
            if value is None:
                continue
            bar_y = y0 + 4 + offset
            bar_w = max(x(value) - label_w, 1.5)
            # Hatched: a latency of another backend, not of the engine; solid: the engine's own.
            fill = 'url(#hatch-%s)' % key[:3] if executed is False else colour
            parts.append(u'<rect x="%d" y="%d" width="%.1f" height="%d" rx="2" fill="%s" stroke="%s">'
                         u'<title>%s %s: %s ms</title></rect>' % (
                             label_w, bar_y, bar_w, bar_h, fill, colour, _e(label), key[:3],
                             _e(_number(value, 2))))
            parts.append(u'<text x="%.1f" y="%d" font-size="11.5" fill="#1d2433">%s %s</text>' % (
                label_w + bar_w + 6, bar_y + 12, key[:3], _e(_number(value, 1 if value >= 1 else 2))))
        parts.append(u'</g>')
    parts.append(u'<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#9aa4b2"/>' % (
        label_w, top - 6, label_w, height - bottom + 4))
    parts.append(u'</svg>')
    legend = (u'<span class="key p50"></span>p50 <span class="key p95"></span>p95 '
              u'<span class="key hatched"></span>hatched: engine not executed, the latency is that of the '
              u'backend named under the class.')
    return (u'<section class="panel" aria-labelledby="chart-h"><h2 id="chart-h">Smoke latency by platform '
            u'class</h2><figure><div class="chart-wrap">%s</div><figcaption>%s Bars show the median over the '
            u'hosts of each class of their smoke-test latency percentiles (ms, lower is better).'
            u'</figcaption></figure></section>') % (u''.join(parts), legend)


def _platform_cell(entry):
    platform = entry['platform']
    lines = [u'<strong>%s</strong>' % _or_dash(entry['platform_class'])]
    module = _module_text(platform)
    if module:
        lines.append(_e(module))
    versions = []
    if _version(platform.get('jetpack')):
        versions.append(u'JetPack %s' % _e(_version(platform['jetpack'])))
    if _version(platform.get('l4t')):
        versions.append(u'L4T %s' % _e(_version(platform['l4t'])))
    if platform.get('compute_capability'):
        versions.append(u'CC %s' % _e(platform['compute_capability']))
    if versions:
        lines.append(u'<span class="small">%s</span>' % u' \u00b7 '.join(versions))
    return u'<br>'.join(lines)


def _tensorrt_cell(entry):
    trt = entry['platform'].get('tensorrt')
    if not isinstance(trt, dict) or not (trt.get('version') or trt.get('flavour')):
        return u'\u2014'
    flavour = FLAVOURS.get(trt.get('flavour'), trt.get('flavour') or u'TensorRT')
    text = u'%s %s' % (_e(flavour), _or_dash(trt.get('version')))
    if trt.get('test_double'):
        text += u'<br><span class="badge warn" title="tao.fleet\'s TensorRT test double, not a real TensorRT">test double</span>'
    return text


def _fingerprint(value):
    return u'<span class="mono" title="%s">%s</span>' % (_e(value), _e(value[:12]))


def _active_line(entry):
    """Which engine the host runs now, where that is not the engine of this run (a failed or rolled back host,
    a check run, a rollback)."""
    active = entry.get('active_engine')
    if not isinstance(active, str) or active == entry['engine'].get('fingerprint'):
        return u''
    text = u'<span class="small active" data-active="%s">active now: %s</span>' % (_e(active), _fingerprint(active))
    left = entry.get('rolled_back_from')
    if isinstance(left, str) and left:
        text += u'<span class="small active">rolled back from: %s</span>' % _fingerprint(left)
    return text


def _engine_cell(entry):
    engine = entry['engine']
    active = _active_line(entry)
    if not engine.get('fingerprint'):
        return active or u'\u2014'
    how = [word for word in ('built', 'reused', 'shared') if engine.get(word)]
    if not how and engine.get('how'):
        how = [engine['how']]
    text = _fingerprint(engine['fingerprint'])
    if how:
        text += u'<br>%s' % u' '.join(u'<span class="badge info">%s</span>' % _e(word) for word in how)
    if engine.get('build_seconds') is not None:
        text += u' <span class="small">%s s</span>' % _e(_number(engine['build_seconds']))
    if engine.get('targets_note'):
        text += u'<span class="small note">%s</span>' % _e(engine['targets_note'])
    if active:
        text += u'<br>' + active
    return text


def _smoke_cell(entry):
    smoke = entry['smoke']
    if smoke.get('passed') is None and smoke.get('detections') is None:
        return u'\u2014'
    verdict = {True: u'passed', False: u'failed'}.get(smoke.get('passed'), u'not run')
    text = u'%s' % verdict
    if smoke.get('detections') is not None:
        text += u', %s detection%s' % (_e(smoke['detections']), u'' if smoke['detections'] == 1 else u's')
    if smoke.get('backend'):
        text += u'<br><span class="small">%s</span>' % _e(smoke['backend'])
    if smoke.get('engine_executed') is False:
        text += u'<br><span class="badge warn" title="the smoke test ran on %s, not on the TensorRT engine">engine not executed</span>' % _e(
            smoke.get('backend') or u'another backend')
    if smoke.get('fallback') is True:
        text += (u' <span class="badge warn" data-fallback="true" title="backend auto fell back to the CPU: this '
                 u'result is the ONNX model\'s, not the engine\'s">CPU fallback</span>')
    if smoke.get('reason') and smoke.get('passed') is not True:
        text += u'<br><span class="small">%s</span>' % _e(smoke['reason'])
    return text


def _latency_cell(entry):
    latency = entry['smoke'].get('latency_ms')
    if not isinstance(latency, dict) or (latency.get('p50') is None and latency.get('p95') is None):
        return u'\u2014'
    return u'%s / %s' % (_or_dash(_number(latency.get('p50'))), _or_dash(_number(latency.get('p95'))))


def _throughput_cell(entry):
    smoke = entry['smoke']
    if smoke.get('throughput_fps') is None:
        return u'\u2014'
    text = u'%s fps' % _e(_number(smoke['throughput_fps']))
    if smoke.get('published_ratio') is not None and smoke.get('published_fps') is not None:
        text += u'<br><span class="small">%s\u00d7 of %s fps published</span>' % (
            _e(_number(smoke['published_ratio'], 2)), _e(_number(smoke['published_fps'], 0)))
    return text


def _warning_row(entry, columns):
    lines = [(u'Warning', w) for w in entry['warnings']] + [(u'Platform', w) for w in entry['platform_warnings']]
    if not lines:
        return u''
    return (u'<tr class="warning-row" data-host="%s"><td></td><td colspan="%d"><div class="warning">%s</div>'
            u'</td></tr>') % (_e(entry['host']), columns - 1,
                              u''.join(u'<p><span class="k">%s:</span> %s</p>' % (label, _e(w)) for label, w in lines))


def _error_row(entry, columns):
    error = entry['error']
    if not isinstance(error, dict) or not error.get('msg'):
        return u''
    where = [u'stage %s' % _e(error.get('stage') or entry['stage'])] if (error.get('stage') or entry['stage']) else []
    if error.get('code'):
        where.append(u'<span class="mono">%s</span>' % _e(error['code']))
    lines = [u'<div class="msg">%s%s</div>' % (_e(error['msg']),
                                               u' <span class="small">(%s)</span>' % u', '.join(where) if where else u'')]
    for key, label in (('cause', u'Cause'), ('fix', u'Fix')):
        if error.get(key):
            lines.append(u'<p><span class="k">%s:</span> %s</p>' % (label, _e(error[key])))
    return u'<tr class="error-row" data-host="%s"><td></td><td colspan="%d"><div class="error">%s</div></td></tr>' % (
        _e(entry['host']), columns - 1, u''.join(lines))


HOST_COLUMNS = (u'Status', u'Host', u'Platform', u'TensorRT', u'Engine', u'Smoke test',
                u'p50 / p95 ms', u'Throughput', u'Power mode')


def _hosts_table(report):
    rows = []
    for entry in report['hosts']:
        status = entry['status']
        # Tinted rows: hosts that need someone now (a rolled back host runs its old engine fine).
        problem = status in ('failed', 'unreachable') or status not in STATUS_ORDER
        host_lines = [u'<strong class="hostname">%s</strong>' % _e(entry['host'])]
        details = []
        if entry['wave'] is not None:
            details.append(u'wave %s' % _e(entry['wave']))
        if entry['stage']:
            details.append(u'stage %s' % _e(entry['stage']))
        if entry['changed']:
            details.append(u'would change' if entry['check_mode'] else u'changed')
        if details:
            host_lines.append(u'<span class="small">%s</span>' % u' \u00b7 '.join(details))
        cells = [_status_cell(status), u'<br>'.join(host_lines)]
        rows.append(u'<tr class="host-row %s%s" data-host="%s" data-status="%s">%s<td class="platform">%s</td>'
                    u'<td>%s</td><td class="engine">%s</td><td>%s</td>'
                    u'<td class="num">%s</td><td class="num">%s</td><td>%s</td></tr>' % (
                        _e(status if status in STATUS_ORDER else 'other'), u' problem' if problem else u'',
                        _e(entry['host']), _e(status), u''.join(u'<td>%s</td>' % cell for cell in cells),
                        _platform_cell(entry), _tensorrt_cell(entry), _engine_cell(entry), _smoke_cell(entry),
                        _latency_cell(entry), _throughput_cell(entry),
                        _or_dash(_power_text(entry['platform'].get('power_mode')))))
        rows.append(_error_row(entry, len(HOST_COLUMNS)))
        rows.append(_warning_row(entry, len(HOST_COLUMNS)))
    head = u''.join(u'<th scope="col"%s>%s</th>' % (u' class="num"' if index in (6, 7) else u'', _e(name))
                    for index, name in enumerate(HOST_COLUMNS))
    return (u'<section class="panel" aria-labelledby="hosts-h"><h2 id="hosts-h">Hosts</h2>'
            u'<p class="small">Failed and unreachable hosts first, then rolled back, skipped, deployed and '
            u'unchanged ones.</p><div class="table-wrap"><table class="hosts"><thead><tr>%s</tr></thead>'
            u'<tbody>%s</tbody></table></div></section>') % (head, u''.join(rows))


def render_html(report):
    """The page for ``report`` (from ``_report.build_report``), as text."""
    return u''.join([
        u'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        u'<meta name="viewport" content="width=device-width, initial-scale=1">',
        # No request of any kind: the page must open the same from a CI artifact, offline.
        u'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        u'style-src \'unsafe-inline\'; img-src data:">',
        u'<title>%s \u2014 %s</title>' % (_e(report['title']), _e(report['generated_at'])),
        u'<style>%s</style></head><body><div class="page">' % CSS,
        _header(report), _summary(report), _chart(report), _hosts_table(report),
        u'<footer>Machine-readable: report.json (schema %s) and report.junit.xml beside this page. '
        u'Generated by tao.fleet role fleet_report.</footer>' % _e(report['schema']),
        u'</div></body></html>\n',
    ])
