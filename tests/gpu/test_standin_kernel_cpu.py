# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Checks, on a machine without a GPU, everything the GPU-machine run (pycuda_smoke.py) needs, so that its
one device call works the first time:

- the CUDA source of the stand-in kernels, compiled by gcc and run on the CPU, gives onnxruntime's
  outputs for every demo scene; nvcc (where installed) compiles it as pycuda's SourceModule will;
- pycuda_smoke.py runs end to end against a fake ``pycuda`` whose kernels are that CPU build and whose
  buffers are test_runtime's FakeCuda: every check passes and gpu-run.json is complete. Nothing here
  is a GPU run; docs/gpu-run/ holds the real one.

Run: PYTHONPATH=<dir holding ansible_collections> python -m pytest tests/gpu (numpy, onnx, onnxruntime,
pyyaml, gcc).
"""

from __future__ import absolute_import, division, print_function

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import types

import numpy
import onnxruntime
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import standin_kernel  # noqa: E402


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo_model = load('demo_model', os.path.join(REPO, 'tests', 'fleet', 'demo_model.py'))
test_runtime = load('test_runtime_fakes', os.path.join(REPO, 'tests', 'unit', 'plugins', 'module_utils', 'test_runtime.py'))
from ansible_collections.tao.fleet.plugins.module_utils import _image  # noqa: E402


@pytest.fixture(scope='module')
def library(tmp_path_factory):
    return standin_kernel.build_cpu_library(str(tmp_path_factory.mktemp('kernel')))


@pytest.fixture(scope='module')
def session():
    return onnxruntime.InferenceSession(demo_model.onnx_bytes(demo_model.DEFAULT_VERSION),
                                        providers=['CPUExecutionProvider'])


@pytest.mark.parametrize('seed, count, distractors, width, height', demo_model.SCENES)
def test_kernel_source_gives_onnxruntimes_outputs(library, session, seed, count, distractors, width, height):
    scene = _image.demo_scene(seed, count, width=width, height=height, distractors=distractors)
    tensor = _image.to_input_tensor(scene.image)
    cov_ref, bbox_ref = session.run(None, {standin_kernel.INPUT: tensor})
    coverage, bbox = standin_kernel.cpu_standin(tensor, library)
    assert numpy.abs(coverage - cov_ref).max() <= 1e-6
    assert numpy.abs(bbox - bbox_ref).max() <= 1e-5


def test_kernel_handles_a_batch(library, session):
    images = [_image.demo_scene(seed, 3, distractors=1).image for seed in (7, 8, 9)]
    tensor = _image.to_input_tensor(images)
    cov_ref, bbox_ref = session.run(None, {standin_kernel.INPUT: tensor})
    coverage, bbox = standin_kernel.cpu_standin(tensor, library)
    assert numpy.abs(coverage - cov_ref).max() <= 1e-6 and numpy.abs(bbox - bbox_ref).max() <= 1e-5


def test_nvcc_compiles_the_source_as_sourcemodule_wraps_it(tmp_path):
    nvcc = shutil.which('nvcc') or ('/usr/local/cuda/bin/nvcc' if os.path.exists('/usr/local/cuda/bin/nvcc') else None)
    if nvcc is None:
        pytest.skip('no nvcc on this machine (the GPU run compiles it there)')
    wrapped = tmp_path / 'kernel.cu'
    wrapped.write_text('extern "C" {\n%s\n}\n' % standin_kernel.source())
    subprocess.check_call([nvcc, '--ptx', '-arch=sm_90', str(wrapped), '-o', str(tmp_path / 'kernel.ptx')])
    ptx = (tmp_path / 'kernel.ptx').read_text()
    assert '.entry standin_cells(' in ptx and '.entry standin_boxes(' in ptx


# ---- pycuda_smoke.py against a fake pycuda --------------------------------------------------------

class OfflineCuda(test_runtime.FakeCuda):
    """FakeCuda plus the driver calls pycuda_smoke.py makes; kernels run from the CPU build."""

    def __init__(self, library):
        super(OfflineCuda, self).__init__()
        self.library = library
        cuda = self
        base_device = self.Device

        class Context(object):
            @staticmethod
            def get_current():
                return cuda.context_stack[-1] if cuda.context_stack else None

            @staticmethod
            def pop():
                cuda.context_stack.pop()

        class Primary(test_runtime.FakeContext):
            def push(self):
                cuda.context_stack.append(self)

        class Device(base_device):
            @staticmethod
            def count():
                return 1

            def retain_primary_context(self):
                return Primary(cuda)

        self.Context, self.Device = Context, Device

    def get_version(self):
        return (13, 0, 0)

    def get_driver_version(self):
        return 13000

    def mem_get_info(self):
        self._current()
        used = sum(buffer.nbytes for buffer in self.memory.values())
        return (80 * (1 << 30) - used, 80 * (1 << 30))


class OfflineSourceModule(object):
    def __init__(self, cuda, source):
        assert 'standin_cells' in source and cuda.context_stack, 'compiled without a current context'
        self.cuda = cuda

    def get_function(self, name):
        cuda = self.cuda
        pointer = numpy.ctypeslib.ndpointer(numpy.float32, flags='C_CONTIGUOUS')

        def address(value):
            return int(value)

        def launch(*args, **options):
            assert options['stream'] is not None and options['block'][0] == standin_kernel.THREADS
            batch = int(args[-1])
            cells = batch * 34 * 60
            if name == 'standin_cells':
                tensor = cuda.view(address(args[0]), (batch, 3, 544, 960))
                coverage = cuda.view(address(args[1]), (batch, 3, 34, 60))
                mask = cuda.view(address(args[2]), (batch, 34, 60))
                function = cuda.library.standin_cells_cpu
                function.argtypes = [pointer, pointer, pointer, numpy.ctypeslib.ctypes.c_int]
                function(tensor, coverage, mask, batch)
            else:
                mask = cuda.view(address(args[0]), (batch, 34, 60))
                bbox = cuda.view(address(args[1]), (batch, 12, 34, 60))
                function = cuda.library.standin_boxes_cpu
                function.argtypes = [pointer, pointer, numpy.ctypeslib.ctypes.c_int]
                function(mask, bbox, batch)
            assert options['grid'][0] * options['block'][0] >= cells
        return launch


def test_the_gpu_script_runs_end_to_end_against_a_fake_pycuda(library, tmp_path, monkeypatch):
    cuda = OfflineCuda(library)
    driver = types.ModuleType('pycuda.driver')
    for name in ('init', 'Device', 'Context', 'Stream', 'Event', 'Error', 'pagelocked_empty', 'mem_alloc',
                 'memcpy_htod_async', 'memcpy_dtoh_async', 'mem_get_info', 'get_version', 'get_driver_version'):
        setattr(driver, name, getattr(cuda, name))
    compiler = types.ModuleType('pycuda.compiler')
    compiler.SourceModule = lambda source: OfflineSourceModule(cuda, source)
    package = types.ModuleType('pycuda')
    package.VERSION_TEXT = 'offline-fake'
    package.driver, package.compiler = driver, compiler
    for name, module in (('pycuda', package), ('pycuda.driver', driver), ('pycuda.compiler', compiler)):
        monkeypatch.setitem(sys.modules, name, module)
    script = load('pycuda_smoke', os.path.join(HERE, 'pycuda_smoke.py'))
    status = script.main(['--out', str(tmp_path), '--runs', '5', '--warmup', '2'])
    with open(str(tmp_path / 'gpu-run.json')) as handle:
        result = json.load(handle)
    failed = [c for c in result['checks'] if not c['passed']]
    assert status == 0 and failed == [] and result['verdict']['all_passed'] is True
    assert len(result['scenes']) == len(demo_model.SCENES) and [t['batch'] for t in result['timing']] == [1, 8]
    assert result['scenes'][3]['gpu_detections'] and cuda.context_stack == [] and cuda.memory == {}
