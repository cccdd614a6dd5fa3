# -*- coding: utf-8 -*-
"""_runtime: the pycuda part (CudaRun) with a fake buffer provider, and the TensorRT part through the
TensorRT test double of each version.

What runs here is the runtime's own code: the order of CUDA calls, buffers, context push/pop and
freeing (against ``FakeCuda``, which keeps "device memory" in numpy arrays), and which TensorRT I/O
API each version gets (the double exposes only the names that version's real bindings have, so a
call the version lacks fails with AttributeError). Neither TensorRT nor CUDA runs here: the real
pycuda path ran on a GPU (tests/gpu, docs/gpu-run/), no TensorRT plan executes in this workplace.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

import numpy
import pytest

from ansible_collections.tao.fleet.plugins.module_utils import _runtime
from ansible_collections.tao.fleet.plugins.module_utils._errors import OptionalImportError, TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import LoadedTensorRT, build

DOUBLES = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'doubles'))
sys.path.insert(0, DOUBLES)
import harness  # noqa: E402
import onnx_writer  # noqa: E402

MODEL = onnx_writer.peoplenet_shaped()
# every double version whose name list has the run-time API (the docs-derived 7.1.3 list stops at
# the build API), with the I/O API the capability table gives it
RUNTIME_VERSIONS = [('tensorrt', '8.0.1.6', 'bindings'), ('tensorrt', '8.2.1.8', 'bindings'),
                    ('tensorrt', '8.5.2.2', 'tensors'), ('tensorrt', '8.6.1', 'tensors'),
                    ('tensorrt', '10.3.0', 'tensors'), ('tensorrt', '10.13.3.9', 'tensors'),
                    ('tensorrt', '11.4.0.106', 'tensors'), ('tensorrt_rtx', '1.7.1.116', 'tensors')]


class FakeAllocation(object):
    def __init__(self, cuda, size):
        self.cuda = cuda
        self.address = cuda.next_address
        cuda.next_address += 0x100000
        cuda.memory[self.address] = numpy.zeros(size, numpy.uint8)
        self.freed = False

    def __int__(self):
        return self.address

    def free(self):
        assert self.cuda.context_stack, 'freed with no current context'
        self.freed = True
        del self.cuda.memory[self.address]


class FakeHost(object):
    """What pycuda's pagelocked arrays have as ``base``: the pinned allocation."""

    def __init__(self, cuda):
        self.cuda = cuda
        self.freed = False

    def free(self):
        self.freed = True


class FakeContext(object):
    def __init__(self, cuda):
        self.cuda = cuda
        self.detached = False

    def pop(self):
        assert self.cuda.context_stack[-1] is self
        self.cuda.context_stack.pop()
        self.cuda.calls.append('pop')

    def detach(self):
        assert self not in self.cuda.context_stack, 'detached while still current'
        self.detached = True
        self.cuda.calls.append('detach')


