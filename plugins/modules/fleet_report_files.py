#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: fleet_report_files
short_description: Write the fleet report of a rollout (JSON, HTML page, JUnit XML)
description:
  - Builds the fleet report from every host's rollout result (the C(deploy_model_result) host
    variable that role C(tao.fleet.deploy_model) sets) and writes C(report.json) (schema 1),
    C(report.html) (one self-contained page, no external requests, no script) and
    C(report.junit.xml) (one testcase per host) into C(<dest>/<name>/).
  - Hosts without a result are reported with O(missing_status) (C(unreachable) by default).
    Hosts are ordered failed and unreachable first.
  - The report directory is filled under a temporary name and renamed into place, each file is
    written to a temporary file, fsynced and renamed, and C(<dest>/latest) is switched by rename
    after the files are complete, so nothing half-written is ever visible.
  - Meant to run once on the controller (C(delegate_to) localhost, C(run_once)); role
    C(tao.fleet.fleet_report) does that. See C(docs/fleet-report.md) in the collection.
version_added: 0.1.0
author:
  - tao.fleet contributors (@tao-fleet)
requirements:
  - Python 3.6 or newer where the task runs, normally the controller (standard library only)
extends_documentation_fragment:
  - tao.fleet.attributes
  - tao.fleet.attributes.platform
attributes:
  platform:
    details:
      - Runs where the task runs, which is meant to be the controller (C(delegate_to) localhost, C(run_once)), not
        the devices; role C(tao.fleet.fleet_report) runs it so.
  check_mode:
    support: full
    details:
      - Reports where the files would go and the summary; writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - With the same O(name) and O(generated_at), a second run finds identical files and reports
        no change. Without them each run writes a new report directory named after its time.
options:
  dest:
    description: Directory that holds the report directories (created if missing).
    type: path
    required: true
  name:
    description:
      - Name of this report's directory under O(dest).
      - Default is the UTC time of O(generated_at) as C(20261123T080709Z).
    type: str
  hosts:
    description: Inventory names of the hosts to report on, in any order.
    type: list
    elements: str
    required: true
  results:
    description:
      - Host name -> that host's C(deploy_model_result). A host that is missing here, or maps to
        null or an empty dict, recorded no result.
    type: dict
    default: {}
  rollout:
    description:
      - What the rollout playbook knows about the rollout as a whole, shown in the summary and
        kept in the JSON as given. Known keys are C(id), C(model), C(artifact),
        C(failure_threshold), C(waves) (list of C(name), C(hosts), optional C(outcome)),
        C(canary) (C(hosts), C(outcome) or C(passed), C(reason)), C(halted), C(rolled_back),
        C(reason), C(kind) and C(check_mode).
      - C(kind) is V(rollout) (default; a rolled back host is a problem) or V(rollback) (returning hosts to
        their previous engine is what was asked for, so C(rolled_back) hosts count as done).
      - C(check_mode=true), or any host result with C(check_mode=true), makes this the report of a
        C(--check) run. The page says so, its directory is C(<UTC time>-check), and C(latest) is not moved.
    type: dict
    default: {}
  title:
    description: Title of the page and of the JUnit test suites.
    type: str
    default: tao.fleet rollout report
  missing_status:
    description:
      - Status given to hosts without a result. V(unreachable) when the rollout ran on every
        host; V(skipped) when hosts were left out on purpose (a halted rollout that never
        reached their wave records nothing for them).
    type: str
    choices: [unreachable, skipped]
    default: unreachable
  skipped_hosts:
    description:
      - Hosts the rollout left out on purpose (a wave it never started). Those without a result
        are reported C(skipped) instead of O(missing_status).
    type: list
    elements: str
    default: []
  generated_at:
    description: Time stamp of the report, C(YYYY-MM-DDTHH:MM:SSZ) in UTC. Default is now.
    type: str
  latest:
    description: Point the symlink C(<dest>/latest) at this report's directory.
    type: bool
    default: true
