# -*- coding: utf-8 -*-
"""The layer's build path for every TensorRT version that cannot run here, through the named test double.

The double (tests/doubles) exposes only the names the real bindings of each version have, so a call
the version lacks fails here as it would on a device. Its engines are not plans: these tests prove the
layer's API use and its decisions, not TensorRT's behaviour (tests/rtx builds real engines).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys

import pytest

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import build

DOUBLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'doubles')
sys.path.insert(0, os.path.abspath(DOUBLES))
import harness  # noqa: E402
import onnx_writer  # noqa: E402

VERSIONS = harness.install.VERSIONS
FLAG_VERSIONS = [v for v in VERSIONS if not v.startswith('11.')]
UFF_VERSIONS = [v for v in VERSIONS if int(v.split('.')[0]) < 10]
MODEL = onnx_writer.peoplenet_shaped()
CACHE = b'TRT-8201-EntropyCalibration2\ninput_1: 3c010a14\n'


@pytest.fixture
def double(tmp_path):
    def load(version, **platform):
        return harness.load(version, tmp_path, **platform)
    yield load
    harness.unload()


def calls(trt, name):
    return [call for call in trt.__tao_fleet_calls__ if call[0] == name]


def description(engine):
    header, body = engine.split(b'\n', 1)
    return header.decode().split(' '), json.loads(body.decode())


@pytest.mark.parametrize('version', VERSIONS)
def test_onnx_build_gives_a_double_engine_named_as_such(double, version):
    trt = double(version)
    result = build(trt, {'model': MODEL, 'max_batch': 4})
    header, body = description(result['engine'])
    assert header[:2] == ['TAOFLEET-TRT-DOUBLE', version]
    assert result['tensorrt'] == {'version': version, 'flavour': 'tensorrt', 'test_double': True,
                                  'generation': result['tensorrt']['generation']}
    assert [t['name'] for t in result['inputs']] == ['input_1']
    assert result['inputs'][0]['shape'] == [-1, 3, 544, 960]
    assert [t['name'] for t in result['outputs']] == ['output_cov/Sigmoid', 'output_bbox/BiasAdd']
    # row 13: optimised for batch 1 (tao-deploy DEFAULT_OPT_BATCH_SIZE), valid up to max_batch
    assert result['profiles'] == {'input_1': {'min': [1, 3, 544, 960], 'opt': [1, 3, 544, 960],
                                              'max': [4, 3, 544, 960]}}
    assert body['profiles'] == [{'input_1': [[1, 3, 544, 960], [1, 3, 544, 960], [4, 3, 544, 960]]}]
    assert result['precision'] == ('model' if version.startswith('11.') else 'fp32')


@pytest.mark.parametrize('version', VERSIONS)
def test_same_request_same_engine_other_request_other_engine(double, version):
    trt = double(version)
    first = build(trt, {'model': MODEL})['engine']
    assert build(trt, {'model': MODEL})['engine'] == first
    assert build(trt, {'model': MODEL, 'max_batch': 2})['engine'] != first


@pytest.mark.parametrize('version, build_call, network_flags', [
    ('7.1.3.0', 'Builder.build_engine', 1), ('8.0.1.6', 'Builder.build_serialized_network', 1),
    ('8.2.1.8', 'Builder.build_serialized_network', 1), ('8.5.2.2', 'Builder.build_serialized_network', 1),
    ('8.6.1', 'Builder.build_serialized_network', 1), ('10.3.0', 'Builder.build_serialized_network', 0),
    ('10.13.3.9', 'Builder.build_serialized_network', 0), ('11.4.0.106', 'Builder.build_serialized_network', 0),
])
def test_network_flag_and_build_call_per_generation(double, version, build_call, network_flags):
    trt = double(version)
    build(trt, {'model': MODEL})
    assert calls(trt, 'Builder.create_network') == [('Builder.create_network', network_flags)]
    assert len(calls(trt, build_call)) == 1


@pytest.mark.parametrize('version, pool_api', [
    ('7.1.3.0', False), ('8.0.1.6', False), ('8.2.1.8', False), ('8.5.2.2', True), ('8.6.1', True),
    ('10.3.0', True), ('10.13.3.9', True), ('11.4.0.106', True),
])
def test_workspace_limit_per_generation(double, version, pool_api):
    trt = double(version)
    result = build(trt, {'model': MODEL, 'workspace': 1 << 28})
    _unused, body = description(result['engine'])
    if pool_api:
        assert calls(trt, 'IBuilderConfig.set_memory_pool_limit') == [
            ('IBuilderConfig.set_memory_pool_limit', 'MemoryPoolType.WORKSPACE', 1 << 28)]
        assert body['max_workspace_size'] == 0
    else:
        assert 'IBuilderConfig.max_workspace_size' in trt.__tao_fleet_accessed__
        assert body['max_workspace_size'] == 1 << 28


@pytest.mark.parametrize('version', [v for v in VERSIONS if v != '7.1.3.0'])
def test_timing_cache_round_trip(double, version):
    trt = double(version)
    first = build(trt, {'model': MODEL})
    assert first['timing_cache'].startswith(b'TAOFLEET-TRT-DOUBLE-TIMING-CACHE ' + version.encode())
    second = build(trt, {'model': MODEL, 'max_batch': 2, 'timing_cache': first['timing_cache']})
    entries = json.loads(second['timing_cache'].split(b'\n', 1)[1].decode())
    assert len(entries) == 2 and description(first['engine'])[0][2] in entries
    assert calls(trt, 'IBuilderConfig.set_timing_cache')[-1] == ('IBuilderConfig.set_timing_cache', False)


def test_timing_cache_from_another_version_is_not_used(double):
    other = build(double('8.2.1.8'), {'model': MODEL})['timing_cache']
    result = build(double('8.5.2.2'), {'model': MODEL, 'timing_cache': other})
    assert any('timing cache was made by another device' in w for w in result['warnings'])
    assert json.loads(result['timing_cache'].split(b'\n', 1)[1].decode()) == [description(result['engine'])[0][2]]


def test_tensorrt_7_has_no_timing_cache(double):
    result = build(double('7.1.3.0'), {'model': MODEL, 'timing_cache': b'anything'})
    assert result['timing_cache'] is None
    assert 'TensorRT 7.1.3.0 does not use a timing cache; the cache given is ignored.' in result['warnings']


@pytest.mark.parametrize('version', VERSIONS)
def test_corrupt_onnx_shows_the_parser_errors(double, version):
    trt = double(version)
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': MODEL[:len(MODEL) // 2]})
    assert caught.value.code == 'onnx_parse_failed'
    assert caught.value.details['parser_errors'][0].startswith('ErrorCode.MODEL_DESERIALIZE_FAILED: TensorRT test double')
    assert 'runs past the end' in str(caught.value)
    assert calls(trt, 'Builder.build_serialized_network') == calls(trt, 'Builder.build_engine') == []


@pytest.mark.parametrize('version', FLAG_VERSIONS)
def test_fp16_sets_the_flag(double, version):
    trt = double(version)
    result = build(trt, {'model': MODEL, 'precision': 'fp16'})
    assert result['precision'] == 'fp16'
    assert calls(trt, 'IBuilderConfig.set_flag') == [('IBuilderConfig.set_flag', 'BuilderFlag.FP16')]


# a cache of the same major version as the host (another major is refused before the build)
CACHE_BY_MAJOR = {'7': (b'TRT-7103', '7.1.3'), '8': (b'TRT-8201', '8.2.1'), '10': (b'TRT-100300', '10.3.0')}


@pytest.mark.parametrize('version', FLAG_VERSIONS)
def test_int8_hands_tensorrt_the_shipped_cache(double, version):
    trt = double(version)
    header, written = CACHE_BY_MAJOR[version.split('.')[0]]
    cache = header + b'-EntropyCalibration2\ninput_1: 3c010a14\n'
    result = build(trt, {'model': MODEL, 'precision': 'int8', 'calibration_cache': cache})
    assert result['precision'] == 'int8'
    assert ('IInt8EntropyCalibrator2.__init__',) in trt.__tao_fleet_calls__
    _unused, body = description(result['engine'])
    assert body['flags'] == ['BuilderFlag.FP16', 'BuilderFlag.INT8']
    assert body['calibration_cache_sha256'] is not None
    same = '.'.join(version.split('.')[:3]) == written
    assert any('TensorRT %s' % written in w for w in result['warnings']) == (not same)


@pytest.mark.parametrize('version', FLAG_VERSIONS)
def test_int8_cache_for_another_network_is_refused_before_the_build(double, version):
    # a cache of another network: none of its tensor names is one of this network's
    trt = double(version)
    header, _written = CACHE_BY_MAJOR[version.split('.')[0]]
    cache = header + b'-EntropyCalibration2\nconv1/convolution: 3d1a2b3c\nblock_1a_relu/Relu: 3c8e1f20\n'
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': MODEL, 'precision': 'int8', 'calibration_cache': cache})
    assert caught.value.code == 'calibration_cache_network_mismatch'
    assert 'none of its 2 tensor names (first: conv1/convolution, block_1a_relu/Relu)' in caught.value.msg
    assert 'inputs: input_1' in caught.value.msg and 'fp16' in caught.value.fix
    assert calls(trt, 'Builder.build_serialized_network') == [] and calls(trt, 'Builder.build_engine') == []


def test_int8_cache_with_only_a_header_is_refused(double):
    trt = double('8.5.2.2')
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': MODEL, 'precision': 'int8', 'calibration_cache': b'TRT-8502-EntropyCalibration2\n'})
    assert caught.value.code == 'calibration_cache_network_mismatch'
    assert 'holds no tensor scales' in caught.value.msg


def test_int8_cache_without_the_input_scale_warns(double):
    trt = double('8.5.2.2')
    cache = b'TRT-8502-EntropyCalibration2\noutput_cov/Sigmoid: 3c010a14\n'
    result = build(trt, {'model': MODEL, 'precision': 'int8', 'calibration_cache': cache})
    assert result['precision'] == 'int8'
    assert any('no scale for input input_1' in w for w in result['warnings'])


@pytest.mark.parametrize('version', FLAG_VERSIONS)
def test_int8_cache_of_another_major_tensorrt_is_refused_before_the_build(double, version):
    trt = double(version)
    other = b'TRT-7103' if not version.startswith('7.') else b'TRT-8201'
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': MODEL, 'precision': 'int8',
                    'calibration_cache': other + b'-EntropyCalibration2\ninput_1: 3c010a14\n'})
    assert caught.value.code == 'calibration_cache_version_mismatch'
    assert 'TensorRT %s' % version in caught.value.msg and 'another major version' in caught.value.msg
    assert calls(trt, 'Builder.build_serialized_network') == [] and calls(trt, 'Builder.build_engine') == []


def test_minmax_cache_gets_the_minmax_calibrator(double):
    trt = double('8.5.2.2')
    build(trt, {'model': MODEL, 'precision': 'int8',
                'calibration_cache': b'TRT-8502-MinMaxCalibration\ninput_1: 3c010a14\n'})
    assert ('IInt8MinMaxCalibrator.__init__',) in trt.__tao_fleet_calls__


def test_builder_without_fast_int8_refuses_int8_even_without_platform_facts(double):
    trt = double('8.2.1.8', fast_int8=False)
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': MODEL, 'precision': 'int8', 'calibration_cache': CACHE})
    assert caught.value.code == 'int8_unsupported_platform'
    assert 'TensorRT 8.2.1.8' in caught.value.msg


def test_builder_without_fast_fp16_refuses_fp16(double):
    with pytest.raises(TaoFleetError) as caught:
        build(double('8.6.1', fast_fp16=False), {'model': MODEL, 'precision': 'fp16'})
    assert caught.value.code == 'fp16_unsupported_platform'


STRICT_TYPES_EQUIVALENT = ['BuilderFlag.DIRECT_IO', 'BuilderFlag.PREFER_PRECISION_CONSTRAINTS',
                           'BuilderFlag.REJECT_EMPTY_ALGORITHMS']


@pytest.mark.parametrize('version, flags', [
    ('7.1.3.0', ['BuilderFlag.STRICT_TYPES']), ('8.0.1.6', ['BuilderFlag.STRICT_TYPES']),
    # row 8: STRICT_TYPES meant these three (NvInfer.h @8.2.1 7719-7729), as tao-deploy sets them
    ('8.2.1.8', STRICT_TYPES_EQUIVALENT), ('8.5.2.2', STRICT_TYPES_EQUIVALENT), ('8.6.1', STRICT_TYPES_EQUIVALENT),
    ('10.3.0', STRICT_TYPES_EQUIVALENT), ('10.13.3.9', STRICT_TYPES_EQUIVALENT),
])
def test_strict_types_flag_per_version(double, version, flags):
    trt = double(version)
    result = build(trt, {'model': MODEL, 'precision': 'fp16', 'strict_types': True})
    assert description(result['engine'])[1]['flags'] == sorted(['BuilderFlag.FP16'] + flags)
    assert 'BuilderFlag.OBEY_PRECISION_CONSTRAINTS' not in description(result['engine'])[1]['flags']


def test_strongly_typed_sets_no_precision_flag(double):
    trt = double('11.4.0.106')
    result = build(trt, {'model': MODEL, 'precision': 'model', 'strict_types': True})
    assert calls(trt, 'IBuilderConfig.set_flag') == []
    assert result['precision'] == 'model'
    assert 'TensorRT 11.4.0.106 is strongly typed: strict_types has no effect.' in result['warnings']


@pytest.mark.parametrize('version', ['7.1.3.0', '8.2.1.8', '8.5.2.2', '10.3.0'])
def test_dla_build_counts_layers_per_device(double, version):
    trt = double(version, dla_cores=2)
    model = onnx_writer.model([('input_1', [1, 3, 8, 8])], [('shape', [4])],
                              [('Relu', ['input_1'], ['r'], 'relu'), ('Shape', ['r'], ['shape'], 'shape_of')])
    result = build(trt, {'model': model, 'precision': 'fp16', 'dla_core': 1})
    assert result['dla'] == {'core': 1, 'gpu_fallback': True, 'layers': 2, 'layers_on_dla': 1, 'layers_on_gpu': 1,
                             'counted_by': 'IBuilderConfig.can_run_on_DLA'}
    assert any('1 of 2 layers cannot run on DLA core 1' in w for w in result['warnings'])
    _unused, body = description(result['engine'])
    assert body['dla'] == {'core': 1, 'gpu_fallback': True}


def test_dla_without_fallback_refuses_layers_dla_cannot_run(double):
    model = onnx_writer.model([('input_1', [1, 3, 8, 8])], [('shape', [4])],
                              [('Shape', ['input_1'], ['shape'], 'shape_of')])
    with pytest.raises(TaoFleetError) as caught:
        build(double('8.5.2.2', dla_cores=2), {'model': model, 'precision': 'fp16', 'dla_core': 0,
                                               'gpu_fallback': False})
    assert caught.value.code == 'dla_layers_unsupported' and 'shape_of' in caught.value.msg


def test_builder_reporting_no_dla_refuses_the_dla_core(double):
    with pytest.raises(TaoFleetError) as caught:
        build(double('8.2.1.8', dla_cores=0), {'model': MODEL, 'precision': 'fp16', 'dla_core': 0})
    assert caught.value.code == 'dla_unavailable'
    assert 'reports 0 DLA core' in caught.value.msg


@pytest.mark.parametrize('version', UFF_VERSIONS)
def test_uff_build_registers_input_and_outputs_and_uses_implicit_batch(double, version):
    trt = double(version)
    result = build(trt, {'format': 'uff', 'model': b'uff model bytes', 'input_name': 'input_1',
                         'input_dims': [3, 544, 960], 'output_names': ['output_cov/Sigmoid', 'output_bbox/BiasAdd'],
                         'max_batch': 8})
    assert calls(trt, 'UffParser.register_input') == [
        ('UffParser.register_input', 'input_1', [3, 544, 960], 'UffInputOrder.NCHW')]
    assert [c[1] for c in calls(trt, 'UffParser.register_output')] == ['output_cov/Sigmoid', 'output_bbox/BiasAdd']
    assert calls(trt, 'Builder.create_network') == [('Builder.create_network', 0)]
    assert result['max_batch'] == 8 and result['profiles'] == {}
    assert description(result['engine'])[1]['max_batch_size'] == 8


@pytest.mark.parametrize('version', ['10.3.0', '10.13.3.9', '11.4.0.106'])
def test_uff_on_tensorrt_10_and_later_is_refused_before_tensorrt_is_touched(double, version):
    trt = double(version)
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'format': 'uff', 'model': b'uff', 'input_name': 'input_1', 'input_dims': [3, 544, 960],
                    'output_names': ['output_cov/Sigmoid']})
    assert caught.value.code == 'uff_unsupported' and version in caught.value.msg
    assert trt.__tao_fleet_calls__ == []


def test_dynamic_dimensions_beyond_the_batch_need_a_profile(double):
    model = onnx_writer.model([('input_1', [None, 3, None, None])], [('out', [None, 3, None, None])],
                              [('Relu', ['input_1'], ['out'], 'relu')])
    trt = double('10.3.0')
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': model})
    assert caught.value.code == 'profile_required'
    profiles = {'input_1': {'min': [1, 3, 32, 32], 'opt': [1, 3, 64, 64], 'max': [2, 3, 128, 128]}}
    result = build(trt, {'model': model, 'profiles': profiles})
    assert result['profiles'] == profiles


def test_profile_for_an_unknown_input_lists_the_real_ones(double):
    with pytest.raises(TaoFleetError) as caught:
        build(double('8.6.1'), {'model': MODEL, 'profiles': {'input_0': {'min': [1], 'opt': [1], 'max': [1]}}})
    assert caught.value.code == 'profile_invalid' and 'input_1 [-1, 3, 544, 960]' in caught.value.cause


def test_profile_rank_must_match_the_input(double):
    with pytest.raises(TaoFleetError) as caught:
        build(double('8.6.1'), {'model': MODEL, 'profiles': {'input_1': {'min': [1, 3], 'opt': [1, 3], 'max': [1, 3]}}})
    assert caught.value.code == 'profile_invalid'


def test_log_callback_sees_the_builder_messages(double):
    seen = []
    with pytest.raises(TaoFleetError):
        build(double('8.2.1.8'), {'model': b'\x00\x01'}, log=lambda level, text: seen.append((level, text)))
    assert seen and seen[0][0] == 'ERROR' and 'TensorRT test double' in seen[0][1]


# ---- issue 17: NVIDIA's semantics on the double (tests/doubles/tao_fleet_trt_double/api.py SOURCES) ----------

@pytest.mark.parametrize('version', ['7.1.3.0', '8.2.1.8', '8.5.2.2', '8.6.1', '10.3.0'])
def test_dla_on_a_dynamic_onnx_builds_one_static_profile(double, version):
    """Row 2: DLA needs min = opt = max (DLA restrictions page; tao-deploy builds 1/1/1); the layer counts
    come after the profile is set (the double refuses can_run_on_DLA before it)."""
    trt = double(version, dla_cores=2)
    result = build(trt, {'model': MODEL, 'precision': 'fp16', 'dla_core': 0, 'max_batch': 2})
    static = [2, 3, 544, 960]
    assert result['profiles'] == {'input_1': {'min': static, 'opt': static, 'max': static}}
    assert description(result['engine'])[1]['profiles'] == [{'input_1': [static, static, static]}]
    assert result['dla']['layers'] == result['dla']['layers_on_dla'] + result['dla']['layers_on_gpu'] > 0
    assert any('DLA' in w and 'batch 2' in w for w in result['warnings'])
    names = [c[0] for c in trt.__tao_fleet_calls__]
    assert names.index('IBuilderConfig.add_optimization_profile') < len(names)


def test_dla_with_a_dynamic_profile_from_the_user_is_refused_clearly(double):
    trt = double('8.5.2.2', dla_cores=2)
    profiles = {'input_1': {'min': [1, 3, 544, 960], 'opt': [2, 3, 544, 960], 'max': [4, 3, 544, 960]}}
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': MODEL, 'precision': 'fp16', 'dla_core': 0, 'profiles': profiles})
    assert caught.value.code == 'dla_profile_dynamic'
    assert 'min = opt = max' in caught.value.cause and 'input_1' in caught.value.msg
    assert calls(trt, 'Builder.build_serialized_network') == []


def test_int8_builds_on_compute_capability_6_1_without_fast_fp16(double):
    """Row 3: P4/P40/GTX 10xx have fast INT8 and no fast FP16; kINT8 alone is valid (NvInfer.h @8.2.1 7716),
    tao-deploy sets FP16 next to INT8 only when platform_has_fast_fp16."""
    trt = double('8.2.1.8', fast_fp16=False, fast_int8=True)
    result = build(trt, {'model': MODEL, 'precision': 'int8', 'calibration_cache': CACHE},
                   platform={'compute_capability': '6.1', 'name': 'Tesla P4'})
    assert result['precision'] == 'int8'
    assert description(result['engine'])[1]['flags'] == ['BuilderFlag.INT8']
    assert not any('Half2' in w for w in result['warnings'])
    assert any('no fast FP16' in w for w in result['warnings'])


@pytest.mark.parametrize('profile, words', [
    ({'min': [4, 3, 544, 960], 'opt': [2, 3, 544, 960], 'max': [8, 3, 544, 960]}, 'min <= opt <= max'),
    ({'min': [1, 3, 544, 960], 'opt': [2, 3, 544, 960], 'max': [1, 3, 544, 960]}, 'min <= opt <= max'),
    ({'min': [-1, 3, 544, 960], 'opt': [1, 3, 544, 960], 'max': [1, 3, 544, 960]}, 'negative'),
    ({'min': [1, 3, 480, 640], 'opt': [1, 3, 480, 640], 'max': [1, 3, 480, 640]}, 'fixed'),
])
def test_a_bad_profile_is_a_clear_error_not_a_build_failure(double, profile, words):
    """Row 9: setDimensions' conditions (NvInferRuntime.h @8.5.2 1138-1156) checked before TensorRT is asked."""
    with pytest.raises(TaoFleetError) as caught:
        build(double('8.6.1'), {'model': MODEL, 'profiles': {'input_1': profile}})
    assert caught.value.code == 'profile_invalid' and words in caught.value.msg
    assert 'input_1' in caught.value.msg