class FakeCuda(object):
    """The names of pycuda.driver that CudaRun uses; device memory is a dict of numpy byte arrays."""

    class Error(Exception):
        pass

    def __init__(self):
        self.memory = {}
        self.next_address = 0x7f0000000000
        self.context_stack = []
        self.calls = []
        self.hosts = []
        self.allocations = []
        cuda = self

        class Device(object):
            def __init__(self, ordinal):
                self.ordinal = ordinal

            def name(self):
                return 'Fake GPU %d' % self.ordinal

            def compute_capability(self):
                return (9, 0)

            def make_context(self):
                context = FakeContext(cuda)
                cuda.context_stack.append(context)
                cuda.calls.append('make_context')
                return context

        class Stream(object):
            handle = 0xabc

            def synchronize(self):
                cuda.calls.append('synchronize')

        class Event(object):
            def record(self, stream):
                self.stream = stream

            def synchronize(self):
                pass

            def time_till(self, other):
                return 0.25

        self.Device, self.Stream, self.Event = Device, Stream, Event

    def init(self):
        self.calls.append('init')

    def _current(self):
        assert self.context_stack, 'no current context (field error #24)'

    def pagelocked_empty(self, shape, dtype):
        self._current()
        host = FakeHost(self)
        self.hosts.append(host)
        pinned = numpy.empty(shape, dtype).view(_Pinned)
        pinned.base_allocation = host
        return pinned

    def mem_alloc(self, size):
        self._current()
        allocation = FakeAllocation(self, size)
        self.allocations.append(allocation)
        return allocation

    def memcpy_htod_async(self, device, host, stream):
        self._current()
        self.calls.append('htod')
        self.memory[int(device)][:host.nbytes] = numpy.frombuffer(host.tobytes(), numpy.uint8)

    def memcpy_dtoh_async(self, host, device, stream):
        self._current()
        self.calls.append('dtoh')
        host[...] = numpy.frombuffer(self.memory[int(device)][:host.nbytes].tobytes(), host.dtype).reshape(host.shape)

    def view(self, address, shape, dtype='float32'):
        """A device buffer as an array (what a kernel would see)."""
        size = int(numpy.prod(shape)) * numpy.dtype(dtype).itemsize
        return self.memory[address][:size].view(dtype).reshape(shape)


class _Pinned(numpy.ndarray):
    """An ndarray whose ``base`` is the fake pinned allocation, as pycuda's pagelocked arrays are."""

    @property
    def base(self):
        return getattr(self, 'base_allocation', None)


def spec(name, index, is_input, shape):
    return _runtime.TensorSpec(name, index, is_input, shape, 'float32')


def channel_sums(cuda):
    """An execute step that computes output[n, c] = sum of input plane c (on the fake device)."""
    def execute(addresses, stream):
        assert stream.handle == 0xabc
        image = cuda.view(addresses['in'], (2, 3, 4, 4))
        cuda.view(addresses['out'], (2, 3))[...] = image.sum(axis=(2, 3))
        cuda.calls.append('execute')
    return execute


def test_infer_copies_in_runs_the_execute_step_and_copies_out():
    cuda = FakeCuda()
    data = numpy.arange(2 * 3 * 16, dtype=numpy.float32).reshape(2, 3, 4, 4)
    with _runtime.CudaRun(cuda) as run:
        run.allocate([spec('in', 0, True, (2, 3, 4, 4)), spec('out', 1, False, (2, 3))])
        outputs = run.infer({'in': data}, channel_sums(cuda))
        assert run.device_name == 'Fake GPU 0' and run.compute_capability == '9.0'
    numpy.testing.assert_array_equal(outputs['out'], data.sum(axis=(2, 3)))
    # one stream: copies in, the execute step, copies out, then one synchronize
    body = cuda.calls[cuda.calls.index('make_context') + 1:]
    assert body[:5] == ['htod', 'execute', 'dtoh', 'synchronize', 'synchronize']


def test_close_frees_every_buffer_then_pops_and_detaches_the_context():
    cuda = FakeCuda()
    run = _runtime.CudaRun(cuda)
    run.allocate([spec('in', 0, True, (2, 3, 4, 4)), spec('out', 1, False, (2, 3))])
    assert len(cuda.context_stack) == 1
    run.close()
    assert cuda.context_stack == [] and cuda.calls[-2:] == ['pop', 'detach']
    assert all(a.freed for a in cuda.allocations) and all(h.freed for h in cuda.hosts)
    assert cuda.memory == {}
    run.close()  # twice is harmless
    assert cuda.calls.count('pop') == 1


def test_a_failing_execute_step_still_frees_and_pops():
    cuda = FakeCuda()

    def broken(addresses, stream):
        raise RuntimeError('kernel launch failed')
    with pytest.raises(RuntimeError):
        with _runtime.CudaRun(cuda) as run:
            run.allocate([spec('in', 0, True, (2, 3, 4, 4)), spec('out', 1, False, (2, 3))])
            run.infer({'in': numpy.zeros((2, 3, 4, 4), numpy.float32)}, broken)
    assert cuda.context_stack == [] and cuda.memory == {}