seealso:
  - name: Role tao.fleet.fleet_report
    description: Role P(tao.fleet.fleet_report#role) runs this module once on the controller at the end of a rollout
      (C(ansible-doc -t role tao.fleet.fleet_report)).
    link: https://github.com/tao-fleet/tao.fleet/tree/main/roles/fleet_report
  - name: Role tao.fleet.deploy_model
    description: Role P(tao.fleet.deploy_model#role) sets the C(deploy_model_result) of each host that this module reports on.
    link: https://github.com/tao-fleet/tao.fleet/tree/main/roles/deploy_model
'''

EXAMPLES = r'''
- name: Write the fleet report on the controller
  tao.fleet.fleet_report_files:
    dest: "{{ playbook_dir }}/reports"
    hosts: "{{ ansible_play_hosts_all }}"
    results: >-
      {{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
         | map(attribute='deploy_model_result', default={}))) }}
    rollout:
      model: peoplenet
      halted: false
  delegate_to: localhost
  run_once: true
  register: report

- name: Say where it is
  ansible.builtin.debug:
    msg: "{{ report.msg }}"
  run_once: true
'''

RETURN = r'''
report_dir:
  description: The report's directory.
  returned: always
  type: str
  sample: /home/ops/rollouts/reports/20261123T080709Z
files:
  description: Paths of the files, by format.
  returned: always
  type: dict
  contains:
    json:
      description: C(report.json)
      type: str
    html:
      description: C(report.html)
      type: str
    junit:
      description: C(report.junit.xml)
      type: str
  sample:
    json: /home/ops/rollouts/reports/20261123T080709Z/report.json
    html: /home/ops/rollouts/reports/20261123T080709Z/report.html
    junit: /home/ops/rollouts/reports/20261123T080709Z/report.junit.xml
