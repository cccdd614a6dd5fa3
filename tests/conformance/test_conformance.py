# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Code NVIDIA wrote runs unmodified on the TensorRT test double, and agrees with tao.fleet's layer.

polygraphy's TensorRT backend (``NetworkFromOnnxBytes``, ``CreateConfig``, ``EngineBytesFromNetwork``,
``EngineFromBytes``, ``get_metadata_from_engine``, ``TrtRunner``) and tao-deploy's ``EngineBuilder`` build the
PeopleNet-shaped stand-in (tests/doubles/onnx_writer.py) on the double of one version; tao.fleet's layer builds
the same model on the same double; the tests compare what each did (network I/O, engine I/O, network creation
flags, builder flags, profile). Everything here RAN ON THE DOUBLE: it shows NVIDIA's code and the layer use the
bindings alike, not that either works on real TensorRT.

Where NVIDIA's code cannot run on the double the test is an xfail that says why (docs/verification.md lists
them); an xfail is never a pass.
"""

from __future__ import absolute_import, division, print_function

import os
import sys
import zipfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'doubles'))
import install  # noqa: E402  (tests/doubles/install.py)

# every version the double installs as; 7.1.3.0 is a named gap (below)
VERSIONS = install.VERSIONS
POLYGRAPHY_VERSIONS = [v for v in VERSIONS if not v.startswith('7.')]
NAMES = os.path.join(os.path.dirname(install.__file__), 'names')


def real_names(version):
    with open(os.path.join(NAMES, 'tensorrt-%s.txt' % version)) as handle:
        return set(line.strip() for line in handle if line.strip() and not line.startswith('#'))


def no_error(result, what):
    assert 'error' not in result, '%s failed on the double: %s %s at %s' % (
        what, result.get('type'), result.get('error'), ' <- '.join(reversed(result.get('at', []))))


# ---- polygraphy -------------------------------------------------------------------------------------------

@pytest.mark.parametrize('version', POLYGRAPHY_VERSIONS)
def test_polygraphy_builds_and_reads_back_the_engine(built, version):
    result = built(version, 'polygraphy')
    no_error(result, 'polygraphy')
    assert result['header'] == ['TAOFLEET-TRT-DOUBLE', version]
    assert result['deserialized'] is True
    error = result.get('engine_metadata_error') or {}
    if error.get('name') == 'TensorIOMode' and 'TensorIOMode' not in real_names(version):
        pytest.xfail('polygraphy 0.53.6 reads engines back by name (get_metadata_from_engine: '
                     'trt.TensorIOMode, get_tensor_format); %s has only the bindings API, so it built the '
                     'engine but cannot read it back' % version)
    assert not error, error
    # polygraphy's own reading of the engine's inputs is what the network had
    assert result['engine_input_metadata'] == result['network_inputs']
    assert 'Builder.build_serialized_network' in result['calls']


@pytest.mark.parametrize('version', POLYGRAPHY_VERSIONS)
@pytest.mark.parametrize('key', ['network_inputs', 'network_outputs', 'engine_io', 'network_flags',
                                 'builder_flags', 'profiles', 'max_batch_size', 'memory_pools'])
def test_polygraphy_and_the_layer_agree(built, version, key):
    polygraphy, layer = built(version, 'polygraphy'), built(version, 'layer')
    no_error(polygraphy, 'polygraphy')
    no_error(layer, "tao.fleet's layer")
    assert polygraphy[key] == layer[key]


@pytest.mark.parametrize('version', POLYGRAPHY_VERSIONS)
def test_the_profile_is_the_one_the_layer_reports(built, version):
    layer = built(version, 'layer')
    no_error(layer, "tao.fleet's layer")
    reported = dict((name, [shapes['min'], shapes['opt'], shapes['max']])
                    for name, shapes in layer['layer_profiles'].items())
    assert layer['profiles'] == [reported]
    # a dynamic batch only: fixed dimensions are the model's in min, opt and max
    for name, shape in layer['network_inputs']:
        for dims in reported[name]:
            assert [d for d, m in zip(dims, shape) if m >= 0] == [m for m in shape if m >= 0]


@pytest.mark.parametrize('version', POLYGRAPHY_VERSIONS)
def test_the_same_bindings_calls(built, version):
    """The build calls each makes (set of names); the layer alone serializes the timing cache it stores."""
    polygraphy, layer = built(version, 'polygraphy'), built(version, 'layer')
    no_error(polygraphy, 'polygraphy')
    no_error(layer, "tao.fleet's layer")
    only_layer = set(layer['calls']) - set(polygraphy['calls'])
    only_polygraphy = set(polygraphy['calls']) - set(layer['calls'])
    assert only_layer <= {'ITimingCache.serialize'}, only_layer
    assert only_polygraphy == set(), only_polygraphy


def test_polygraphy_on_tensorrt_7_needs_names_7_1_lacks(built):
    """Named gap: polygraphy 0.53.6 reads ITensor.is_shape_tensor, which TensorRT 7.1.3's name list lacks."""
    result = built('7.1.3.0', 'polygraphy')
    assert 'ITensor.is_shape_tensor' not in real_names('7.1.3.0')
    if result.get('name') == 'is_shape_tensor':
        pytest.xfail('polygraphy 0.53.6 reads ITensor.is_shape_tensor (backend/trt/profile.py 178); the 7.1.3.0 '
                     'name list (from NVIDIA\'s docs) has no such name, so polygraphy cannot build on 7.1')
    no_error(result, 'polygraphy')


