"""The TensorRT name lists against the real bindings wheels, and the layer and double against the lists.

(a) re-extract the names from the real wheels (downloaded from PyPI into ~/.cache/tao_fleet/wheels when
    missing, sha256 checked against the committed list) and compare with tests/doubles/names;
(b) every TensorRT name the layer reads or sets, over a matrix of requests, exists in that version's list
    (and, for 10.13, in tensorrt-stubs);
(c) the test double of each version exposes no public name its list lacks;
(d) how far the source-derived lists (8.0.1, 8.2.1, 8.5.2: no wheels exist) can be trusted: the same
    reader run on the 8.6 source matches the real 8.6.1 wheel;
(e) the docs-derived 7.1.3 list names only what the next release's source still has, or what 8.0 removed.

Needs: Python 3.11 (this venv) and 3.12 (TAO_FLEET_PYTHON312, default pyenv's 3.12.1), gcc, nm, readelf, pip.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLES = os.path.abspath(os.path.join(HERE, '..', 'doubles'))
NAMES = os.path.join(DOUBLES, 'names')
WHEELS = os.path.expanduser(os.environ.get('TAO_FLEET_WHEELS', '~/.cache/tao_fleet/wheels'))
PYTHONS = {
    'cp311': os.environ.get('TAO_FLEET_PYTHON311', '/root/.pyenv/versions/3.11.7/bin/python'),
    'cp312': os.environ.get('TAO_FLEET_PYTHON312', '/root/.pyenv/versions/3.12.1/bin/python'),
}
sys.path.insert(0, DOUBLES)
import harness  # noqa: E402
import onnx_writer  # noqa: E402
from extract_wheel_names import public_names  # noqa: E402

WHEEL_LISTS = ['tensorrt-8.6.1.txt', 'tensorrt-10.3.0.txt', 'tensorrt-10.13.3.9.txt', 'tensorrt-11.4.0.106.txt',
               'tensorrt_rtx-1.7.1.116.txt']
STUB_LIST = 'tensorrt-stubs-10.13.0.35.1.txt'


def read_list(name):
    header, names = {}, set()
    with open(os.path.join(NAMES, name)) as handle:
        for line in handle:
            line = line.rstrip('\n')
            if line.startswith('# ') and ':' in line:
                key, _unused, value = line[2:].partition(':')
                header.setdefault(key.strip(), value.strip())
            elif line and not line.startswith('#'):
                names.add(line)
    return header, names


def sha256_of(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def fetch_wheel(filename):
    """The wheel from the cache, else from PyPI (pip download of that exact file's project and version)."""
    path = os.path.join(WHEELS, filename)
    if os.path.exists(path):
        return path
    parts = filename.split('-')
    project, version, python_tag, _unused, platform = parts[0], parts[1], parts[2], parts[3], parts[4][:-4]
    command = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '-d', WHEELS,
               '%s==%s' % (project.replace('_', '-'), version)]
    if python_tag != 'py3':
        command += ['--python-version', python_tag[2] + '.' + python_tag[3:], '--platform', platform]
    subprocess.check_call(command)
    assert os.path.exists(path), 'pip did not download %s' % filename
    return path


@pytest.mark.parametrize('list_name', WHEEL_LISTS)
def test_a_committed_list_matches_the_real_wheel(list_name, tmp_path):
    header, names = read_list(list_name)
    wheel = fetch_wheel(header['wheel'])
    assert sha256_of(wheel) == header['sha256']
    python = PYTHONS[header['wheel'].split('-')[2]]
    out = str(tmp_path / 'names.txt')
    subprocess.check_call([python, os.path.join(DOUBLES, 'extract_wheel_names.py'), wheel, out])
    fresh = read_list(os.path.relpath(out, NAMES))[1]
    assert sorted(fresh ^ names) == []
    assert len(names) > 1500


def test_a_committed_stub_list_matches_tensorrt_stubs(tmp_path):
    header, names = read_list(STUB_LIST)
    wheel = fetch_wheel(header['wheel'])
    assert sha256_of(wheel) == header['sha256']
    out = str(tmp_path / 'stubs.txt')
    subprocess.check_call([sys.executable, os.path.join(DOUBLES, 'extract_stub_names.py'), wheel, out])
    assert read_list(os.path.relpath(out, NAMES))[1] == names


# a cache written by the same major version (another major is refused before the build); TRT-<version> as
# tao-deploy writes it: major*1000+minor*100+patch up to 9.x, major*10000+... from 10.0
CACHES = {7: b'TRT-7103', 8: b'TRT-8201', 10: b'TRT-100300'}


def cache_for(caps):
    return CACHES[caps['version_tuple'][0]] + b'-EntropyCalibration2\ninput_1: 3c010a14\n'