url:
  description: C(file://) URL of the HTML page.
  returned: always
  type: str
  sample: file:///home/ops/rollouts/reports/20261123T080709Z/report.html
latest:
  description: The C(latest) link (null when O(latest=false), and for the report of a check run).
  returned: always
  type: str
  sample: /home/ops/rollouts/reports/latest
check_run:
  description: Whether this is the report of a C(--check) run (nothing was changed on the hosts).
  returned: always
  type: bool
  sample: false
summary:
  description: The report's summary (counts per status, outcome, waves, canary, halted, rolled back).
  returned: always
  type: dict
outcome:
  description:
    - C(succeeded) or C(failed) (any failed, unreachable or rolled back host, or a halted rollout).
    - In a report whose O(rollout) has C(kind=rollback), rolled back hosts are a success.
  returned: always
  type: str
  sample: succeeded
msg:
  description: Where the report is and what it says, in one line.
  returned: always
  type: str
'''

import os
import re
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tao.fleet.plugins.module_utils._atomic import (
    make_dirs,
    read_bytes,
    read_link,
    remove_stale_temps,
    TEMP_PREFIX,
    write_file,
    write_link,
)
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._report import (
    build_report,
    render_json,
    render_junit,
    utc_timestamp,
)
from ansible_collections.tao.fleet.plugins.module_utils._report_html import render_html

FILES = (('json', 'report.json'), ('junit', 'report.junit.xml'), ('html', 'report.html'))
LATEST = 'latest'
_TIMESTAMP = re.compile(r'^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z$')
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$')


def report_contents(report):
    """{file name: bytes} of the three files."""
    texts = {'json': render_json(report), 'junit': render_junit(report), 'html': render_html(report)}
    return dict((name, texts[kind].encode('utf-8')) for kind, name in FILES)


def _directory_name(params, generated_at):
    if params['name']:
        if not _NAME.match(params['name']) or params['name'] == LATEST:
            raise TaoFleetError(
                'Invalid report name %r.' % params['name'],
                cause='The name becomes a directory under dest, beside the latest link.',
                fix='Use letters, digits, ".", "_", "+" and "-" (not "latest"), or leave name unset '
                    'for the UTC time stamp.',
                code='invalid_argument')
        return params['name']
    return re.sub(r'[-:]', '', generated_at)


def _write_new_directory(dest, name, contents):
    """Fill a temp directory beside the final one, then rename it into place."""
    temp = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=dest)
    try:
        os.chmod(temp, 0o755)
        for file_name, data in sorted(contents.items()):
            write_file(os.path.join(temp, file_name), data)
        os.rename(temp, os.path.join(dest, name))
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def write_report(params, check_mode):
    generated_at = params['generated_at'] or utc_timestamp()
    if not _TIMESTAMP.match(generated_at):
        raise TaoFleetError('generated_at must look like 2026-11-23T08:07:09Z, got %r.' % generated_at,
                            fix='Give the UTC time as YYYY-MM-DDTHH:MM:SSZ, or leave it unset.',
                            code='invalid_argument')
    report = build_report(params['hosts'], params['results'], rollout=params['rollout'],
                          generated_at=generated_at, title=params['title'],
                          missing_status=params['missing_status'], skipped_hosts=params['skipped_hosts'])
    dest = params['dest']
    # a --check run's report must not pass for a real one: its own directory, and latest stays where it is
    check_run = bool(report['summary']['check_mode'])
    name = _directory_name(params, generated_at) + ('-check' if check_run and not params['name'] else '')
    report_dir = os.path.join(dest, name)
    contents = report_contents(report)
    files = dict((kind, os.path.join(report_dir, file_name)) for kind, file_name in FILES)
    changed_files = [file_name for file_name, data in sorted(contents.items())
                     if read_bytes(os.path.join(report_dir, file_name)) != data]
    latest = os.path.join(dest, LATEST) if params['latest'] and not check_run else None
    if latest:
        current = read_link(latest)
        if current is False:
            raise TaoFleetError(
                '%s exists and is not a symlink.' % latest,
                cause='The report writer keeps "latest" as a link to the newest report directory.',
                fix='Move that file or directory away, or set latest: false.',
                code='invalid_argument')
        link_changed = current != name
    else:
        link_changed = False
    changed = bool(changed_files) or link_changed
    if changed and not check_mode:
        make_dirs(dest)
        remove_stale_temps(dest)
        if not os.path.isdir(report_dir):
            try:
                _write_new_directory(dest, name, contents)
            except OSError as err:
                raise TaoFleetError('Cannot create the report directory %s: %s.' % (report_dir, err.strerror),
                                    cause='dest is not writable, or a file named like the report is in the way.',
                                    fix='Choose a writable dest (fleet_report_dir), or run with a new name.',
                                    code='not_writable')
        else:
            for file_name in changed_files:
                write_file(os.path.join(report_dir, file_name), contents[file_name])
        if link_changed:
            write_link(latest, name)
    summary = report['summary']
    counts = ', '.join('%d %s' % (count, status) for status, count in
                       sorted(summary['by_status'].items()) if count)
    return {
        'changed': changed,
        'report_dir': report_dir,
        'files': files,
        'url': 'file://' + files['html'],
        'latest': latest,
        'summary': summary,
        'outcome': summary['outcome'],
        'check_run': check_run,
        'msg': 'Fleet report%s (%s: %s) %s %s' % (
            ' of a check run (nothing was changed; latest not moved)' if check_run else '',
            summary['outcome'], counts or 'no hosts', 'would be written to' if check_mode else 'is at',
            'file://' + files['html']),
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type='path', required=True),
            name=dict(type='str'),
            hosts=dict(type='list', elements='str', required=True),
            results=dict(type='dict', default={}),
            rollout=dict(type='dict', default={}),
            title=dict(type='str', default='tao.fleet rollout report'),
            missing_status=dict(type='str', choices=['unreachable', 'skipped'], default='unreachable'),
            skipped_hosts=dict(type='list', elements='str', default=[]),
            generated_at=dict(type='str'),
            latest=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    module.params['dest'] = os.path.abspath(module.params['dest'])
    try:
        result = write_report(module.params, module.check_mode)
    except TaoFleetError as err:
        module.fail_json(**err.to_result())
    module.exit_json(**result)


if __name__ == '__main__':
    main()