def test_measure_times_only_the_timed_runs():
    cuda = FakeCuda()
    ticks = iter(range(0, 1000, 2))
    data = numpy.ones((2, 3, 4, 4), numpy.float32)
    with _runtime.CudaRun(cuda) as run:
        run.allocate([spec('in', 0, True, (2, 3, 4, 4)), spec('out', 1, False, (2, 3))])
        outputs, wall_ms, gpu_ms = run.measure({'in': data}, channel_sums(cuda), warmup=3, runs=5,
                                               clock=lambda: next(ticks) / 1000.0)
    assert cuda.calls.count('execute') == 8
    assert wall_ms == pytest.approx([2.0] * 5) and gpu_ms == [0.25] * 5
    numpy.testing.assert_array_equal(outputs['out'], numpy.full((2, 3), 16.0, numpy.float32))


def test_allocate_refuses_a_shape_that_is_still_dynamic():
    cuda = FakeCuda()
    with _runtime.CudaRun(cuda) as run:
        with pytest.raises(ValueError, match='dynamic'):
            run.allocate([spec('in', 0, True, (-1, 3, 4, 4))])


def test_import_pycuda_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'pycuda', None)
    monkeypatch.setitem(sys.modules, 'pycuda.driver', None)
    with pytest.raises(OptionalImportError) as caught:
        _runtime.import_pycuda()
    assert 'nvcc' in caught.value.fix and '2022.1' in caught.value.fix


# ---- TensorRT part, through the test double -----------------------------------------------------

@pytest.fixture
def double(tmp_path):
    def load(module, version, **platform):
        return harness.load(version, tmp_path, module=module, **platform)
    yield load
    harness.unload()


def calls(trt, name):
    return [call for call in trt.__tao_fleet_calls__ if call[0] == name]


@pytest.mark.parametrize('module, version, io_api', RUNTIME_VERSIONS)
def test_engine_io_execute_and_buffers_by_version(double, module, version, io_api):
    trt = double(module, version)
    engine_bytes = build(trt, {'model': MODEL, 'max_batch': 4})['engine']
    cuda = FakeCuda()
    with _runtime.CudaRun(cuda) as run:
        engine = _runtime.TensorRTEngine(LoadedTensorRT.wrap(trt), engine_bytes)
        assert engine.io_api == io_api and not engine.implicit_batch
        assert [(s.name, s.is_input, s.shape, s.dtype) for s in engine.specs] == [
            ('input_1', True, (-1, 3, 544, 960), 'float32'),
            ('output_cov/Sigmoid', False, (-1, 3, 34, 60), 'float32'),
            ('output_bbox/BiasAdd', False, (-1, 12, 34, 60), 'float32')]
        bound = engine.bind({'input_1': (2, 3, 544, 960)})
        assert [s.shape for s in bound] == [(2, 3, 544, 960), (2, 3, 34, 60), (2, 12, 34, 60)]
        run.allocate(bound)
        addresses = run.addresses()
        run.infer({'input_1': numpy.zeros((2, 3, 544, 960), numpy.float32)}, engine.execute)
        engine.close()
    if io_api == 'tensors':
        assert calls(trt, 'IExecutionContext.set_input_shape') == [
            ('IExecutionContext.set_input_shape', 'input_1', [2, 3, 544, 960])]
        assert sorted(c[1:] for c in calls(trt, 'IExecutionContext.set_tensor_address')) == sorted(
            (name, address) for name, address in addresses.items())
        assert calls(trt, 'IExecutionContext.execute_async_v3') == [('IExecutionContext.execute_async_v3', 0xabc)]
        assert not calls(trt, 'IExecutionContext.execute_async_v2')
    else:
        assert calls(trt, 'IExecutionContext.set_binding_shape') == [
            ('IExecutionContext.set_binding_shape', 0, [2, 3, 544, 960])]
        assert calls(trt, 'IExecutionContext.execute_async_v2') == [
            ('IExecutionContext.execute_async_v2', list(addresses.values()), 0xabc)]
    assert cuda.context_stack == [] and cuda.memory == {}


