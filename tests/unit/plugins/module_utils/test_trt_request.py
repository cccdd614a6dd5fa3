# -*- coding: utf-8 -*-
"""check_request: each refused request names the TensorRT version and the fix; warnings for the rest."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import (
    capabilities, check_request, normalize_request, parse_calibration_header)
from ansible_collections.tao.fleet.plugins.module_utils._trt._request import (
    calibration_cache_tensors, check_calibration_tensors)

NANO = {'name': 'Jetson Nano', 'compute_capability': '5.3', 'dla_cores': 0}
XAVIER_NX = {'name': 'Jetson Xavier NX', 'compute_capability': '7.2', 'dla_cores': 2}
THOR = {'name': 'Jetson AGX Thor', 'compute_capability': '11.0', 'dla_cores': 0}
UFF = {'format': 'uff', 'model': b'uff-bytes', 'input_name': 'input_1', 'input_dims': [3, 544, 960],
       'output_names': ['output_cov/Sigmoid', 'output_bbox/BiasAdd']}
CACHE_8201 = b'TRT-8201-EntropyCalibration2\ninput_1: 3c010a14\n'


def refused(version, request, platform=None, flavour='tensorrt'):
    with pytest.raises(TaoFleetError) as caught:
        check_request(capabilities(version, flavour), request, platform)
    return caught.value


def test_uff_on_tensorrt_10_is_refused_with_the_onnx_fix():
    error = refused('10.3.0', UFF)
    assert error.code == 'uff_unsupported'
    assert 'TensorRT 10.3.0' in error.msg
    assert 'ONNX' in error.fix


def test_uff_on_tensorrt_8_is_accepted():
    assert check_request(capabilities('8.2.1.8'), UFF, NANO) == []


@pytest.mark.parametrize('missing', ['input_name', 'input_dims', 'output_names'])
def test_uff_without_input_or_outputs_names_what_is_missing(missing):
    request = dict(UFF)
    request[missing] = None if missing != 'output_names' else []
    error = refused('8.5.2.2', request)
    assert error.code == 'uff_input_required'
    assert missing in error.msg
    assert '-d' in error.fix


def test_uff_dims_must_be_chw():
    error = refused('8.2.1.8', dict(UFF, input_dims=[1, 3, 544, 960]))
    assert error.code == 'uff_input_required'


def test_int8_without_calibration_cache():
    error = refused('8.5.2.2', {'model': b'm', 'precision': 'int8'}, XAVIER_NX)
    assert error.code == 'int8_needs_calibration'
    assert 'TensorRT 8.5.2.2' in error.msg
    assert 'resnet34_peoplenet_int8.txt' in error.fix


def test_int8_on_nano_is_refused_before_the_cache_question():
    error = refused('8.2.1.8', {'model': b'm', 'precision': 'int8', 'calibration_cache': CACHE_8201}, NANO)
    assert error.code == 'int8_unsupported_platform'
    assert 'Jetson Nano' in error.msg and '5.3' in error.msg and 'TensorRT 8.2.1.8' in error.msg
    assert 'fp16' in error.fix


def test_int8_on_a_newer_gpu_than_five_three_compares_numbers_not_text():
    # '11.0' < '6.1' as text: the check must compare numbers
    request = {'model': b'm', 'precision': 'int8', 'calibration_cache': b'TRT-101303-EntropyCalibration2\n'}
    assert check_request(capabilities('10.13.3.9'), request, THOR) == []


def test_fp16_on_a_gpu_without_fast_fp16():
    error = refused('8.6.1', {'model': b'm', 'precision': 'fp16'}, {'name': 'GTX 1080', 'compute_capability': '6.1'})
    assert error.code == 'fp16_unsupported_platform'
    assert 'fp32' in error.fix


@pytest.mark.parametrize('version, platform, text', [
    ('8.2.1.8', NANO, 'Jetson Nano has no DLA'),
    ('10.13.3.9', XAVIER_NX, 'TensorRT 10.13.3.9 has no DLA support'),
    ('11.1.0', XAVIER_NX, 'TensorRT 11.1.0 has no DLA support'),
])
def test_dla_where_there_is_none(version, platform, text):
    precision = 'model' if capabilities(version)['precision'] == 'strongly_typed' else 'fp16'
    error = refused(version, {'model': b'm', 'precision': precision, 'dla_core': 0}, platform)
    assert error.code == 'dla_unavailable'
    assert text in error.msg
    assert 'dla_core unset' in error.fix


def test_dla_on_tensorrt_rtx():
    error = refused('1.7.1.116', {'model': b'm', 'dla_core': 0}, flavour='tensorrt_rtx')
    assert error.code == 'dla_unavailable' and 'TensorRT-RTX 1.7.1.116' in error.msg


def test_dla_core_beyond_the_device():
    error = refused('8.5.2.2', {'model': b'm', 'precision': 'fp16', 'dla_core': 2}, XAVIER_NX)
    assert error.code == 'dla_unavailable' and 'only 2 DLA core' in error.msg


def test_dla_needs_fp16_or_int8():
    error = refused('8.5.2.2', {'model': b'm', 'precision': 'fp32', 'dla_core': 0}, XAVIER_NX)
    assert error.code == 'dla_needs_reduced_precision'


def test_dla_without_gpu_fallback_warns():
    warnings = check_request(capabilities('8.5.2.2'), {'model': b'm', 'precision': 'fp16', 'dla_core': 1,
                                                       'gpu_fallback': False}, XAVIER_NX)
    assert any('without GPU fallback' in w for w in warnings)


@pytest.mark.parametrize('version, flavour, precision', [
    ('1.7.1.116', 'tensorrt_rtx', 'fp16'),
    ('1.7.1.116', 'tensorrt_rtx', 'int8'),
    ('11.4.0.106', 'tensorrt', 'fp16'),
])
def test_precision_is_implied_by_the_model_on_strongly_typed_versions(version, flavour, precision):
    error = refused(version, {'model': b'm', 'precision': precision, 'calibration_cache': CACHE_8201},
                    flavour=flavour)
    assert error.code == 'precision_implied_by_model'
    assert version in error.msg and 'precision: model' not in error.fix
    # the fix names values the modules' precision option and the role's deploy_model_precision accept
    assert 'set fp32 or strongly_typed' in error.fix and 'deploy_model_precision: "" or fp32' in error.fix


def test_strongly_typed_accepts_model_precision_and_warns_about_strict_types():
    warnings = check_request(capabilities('11.4.0.106'), {'model': b'm', 'precision': 'model', 'strict_types': True})
    assert warnings == ['TensorRT 11.4.0.106 is strongly typed: strict_types has no effect.']


def test_calibration_cache_from_another_tensorrt_warns():
    warnings = check_request(capabilities('8.5.2.2'), {'model': b'm', 'precision': 'int8',
                                                       'calibration_cache': CACHE_8201}, XAVIER_NX)
    assert len(warnings) == 1
    assert 'TensorRT 8.2.1' in warnings[0] and 'TensorRT 8.5.2.2' in warnings[0]


def test_calibration_cache_of_the_same_tensorrt_is_quiet():
    assert check_request(capabilities('8.2.1.8'), {'model': b'm', 'precision': 'int8',
                                                   'calibration_cache': CACHE_8201},
                         {'compute_capability': '7.2'}) == []


def test_calibration_cache_without_header_warns():
    warnings = check_request(capabilities('8.2.1.8'), {'model': b'm', 'precision': 'int8',
                                                       'calibration_cache': b'input_1: 3c010a14\n'})
    assert 'no "TRT-<version>-<algorithm>" first line' in warnings[0]


@pytest.mark.parametrize('header, parsed', [
    (b'TRT-8201-EntropyCalibration2\n', ((8, 2, 1), 'EntropyCalibration2')),
    (b'TRT-8502-MinMaxCalibration\nx: 1\n', ((8, 5, 2), 'MinMaxCalibration')),
    (b'TRT-7103-EntropyCalibration2', ((7, 1, 3), 'EntropyCalibration2')),
    (b'TRT-100300-EntropyCalibration2\n', ((10, 3, 0), 'EntropyCalibration2')),
    (b'TRT-101303-EntropyCalibration2\n', ((10, 13, 3), 'EntropyCalibration2')),
    (b'garbage\n', None),
    # a hostile cache file: numbers int() refuses (from Python 3.11 on) or that are no ASCII digits, no header
    (b'TRT-' + b'9' * 5000 + b'-EntropyCalibration2\n', None),
    (u'TRT-\u0668\u0662\u0660\u0661-EntropyCalibration2\n'.encode('utf-8'), None),
    (b'TRT-8201-EntropyCalibration2\x00x\n', None),
])
def test_calibration_header(header, parsed):
    assert parse_calibration_header(header) == parsed


def test_compute_capabilities_only_on_rtx():
    error = refused('10.3.0', {'model': b'm', 'compute_capabilities': ['8.7']})
    assert error.code == 'compute_capability_unsupported' and 'TensorRT 10.3.0' in error.msg


def test_rtx_refuses_a_capability_it_cannot_target():
    error = refused('1.7.1.116', {'model': b'm', 'compute_capabilities': ['8.7']}, flavour='tensorrt_rtx')
    assert error.code == 'compute_capability_unsupported'
    assert '8.9' in error.cause


def test_timing_cache_on_a_version_without_one_warns():
    warnings = check_request(capabilities('7.1.3.0'), {'model': b'm', 'timing_cache': b'old'})
    assert warnings == ['TensorRT 7.1.3.0 does not use a timing cache; the cache given is ignored.']


def test_unknown_version_warning_is_passed_on():
    warnings = check_request(capabilities('12.1.0'), {'model': b'm'})
    assert 'TensorRT 12.1.0 is not in the capability table' in warnings[0]


@pytest.mark.parametrize('request_, code', [
    ({'model': b''}, 'model_empty'),
    ({'model': 'not bytes'}, 'model_empty'),
    ({'model': b'm', 'engine_path': '/tmp/x'}, 'invalid_request'),
    ({'model': b'm', 'format': 'caffe'}, 'invalid_request'),
    ({'model': b'm', 'precision': 'fp8'}, 'invalid_request'),
    ({'model': b'm', 'max_batch': 0}, 'invalid_request'),
    ({'model': b'm', 'dla_core': -1}, 'invalid_request'),
    ({'model': b'm', 'profiles': {'input_1': {'min': [1, 3, 4, 4]}}}, 'invalid_request'),
    ({'model': b'm', 'compute_capabilities': ['sm89']}, 'invalid_request'),
])
def test_malformed_requests(request_, code):
    with pytest.raises(TaoFleetError) as caught:
        normalize_request(request_)
    assert caught.value.code == code


def test_defaults_are_filled():
    request = normalize_request({'model': b'm'})
    assert request['format'] == 'onnx' and request['precision'] == 'fp32' and request['max_batch'] == 1
    assert request['gpu_fallback'] is True and request['profiles'] == {}


def test_a_calibration_header_of_5000_digits_is_a_warning_not_a_crash():
    cache = b'TRT-' + b'9' * 5000 + b'-EntropyCalibration2\ninput_1: 3c010a14\n'
    warnings = check_request(capabilities('8.2.1.8'), {'model': b'm', 'precision': 'int8', 'calibration_cache': cache})
    assert 'no "TRT-<version>-<algorithm>" first line' in warnings[0]


def test_dla_with_a_dynamic_profile_is_refused_in_check_mode_too():
    """Issue 17 row 2: DLA has no dynamic dimensions (profile min = opt = max, DLA restrictions page)."""
    profiles = {'input_1': {'min': [1, 3, 544, 960], 'opt': [16, 3, 544, 960], 'max': [16, 3, 544, 960]}}
    error = refused('8.5.2.2', {'model': b'm', 'precision': 'fp16', 'dla_core': 0, 'profiles': profiles}, XAVIER_NX)
    assert error.code == 'dla_profile_dynamic'
    assert 'TensorRT 8.5.2.2' in error.msg and 'input_1' in error.msg
    assert '[16, 3, 544, 960]' in error.fix
    static = dict((key, [16, 3, 544, 960]) for key in ('min', 'opt', 'max'))
    assert check_request(capabilities('8.5.2.2'), {'model': b'm', 'precision': 'fp16', 'dla_core': 0,
                                                   'profiles': {'input_1': static}}, XAVIER_NX) == []


def test_int8_on_compute_capability_6_1_is_accepted():
    """Issue 17 row 3: 6.1 has fast INT8 and no fast FP16."""
    warnings = check_request(capabilities('8.2.1.8'), {'model': b'm', 'precision': 'int8',
                                                       'calibration_cache': CACHE_8201},
                             {'name': 'Tesla P4', 'compute_capability': '6.1'})
    assert warnings == []


# --- INT8 caches TensorRT would silently not use ---------------------------------------------------

@pytest.mark.parametrize('version, cache', [
    ('10.3.0', CACHE_8201),                                           # TensorRT 8 cache, TensorRT 10 host
    ('8.5.2.2', b'TRT-7103-EntropyCalibration2\ninput_1: 3c010a14\n'),  # TensorRT 7 cache [DS60]
    ('7.1.3.0', CACHE_8201),
    ('9.3.0', b'TRT-100300-EntropyCalibration2\ninput_1: 3c010a14\n'),
])
def test_calibration_cache_of_another_major_tensorrt_is_refused_before_the_build(version, cache):
    error = refused(version, {'model': b'm', 'precision': 'int8', 'calibration_cache': cache}, XAVIER_NX)
    assert error.code == 'calibration_cache_version_mismatch'
    written = '.'.join(str(n) for n in parse_calibration_header(cache)[0])
    assert 'written by TensorRT %s' % written in error.msg and 'TensorRT %s' % version in error.msg
    assert 'regenerate it with this TensorRT' in error.fix and 'precision: fp16' in error.fix


def test_calibration_cache_of_the_same_major_only_warns():
    warnings = check_request(capabilities('10.13.3.9'), {
        'model': b'm', 'precision': 'int8',
        'calibration_cache': b'TRT-100300-EntropyCalibration2\ninput_1:0: 3c010a14\n'}, THOR)
    assert len(warnings) == 1 and 'TensorRT 10.3.0' in warnings[0]


def test_calibration_cache_tensor_names_keep_colons():
    cache = (b'TRT-8502-EntropyCalibration2\ninput_1:0: 3c010a14\nconv1/convolution:0: 3d1a2b3c\r\n'
             b'not a scale line\n(Unnamed Layer* 3) [Constant]_output: 3c008912\n')
    assert calibration_cache_tensors(cache) == ['input_1:0', 'conv1/convolution:0',
                                                '(Unnamed Layer* 3) [Constant]_output']


def test_uff_release_cache_on_the_onnx_network_is_another_network():
    # PeopleNet's .etlt (UFF) cache names input_1; its ONNX release's network names input_1:0
    uff_cache = b'TRT-8502-EntropyCalibration2\ninput_1: 3c010a14\noutput_cov/Sigmoid: 3c00f9f4\n'
    onnx_tensors = ['input_1:0', 'output_cov/Sigmoid:0', 'output_bbox/BiasAdd:0']
    with pytest.raises(TaoFleetError) as caught:
        check_calibration_tensors(uff_cache, onnx_tensors, ['input_1:0'], 'TensorRT 8.5.2.2')
    assert caught.value.code == 'calibration_cache_network_mismatch'
    assert 'none of its 2 tensor names (first: input_1, output_cov/Sigmoid)' in caught.value.msg
    assert 'inputs: input_1:0' in caught.value.msg and 'input_1:0' in caught.value.fix
    onnx_cache = b'TRT-8502-EntropyCalibration2\ninput_1:0: 3c010a14\noutput_cov/Sigmoid:0: 3c00f9f4\n'
    assert check_calibration_tensors(onnx_cache, onnx_tensors, ['input_1:0'], 'TensorRT 8.5.2.2') == []
