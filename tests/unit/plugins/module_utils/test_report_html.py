# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The report page's structure, read back with the standard library's HTML parser. Chromium
renders the same pages in tests/report (console errors, layout, screenshot)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from html.parser import HTMLParser

import pytest

from ansible_collections.tao.fleet.plugins.module_utils._report import build_report
from ansible_collections.tao.fleet.plugins.module_utils._report_html import render_html

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
FIXTURES = os.path.join(REPO, 'tests', 'report', 'fixtures')
SCENARIOS = sorted(name[:-len('.json')] for name in os.listdir(FIXTURES) if name.endswith('.json'))
STAMP = '2026-11-23T08:07:09Z'
VOID = ('meta', 'br', 'rect', 'line', 'hr', 'img', 'input', 'link')


class Page(HTMLParser):
    """Elements with their attributes and classes, and every attribute that could fetch something."""

    def __init__(self):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.elements = []
        self.text = []
        self.stack = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        element = {'tag': tag, 'attrs': attributes, 'classes': (attributes.get('class') or '').split(),
                   'parents': list(self.stack)}
        self.elements.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if self.stack and self.stack[-1]['tag'] == tag and tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()['tag'] == tag:
                break

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag=None, cls=None):
        return [element for element in self.elements
                if (tag is None or element['tag'] == tag) and (cls is None or cls in element['classes'])]


def render(name):
    with open(os.path.join(FIXTURES, name + '.json')) as handle:
        data = json.load(handle)
    report = build_report(data['hosts'], data['results'], data['rollout'], generated_at=STAMP)
    text = render_html(report)
    page = Page()
    page.feed(text)
    return report, text, page


@pytest.mark.parametrize('name', SCENARIOS)
def test_one_row_per_host_in_report_order(name):
    report, _text, page = render(name)
    rows = page.find('tr', 'host-row')
    assert [row['attrs']['data-host'] for row in rows] == [entry['host'] for entry in report['hosts']]
    assert [row['attrs']['data-status'] for row in rows] == [entry['status'] for entry in report['hosts']]


@pytest.mark.parametrize('name', SCENARIOS)
def test_page_is_self_contained(name):
    _report, text, page = render(name)
    assert not page.find('script') and not page.find('link') and not page.find('img')
    for element in page.elements:
        for attribute in ('src', 'href', 'srcset', 'action', 'poster', 'data'):
            assert attribute not in element['attrs'], element
    # CSS may only reference SVG patterns of the page itself
    assert all(target.startswith('#') for target in re.findall(r'url\(([^)]*)\)', text))
    assert '@import' not in text
    policy = [element for element in page.find('meta') if element['attrs'].get('http-equiv') == 'Content-Security-Policy']
    assert policy and "default-src 'none'" in policy[0]['attrs']['content']


def test_error_text_is_escaped():
    results = {'h': {'status': 'failed', 'error': {'msg': '<script>alert(1)</script> & "x"',
                                                   'cause': '<img src=x onerror=alert(2)>', 'fix': 'f'}}}
    text = render_html(build_report(['h'], results, generated_at=STAMP))
    page = Page()
    page.feed(text)
    assert not page.find('script') and not page.find('img')
    assert '&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;' in text
    assert '<script>alert(1)</script> & "x"' in ''.join(page.text)


def test_failed_hosts_show_message_cause_and_fix():
    report, _text, page = render('wave_rollback')
    errors = page.find('tr', 'error-row')
    failed = [entry for entry in report['hosts'] if entry['status'] == 'failed']
    assert [row['attrs']['data-host'] for row in errors] == [entry['host'] for entry in failed]
    text = ''.join(page.text)
    for entry in failed:
        for key in ('msg', 'cause', 'fix'):
            assert entry['error'][key] in text


