"""The TensorRT layer against real TensorRT-RTX 1.7 on this CPU-only machine: real parser, real engines.

Run with the venv of tests/requirements/rtx.txt (Python 3.12), the collection importable as
``ansible_collections.tao.fleet``. No GPU is needed to build; running an engine is (not done here).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import build, capabilities, import_tensorrt

HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLES = os.path.abspath(os.path.join(HERE, '..', 'doubles'))
FLEET = os.path.abspath(os.path.join(HERE, '..', 'fleet'))
sys.path[:0] = [DOUBLES]
import onnx_writer  # noqa: E402
from extract_wheel_names import public_names  # noqa: E402

PEOPLENET_IO = ('input_1', 'output_cov/Sigmoid', 'output_bbox/BiasAdd')


def conv_sigmoid_onnx(height=64, width=96, names=PEOPLENET_IO):
    """Conv+Sigmoid coverage head and Conv+BiasAdd bbox head with PeopleNet's names, made with onnx."""
    rng = np.random.RandomState(0)
    initializers = [numpy_helper.from_array(rng.randn(3, 3, 16, 16).astype(np.float32) * 0.01, 'cov_w'),
                    numpy_helper.from_array(rng.randn(12, 3, 16, 16).astype(np.float32) * 0.01, 'bbox_w'),
                    numpy_helper.from_array(np.zeros(12, np.float32), 'bbox_b')]
    nodes = [helper.make_node('Conv', [names[0], 'cov_w'], ['cov_logits'], strides=[16, 16], name='conv_cov'),
             helper.make_node('Sigmoid', ['cov_logits'], [names[1]], name='output_cov'),
             helper.make_node('Conv', [names[0], 'bbox_w', 'bbox_b'], [names[2]], strides=[16, 16], name='conv_bbox')]
    grid = [height // 16, width // 16]
    graph = helper.make_graph(
        nodes, 'peoplenet_like',
        [helper.make_tensor_value_info(names[0], TensorProto.FLOAT, ['N', 3, height, width])],
        [helper.make_tensor_value_info(names[1], TensorProto.FLOAT, ['N', 3] + grid),
         helper.make_tensor_value_info(names[2], TensorProto.FLOAT, ['N', 12] + grid)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.fixture(scope='module')
def trt():
    loaded = import_tensorrt()
    assert (loaded.flavour, loaded.test_double) == ('tensorrt_rtx', False)
    assert loaded.module.__name__ == 'tensorrt_rtx'
    return loaded


def assert_real_engine(result, trt):
    assert not result['engine'].startswith(b'TAOFLEET')
    assert len(result['engine']) > 50000
    assert result['tensorrt'] == {'version': trt.version, 'flavour': 'tensorrt_rtx', 'generation': 'rtx1',
                                  'test_double': False}
    assert result['errors'] == []


def test_peoplenet_like_onnx_builds_a_real_engine(trt):
    result = build(trt, {'model': conv_sigmoid_onnx(), 'max_batch': 4, 'workspace': 1 << 28})
    assert_real_engine(result, trt)
    assert [t['name'] for t in result['inputs']] == ['input_1']
    assert result['inputs'][0]['shape'] == [-1, 3, 64, 96]
    assert [(t['name'], t['shape']) for t in result['outputs']] == [
        ('output_cov/Sigmoid', [-1, 3, 4, 6]), ('output_bbox/BiasAdd', [-1, 12, 4, 6])]
    # optimised for batch 1, valid up to max_batch (issue 17 row 13)
    assert result['profiles'] == {'input_1': {'min': [1, 3, 64, 96], 'opt': [1, 3, 64, 96], 'max': [4, 3, 64, 96]}}
    assert result['precision'] == 'model'


def test_the_stdlib_onnx_writer_the_double_tests_use_is_a_model_tensorrt_accepts(trt):
    data = onnx_writer.peoplenet_shaped(64, 96)
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    result = build(trt, {'model': data, 'max_batch': 2})
    assert_real_engine(result, trt)
    assert [t['name'] for t in result['outputs']] == ['output_cov/Sigmoid', 'output_bbox/BiasAdd']


def test_the_peoplenet_stand_in_builds(trt):
    if not os.path.exists(os.path.join(FLEET, 'demo_model.py')):
        pytest.skip('tests/fleet/demo_model.py is not in this checkout')
    sys.path.insert(0, FLEET)
    import demo_model
    result = build(trt, {'model': demo_model.onnx_bytes(demo_model.DEFAULT_VERSION), 'max_batch': 2})
    assert_real_engine(result, trt)
    assert [t['name'] for t in result['inputs']] == ['input_1:0']
    assert result['inputs'][0]['shape'][1:] == [3, 544, 960]
    assert sorted(t['name'] for t in result['outputs']) == ['output_bbox/BiasAdd:0', 'output_cov/Sigmoid:0']


@pytest.mark.parametrize('corrupt', [
    b'\x08\x07 this is not an ONNX model',
    'truncated',
])
def test_corrupt_onnx_carries_the_parsers_own_error(trt, corrupt):
    data = conv_sigmoid_onnx()
    model = data[:len(data) // 3] if corrupt == 'truncated' else corrupt
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': model})
    error = caught.value
    assert error.code == 'onnx_parse_failed'
    assert 'TensorRT-RTX 1.7.1.116' in error.msg
    assert 'MODEL_DESERIALIZE_FAILED' in error.msg and 'Failed to parse the ONNX model' in error.msg
    assert error.details['parser_errors'] and error.details['log_errors']


def test_a_graph_error_names_the_node(trt):
    broken = onnx.load_from_string(conv_sigmoid_onnx())
    broken.graph.node[0].input[1] = 'no_such_weights'
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': broken.SerializeToString()})
    assert caught.value.code == 'onnx_parse_failed'
    assert 'conv_cov' in caught.value.msg and 'INVALID_GRAPH' in caught.value.msg


def test_engines_for_chosen_compute_capabilities(trt):
    data = conv_sigmoid_onnx()
    ada = build(trt, {'model': data, 'compute_capabilities': ['8.9']})
    blackwell = build(trt, {'model': data, 'compute_capabilities': ['12.0']})
    both = build(trt, {'model': data, 'compute_capabilities': ['8.9', '12.0']})
    for result in (ada, blackwell, both):
        assert_real_engine(result, trt)
    assert len({ada['engine'], blackwell['engine'], both['engine']}) == 3


def test_jetson_orin_compute_capability_is_not_a_tensorrt_rtx_target(trt):
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': conv_sigmoid_onnx(), 'compute_capabilities': ['8.7']})
    assert caught.value.code == 'compute_capability_unsupported'
    # the table's list is the real enum's
    real = sorted(name for name in dir(trt.module.ComputeCapability) if name.startswith('SM'))
    table = sorted('SM' + cc.replace('.', '') for cc in capabilities(trt.version, 'tensorrt_rtx')['compute_capabilities'])
    assert real == table


@pytest.mark.parametrize('precision', ['fp16', 'int8'])
def test_precision_flags_are_refused_as_tensorrt_rtx_is_strongly_typed(trt, precision):
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': conv_sigmoid_onnx(), 'precision': precision, 'calibration_cache': b'TRT-100300-x\n'})
    assert caught.value.code == 'precision_implied_by_model'
    assert not hasattr(trt.module.BuilderFlag, 'FP16') and not hasattr(trt.module.BuilderFlag, 'INT8')


def test_no_dla_on_tensorrt_rtx(trt):
    logger = trt.module.Logger(trt.module.Logger.WARNING)
    assert trt.module.Builder(logger).num_DLA_cores == 0
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': conv_sigmoid_onnx(), 'dla_core': 0})
    assert caught.value.code == 'dla_unavailable'


def test_timing_cache_round_trip_is_a_no_op_in_tensorrt_rtx(trt):
    """Why the table says timing_cache=False for TensorRT-RTX: its own API says the calls do nothing."""
    module = trt.module
    logger = module.Logger(module.Logger.WARNING)
    builder = module.Builder(logger)
    network = builder.create_network(0)
    parser = module.OnnxParser(network, logger)
    assert parser.parse(conv_sigmoid_onnx(height=16, width=16))
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape('input_1', (1, 3, 16, 16), (1, 3, 16, 16), (1, 3, 16, 16))
    config.add_optimization_profile(profile)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert config.set_timing_cache(config.create_timing_cache(b''), False)
        assert builder.build_serialized_network(network, config) is not None
        first = bytes(config.get_timing_cache().serialize())
        again = config.create_timing_cache(first)
        assert config.set_timing_cache(again, False)
        assert bytes(again.serialize()) == first
    assert any('Timing cache operations are no-ops in TensorRT-RTX' in str(w.message) for w in caught)
    result = build(trt, {'model': conv_sigmoid_onnx(), 'timing_cache': first})
    assert result['timing_cache'] is None
    assert 'TensorRT-RTX 1.7.1.116 does not use a timing cache; the cache given is ignored.' in result['warnings']


def test_names_read_with_stub_libraries_equal_the_names_of_the_real_import(trt):
    """tests/doubles/extract_wheel_names.py imports wheels against stub libnvinfer; here the same
    bindings run on the real libraries: both must see the same API."""
    import tensorrt_rtx_bindings
    with open(os.path.join(DOUBLES, 'names', 'tensorrt_rtx-1.7.1.116.txt')) as handle:
        committed = set(line.strip() for line in handle if line.strip() and not line.startswith('#'))
    # the one extra name is the libraries wheel that __init__ imports when it is installed (not API)
    assert set(public_names(tensorrt_rtx_bindings)) ^ committed == {'tensorrt_rtx_libs'}
    assert tensorrt_rtx_bindings.__version__ == trt.version


def test_profile_errors_are_what_the_double_does(trt):
    """The profile semantics tests/doubles follows (api.py SOURCES 'observed_rtx'), on real NVIDIA code: a negative
    dimension makes set_shape raise; a rank mismatch, min > opt and opt > max pass set_shape and make
    add_optimization_profile return -1 (NvInfer.h @8.5.2 8986-8988)."""
    module = trt.module
    builder = module.Builder(module.Logger(module.Logger.ERROR))
    with pytest.raises(RuntimeError, match='inconsistent with other shapes'):
        builder.create_optimization_profile().set_shape('x', (-1, 3, 8, 8), (1, 3, 8, 8), (1, 3, 8, 8))
    for shapes in (((1, 3, 8, 8), (1, 3, 8), (1, 3, 8, 8)), ((4, 3, 8, 8), (2, 3, 8, 8), (8, 3, 8, 8)),
                   ((1, 3, 8, 8), (2, 3, 8, 8), (1, 3, 8, 8))):
        profile = builder.create_optimization_profile()
        profile.set_shape('x', *shapes)
        assert builder.create_builder_config().add_optimization_profile(profile) == -1
    profile = builder.create_optimization_profile()
    profile.set_shape('x', (1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8))
    assert builder.create_builder_config().add_optimization_profile(profile) == 0


def test_a_bad_profile_is_a_clear_error_on_real_tensorrt_rtx(trt):
    """issue 17 row 9 on real NVIDIA code: the layer's own checks name the input; no traceback."""
    with pytest.raises(TaoFleetError) as caught:
        build(trt, {'model': conv_sigmoid_onnx(), 'profiles': {'input_1': {
            'min': [4, 3, 64, 96], 'opt': [2, 3, 64, 96], 'max': [8, 3, 64, 96]}}})
    assert caught.value.code == 'profile_invalid' and 'input_1' in caught.value.msg