@pytest.mark.parametrize('version', ['8.0.1.6', '8.2.1.8'])
def test_implicit_batch_uff_engines_run_with_execute_async_and_the_batch(double, version):
    trt = double('tensorrt', version)
    engine_bytes = build(trt, {'format': 'uff', 'model': b'uff', 'input_name': 'input_1',
                               'input_dims': [3, 544, 960], 'output_names': ['output_cov/Sigmoid'],
                               'max_batch': 4})['engine']
    cuda = FakeCuda()
    with _runtime.CudaRun(cuda) as run:
        engine = _runtime.TensorRTEngine(LoadedTensorRT.wrap(trt), engine_bytes)
        assert engine.implicit_batch
        bound = engine.bind({'input_1': (3, 3, 544, 960)})
        assert bound[0].shape == (3, 3, 544, 960)
        run.allocate(bound)
        run.infer({'input_1': numpy.zeros((3, 3, 544, 960), numpy.float32)}, engine.execute)
        with pytest.raises(TaoFleetError) as caught:
            engine.bind({'input_1': (5, 3, 544, 960)})
        assert 'max batch size 4' in caught.value.msg
        engine.close()
    (call,) = calls(trt, 'IExecutionContext.execute_async')
    assert call[1] == 3 and call[3] == 0xabc


def test_deserialize_failure_carries_tensorrts_log(double):
    trt = double('tensorrt', '10.3.0')
    with pytest.raises(TaoFleetError) as caught:
        _runtime.TensorRTEngine(LoadedTensorRT.wrap(trt), b'not a plan')
    assert caught.value.code == 'engine_deserialize_failed'
    assert any('not an engine of this test double' in line for line in caught.value.details['tensorrt_log'])
    assert 'Rebuild' in caught.value.fix


@pytest.mark.parametrize('message, cause', [
    ('6: The engine plan file is not compatible with this version of TensorRT, expecting library version 8.0.0 '
     'got 8.0.1, please rebuild.', 'another TensorRT version'),
    ('IRuntime::deserializeCudaEngine: Error Code 1: Serialization (Serialization assertion stdVersionRead == '
     'kSERIALIZATION_VERSION failed.Version tag does not match. Note: Current Version: 239, Serialized Engine '
     'Version: 237)', 'another TensorRT version'),
    ('Error Code 1: Serialization (Serialization assertion magicTagRead == kMAGIC_TAG failed.Magic tag does not '
     'match)', 'not a TensorRT plan'),
    ('The engine plan file is generated on an incompatible device, expecting compute 7.2 got compute 8.7, '
     'please rebuild.', 'another GPU'),
    ('4: [runtime.cpp::deserializeCudaEngineEx::113] Error Code 4: Internal Error (Cannot deserialize engine with '
     'lean runtime since IRuntime::getEngineHostCodeAllowed() is false.)', 'version-compatible'),
    ('CUDA initialization failure with error: 35. Please check your CUDA installation', 'driver'),
])
def test_field_errors_are_explained(message, cause):
    error = _runtime.explain_deserialize_failure('TensorRT 8.5.2.2', [message])
    assert cause in error.cause and error.code == 'engine_deserialize_failed'
    assert message in error.msg