def test_set_shape_raising_and_add_optimization_profile_returning_minus_one_are_clear_errors(double, monkeypatch):
    """Row 9: what TensorRT itself refuses (pyCore.cpp @8.5.2 35-43, NvInfer.h @8.5.2 8986-8988) is a
    profile_invalid error naming TensorRT's words, not a traceback."""
    trt = double('8.5.2.2')

    def raising(self, input, min, opt, max):
        raise RuntimeError('Shape provided for opt is inconsistent with other shapes.')
    monkeypatch.setattr(trt.IOptimizationProfile, 'set_shape', raising)
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': MODEL})
    assert caught.value.code == 'profile_invalid' and 'inconsistent with other shapes' in caught.value.msg
    monkeypatch.undo()
    trt = double('8.5.2.2')
    monkeypatch.setattr(trt.IBuilderConfig, 'add_optimization_profile', lambda self, profile: -1)
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': MODEL})
    assert caught.value.code == 'profile_invalid' and '-1' in caught.value.msg


@pytest.mark.parametrize('version, direct_io', [('8.0.1.6', False), ('8.2.1.8', True), ('8.6.1', True),
                                                ('10.3.0', True)])
def test_dla_without_gpu_fallback_sets_direct_io(double, version, direct_io):
    """Row 10: reformatting runs on the GPU, so trtexec sets DIRECT_IO without fallback (sampleEngines.cpp
    @8.5.2 989-997); 8.0 has no DIRECT_IO flag."""
    model = onnx_writer.model([('input_1', [1, 3, 8, 8])], [('r', [1, 3, 8, 8])],
                              [('Relu', ['input_1'], ['r'], 'relu')])
    trt = double(version, dla_cores=1)
    result = build(trt, {'model': model, 'precision': 'fp16', 'dla_core': 0, 'gpu_fallback': False})
    assert ('BuilderFlag.DIRECT_IO' in description(result['engine'])[1]['flags']) == direct_io
    fallback = build(trt, {'model': model, 'precision': 'fp16', 'dla_core': 0})
    assert 'BuilderFlag.DIRECT_IO' not in description(fallback['engine'])[1]['flags']


@pytest.mark.parametrize('version', ['8.2.1.8', '10.3.0'])
def test_a_corrupt_timing_cache_is_dropped_with_a_warning(double, version):
    """Row 12: what TensorRT does with a corrupt blob is not documented (NvInfer.h @8.5.2 9177-9191); the
    double refuses it, and the build goes on with a fresh cache."""
    trt = double(version)
    good = build(trt, {'model': MODEL})['timing_cache']
    result = build(trt, {'model': MODEL, 'timing_cache': good[:len(good) - 3]})
    assert any('timing cache' in w and 'corrupt' in w for w in result['warnings'])
    assert json.loads(result['timing_cache'].split(b'\n', 1)[1].decode()) == [description(result['engine'])[0][2]]
