# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: model_artifact
author:
  - tao.fleet contributors (@tao-fleet)
version_added: 0.1.0
short_description: Pick the artifact of a catalog model that a host can build an engine from
description:
  - Takes a model entry (from P(tao.fleet.model_catalog#lookup)) and the host's
    C(ansible_facts.tao_platform) (from M(tao.fleet.platform_facts)) and returns the artifact
    that host's TensorRT can build from, with the reason and every artifact that does not fit.
  - An artifact fits when the host's TensorRT parses its payload (ONNX on every TensorRT and on
    TensorRT-RTX; UFF only before TensorRT 10, never on TensorRT-RTX) within the TensorRT range
    the artifact is known to build on, and offers the requested precision there.
  - Among those that fit, O(prefer) comes first, then the model's own C(prefer) list, then plain
    ONNX, ONNX inside .etlt, UFF inside .etlt, then catalog order.
  - When none fits, the filter fails with each artifact and why, and the fix (for example, on
    JetPack 6.1+ a UFF-only model needs an ONNX artifact added); with O(strict=false) it returns
    that error instead.
positional: _input, platform
options:
  _input:
    description: A model entry as the lookup returns it (with its C(id)).
    type: dict
    required: true
  platform:
    description: The host's C(ansible_facts.tao_platform).
    type: dict
    required: true
  precision:
    description:
      - Precision the engine must be built at. Only artifacts that offer it fit (C(int8) needs a
        calibration cache written by the host's TensorRT major version, or an INT8 model).
      - TensorRT-RTX takes the precision from the model itself.
    type: str
    choices: [fp32, fp16, int8]
  prefer:
    description: Artifact ids to choose first when they fit.
    type: list
    elements: str
    default: []
  artifact:
    description:
      - Pin one artifact id. When it does not fit, the error names the artifact to use instead.
    type: str
  strict:
    description:
      - When no artifact fits, fail (V(true)), or return a result whose C(artifact) is null and
        whose C(error) holds C(msg), C(cause), C(fix) and C(error_code) (V(false)).
    type: bool
    default: true
seealso:
  - plugin: tao.fleet.model_catalog
    plugin_type: lookup
'''

EXAMPLES = r'''
- name: Choose the PeopleNet artifact for this host
  ansible.builtin.set_fact:
    tao_choice: >-
      {{ lookup('tao.fleet.model_catalog', 'peoplenet')
         | tao.fleet.model_artifact(ansible_facts.tao_platform) }}

- name: Ask for INT8, keep going when it does not fit (collect the reason for the fleet report)
  ansible.builtin.set_fact:
    tao_choice: >-
      {{ lookup('tao.fleet.model_catalog', 'peoplenet')
         | tao.fleet.model_artifact(ansible_facts.tao_platform, precision='int8', strict=false) }}

- name: Fetch what was chosen
  tao.fleet.model_fetch:
    ngc: "{{ tao_choice.artifact.ngc }}"
    file: "{{ tao_choice.artifact.file }}"
    sha256: "{{ tao_choice.artifact.sha256 }}"
  when: tao_choice.artifact is not none
'''

RETURN = r'''
_value:
  description: The choice.
  type: dict
  contains:
    model:
      description: Model id.
      type: str
    artifact_id:
      description: Id of the chosen artifact (null when none fits and O(strict=false)).
      type: str
    artifact:
      description: The chosen artifact entry (ngc, file, format, key, sha256, tensorrt, input, outputs, calibration, precisions).
      type: dict
    format:
      description: C(onnx), C(etlt-onnx) or C(etlt-uff).
      type: str
    payload_format:
      description: What TensorRT parses, C(onnx) or C(uff).
      type: str
    encrypted:
      description: Whether the file is an .etlt that needs the model key.
      type: bool
    precisions:
      description: Precisions this artifact can be built at with the host's TensorRT.
      type: list
      elements: str
    precision:
      description: The requested precision (null when none was requested).
      type: str
    tensorrt:
      description: The host TensorRT the choice was made for (flavour, version, test_double).
      type: dict
    reason:
      description: Why this artifact.
      type: str
    rejected:
      description: Each artifact that does not fit, with C(id) and C(reason).
      type: list
      elements: dict
    warnings:
      description: Capability-table warnings (a TensorRT version the table does not list).
      type: list
      elements: str
    error:
      description: With O(strict=false) and no fitting artifact, the error (msg, cause, fix, error_code).
      type: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.tao.fleet.plugins.module_utils._catalog import (
    check_model,
    select_artifact,
)
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError


def model_artifact(model, platform, precision=None, prefer=None, artifact=None, strict=True):
    if not isinstance(model, dict) or not model.get('id'):
        raise AnsibleFilterError('model_artifact expects a model entry from the '
                                 'tao.fleet.model_catalog lookup (a dict with its id), got %r'
                                 % type(model).__name__)
    if not isinstance(platform, dict) or not platform:
        raise AnsibleFilterError('model_artifact needs the host facts ansible_facts.tao_platform: '
                                 'run tao.fleet.platform_facts on the host first.')
    model_id = model['id']
    problems = check_model(model_id, model)
    if problems:
        raise AnsibleFilterError('Model entry %s is invalid: %s' % (model_id, '; '.join(problems)))
    try:
        return select_artifact(model_id, model, platform, precision=precision,
                               prefer=list(prefer or []), artifact_id=artifact)
    except TaoFleetError as error:
        if strict or error.code != 'no_artifact_fits':
            raise AnsibleFilterError(str(error))
        # every key of a choice, so that a task that reads one (precision, format...) sees null, not a crash
        return {'model': model_id, 'artifact_id': None, 'artifact': None, 'format': None, 'payload_format': None,
                'encrypted': None, 'precisions': [], 'precision': precision, 'tensorrt': None, 'reason': None,
                'warnings': [], 'rejected': error.details.get('rejected', []), 'error': error.to_result()}


class FilterModule(object):

    def filters(self):
        return {'model_artifact': model_artifact}
