# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Run a serialized TensorRT engine on this host: deserialize, bind I/O by the version's API, and move
data through pycuda buffers on one stream.

Two parts, kept apart so that each can run where the other cannot:

``CudaRun`` (pycuda only, no TensorRT): one CUDA context, a pinned host buffer and a device buffer per
tensor, one stream; ``infer``/``measure`` copy inputs in asynchronously, call a pluggable *execute
step* ``execute(addresses, stream)``, copy outputs back and synchronize. TensorRT's step is
``execute_async_v3`` or ``execute_async_v2``; the GPU-machine run (``tests/gpu``) plugs in a CUDA kernel.
``cuda`` is the ``pycuda.driver`` module (or, in unit tests, a fake with the same names).

``TensorRTEngine`` (TensorRT only, no pycuda): ``deserialize_cuda_engine`` with the TensorRT logger
captured (failures explained as docs/field errors #5-#10, #25 describe them), the plugin library loaded
and the DLA core set first, I/O read through the API chosen per engine: ``bindings`` (7.x-8.4:
``num_bindings``, ``get_binding_*``, ``execute_async_v2``), ``tensors`` (8.5+: ``num_io_tensors``,
``get_tensor_name/mode/shape``, ``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``), and
on TensorRT < 10 an engine with ``has_implicit_batch_dimension`` (UFF) always takes the bindings API with
``execute_async(batch_size=...)``: its shapes have no batch dimension on either API, and only the implicit
enqueue takes the batch (``samples/python/common.py`` @v8.6.1 192-199, 252-255; trtexec
``sampleInference.cpp`` @v8.6.1 308, 869).

numpy, pycuda and TensorRT are imported only by the functions that need them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import time

from ansible_collections.tao.fleet.plugins.module_utils._errors import OptionalImportError, TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._image import import_numpy
from ansible_collections.tao.fleet.plugins.module_utils._trt._capabilities import capabilities

# TensorRT DataType member name -> numpy dtype name. BF16/FP8/INT4/FP4 have no numpy type: refused.
DTYPES = {'FLOAT': 'float32', 'HALF': 'float16', 'INT8': 'int8', 'INT32': 'int32', 'INT64': 'int64',
          'UINT8': 'uint8', 'BOOL': 'bool'}

PYCUDA_INSTALL_HINT = (
    'pycuda has no wheels for Jetson: build it on the device against its CUDA toolkit, with nvcc on PATH '
    '(export PATH=/usr/local/cuda/bin:$PATH CUDA_ROOT=/usr/local/cuda), then "python3 -m pip install '
    'pycuda" (JetPack 4, Python 3.6: "pycuda==2022.1", the last release for 3.6). On dGPU hosts the same '
    'pip line with the CUDA toolkit installed.')

TensorSpec = collections.namedtuple('TensorSpec', ['name', 'index', 'is_input', 'shape', 'dtype'])
TensorSpec.__doc__ = """One engine I/O tensor: ``shape`` is a tuple (-1 for a dynamic dimension until bound),
``dtype`` a numpy dtype name, ``index`` its binding index / I/O tensor index."""


def import_pycuda():
    """``pycuda.driver``, or OptionalImportError saying how to get it on this kind of host."""
    try:
        import pycuda.driver as cuda
    except ImportError as err:
        raise OptionalImportError('pycuda', 'running TensorRT engines (CUDA buffers and streams)',
                                  PYCUDA_INSTALL_HINT, details={'import_error': str(err)})
    return cuda


def volume(shape):
    count = 1
    for dim in shape:
        count *= int(dim)
    return count


class CudaRun(object):
    """One CUDA context, a pinned host and a device buffer per tensor, and one stream.

    The context is created current on this thread (``make_context`` pushes it) and popped by
    ``close``; everything that touches CUDA (TensorRT deserialization included) happens in
    between, on this thread. field-errors #24 ("invalid device context - no currently active
    context?") is what skipping that gives. ``close`` frees device buffers, pinned buffers and the
    stream before it pops and detaches the context, and is safe to call twice.
    """

    def __init__(self, cuda, device=0):
        self.cuda = cuda
        self.specs = []
        self.host = collections.OrderedDict()
        self.device = collections.OrderedDict()
        self.stream = None
        self.context = None
        cuda.init()
        gpu = cuda.Device(device)
        self.device_name = gpu.name()
        self.compute_capability = '%d.%d' % gpu.compute_capability()
        self.context = gpu.make_context()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def allocate(self, specs):
        """Buffers for ``specs`` (TensorSpec with every dimension known), replacing earlier ones."""
        numpy = import_numpy('CUDA host buffers')
        self._free_buffers()
        self.stream = self.cuda.Stream()
        self.specs = list(specs)
        for spec in self.specs:
            if any(int(dim) < 0 for dim in spec.shape):
                raise ValueError('tensor %s still has a dynamic shape %s' % (spec.name, list(spec.shape)))
            host = self.cuda.pagelocked_empty(tuple(int(d) for d in spec.shape), numpy.dtype(spec.dtype))
            self.host[spec.name] = host
            # mem_alloc(0) fails; an empty tensor still gets a valid address
            self.device[spec.name] = self.cuda.mem_alloc(max(int(host.nbytes), 1))

    def addresses(self):
        """Device addresses by tensor name, in spec order (binding order for the bindings API)."""
        return collections.OrderedDict((name, int(buffer)) for name, buffer in self.device.items())

    def _enqueue(self, inputs, execute):
        numpy = import_numpy('CUDA host buffers')
        for spec in self.specs:
            if spec.is_input:
                numpy.copyto(self.host[spec.name], numpy.asarray(inputs[spec.name]), casting='same_kind')
                self.cuda.memcpy_htod_async(self.device[spec.name], self.host[spec.name], self.stream)
        execute(self.addresses(), self.stream)
        for spec in self.specs:
            if not spec.is_input:
                self.cuda.memcpy_dtoh_async(self.host[spec.name], self.device[spec.name], self.stream)

    def _outputs(self):
        return collections.OrderedDict((spec.name, self.host[spec.name].copy())
                                       for spec in self.specs if not spec.is_input)

    def infer(self, inputs, execute):
        """Copy ``inputs`` ({name: array}) in, run ``execute(addresses, stream)``, copy outputs out;
        returns {output name: array} (copies, so the pinned buffers can be reused)."""
        self._enqueue(inputs, execute)
        self.stream.synchronize()
        return self._outputs()

    def measure(self, inputs, execute, warmup, runs, clock=time.perf_counter):
        """``warmup`` untimed runs, then ``runs`` timed ones; each run is copy in + execute + copy out.

        Returns (outputs of the last run, wall-clock ms per run, GPU ms per run from CUDA events
        recorded on the stream around each run).
        """
        for _run in range(int(warmup)):
            self.infer(inputs, execute)
        wall_ms, gpu_ms = [], []
        start, end = self.cuda.Event(), self.cuda.Event()
        for _run in range(int(runs)):
            began = clock()
            start.record(self.stream)
            self._enqueue(inputs, execute)
            end.record(self.stream)
            end.synchronize()
            wall_ms.append((clock() - began) * 1000.0)
            gpu_ms.append(float(start.time_till(end)))
        return self._outputs(), wall_ms, gpu_ms

    def _free_buffers(self):
        if self.stream is not None:
            self.stream.synchronize()
        for buffer in self.device.values():
            buffer.free()
        for array in self.host.values():
            allocation = getattr(array, 'base', None)
            if hasattr(allocation, 'free'):
                allocation.free()
        self.device.clear()
        self.host.clear()
        self.stream = None

    def close(self):
        if self.context is None:
            return
        try:
            self._free_buffers()
        finally:
            context, self.context = self.context, None
            context.pop()
            context.detach()


# ---- TensorRT ---------------------------------------------------------------------------------

# (text in TensorRT's log, cause, fix): field-errors #5-#8, #10, #25
DESERIALIZE_FAILURES = (
    (('not compatible with this version of tensorrt', 'version tag does not match', 'serialization_version',
      'serializationversion'),
     'The engine was built by another TensorRT version than the one on this host (JetPack or TensorRT was '
     'upgraded after the build, or the engine came from another host).',
     'Rebuild: re-run tao.fleet.trt_engine on this host (its fingerprint includes the TensorRT version, so '
     'a build after the upgrade makes a new engine).'),
    (('incompatible device', 'expecting compute'),
     'The engine was built for another GPU (compute capability) than this one.',
     'Rebuild: re-run tao.fleet.trt_engine on this host; engines are not portable across GPU models.'),
    (('magic tag does not match', 'magictagread'),
     'The file is not a TensorRT plan (an ONNX or .etlt file, a truncated copy), or two TensorRT '
     'installations are loaded in this process.',
     'Rebuild: re-run tao.fleet.trt_engine; if that does not help, remove the second TensorRT install '
     '(dpkg -l | grep nvinfer; pip list | grep tensorrt).'),
    (('lean runtime', 'enginehostcodeallowed'),
     'The engine was built version-compatible (it embeds a lean runtime), which this runtime does not '
     'load without host code allowed.',
     'Rebuild: re-run tao.fleet.trt_engine without version_compatible.'),
    (('cuda initialization failure', 'driver version is insufficient', 'error: 35'),
     'CUDA cannot start: the NVIDIA driver is older than the CUDA runtime TensorRT uses, or no GPU is '
     'visible to this process (a container without the GPU).',
     'Match driver and CUDA (nvidia-smi shows the driver\'s CUDA version); on Jetson match the container '
     'L4T to the host\'s.'),
)


def explain_deserialize_failure(label, messages):
    """TaoFleetError for a ``deserialize_cuda_engine`` that returned None, from TensorRT's log lines."""
    text = ' '.join(messages).lower()
    for needles, cause, fix in DESERIALIZE_FAILURES:
        if any(needle in text for needle in needles):
            break
    else:
        cause = 'TensorRT refused the engine file: %s' % ('; '.join(messages) or 'it logged no reason')
        fix = 'Rebuild: re-run tao.fleet.trt_engine on this host.'
    return TaoFleetError('%s could not deserialize the engine: %s' % (label, '; '.join(messages) or 'no message'),
                         cause=cause, fix=fix, code='engine_deserialize_failed',
                         details={'tensorrt_log': list(messages)})


def describe_io(specs):
    """'input_1 (input, float32, [-1, 3, 544, 960]), ...' for messages that must list the engine's I/O."""
    return ', '.join('%s (%s, %s, %s)' % (spec.name, 'input' if spec.is_input else 'output', spec.dtype,
                                          list(spec.shape)) for spec in specs)


def _numpy_dtype(data_type, name, label):
    member = getattr(data_type, 'name', str(data_type).rsplit('.', 1)[-1])
    if member not in DTYPES:
        raise TaoFleetError('Tensor %s of the engine has data type %s, which the smoke test cannot feed.' % (name, member),
                            cause='numpy has no %s type, so no host buffer can hold it (%s).' % (member, label),
                            fix='Build the engine with float32 or float16 I/O (the default for TAO models).',
                            code='engine_io_unsupported')
    return DTYPES[member]


class TensorRTEngine(object):
    """A deserialized engine and its execution context, I/O through the version's API.

    ``loaded`` is a ``_trt.LoadedTensorRT``. Create it while a CUDA context is current (inside a
    ``CudaRun``) and ``close`` it before that context goes.
    """

    def __init__(self, loaded, engine_bytes, dla_core=None):
        trt = loaded.module
        self.trt = trt
        self.caps = capabilities(loaded.version, loaded.flavour)
        self.label = self.caps['label']
        self.dla_core = dla_core
        self.log = []
        runtime_log = self.log

        class CapturingLogger(trt.ILogger):
            def __init__(self):
                trt.ILogger.__init__(self)

            def log(self, severity, msg):
                runtime_log.append((str(severity).rsplit('.', 1)[-1], msg))

        self._logger = CapturingLogger()
        # the plugin library, as the build loads it: engines of models with plugin layers need it to deserialize
        if hasattr(trt, 'init_libnvinfer_plugins'):
            trt.init_libnvinfer_plugins(self._logger, '')
        self.runtime = trt.Runtime(self._logger)
        if dla_core is not None:
            # IRuntime's DLA core defaults to -1; trtexec sets it before deserializing (sampleEngines.cpp
            # @8.5.2 113-116), jetson-inference's tensorNet LoadEngine likewise
            self.runtime.DLA_core = int(dla_core)
        self.engine = self.runtime.deserialize_cuda_engine(bytes(engine_bytes))
        if self.engine is None:
            raise explain_deserialize_failure(self.label, self.errors())
        # per engine, not per version: 10+ has no implicit batch (and its flag is always false)
        self.implicit_batch = self.caps['io_api'] != 'tensors' and bool(
            getattr(self.engine, 'has_implicit_batch_dimension', False))
        self.io_api = 'bindings' if self.caps['io_api'] == 'bindings' or self.implicit_batch else 'tensors'
        self.specs = self._read_io()
        self.context = self.engine.create_execution_context()
        self.bound = None

    def errors(self):
        return [msg for level, msg in self.log if level in ('INTERNAL_ERROR', 'ERROR')]

    def warnings(self):
        return [msg for level, msg in self.log if level == 'WARNING']

    def _read_io(self):
        engine = self.engine
        specs = []
        if self.io_api == 'tensors':
            for index in range(engine.num_io_tensors):
                name = engine.get_tensor_name(index)
                specs.append(TensorSpec(name, index, engine.get_tensor_mode(name) == self.trt.TensorIOMode.INPUT,
                                        tuple(int(d) for d in engine.get_tensor_shape(name)),
                                        _numpy_dtype(engine.get_tensor_dtype(name), name, self.label)))
        else:
            for index in range(engine.num_bindings):
                name = engine.get_binding_name(index)
                specs.append(TensorSpec(name, index, bool(engine.binding_is_input(index)),
                                        tuple(int(d) for d in engine.get_binding_shape(index)),
                                        _numpy_dtype(engine.get_binding_dtype(index), name, self.label)))
        return specs

    def inputs(self):
        return [spec for spec in self.specs if spec.is_input]

    def _static_profile_batch(self):
        """The batch of an explicit-batch engine whose first profile fixes it (min = max), else None."""
        for spec in self.inputs():
            if spec.shape and spec.shape[0] < 0:
                if self.io_api == 'tensors':
                    shapes = self.engine.get_tensor_profile_shape(spec.name, 0)
                else:
                    shapes = self.engine.get_profile_shape(0, spec.index)
                low, high = tuple(shapes[0]), tuple(shapes[-1])
                return int(low[0]) if low[0] == high[0] else None
            if spec.shape:
                return int(spec.shape[0])
        return None

    def run_batch(self, wanted):
        """The batch this engine must run at when ``wanted`` is asked. A DLA engine runs only at the batch it
        was built for: its implicit max batch (trtexec ``sampleInference.cpp`` @v8.6.1 254-259) or its static
        profile's batch ("DLA Supported Layers and Restrictions": runtime dimensions = build dimensions)."""
        if self.dla_core is None:
            return int(wanted)
        if self.implicit_batch:
            return int(self.engine.max_batch_size)
        fixed = self._static_profile_batch()
        return int(wanted) if fixed is None else fixed

    def outputs(self):
        return [spec for spec in self.specs if not spec.is_input]

    def bind(self, input_shapes):
        """Set the input shapes (full shapes, batch first) and return every tensor with its shape known.

        Implicit-batch engines (UFF on TensorRT 7/8) take the batch at execute time: their shapes
        lack it, and the buffers get it prepended here.
        """
        unknown = sorted(set(input_shapes) - set(spec.name for spec in self.inputs()))
        missing = sorted(set(spec.name for spec in self.inputs()) - set(input_shapes))
        if unknown or missing:
            raise TaoFleetError(
                'The engine has no input named %s.' % ', '.join(unknown or missing) if unknown else
                'No data was given for engine input(s) %s.' % ', '.join(missing),
                cause='The engine\'s I/O tensors are: %s.' % describe_io(self.specs),
                fix='Use the input name the engine lists (.etlt models name it input_1, ONNX releases input_1:0).',
                code='engine_io_mismatch', details={'engine_io': [spec._asdict() for spec in self.specs]})
        if self.implicit_batch:
            batch = list(input_shapes.values())[0][0]
            if self.dla_core is not None and batch != int(self.engine.max_batch_size):
                raise TaoFleetError(
                    'This implicit-batch DLA engine runs only at batch %d (its max batch), not %d.'
                    % (self.engine.max_batch_size, batch),
                    cause='With DLA and an implicit batch, the inference batch must be the engine\'s max batch size.',
                    fix='Run it at batch %d (the smoke test does so itself), or rebuild with max_batch %d.'
                        % (self.engine.max_batch_size, batch), code='engine_io_mismatch')
            if batch > int(self.engine.max_batch_size):
                raise TaoFleetError('Batch %d exceeds the engine\'s max batch size %d.' % (batch, self.engine.max_batch_size),
                                    fix='Smoke-test with batch <= %d, or rebuild with a larger max_batch.'
                                        % self.engine.max_batch_size, code='engine_io_mismatch')
            self.bound = [spec._replace(shape=(batch,) + spec.shape) for spec in self.specs]
            self.batch = batch
            return self.bound
        for spec in self.inputs():
            shape = tuple(int(d) for d in input_shapes[spec.name])
            if len(shape) != len(spec.shape) or any(d >= 0 and d != s for d, s in zip(spec.shape, shape)):
                raise TaoFleetError('Input %s gets shape %s; the engine takes %s.' % (spec.name, list(shape), list(spec.shape)),
                                    cause='The image size or batch does not fit the engine (-1 = any size in its profile).',
                                    fix='Use the network size the catalog gives for this model.', code='engine_io_mismatch')
            if any(d < 0 for d in spec.shape):
                ok = (self.context.set_input_shape(spec.name, shape) if self.io_api == 'tensors'
                      else self.context.set_binding_shape(spec.index, shape))
                if ok is False:
                    raise TaoFleetError('%s refused shape %s for input %s.' % (self.label, list(shape), spec.name),
                                        cause='The shape is outside the engine\'s optimization profile (min..max batch).',
                                        fix='Smoke-test with a batch inside the profile the engine was built with, '
                                            'or rebuild with a larger max_batch.',
                                        code='engine_io_mismatch', details={'tensorrt_log': self.errors()})
        bound = []
        for spec in self.specs:
            if spec.is_input:
                shape = tuple(int(d) for d in input_shapes[spec.name])
            elif self.io_api == 'tensors':
                shape = tuple(int(d) for d in self.context.get_tensor_shape(spec.name))
            else:
                shape = tuple(int(d) for d in self.context.get_binding_shape(spec.index))
            bound.append(spec._replace(shape=shape))
        self.bound = bound
        self.batch = None
        return bound

    def execute(self, addresses, stream):
        """The execute step for ``CudaRun``: hand TensorRT the device addresses and enqueue on ``stream``."""
        if self.io_api == 'tensors':
            for name, address in addresses.items():
                self.context.set_tensor_address(name, address)
            ok = self.context.execute_async_v3(stream_handle=stream.handle)
        else:
            bindings = [0] * len(self.specs)
            for spec in self.specs:
                bindings[spec.index] = addresses[spec.name]
            if self.implicit_batch:
                ok = self.context.execute_async(batch_size=self.batch, bindings=bindings, stream_handle=stream.handle)
            else:
                ok = self.context.execute_async_v2(bindings=bindings, stream_handle=stream.handle)
        if ok is False:
            raise TaoFleetError('%s failed to enqueue the engine: %s' % (self.label, '; '.join(self.errors()) or 'no message'),
                                cause='TensorRT refused to run the engine with these buffers.',
                                fix='Check the TensorRT log above; rebuild the engine if it persists.',
                                code='engine_execute_failed', details={'tensorrt_log': self.errors()})

    def close(self):
        """Drop context, engine and runtime (in that order) while the CUDA context still exists."""
        self.context = None
        self.engine = None
        self.runtime = None
