# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The pycuda half of the smoke test's TensorRT runtime, run on a real GPU with a CUDA kernel as the execute step.

    python3 tests/gpu/pycuda_smoke.py --out DIR [--runs 200] [--warmup 20]

The GPU machine has no TensorRT, so ``_runtime.CudaRun`` (pinned host buffers, device buffers, one
stream, async copies, context push/pop, freeing) runs with ``standin_kernel.GpuStandin`` where
TensorRT's ``execute_async_v3`` would go: two CUDA kernels that compute the PeopleNet stand-in's
outputs (the maths of its ONNX graph, tests/fleet/demo_model.py). For every demo scene the outputs are
decoded with ``_detectnet`` and judged with ``_smoke`` against the scene's rectangles and against
onnxruntime (CPU) on the stand-in ONNX; then warm-up + timed runs at batch 1 and 8 (wall clock and CUDA
events), onnxruntime's CPU timing through ``_smoke_backends.onnxruntime_job``, and checks that every buffer is
freed and no context is left current, also after a failing execute step.

Writes DIR/gpu-run.json (everything measured and checked) and prints the log (tee it to DIR/gpu-run.log).
Exit status 0 only when every check passed.
"""

from __future__ import absolute_import, division, print_function

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)


def load_demo_model():
    """tests/fleet/demo_model.py; importing it also makes this checkout importable as the collection."""
    spec = importlib.util.spec_from_file_location('demo_model', os.path.join(REPO, 'tests', 'fleet', 'demo_model.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo_model = load_demo_model()

from ansible_collections.tao.fleet.plugins.module_utils import _image, _runtime, _smoke, _smoke_backends  # noqa: E402
import standin_kernel  # noqa: E402
from standin_kernel import BBOX, COVERAGE, INPUT  # noqa: E402

NETWORK = (3, demo_model.HEIGHT, demo_model.WIDTH)
BACKEND = 'pycuda + CUDA kernel (TensorRT replaced by the stand-in kernel; not an engine run)'
MIB = 1 << 20


class Report(object):
    def __init__(self):
        self.lines = []
        self.checks = []

    def log(self, text=''):
        print(text, flush=True)
        self.lines.append(text)

    def check(self, name, passed, detail=''):
        self.checks.append({'check': name, 'passed': bool(passed), 'detail': detail})
        self.log('%s  %s%s' % ('PASS' if passed else 'FAIL', name, ('  (%s)' % detail) if detail else ''))


def command(argv):
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              timeout=60, check=False)
        return done.stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as err:
        return 'unavailable: %s' % err


def environment(report, cuda):
    import numpy
    import onnxruntime
    import pycuda
    driver = cuda.get_driver_version()
    facts = {
        'nvidia_smi_L': command(['nvidia-smi', '-L']),
        'nvidia_smi_query': command(['nvidia-smi', '--query-gpu=name,driver_version,compute_cap,memory.total',
                                     '--format=csv,noheader']),
        'nvcc': command(['nvcc', '--version']).splitlines()[-2:],
        'cuda_driver_api': '%d.%d' % (driver // 1000, (driver % 1000) // 10),
        'pycuda': pycuda.VERSION_TEXT,
        'pycuda_built_for_cuda': '.'.join(str(v) for v in cuda.get_version()),
        'python': platform.python_version(),
        'numpy': numpy.__version__,
        'onnxruntime': onnxruntime.__version__,
        'host': platform.node(),
    }
    report.log('== environment')
    for key in sorted(facts):
        report.log('%-22s %s' % (key, facts[key]))
    return facts


def specs(batch):
    return [_runtime.TensorSpec(INPUT, 0, True, (batch,) + NETWORK, 'float32'),
            _runtime.TensorSpec(COVERAGE, 1, False, (batch, 3, 34, 60), 'float32'),
            _runtime.TensorSpec(BBOX, 2, False, (batch, 12, 34, 60), 'float32')]


def detections_of(entry, outputs, image, expect):
    """_smoke.evaluate on one set of outputs: detections on the image and the expectation verdict."""
    execution = {'outputs': [(COVERAGE, outputs[0]), (BBOX, outputs[1])], 'wall_ms': [], 'gpu_ms': [],
                 'engine_executed': False}
    return _smoke.evaluate(execution, entry, NETWORK, image, expect, 1, None, 'fp32')


def same_detections(first, second):
    """Equal as sets: boxes within 0.01 px, confidence within 1e-4 (the order follows the confidences,
    which may differ in their last bits between the kernel and onnxruntime)."""
    if len(first) != len(second):
        return False

    def order(found):
        return sorted(found, key=lambda d: (d['label'], d['left'], d['top'], d['right'], d['bottom']))
    for a, b in zip(order(first), order(second)):
        if a['label'] != b['label'] or abs(a['confidence'] - b['confidence']) > 1e-4:
            return False
        if any(abs(a[key] - b[key]) > 0.01 for key in ('left', 'top', 'right', 'bottom')):
            return False
    return True


def scenes_on_gpu(report, cuda, source_module, session, entry):
    """Each demo scene through CudaRun + kernel; compared with the rectangles and with onnxruntime."""
    import numpy
    report.log('== scenes (batch 1): GPU kernel through CudaRun vs onnxruntime CPU vs the drawn rectangles')
    results = []
    with _runtime.CudaRun(cuda) as run:
        report.log('CudaRun context on %s (compute capability %s)' % (run.device_name, run.compute_capability))
        kernel = standin_kernel.GpuStandin(cuda, source_module, batch=1)
        try:
            run.allocate(specs(1))
            for seed, count, distractors, width, height in demo_model.SCENES:
                scene = _image.demo_scene(seed, count, width=width, height=height, distractors=distractors)
                tensor = _image.to_input_tensor(scene.image)
                gpu = run.infer({INPUT: tensor}, kernel)
                cov_ref, bbox_ref = session.run(None, {INPUT: tensor})
                cov_diff = float(numpy.abs(gpu[COVERAGE] - cov_ref).max())
                bbox_diff = float(numpy.abs(gpu[BBOX] - bbox_ref).max())
                expect = _smoke.resolve_expect({'boxes': 'scene', 'allow_extra_detections': False,
                                                'min_detections': count}, [list(r) for r in scene.rects],
                                               entry['classes'])
                on_gpu = detections_of(entry, (gpu[COVERAGE], gpu[BBOX]), scene.image, expect)
                on_cpu = detections_of(entry, (cov_ref, bbox_ref), scene.image, expect)
                name = 'scene seed %d, %d rectangles, %dx%d' % (seed, count, width, height)
                report.log('%s: max |cov - ort| %.3g, max |bbox - ort| %.3g, %d detections' % (
                    name, cov_diff, bbox_diff, on_gpu['detection_count']))
                for found in on_gpu['detections']:
                    report.log('    %-6s conf %.5f  [%.1f, %.1f, %.1f, %.1f]' % (
                        found['label'], found['confidence'], found['left'], found['top'], found['right'], found['bottom']))
                report.check('%s: GPU outputs equal onnxruntime (cov <= 1e-5, bbox <= 1e-4)' % name,
                             cov_diff <= 1e-5 and bbox_diff <= 1e-4, 'cov %.3g, bbox %.3g' % (cov_diff, bbox_diff))
                report.check('%s: GPU detections are the drawn rectangles (IoU >= 0.9, nothing else)' % name,
                             on_gpu['passed'], '; '.join(on_gpu['failures']))
                report.check('%s: GPU detections equal onnxruntime\'s (boxes within 0.01 px, confidence 1e-4)' % name,
                             same_detections(on_gpu['detections'], on_cpu['detections']))
                results.append({'seed': seed, 'rectangles': [list(r) for r in scene.rects], 'width': width,
                                'height': height, 'max_abs_diff_coverage': cov_diff, 'max_abs_diff_bbox': bbox_diff,
                                'gpu_detections': on_gpu['detections'], 'onnxruntime_detections': on_cpu['detections'],
                                'failures': on_gpu['failures']})
            report.check('kernel launched once per scene on the run\'s stream', kernel.launches == len(demo_model.SCENES))
        finally:
            kernel.close()
    return results


def timing_on_gpu(report, cuda, source_module, session, batch, warmup, runs):
    """Warm-up + timed runs of copy in + kernel + copy out; the last outputs checked against onnxruntime."""
    import numpy
    scene = _image.demo_scene(3, 3, distractors=2)
    tensor = numpy.repeat(_image.to_input_tensor(scene.image), batch, axis=0)
    with _runtime.CudaRun(cuda) as run:
        kernel = standin_kernel.GpuStandin(cuda, source_module, batch=batch)
        try:
            run.allocate(specs(batch))
            outputs, wall_ms, gpu_ms = run.measure({INPUT: tensor}, kernel, warmup, runs)
        finally:
            kernel.close()
    cov_ref, bbox_ref = session.run(None, {INPUT: tensor[:1]})
    same = all(numpy.abs(outputs[COVERAGE][i] - cov_ref[0]).max() <= 1e-5 and
               numpy.abs(outputs[BBOX][i] - bbox_ref[0]).max() <= 1e-4 for i in range(batch))
    result = {'batch': batch, 'warmup': warmup, 'runs': runs, 'input_mib': round(tensor.nbytes / float(MIB), 2),
              'wall_ms': _smoke.latency_stats(wall_ms), 'cuda_event_ms': _smoke.latency_stats(gpu_ms),
              'throughput_fps_wall': _smoke.throughput_fps(wall_ms, batch),
              'throughput_fps_events': _smoke.throughput_fps(gpu_ms, batch), 'backend': BACKEND}
    report.log('batch %d: wall p50 %.3f p95 %.3f max %.3f ms; CUDA events p50 %.3f ms; %.0f images/s (wall)' % (
        batch, result['wall_ms']['p50'], result['wall_ms']['p95'], result['wall_ms']['max'],
        result['cuda_event_ms']['p50'], result['throughput_fps_wall']))
    report.check('batch %d: every image of the last timed run equals onnxruntime' % batch, same)
    report.check('batch %d: %d timed runs measured by wall clock and CUDA events' % (batch, runs),
                 result['wall_ms']['runs'] == runs and result['cuda_event_ms']['runs'] == runs)
    return result


def double_io_on_gpu(report, cuda, source_module, session, versions=('8.2.1.8', '10.3.0')):
    """_runtime.TensorRTEngine with its I/O API from the TensorRT test double (no TensorRT here) on real
    device buffers: the double's engine is bound and "executed" (it records the real device addresses it
    is handed), and the stand-in kernel computes into the same buffers. Shows the bindings and tensors
    code paths handing CudaRun's real pointers to TensorRT's API; TensorRT itself does not run."""
    import tempfile

    import numpy
    sys.path.insert(0, os.path.join(REPO, 'tests', 'doubles'))
    import harness
    from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import LoadedTensorRT, build
    names = tuple(demo_model.ETLT_NAMES)
    scene = _image.demo_scene(3, 3, distractors=2)
    tensor = _image.to_input_tensor(scene.image)
    cov_ref, bbox_ref = session.run(None, {INPUT: tensor})
    results = []
    for version in versions:
        trt = harness.load(version, tempfile.mkdtemp(prefix='trt-double-'))
        try:
            engine_bytes = build(trt, {'model': demo_model.onnx_bytes(demo_model.DEFAULT_VERSION, names),
                                       'max_batch': 4})['engine']
            with _runtime.CudaRun(cuda) as run:
                engine = _runtime.TensorRTEngine(LoadedTensorRT.wrap(trt), engine_bytes)
                kernel = standin_kernel.GpuStandin(cuda, source_module, batch=1, names=names)
                try:
                    run.allocate(engine.bind({names[0]: tensor.shape}))
                    addresses = run.addresses()

                    def execute(device, stream):
                        engine.execute(device, stream)
                        kernel(device, stream)
                    outputs = run.infer({names[0]: tensor}, execute)
                finally:
                    kernel.close()
                    engine.close()
        finally:
            harness.unload()
        recorded = [call for call in trt.__tao_fleet_calls__ if call[0].startswith('IExecutionContext.')]
        if engine.io_api == 'tensors':
            handed = dict((call[1], call[2]) for call in recorded if call[0].endswith('set_tensor_address'))
        else:
            bindings = [call[1] for call in recorded if call[0].endswith('execute_async_v2')][0]
            handed = dict(zip([spec.name for spec in engine.specs], bindings))
        same = (numpy.abs(outputs[names[1]] - cov_ref).max() <= 1e-5
                and numpy.abs(outputs[names[2]] - bbox_ref).max() <= 1e-4)
        report.check('test double %s (%s API): the engine got CudaRun\'s real device addresses' % (version, engine.io_api),
                     handed == dict(addresses), ', '.join('%s=0x%x' % item for item in sorted(handed.items())))
        report.check('test double %s: buffers bound from the engine\'s I/O, kernel outputs equal onnxruntime'
                     % version, same)
        results.append({'tensorrt_test_double': version, 'io_api': engine.io_api, 'addresses': dict(addresses),
                        'calls': [list(call) for call in recorded]})
    return results


def free_memory(cuda, monitor):
    monitor.push()
    try:
        return cuda.mem_get_info()[0]
    finally:
        cuda.Context.pop()


def lifecycle_checks(report, cuda, source_module):
    """No context left current after CudaRun, also after a failing execute step; no memory kept."""
    import numpy
    report.log('== buffers, stream and context lifecycle')
    report.check('no CUDA context is current after the runs', cuda.Context.get_current() is None)

    def failing(addresses, stream):
        raise RuntimeError('execute step failed on purpose')
    try:
        with _runtime.CudaRun(cuda) as run:
            run.allocate(specs(1))
            run.infer({INPUT: numpy.zeros((1,) + NETWORK, numpy.float32)}, failing)
        report.check('a failing execute step raises through CudaRun', False)
    except RuntimeError:
        report.check('a failing execute step raises through CudaRun', True)
    report.check('no context is current after the failing run (field error #24 cannot follow)',
                 cuda.Context.get_current() is None)

    monitor = cuda.Device(0).retain_primary_context()
    before = free_memory(cuda, monitor)
    cycles = 10
    for _cycle in range(cycles):
        with _runtime.CudaRun(cuda) as run:
            kernel = standin_kernel.GpuStandin(cuda, source_module, batch=8)
            try:
                run.allocate(specs(8))
                run.infer({INPUT: numpy.zeros((8,) + NETWORK, numpy.float32)}, kernel)
            finally:
                kernel.close()
    after = free_memory(cuda, monitor)
    per_cycle = sum(4 * _runtime.volume(spec.shape) for spec in specs(8))
    detail = 'free before %d MiB, after %d cycles %d MiB; one cycle allocates %.1f MiB of device buffers' % (
        before // MIB, cycles, after // MIB, per_cycle / float(MIB))
    report.check('device memory is given back by CudaRun.close (drift < 16 MiB over %d cycles)' % cycles,
                 abs(before - after) < 16 * MIB, detail)
    monitor.detach()
    return {'free_before_bytes': before, 'free_after_bytes': after, 'cycles': cycles, 'bytes_per_cycle': per_cycle}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--out', required=True)
    parser.add_argument('--runs', type=int, default=200)
    parser.add_argument('--warmup', type=int, default=20)
    args = parser.parse_args(argv)
    if not os.path.isdir(args.out):
        os.makedirs(args.out)
    report = Report()
    result = {'what': __doc__.split('\n\n', maxsplit=1)[0], 'backend': BACKEND, 'checks': report.checks}
    try:
        import onnxruntime
        import pycuda.driver as cuda
        import yaml
        from pycuda.compiler import SourceModule
        cuda.init()
        result['environment'] = environment(report, cuda)
        with open(os.path.join(REPO, 'catalog', 'models.yml')) as handle:
            entry = dict(yaml.safe_load(handle)['models']['peoplenet_standin'], id='peoplenet_standin')
        model = demo_model.onnx_bytes(demo_model.DEFAULT_VERSION)
        session = onnxruntime.InferenceSession(model, providers=['CPUExecutionProvider'])
        result['scenes'] = scenes_on_gpu(report, cuda, SourceModule, session, entry)
        report.log('== timing: %d warm-up + %d timed runs (copy in + kernel + copy out, one stream)' % (
            args.warmup, args.runs))
        result['timing'] = [timing_on_gpu(report, cuda, SourceModule, session, batch, args.warmup, args.runs)
                            for batch in (1, 8)]
        scene = _image.demo_scene(3, 3, distractors=2)
        cpu = _smoke_backends.onnxruntime_job(model, _image.to_input_tensor(scene.image), 3, 20)
        result['timing_onnxruntime_cpu'] = {'batch': 1, 'runs': 20, 'wall_ms': _smoke.latency_stats(cpu['wall_ms']),
                                            'throughput_fps': _smoke.throughput_fps(cpu['wall_ms'], 1),
                                            'backend': _smoke.FALLBACK_BACKEND}
        report.log('onnxruntime CPU, batch 1: wall p50 %.3f ms (the fallback the simulated fleet uses)' % (
            result['timing_onnxruntime_cpu']['wall_ms']['p50']))
        report.log('== the TensorRT runtime I/O code on real buffers, TensorRT API from the test double')
        result['double_io'] = double_io_on_gpu(report, cuda, SourceModule, session)
        result['memory'] = lifecycle_checks(report, cuda, SourceModule)
    except Exception:  # the JSON must come back with whatever failed
        report.log(traceback.format_exc())
        report.check('the run finished', False, traceback.format_exc().splitlines()[-1])
    passed = sum(1 for c in report.checks if c['passed'])
    result['verdict'] = {'checks': len(report.checks), 'passed': passed,
                         'all_passed': bool(report.checks) and passed == len(report.checks)}
    report.log('== %d of %d checks passed' % (passed, len(report.checks)))
    with open(os.path.join(args.out, 'gpu-run.json'), 'w') as handle:
        json.dump(result, handle, indent=1, sort_keys=True)
    return 0 if result['verdict']['all_passed'] else 1


if __name__ == '__main__':
    sys.exit(main())
