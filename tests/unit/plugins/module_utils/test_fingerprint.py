# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

import pytest

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils import _fingerprint as fingerprint

MODEL = '5d' * 32
PLATFORM = {
    'tensorrt': '8.2.1.8',
    'tensorrt_flavour': 'tensorrt',
    'cuda': '10.2.300',
    'cudnn': '8.2.1',
    'compute_capability': '5.3',
    'soc': 'tegra210',
    'module': 'p3448-0000',
    'l4t': '32.7.6',
}


def fp(build=None, platform=None, model=MODEL, calibration=None):
    return fingerprint.engine_fingerprint(model, PLATFORM if platform is None else platform, build or {},
                                          calibration)[0]


def test_canonical_json_text_is_byte_exact():
    text = fingerprint.canonical_json({'b': [1, True, None], 'a': u'caf\u00e9', 'c': {'z': 1, 'y': 2}})
    assert text == '{"a":"caf\\u00e9","b":[1,true,null],"c":{"y":2,"z":1}}'


def test_fingerprint_is_sha256_of_the_canonical_inputs_text():
    # The expected text is written out here, so a change of encoding on any Python shows up.
    result, inputs = fingerprint.engine_fingerprint(MODEL, {'tensorrt': '8.2.1.8', 'cc': '5.3'}, {})
    expected_text = (
        '{"build":{"builder_flags":[],"compute_capabilities":[],"dla_core":null,"gpu_fallback":null,'
        '"hardware_compatibility":"none","input_dims":{},"input_order":"nchw","max_batch_size":16,'
        '"output_names":[],"plugin_sha256":[],"precision":"fp32","profiles":[],"strict_types":false,'
        '"version_compatible":false,"workspace":1073741824},"calibration_sha256":null,'
        '"model_sha256":"%s","platform":{"cc":"5.3","tensorrt":"8.2.1.8"},"schema":1}' % MODEL
    )
    assert fingerprint.canonical_json(inputs) == expected_text
    assert result == hashlib.sha256(expected_text.encode('ascii')).hexdigest()
    assert result == fingerprint.sha256_of(json.loads(json.dumps(inputs)))


def test_non_string_keys_are_refused_so_3_and_string_3_cannot_meet():
    with pytest.raises(TaoFleetError) as caught:
        fingerprint.canonical({3: 'x'})
    assert caught.value.code == 'fingerprint_input_invalid'
    assert fingerprint.canonical_json({'k': 3}) != fingerprint.canonical_json({'k': '3'})


def test_booleans_stay_distinct_from_integers():
    assert fingerprint.canonical_json([True, 1, False, 0]) == '[true,1,false,0]'


@pytest.mark.parametrize('value', [1.5, float('nan'), float('inf'), b'bytes', set([1]), object()])
def test_ambiguous_values_are_refused(value):
    with pytest.raises(TaoFleetError) as caught:
        fingerprint.canonical({'key': value})
    assert caught.value.code == 'fingerprint_input_invalid'


def test_integral_floats_become_integers():
    assert fingerprint.canonical_json({'w': 1024.0}) == fingerprint.canonical_json({'w': 1024})


def test_unicode_is_normalised():
    assert fingerprint.canonical_json(u'e\u0301') == fingerprint.canonical_json(u'\u00e9')


def test_unset_options_equal_their_defaults():
    explicit = dict(fingerprint.BUILD_OPTION_DEFAULTS)
    assert fp({}) == fp(explicit) == fp(None)
    assert fp({'workspace': None, 'precision': None}) == fp({})


@pytest.mark.parametrize('spelling', [1 << 30, '1G', '1GiB', '1 GB', '1024M', '1048576K', '1073741824'])
def test_workspace_spellings_mean_one_size(spelling):
    assert fp({'workspace': spelling}) == fp({})


@pytest.mark.parametrize('bad', ['1.5G', 'lots', -1, True])
def test_bad_workspace_is_refused(bad):
    with pytest.raises(TaoFleetError) as caught:
        fp({'workspace': bad})
    assert caught.value.code == 'fingerprint_input_invalid'


@pytest.mark.parametrize('alias,canonical', [('FP16', 'fp16'), ('half', 'fp16'), ('float32', 'fp32'),
                                             ('Int8', 'int8'), ('strongly-typed', 'strongly_typed')])
def test_precision_aliases(alias, canonical):
    assert fp({'precision': alias}) == fp({'precision': canonical})


def test_unknown_precision_is_refused():
    with pytest.raises(TaoFleetError) as caught:
        fp({'precision': 'fp8x'})
    assert 'fp16' in caught.value.fix


