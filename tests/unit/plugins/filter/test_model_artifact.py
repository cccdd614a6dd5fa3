# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The tao.fleet.model_artifact filter called directly (controller code: needs ansible-core)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

pytest.importorskip('ansible')
yaml = pytest.importorskip('yaml')

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.tao.fleet.plugins.filter.model_artifact import (  # noqa: E402
    FilterModule,
    model_artifact,
)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
ORIN = {'kind': 'jetson', 'jetpack': {'version': '6.2'}, 'compute_capability': '8.7',
        'tensorrt': {'version': '10.3.0.30', 'flavour': 'tensorrt', 'test_double': False}}


def _entry(model_id):
    with open(os.path.join(REPO, 'catalog', 'models.yml')) as handle:
        entry = dict(yaml.safe_load(handle)['models'][model_id])
    entry['id'] = model_id
    return entry


def test_registered_under_its_name():
    assert FilterModule().filters()['model_artifact'] is model_artifact


def test_choice_for_a_tensorrt_10_jetson():
    choice = model_artifact(_entry('peoplenet'), ORIN)
    assert choice['artifact_id'] == 'onnx_v2.3.4' and choice['encrypted'] is False


def test_strict_failure_carries_cause_and_fix():
    with pytest.raises(AnsibleFilterError) as caught:
        model_artifact(_entry('dashcamnet'), ORIN)
    assert 'Fix:' in str(caught.value) and 'JetPack 6.1+' in str(caught.value)


def test_non_strict_returns_the_error_for_the_report():
    result = model_artifact(_entry('dashcamnet'), ORIN, strict=False)
    assert result['artifact'] is None
    assert result['error']['error_code'] == 'no_artifact_fits'
    assert result['rejected'][0]['id'] == 'etlt_pruned_v1.0'


def test_bad_inputs_are_explained():
    with pytest.raises(AnsibleFilterError, match='tao.fleet.model_catalog lookup'):
        model_artifact({'name': 'no id'}, ORIN)
    with pytest.raises(AnsibleFilterError, match='platform_facts'):
        model_artifact(_entry('peoplenet'), {})
    broken = _entry('peoplenet')
    broken['classes'] = 'person'
    with pytest.raises(AnsibleFilterError, match='classes: a list of class names'):
        model_artifact(broken, ORIN)
    with pytest.raises(AnsibleFilterError, match='Unknown precision'):
        model_artifact(_entry('peoplenet'), ORIN, precision='int4', strict=False)


RTX_DGPU = {'kind': 'dgpu', 'compute_capability': '8.9',
            'tensorrt': {'version': '1.7.1.116', 'flavour': 'tensorrt_rtx', 'test_double': False}}


def test_no_fit_has_every_key_of_a_choice_and_names_the_precisions_offered():
    # fp16 on TensorRT-RTX (strongly typed): the role reads choice.precision next; it must not crash there
    result = model_artifact(_entry('peoplenet_standin'), RTX_DGPU, precision='fp16', strict=False)
    assert result['artifact'] is None and result['precision'] == 'fp16' and result['format'] is None
    assert result['error']['error_code'] == 'no_artifact_fits'
    assert '(precision: fp32, or leave it unset)' in result['error']['fix'], result['error']['fix']
    # and that value does fit
    assert model_artifact(_entry('peoplenet_standin'), RTX_DGPU, precision='fp32')['artifact'] is not None