def test_a_wrong_input_name_lists_the_engines_io(double):
    trt = double('tensorrt', '10.3.0')
    engine_bytes = build(trt, {'model': MODEL, 'max_batch': 2})['engine']
    with _runtime.CudaRun(FakeCuda()):
        engine = _runtime.TensorRTEngine(LoadedTensorRT.wrap(trt), engine_bytes)
        with pytest.raises(TaoFleetError) as caught:
            engine.bind({'input_1:0': (1, 3, 544, 960)})
        engine.close()
    assert caught.value.code == 'engine_io_mismatch'
    assert 'input_1 (input, float32, [-1, 3, 544, 960])' in caught.value.cause
    assert 'output_bbox/BiasAdd (output' in caught.value.cause


def test_a_wrong_input_size_is_refused(double):
    trt = double('tensorrt', '8.6.1')
    engine_bytes = build(trt, {'model': MODEL, 'max_batch': 2})['engine']
    with _runtime.CudaRun(FakeCuda()):
        engine = _runtime.TensorRTEngine(LoadedTensorRT.wrap(trt), engine_bytes)
        with pytest.raises(TaoFleetError, match='engine takes'):
            engine.bind({'input_1': (1, 3, 480, 640)})
        engine.close()


def test_io_types_without_a_numpy_type_are_refused():
    class BF16(object):
        name = 'BF16'
    with pytest.raises(TaoFleetError) as caught:
        _runtime._numpy_dtype(BF16(), 'x', 'TensorRT 10.3.0')
    assert caught.value.code == 'engine_io_unsupported'


# ---- issue 17: NVIDIA's semantics on the double (tests/doubles/tao_fleet_trt_double/api.py SOURCES) ----------

UFF_REQUEST = {'format': 'uff', 'model': b'uff', 'input_name': 'input_1', 'input_dims': [3, 544, 960],
               'output_names': ['output_cov/Sigmoid', 'output_bbox/BiasAdd'], 'max_batch': 16}


@pytest.mark.parametrize('version', ['8.0.1.6', '8.2.1.8', '8.5.2.2', '8.6.1'])
def test_uff_engines_run_at_batch_1_on_every_tensorrt_with_uff(double, version):
    """Row 1: the I/O path follows the engine (has_implicit_batch_dimension), not the version: 8.5/8.6 have
    the name-based API too, whose implicit-batch shapes lack the batch (common.py @v8.6.1 192-199)."""
    trt = double('tensorrt', version)
    engine_bytes = build(trt, UFF_REQUEST)['engine']
    cuda = FakeCuda()
    with _runtime.CudaRun(cuda) as run:
        engine = _runtime.TensorRTEngine(LoadedTensorRT.wrap(trt), engine_bytes)
        assert engine.implicit_batch and engine.io_api == 'bindings'
        bound = engine.bind({'input_1': (1, 3, 544, 960)})
        assert bound[0].shape == (1, 3, 544, 960)
        run.allocate(bound)
        run.infer({'input_1': numpy.zeros((1, 3, 544, 960), numpy.float32)}, engine.execute)
        engine.close()
    (call,) = calls(trt, 'IExecutionContext.execute_async')
    assert call[1] == 1
    assert not calls(trt, 'IExecutionContext.execute_async_v3')


@pytest.mark.parametrize('version', ['8.5.2.2', '8.6.1'])
def test_explicit_batch_engines_of_8_5_and_8_6_keep_the_tensor_api(double, version):
    trt = double('tensorrt', version)
    engine_bytes = build(trt, {'model': MODEL})['engine']
    with _runtime.CudaRun(FakeCuda()):
        engine = _runtime.TensorRTEngine(LoadedTensorRT.wrap(trt), engine_bytes)
        assert engine.io_api == 'tensors' and not engine.implicit_batch
        engine.close()


def dla_engine(trt, **request):
    request = dict({'model': MODEL, 'precision': 'fp16', 'dla_core': 1}, **request)
    return build(trt, request)['engine']


