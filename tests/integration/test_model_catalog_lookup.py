# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""tao.fleet.model_catalog and tao.fleet.model_artifact in a real ansible-playbook run on the
controller (localhost), over the simulated fleet's expected platform facts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest


REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SYSROOTS = os.path.join(REPO, 'tests', 'fixtures', 'sysroots')

PLAYBOOK = r'''
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    tao_fleet_models:
      dashcamnet:
        artifacts:
          - id: onnx_mine
            urls: ["http://127.0.0.1:8080/dashcamnet.onnx"]
            file: dashcamnet.onnx
            format: onnx
            sha256: null
            tensorrt: {min: "8.6"}
            input: {name: "input_1:0", dims: [3, 544, 960]}
            outputs:
              - {name: "output_cov/Sigmoid:0", dims: [4, 34, 60], role: coverage}
              - {name: "output_bbox/BiasAdd:0", dims: [16, 34, 60], role: bbox}
            precisions: [fp32, fp16]
    profiles: %(profiles)s
  tasks:
    - name: Choose per profile
      ansible.builtin.set_fact:
        choices: >-
          {{ choices | default({}) | combine({item.key: {
               'peoplenet': lookup('tao.fleet.model_catalog', 'peoplenet')
                            | tao.fleet.model_artifact(item.value),
               'dashcamnet': lookup('tao.fleet.model_catalog', 'dashcamnet')
                             | tao.fleet.model_artifact(item.value, strict=false)}}) }}
      loop: "{{ profiles | dict2items }}"
    - name: Every model id
      ansible.builtin.set_fact:
        model_ids: "{{ query('tao.fleet.model_catalog') | map(attribute='id') | list }}"
    - name: Unknown model
      ansible.builtin.set_fact:
        unknown: "{{ lookup('tao.fleet.model_catalog', 'peoplenett') }}"
      ignore_errors: true
      register: unknown_model
    - name: Save
      ansible.builtin.copy:
        dest: "%(out)s"
        content: "{{ {'choices': choices, 'model_ids': model_ids,
                      'unknown': unknown_model.msg} | to_json }}"
'''


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp('model_catalog')
    namespace = work / 'collections' / 'ansible_collections' / 'tao'
    namespace.mkdir(parents=True)
    (namespace / 'fleet').symlink_to(REPO)
    profiles = {}
    for name in sorted(os.listdir(SYSROOTS)):
        if name.endswith('.expected.json'):
            with open(os.path.join(SYSROOTS, name)) as handle:
                profiles[name[:-len('.expected.json')]] = json.load(handle)['tao_platform']
    out = work / 'out.json'
    playbook = work / 'playbook.yml'
    playbook.write_text(PLAYBOOK % {'profiles': json.dumps(profiles), 'out': out})
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(work / 'collections'),
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR='1')
    process = subprocess.run([sys.executable, '-m', 'ansible', 'playbook', str(playbook)],
                             env=env, cwd=str(work), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True, timeout=300,
                             check=False)
    assert process.returncode == 0, process.stdout
    with open(str(out)) as handle:
        return profiles, json.load(handle)


def test_every_profile_gets_a_peoplenet_artifact(run):
    profiles, result = run
    assert sorted(result['choices']) == sorted(profiles) and profiles
    for name, facts in profiles.items():
        choice = result['choices'][name]['peoplenet']
        major = int(facts['tensorrt']['version'].split('.')[0])
        assert choice['format'] == ('onnx' if major >= 10 else 'etlt-uff'), name


def test_user_models_from_inventory_vars_are_merged(run):
    profiles, result = run
    for name, facts in profiles.items():
        dashcamnet = result['choices'][name]['dashcamnet']
        if int(facts['tensorrt']['version'].split('.')[0]) >= 10:
            assert dashcamnet['artifact_id'] == 'onnx_mine', name
        else:
            assert dashcamnet['artifact_id'] == 'etlt_pruned_v1.0', name


def test_query_lists_models_and_unknown_ids_are_explained(run):
    _profiles, result = run
    assert 'peoplenet' in result['model_ids'] and 'peoplenet_standin' in result['model_ids']
    assert 'Unknown model peoplenett' in result['unknown']
    assert 'tao_fleet_models' in result['unknown']
