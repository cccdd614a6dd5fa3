# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""What runs a smoke test: the engine itself (TensorRT + pycuda, in a forked child bounded in time) or,
where it cannot execute, onnxruntime on the CPU; and why an engine cannot execute on this host.

``_smoke.smoke`` chooses between them; nothing here decodes or judges the outputs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import os
import pickle
import select
import signal
import sys
import time
import traceback

# Imported here, not in the child that uses them: under mitogen a module's imports come from the controller
# through a thread that a forked child does not have, so an import made first in the child waits forever.
from ansible_collections.tao.fleet.plugins.module_utils import _runtime
from ansible_collections.tao.fleet.plugins.module_utils._errors import OptionalImportError, TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._image import import_numpy
from ansible_collections.tao.fleet.plugins.module_utils._trt._capabilities import capabilities
from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import import_tensorrt

ONNXRUNTIME_INSTALL_HINT = (
    'Install onnxruntime for the Python that runs the module: "python3 -m pip install onnxruntime" '
    '(aarch64 wheels exist for Python 3.8+; on JetPack 4 (Python 3.6) use onnxruntime 1.10 from NVIDIA\'s '
    'Jetson Zoo), or run the smoke test where the engine executes (TensorRT + pycuda on the GPU).')


def run_in_child(job, timeout):
    """Run ``job()`` in a forked child, bounded by ``timeout`` seconds; return what it returns.

    A TensorRT or CUDA crash (a signal) or a hang then fails this smoke test instead of killing or
    stalling the module. The child's stdout goes to stderr, because the module's stdout carries its
    JSON result. Its TaoFleetError comes back as a TaoFleetError.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's own coverage is not collected
        try:
            os.close(read_fd)
            os.dup2(2, 1)
            try:
                payload = ('ok', job())
            except TaoFleetError as err:
                payload = ('error', (err.msg, err.cause, err.fix, err.code, err.details))
            except BaseException as err:
                payload = ('crash', '%s: %s\n%s' % (type(err).__name__, err, traceback.format_exc()))
            data = pickle.dumps(payload, protocol=2)
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view):]
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks = []
    # monotonic: an RTC-less Jetson steps its wall clock when NTP syncs, which must not end (or stretch) the run
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                os.kill(pid, signal.SIGKILL)
                raise TaoFleetError('The TensorRT smoke run did not finish within %d s.' % timeout,
                                    cause='The engine or CUDA hangs, or the device is too busy.',
                                    fix='Raise timeout, lower runs, or check the device (tegrastats / nvidia-smi).',
                                    code='smoke_timeout')
            if select.select([read_fd], [], [], remaining)[0]:
                chunk = os.read(read_fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_fd)
        _pid, status = os.waitpid(pid, 0)
    if not chunks:
        signal_number = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        raise TaoFleetError('The TensorRT smoke run died%s.' % (' on signal %d' % signal_number if signal_number else ''),
                            cause='TensorRT or CUDA crashed in the child process (a segfault or an out-of-memory kill).',
                            fix='Look at dmesg and the TensorRT log; rebuild the engine with tao.fleet.trt_engine.',
                            code='smoke_crashed', details={'signal': signal_number})
    kind, value = pickle.loads(b''.join(chunks))
    if kind == 'error':
        raise TaoFleetError(value[0], cause=value[1], fix=value[2], code=value[3], details=value[4])
    if kind == 'crash':
        raise TaoFleetError('The TensorRT smoke run failed: %s' % value.splitlines()[0],
                            cause='An unexpected error in the TensorRT or pycuda code.',
                            fix='Report it with the traceback in error_details.', code='smoke_crashed',
                            details={'traceback': value})
    return value


def _driver_probe():
    """Why no CUDA device is usable, from the driver library itself (no pycuda needed), or None."""
    try:
        libcuda = ctypes.CDLL('libcuda.so.1')
    except OSError as err:
        return 'no CUDA device: the NVIDIA driver library libcuda.so.1 cannot be loaded (%s)' % err
    status = libcuda.cuInit(0)
    if status != 0:
        return 'no CUDA device: cuInit returned CUDA error %d' % status
    count = ctypes.c_int(0)
    status = libcuda.cuDeviceGetCount(ctypes.byref(count))
    if status != 0 or count.value == 0:
        return 'no CUDA device: the driver reports %d device(s) (CUDA error %d)' % (count.value, status)
    return None


def engine_readiness(loaded, platform):
    """Why an engine of this TensorRT cannot run on this device (list; empty: no known reason)."""
    reasons = []
    if loaded.test_double:
        reasons.append('the TensorRT on this host is the tao.fleet test double %s, not TensorRT' % loaded.version)
    reasons.extend(_device_unfit(loaded, platform))
    return reasons


def _device_unfit(loaded, platform):
    """Why this TensorRT flavour runs on no GPU of this host (list; empty: it may)."""
    caps = capabilities(loaded.version, loaded.flavour)
    cc = str((platform or {}).get('compute_capability') or '')
    runs_on = caps.get('compute_capabilities') or ()
    if loaded.flavour == 'tensorrt_rtx' and cc and cc not in runs_on:
        kind = ' (Jetson)' if (platform or {}).get('kind') == 'jetson' else ''
        return ['TensorRT-RTX cannot run on compute capability %s%s: it runs on %s' % (cc, kind, ', '.join(runs_on))]
    return []


def dla_core_of(manifest):
    """The DLA core an engine was built for (its manifest's ``build.dla.core``), or None for a GPU engine."""
    dla = ((manifest or {}).get('build') or {}).get('dla')
    if isinstance(dla, dict) and dla.get('core') is not None:
        return int(dla['core'])
    return None


def batch_tensor(tensor, batch):
    """``tensor`` (batch first) with its images repeated or cut to ``batch``."""
    numpy = import_numpy('the smoke-test input')
    if int(tensor.shape[0]) == int(batch):
        return tensor
    repeats = -(-int(batch) // int(tensor.shape[0]))
    return numpy.ascontiguousarray(numpy.concatenate([tensor] * repeats, axis=0)[:int(batch)])


def tensorrt_job(engine_bytes, tensor, platform, warmup, runs, device, dla_core=None):
    """What the child runs: {'executed': False, 'reasons': [...], 'real_tensorrt', 'no_device'} or the outputs
    and timings. Whether the engine is a test double's is the loaded module's answer (``test_double``), never
    the engine's bytes: a real TensorRT gets every engine. ``real_tensorrt``: a TensorRT that is not the test
    double was imported; ``no_device``: no CUDA device this TensorRT runs on (then no application on this
    host can run the engine either)."""
    reasons = []
    loaded = None
    info = None
    no_device = False
    try:
        loaded = import_tensorrt(platform)
    except OptionalImportError as err:
        reasons.append('TensorRT is not importable by %s (tried %s)' % (
            sys.executable, ', '.join(t.split(':')[0] for t in err.details.get('tried', []))))
    if loaded is not None:
        info = {'version': loaded.version, 'flavour': loaded.flavour, 'test_double': loaded.test_double}
        reasons.extend(engine_readiness(loaded, platform))
        no_device = bool(_device_unfit(loaded, platform))
    cuda = None
    try:
        cuda = _runtime.import_pycuda()
    except OptionalImportError as err:
        reasons.append('pycuda is not importable (%s)' % err.details.get('import_error'))
        driver = _driver_probe()
        if driver:
            reasons.append(driver)
            no_device = True
    else:
        try:
            cuda.init()
            if cuda.Device.count() <= device:
                reasons.append('no CUDA device %d: the driver reports %d device(s)' % (device, cuda.Device.count()))
                no_device = True
        except cuda.Error as err:
            reasons.append('no CUDA device: %s' % err)
            no_device = True
    if reasons:
        return {'executed': False, 'reasons': reasons, 'tensorrt': info,
                'real_tensorrt': loaded is not None and not loaded.test_double, 'no_device': no_device}
    with _runtime.CudaRun(cuda, device) as run:
        engine = _runtime.TensorRTEngine(loaded, engine_bytes, dla_core=dla_core)
        try:
            if len(engine.inputs()) != 1:
                raise TaoFleetError('The engine has %d inputs; a DetectNet_v2 model has one.' % len(engine.inputs()),
                                    cause='Its I/O tensors are: %s.' % _runtime.describe_io(engine.specs),
                                    fix='Smoke-test a DetectNet_v2 engine (PeopleNet and its kin).',
                                    code='engine_io_mismatch')
            name = engine.inputs()[0].name
            warnings = []
            batch = engine.run_batch(tensor.shape[0])
            if batch != int(tensor.shape[0]):
                # a DLA engine runs only at the batch it was built for: the test image fills that batch
                warnings.append('DLA engine: run at batch %d, the batch it was built for (batch %d was asked).'
                                % (batch, tensor.shape[0]))
                tensor = batch_tensor(tensor, batch)
            bound = engine.bind({name: tensor.shape})
            run.allocate(bound)
            outputs, wall_ms, gpu_ms = run.measure({name: tensor}, engine.execute, warmup, runs)
            warnings.extend(engine.warnings())
        finally:
            engine.close()
        gpu = {'name': run.device_name, 'compute_capability': run.compute_capability}
    import pycuda
    info['pycuda'] = getattr(pycuda, 'VERSION_TEXT', None)
    return {'executed': True, 'outputs': [(spec.name, outputs[spec.name]) for spec in bound if not spec.is_input],
            'wall_ms': wall_ms, 'gpu_ms': gpu_ms, 'tensorrt': info, 'gpu': gpu, 'warnings': warnings,
            'batch': int(tensor.shape[0])}


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as err:
        raise OptionalImportError('onnxruntime', 'the CPU smoke test (the engine cannot execute here)',
                                  ONNXRUNTIME_INSTALL_HINT, details={'import_error': str(err)})
    return onnxruntime


def onnxruntime_job(model_bytes, tensor, warmup, runs, clock=time.perf_counter):
    """Run the plaintext ONNX bytes with onnxruntime on the CPU: outputs [(name, array)] and wall ms per run."""
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, sess_options=options, providers=['CPUExecutionProvider'])
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise TaoFleetError('The model has %d inputs; a DetectNet_v2 model has one.' % len(inputs),
                            fix='Smoke-test a DetectNet_v2 model.', code='engine_io_mismatch')
    feed = {inputs[0].name: tensor}
    names = [output.name for output in session.get_outputs()]
    for _run in range(int(warmup)):
        session.run(names, feed)
    wall_ms = []
    results = None
    for _run in range(int(runs)):
        began = clock()
        results = session.run(names, feed)
        wall_ms.append((clock() - began) * 1000.0)
    return {'outputs': list(zip(names, results)), 'wall_ms': wall_ms, 'onnxruntime': ort.__version__}