def test_the_runtime_gets_the_dla_core_before_it_deserializes(double):
    """Row 4: IRuntime's DLA core defaults to -1; trtexec sets it before deserializing (sampleEngines.cpp
    @8.5.2 113-116). The double refuses a DLA engine on a runtime left at -1."""
    trt = double('tensorrt', '8.5.2.2', dla_cores=2)
    engine_bytes = dla_engine(trt)
    with _runtime.CudaRun(FakeCuda()):
        engine = _runtime.TensorRTEngine(LoadedTensorRT.wrap(trt), engine_bytes, dla_core=1)
        assert engine.runtime.DLA_core == 1
        engine.close()
        with pytest.raises(TaoFleetError) as caught:
            _runtime.TensorRTEngine(LoadedTensorRT.wrap(trt), engine_bytes)
    assert caught.value.code == 'engine_deserialize_failed' and 'DLA_core unset' in caught.value.msg


def test_the_runtime_loads_the_plugin_library_before_it_deserializes(double):
    """Row 11: as the build does (init_libnvinfer_plugins), so engines with plugin layers deserialize."""
    trt = double('tensorrt', '10.3.0')
    engine_bytes = build(trt, {'model': MODEL})['engine']
    del trt.__tao_fleet_calls__[:]
    with _runtime.CudaRun(FakeCuda()):
        _runtime.TensorRTEngine(LoadedTensorRT.wrap(trt), engine_bytes).close()
    names = [call[0] for call in trt.__tao_fleet_calls__]
    assert 'init_libnvinfer_plugins' in names
    assert names.index('init_libnvinfer_plugins') < names.index('Runtime.deserialize_cuda_engine')


def test_an_implicit_batch_dla_engine_runs_at_its_max_batch(double):
    """Row 5: with DLA and implicit batch the run batch must be the engine's max batch (sampleInference.cpp
    @v8.6.1 254-259); the double's execute_async refuses any other."""
    trt = double('tensorrt', '8.2.1.8', dla_cores=2)
    engine_bytes = build(trt, dict(UFF_REQUEST, precision='fp16', dla_core=0, max_batch=4))['engine']
    cuda = FakeCuda()
    with _runtime.CudaRun(cuda) as run:
        engine = _runtime.TensorRTEngine(LoadedTensorRT.wrap(trt), engine_bytes, dla_core=0)
        assert engine.run_batch(1) == 4
        with pytest.raises(TaoFleetError) as caught:
            engine.bind({'input_1': (1, 3, 544, 960)})
        assert caught.value.code == 'engine_io_mismatch' and 'batch 4' in caught.value.msg
        bound = engine.bind({'input_1': (4, 3, 544, 960)})
        run.allocate(bound)
        run.infer({'input_1': numpy.zeros((4, 3, 544, 960), numpy.float32)}, engine.execute)
        engine.close()
    (call,) = calls(trt, 'IExecutionContext.execute_async')
    assert call[1] == 4


def test_an_explicit_dla_engine_runs_at_its_static_profile_batch(double):
    """Row 2 at run time: DLA runtime dimensions must be the build dimensions (DLA restrictions page)."""
    trt = double('tensorrt', '8.6.1', dla_cores=2)
    engine_bytes = dla_engine(trt, max_batch=2)
    with _runtime.CudaRun(FakeCuda()):
        engine = _runtime.TensorRTEngine(LoadedTensorRT.wrap(trt), engine_bytes, dla_core=1)
        assert engine.run_batch(1) == 2
        assert [s.shape for s in engine.bind({'input_1': (2, 3, 544, 960)})][0] == (2, 3, 544, 960)
        engine.close()


def test_a_gpu_engine_runs_at_the_batch_asked(double):
    trt = double('tensorrt', '8.6.1')
    engine_bytes = build(trt, {'model': MODEL, 'max_batch': 4})['engine']
    with _runtime.CudaRun(FakeCuda()):
        engine = _runtime.TensorRTEngine(LoadedTensorRT.wrap(trt), engine_bytes)
        assert engine.run_batch(1) == 1 and engine.run_batch(3) == 3
        engine.close()