@pytest.mark.parametrize('version', ['8.6.1', '10.3.0', '10.13.3.9'])
def test_polygraphy_trt_runner(built, version):
    result = built(version, 'runner')
    if 'CUDA Error' in result.get('error', '') or 'libcudart' in result.get('error', ''):
        pytest.xfail('TrtRunner.activate allocates a CUDA stream and device buffers (polygraphy/cuda/cuda.py '
                     '288): no CUDA driver here (%s); the double does not simulate CUDA' % result['error'][:40])
    no_error(result, 'TrtRunner')
    assert result['outputs'] == {'output_cov/Sigmoid': [2, 3, 34, 60], 'output_bbox/BiasAdd': [2, 12, 34, 60]}


# ---- tao-deploy -------------------------------------------------------------------------------------------

TAO_DEPLOY_GAPS = {
    # why the wheel's EngineBuilder cannot be imported, per major: the module it misses and who needs it
    'uff': "tao-deploy 7.3.0 nvidia_tao_deploy/cv/common/parser/uff.py: on TensorRT < 9 it loads the `uff` "
           "package's model/uff_pb2.py (UFF ships in NVIDIA's TensorRT 8 tarballs, not on PyPI) through "
           "importlib.util without importing it",
    'pycuda': 'tao-deploy 7.3.0 nvidia_tao_deploy/engine/calibrator.py 10 imports pycuda.driver at module level '
              '(engine/builder.py 18); pycuda builds only against a CUDA toolkit and needs a driver: none here',
}


@pytest.mark.parametrize('version', ['8.5.2.2', '8.6.1', '10.3.0', '10.13.3.9'])
def test_tao_deploy_engine_builder(built, tao_deploy_wheel, version):
    result = built(version, 'tao_deploy', tao_deploy_wheel)
    where = ' <- '.join(reversed(result.get('at', [])))
    if int(version.split('.')[0]) < 9 and any('parser/uff.py' in frame for frame in result.get('at', [])):
        pytest.xfail('%s: %s %s at %s' % (TAO_DEPLOY_GAPS['uff'], result['type'], result['error'], where))
    if result.get('name') == 'pycuda':
        pytest.xfail('%s (%s at %s)' % (TAO_DEPLOY_GAPS['pycuda'], result['error'], where))
    no_error(result, "tao-deploy's EngineBuilder")
    layer = built(version, 'layer')
    for key in ('network_inputs', 'network_outputs', 'engine_io', 'network_flags', 'builder_flags'):
        assert result[key] == layer[key], key


def test_tao_deploy_needs_bfloat16_which_8_6_lacks(tao_deploy_wheel):
    """After its imports, engine/builder.py 27 reads trt.bfloat16: TensorRT 8.x has no such name, 10.x has, so
    tao-deploy 7.3.0 cannot import on TensorRT 8 even with uff and pycuda present (a fact of the name lists)."""
    with zipfile.ZipFile(tao_deploy_wheel) as wheel:
        source = wheel.read('nvidia_tao_deploy/engine/builder.py').decode().splitlines()
    assert source[26].strip() == "'bf16': trt.bfloat16,"
    assert 'bfloat16' not in real_names('8.6.1') and 'bfloat16' not in real_names('8.5.2.2')
    assert 'bfloat16' in real_names('10.3.0') and 'bfloat16' in real_names('10.13.3.9')