def test_test_doubles_and_other_backends_are_marked():
    report, text, page = render('clean')
    assert text.count('>test double</span>') == 1 + sum(
        1 for entry in report['hosts'] if entry['platform']['tensorrt']['test_double'])
    assert text.count('>engine not executed</span>') == 1 + sum(
        1 for entry in report['hosts'] if entry['smoke']['engine_executed'] is False)
    assert len(page.find('span', 'badge')) >= 2


@pytest.mark.parametrize('name', SCENARIOS)
def test_chart_has_one_row_per_platform_class(name):
    report, _text, page = render(name)
    rows = [element['attrs']['data-platform-class'] for element in page.find('g', 'chart-row')]
    assert rows == [row['platform_class'] for row in report['chart']['classes']]
    if rows:
        svg = page.find('svg')[0]
        assert svg['attrs']['role'] == 'img' and svg['attrs']['aria-labelledby']


def test_outcome_banner_says_what_happened():
    _report, _text, page = render('wave_rollback')
    banner = page.find('div', 'outcome')[0]
    assert banner['attrs']['data-outcome'] == 'failed'
    _report, text, page = render('clean')
    assert page.find('div', 'outcome')[0]['attrs']['data-outcome'] == 'succeeded'
    assert 'Rollout succeeded: 6 of 6 hosts' in text


def page_of(report):
    page = Page()
    text = render_html(report)
    page.feed(text)
    return text, page


def clean_data():
    with open(os.path.join(FIXTURES, 'clean.json')) as handle:
        return json.load(handle)


def test_a_check_run_never_passes_for_a_real_one():
    data = clean_data()
    report = build_report(data['hosts'], data['results'], dict(data['rollout'], check_mode=True), generated_at=STAMP)
    text, page = page_of(report)
    assert page.find('span', 'badge')[0]['attrs'].get('data-check-mode') == 'true'
    assert 'check-run' in page.find('div', 'outcome')[0]['classes']
    assert 'Check run of the rollout (nothing was changed): a real run would put 6 of 6 hosts' in text
    assert 'Rollout succeeded' not in text


def test_a_rollback_report_says_rollback_and_shows_the_engine_active_now():
    data = clean_data()
    results = dict((host, dict(result, status='rolled_back', stage='rollback', active_engine='b' * 64,
                               rolled_back_from=result['engine']['fingerprint']))
                   for host, result in data['results'].items())
    report = build_report(data['hosts'], results, {'kind': 'rollback'}, generated_at=STAMP)
    text, page = page_of(report)
    assert 'Rollback succeeded: 6 of 6 hosts returned to their previous engine' in text
    assert 'rollback report' in text and 'Rollout failed' not in text
    active = [e for e in page.find('span', 'active') if 'data-active' in e['attrs']]
    assert len(active) == 6 and all(e['attrs']['data-active'] == 'b' * 64 for e in active)
    assert text.count('rolled back from:') == 6


def test_a_host_warning_gets_its_own_row():
    data = clean_data()
    first = data['hosts'][0]
    results = dict(data['results'])
    results[first] = dict(results[first], warnings=['Made active engine <0123> again'],
                          platform_warnings=['venv TensorRT'])
    report = build_report(data['hosts'], results, data['rollout'], generated_at=STAMP)
    text, page = page_of(report)
    rows = page.find('tr', 'warning-row')
    assert [row['attrs']['data-host'] for row in rows] == [first] and report['summary']['warnings'] == 1
    assert 'Made active engine &lt;0123&gt; again' in text and 'Platform:</span> venv TensorRT' in text


def test_a_smoke_pass_from_the_cpu_fallback_is_marked():
    data = clean_data()
    first = data['hosts'][0]
    results = dict(data['results'])
    results[first] = dict(results[first], smoke=dict(results[first]['smoke'], fallback=True))
    _text, page = page_of(build_report(data['hosts'], results, data['rollout'], generated_at=STAMP))
    marked = [e for e in page.find('span', 'badge') if e['attrs'].get('data-fallback') == 'true']
    assert len(marked) == 1