UFF = {'format': 'uff', 'model': b'uff', 'input_name': 'input_1', 'input_dims': [3, 544, 960],
       'output_names': ['output_cov/Sigmoid'], 'max_batch': 4, 'workspace': 1 << 20}


def layer_requests(caps):
    """Requests that walk every branch of the layer this version allows."""
    requests = [{'model': onnx_writer.peoplenet_shaped(), 'workspace': 1 << 26, 'timing_cache': b'', 'max_batch': 2}]
    if caps['precision'] == 'flags':
        requests += [{'model': onnx_writer.peoplenet_shaped(), 'precision': 'fp16', 'strict_types': True},
                     {'model': onnx_writer.peoplenet_shaped(), 'precision': 'int8', 'calibration_cache': cache_for(caps)}]
        if caps['dla']:
            requests.append({'model': onnx_writer.model([('input_1', [1, 3, 8, 8])], [('s', [4])],
                                                        [('Relu', ['input_1'], ['r'], 'relu'),
                                                         ('Shape', ['r'], ['s'], 'shape_of')]),
                             'precision': 'fp16', 'dla_core': 0})
    if caps['uff_parser']:
        requests.append(UFF)
    if caps['compute_capability_selection']:
        requests.append({'model': onnx_writer.peoplenet_shaped(), 'compute_capabilities': ['8.9', '12.0']})
    return requests


DOUBLE_VERSIONS = [('tensorrt', v) for v in harness.install.VERSIONS] + \
                  [('tensorrt_rtx', v) for v in harness.install.RTX_VERSIONS]


@pytest.mark.parametrize('module, version', DOUBLE_VERSIONS)
def test_b_every_name_the_layer_uses_exists_in_that_version(module, version, tmp_path):
    from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import build, capabilities
    _unused, names = read_list('%s-%s.txt' % (module, version))
    try:
        trt = harness.load(version, tmp_path, dla_cores=2, module=module)
        for request in layer_requests(capabilities(version, module)):
            build(trt, request)
        used = set(trt.__tao_fleet_accessed__)
    finally:
        harness.unload()
    assert used - names == set()
    assert {'Builder', 'OnnxParser', 'IBuilderConfig.add_optimization_profile'} <= used
    if version == '10.13.3.9':
        assert used - read_list(STUB_LIST)[1] == set()


@pytest.mark.parametrize('module, version', DOUBLE_VERSIONS)
def test_c_the_double_exposes_no_name_the_real_version_lacks(module, version, tmp_path):
    _unused, names = read_list('%s-%s.txt' % (module, version))
    site = str(tmp_path / 'site')
    harness.install.install(version, site, {'dla_cores': 0, 'fast_fp16': True, 'fast_int8': True}, module)
    code = ('import sys, json; sys.path[:0] = [%r, %r]\n'
            'from extract_wheel_names import public_names\n'
            'import %s as m\n'
            'print(json.dumps([m.__version__, m.__tao_fleet_test_double__, public_names(m)]))' % (site, DOUBLES, module))
    import json
    found_version, is_double, exposed = json.loads(subprocess.check_output([sys.executable, '-c', code]))
    assert (found_version, is_double) == (version, True)
    assert set(exposed) - names == set()
    assert len(exposed) > 60


def test_d_the_source_reader_matches_the_real_8_6_1_wheel():
    source = read_list('source-method-check-8.6.txt')[1]
    wheel = read_list('tensorrt-8.6.1.txt')[1]
    # the one name the reader gives that the wheel lacks is compiled out of the release build
    assert source - wheel == {'INetworkDefinition.serialize'}
    missed = wheel - source
    # what it misses: list methods pybind11 adds to some bound vectors, and the package's own imports
    assert missed <= {'NodeIndices.count', 'NodeIndices.remove', 'SubGraphCollection.count',
                      'SubGraphCollection.remove', 'attr', 'ctypes', 'os', 'sys', 'tensorrt', 'value', 'warnings'}
    assert len(source & wheel) / float(len(wheel)) > 0.99


def test_e_the_docs_derived_7_list_names_what_8_0_still_has_or_removed():
    docs = read_list('tensorrt-7.1.3.0.txt')[1]
    next_release = read_list('tensorrt-8.0.1.6.txt')[1]
    assert docs - next_release == {'Builder.build_cuda_engine', 'Builder.max_workspace_size'}


def test_public_names_sees_enum_members_and_nested_classes():
    import types
    module = types.ModuleType('probe')

    class Flag(object):
        FP16 = 1

        class Inner(object):
            X = 2
    module.Flag = Flag
    assert public_names(module) == ['Flag', 'Flag.FP16', 'Flag.Inner', 'Flag.Inner.X']