@pytest.mark.parametrize('change', [
    {'precision': 'fp16'}, {'workspace': '2G'}, {'max_batch_size': 8}, {'dla_core': 0},
    {'strict_types': True}, {'builder_flags': ['SPARSE_WEIGHTS']}, {'plugin_sha256': ['ab' * 32]},
    {'version_compatible': True}, {'hardware_compatibility': 'ampere_plus'},
    {'compute_capabilities': ['8.7']}, {'input_dims': {'input_1': [3, 544, 960]}},
    {'output_names': ['output_cov/Sigmoid']}, {'profiles': [{'input_1': [1, 3, 544, 960]}]},
    {'input_order': 'nhwc'}, {'some_future_option': 'x'},
])
def test_every_build_option_changes_the_fingerprint(change):
    assert fp(change) != fp({})


@pytest.mark.parametrize('key', sorted(PLATFORM))
def test_every_platform_fact_changes_the_fingerprint(key):
    changed = dict(PLATFORM)
    changed[key] = changed[key] + '.1'
    assert fp(platform=changed) != fp()


def test_model_changes_the_fingerprint_and_is_case_folded():
    assert fp(model='6e' * 32) != fp()
    assert fp(model=MODEL.upper()) == fp()


@pytest.mark.parametrize('bad', ['', 'abc', 'g' * 64, None, 5])
def test_bad_model_sha256_is_refused(bad):
    with pytest.raises(TaoFleetError) as caught:
        fp(model=bad)
    assert caught.value.code == 'fingerprint_input_invalid'


def test_platform_key_integers_are_text_and_none_is_absent():
    assert fp(platform=dict(PLATFORM, dla_cores=2)) == fp(platform=dict(PLATFORM, dla_cores='2'))
    assert fp(platform=dict(PLATFORM, jetpack=None)) == fp()


@pytest.mark.parametrize('bad', [{'nested': {'a': 'b'}}, {'cc': 8.7}, {'flag': True}, ['not', 'a', 'dict']])
def test_platform_key_must_be_flat_strings(bad):
    with pytest.raises(TaoFleetError):
        fp(platform=bad)


def test_gpu_fallback_only_counts_with_dla():
    assert fp({'gpu_fallback': False}) == fp({})
    assert fp({'dla_core': 0}) == fp({'dla_core': '0', 'gpu_fallback': True})
    assert fp({'dla_core': 0, 'gpu_fallback': False}) != fp({'dla_core': 0})
    assert fp({'dla_core': 1}) != fp({'dla_core': 0})


def test_builder_flags_and_plugins_are_sets():
    assert fp({'builder_flags': ['sparse_weights', 'TF32', 'TF32']}) == fp({'builder_flags': ['TF32', 'SPARSE_WEIGHTS']})
    one, two = 'ab' * 32, 'CD' * 32
    assert fp({'plugin_sha256': [one, two]}) == fp({'plugin_sha256': [two.lower(), one]})


def test_output_order_matters():
    assert fp({'output_names': ['a', 'b']}) != fp({'output_names': ['b', 'a']})


def test_profile_spellings():
    static = fp({'profiles': [{'input_1': [1, 3, 544, 960]}]})
    assert static == fp({'profiles': [{'input_1': '1x3x544x960'}]})
    assert static == fp({'profiles': [{'input_1': {'min': [1, 3, 544, 960], 'opt': '1,3,544,960',
                                                   'max': (1, 3, 544, 960)}}]})
    dynamic = fp({'profiles': [{'input_1': {'min': '1x3x544x960', 'opt': '4x3x544x960', 'max': '16x3x544x960'}}]})
    assert dynamic != static


@pytest.mark.parametrize('bad', [{'input_1': {'min': [1], 'max': [2]}}, {'input_1': [0, 3]}, {}, 'x'])
def test_bad_profiles_are_refused(bad):
    with pytest.raises(TaoFleetError):
        fp({'profiles': [bad]})


def test_compute_capabilities_are_normalised_and_sorted():
    assert fp({'compute_capabilities': ['12.0', '8.9', '8.9']}) == fp({'compute_capabilities': ['8.9', '12.0']})
    with pytest.raises(TaoFleetError):
        fp({'compute_capabilities': [8.9]})


def test_calibration_counts_only_for_int8():
    calibration = 'ef' * 32
    assert fp({'precision': 'fp16'}, calibration=calibration) == fp({'precision': 'fp16'})
    assert fp({'precision': 'int8'}, calibration=calibration) != fp({'precision': 'int8'})
    assert fp({'precision': 'int8'}, calibration='01' * 32) != fp({'precision': 'int8'}, calibration=calibration)


def test_platform_key_sha256_names_the_timing_cache():
    assert fingerprint.platform_key_sha256(PLATFORM) == fingerprint.platform_key_sha256(dict(PLATFORM, extra=None))
    assert fingerprint.platform_key_sha256(PLATFORM) != fingerprint.platform_key_sha256(dict(PLATFORM, cuda='10.2'))
