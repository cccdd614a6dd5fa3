# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The smoke test of one stored engine: run it on a test image, decode, time it, judge it, record it.

``smoke(...)`` (what ``tao.fleet.engine_smoke`` calls):

1. the engine (``<store>/engines/<model>/<fingerprint>``, the active one by default) must be intact;
2. the input: a user's image file, or a generated demo scene (``_image.demo_scene``; its rectangles
   are what the PeopleNet stand-in must find), preprocessed as the catalog entry says;
3. the backend (``backend``): ``tensorrt`` runs the engine itself with pycuda (``_runtime``) in a child
   process, bounded in time. It runs only when the engine can really execute here: TensorRT importable
   and not the test double, the GPU's compute capability one the TensorRT flavour runs on, pycuda
   importable, a CUDA device. ``auto`` falls back to ``onnxruntime`` on the CPU when one of those is
   missing, on the same model the engine was built from (read from the store and decrypted in memory),
   reported as ``onnxruntime-cpu (engine not executed)`` with ``engine_not_executed_reason``. A real
   engine that a real TensorRT refuses to deserialize on a real GPU is a failure, never a fallback;
4. warm-up runs, then timed runs: latency p50/p95/max (wall clock around copy in + execute + copy out;
   CUDA events too on the GPU) and throughput;
5. decode (``_detectnet``, the catalog's post-processing), map boxes onto the image;
6. ``expect``: minimum/maximum detections, classes, a latency limit, golden boxes within an IoU and a
   score tolerance; a model that yields nothing fails by default (``min_detections`` 1);
7. the platform's power mode, and the ratio of measured to published throughput where the catalog
   has a figure for this device and precision (TensorRT runs only: a CPU fallback gets null + reason);
8. the result goes into the engine's manifest (``EngineStore.record_smoke``), which
   ``engine_release`` reads: a failed smoke test leaves the previous engine active.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

from ansible_collections.tao.fleet.plugins.module_utils import _image
from ansible_collections.tao.fleet.plugins.module_utils._detectnet import decode
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._etlt import read_model_file
from ansible_collections.tao.fleet.plugins.module_utils._smoke_backends import (
    dla_core_of, onnxruntime_job, run_in_child, tensorrt_job)
from ansible_collections.tao.fleet.plugins.module_utils._stage_options import SMOKE_BACKENDS as BACKENDS
from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore, file_sha256

TENSORRT_BACKEND = 'tensorrt'
FALLBACK_BACKEND = 'onnxruntime-cpu (engine not executed)'

# The default input: the demo scene the mirror also publishes (images/<model>/scene-s3-k3-960x544.png):
# three persons and two dim distractors.
DEFAULT_SCENE = {'seed': 3, 'count': 3, 'distractors': 2}
EXPECT_DEFAULTS = {'min_detections': 1, 'max_detections': None, 'classes': [], 'max_latency_ms': None,
                   'boxes': [], 'iou': 0.9, 'score_tolerance': 0.05, 'allow_extra_detections': True}
# Keys whose change makes a new manifest record (timings alone do not: see smoke()).
RECORD_KEYS = ('passed', 'backend', 'engine_executed', 'engine_not_executed_reason', 'reason', 'detections',
               'input', 'failures')

# Module id prefixes (platform facts, module.id) -> device names of the catalog's performance figures.
JETSON_DEVICES = (('nano_', 'jetson_nano'), ('xavier_nx_', 'jetson_xavier_nx'), ('agx_xavier_', 'jetson_agx_xavier'),
                  ('orin_nano_', 'jetson_orin_nano'), ('orin_nx_', 'jetson_orin_nx'), ('agx_orin_', 'jetson_agx_orin'),
                  ('agx_thor_', 'jetson_agx_thor'))
DGPU_DEVICES = (('T4', 't4'), ('L4', 'l4'))


# ---- statistics ---------------------------------------------------------------------------------

def percentile(values, fraction):
    """Linear interpolation between closest ranks (numpy's default ``percentile`` method)."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_stats(samples_ms):
    """{p50, p95, max, min, mean, runs} in milliseconds, rounded to microseconds."""
    if not samples_ms:
        return None
    stats = {'p50': percentile(samples_ms, 0.5), 'p95': percentile(samples_ms, 0.95), 'max': max(samples_ms),
             'min': min(samples_ms), 'mean': sum(samples_ms) / len(samples_ms)}
    stats = dict((key, round(value, 3)) for key, value in stats.items())
    stats['runs'] = len(samples_ms)
    return stats


def throughput_fps(samples_ms, batch):
    """Images per second over the timed runs (batch images per run)."""
    total = sum(samples_ms)
    return round(batch * len(samples_ms) * 1000.0 / total, 2) if total > 0 else None


# ---- platform: power mode and published figures -------------------------------------------------

def power_mode(platform):
    """(power mode dict or None, reason when None) from ``tao_platform`` facts."""
    power = (platform or {}).get('power')
    if (platform or {}).get('kind') == 'dgpu':
        return None, 'dGPU host: no nvpmodel power modes (set clocks with nvidia-smi)'
    if not isinstance(power, dict):
        return None, 'the platform facts carry no power data (not a Jetson, or facts not gathered)'
    nvpmodel = power.get('nvpmodel')
    unknown = (platform or {}).get('unknown') or {}
    mode = {'nvpmodel_id': nvpmodel.get('id') if nvpmodel else None,
            'nvpmodel_name': nvpmodel.get('name') if nvpmodel else None,
            'jetson_clocks': power.get('jetson_clocks')}
    if nvpmodel is None and power.get('jetson_clocks') is None:
        return None, '; '.join(unknown.get(key) for key in ('power.nvpmodel', 'power.jetson_clocks')
                               if unknown.get(key)) or 'nvpmodel state not readable'
    return mode, None


def published_device(platform):
    """The catalog's device name for this host (``jetson_orin_nx``, ``t4``...), or None."""
    platform = platform or {}
    if platform.get('kind') == 'jetson':
        module_id = ((platform.get('module') or {}).get('id')) or ''
        for prefix, device in JETSON_DEVICES:
            if module_id.startswith(prefix):
                return device
        return None
    gpu_name = ((platform.get('gpu') or {}).get('name')) or ''
    for token, device in DGPU_DEVICES:
        if token in gpu_name.replace('-', ' ').split():
            return device
    return None


def compare_published(model_entry, platform, precision, measured_fps, engine_executed):
    """(figure or None, ratio or None, reason when the ratio is None)."""
    if not engine_executed:
        return None, None, ('not compared: the engine did not execute (CPU fallback); published figures are '
                            'TensorRT on the GPU')
    figures = [row for row in (model_entry.get('performance') or []) if isinstance(row, dict)]
    if not figures:
        return None, None, 'the catalog lists no published throughput for model %s' % model_entry.get('id')
    device = published_device(platform)
    if device is None:
        return None, None, 'this device has no name in the catalog\'s performance table'
    here = [row for row in figures if row.get('device') == device and row.get('fps')]
    if not here:
        return None, None, 'the catalog has no published figure for %s' % device
    same = [row for row in here if row.get('precision') == precision]
    if not same:
        return None, None, 'the catalog\'s figures for %s are at %s; this engine is %s' % (
            device, ', '.join(sorted(set(str(row.get('precision')) for row in here))), precision)
    figure = dict(same[0])
    if not measured_fps:
        return figure, None, 'no throughput was measured'
    return figure, round(measured_fps / float(figure['fps']), 3), None


# ---- the input ----------------------------------------------------------------------------------

def network_input(model_entry):
    """(channels, height, width) of the model input, from the catalog entry's artifacts."""
    for artifact in model_entry.get('artifacts') or []:
        dims = (artifact.get('input') or {}).get('dims')
        if isinstance(dims, list) and len(dims) == 3:
            return tuple(int(d) for d in dims)
    raise TaoFleetError('The catalog entry of model %s gives no input dims.' % model_entry.get('id'),
                        fix='Pass the model\'s catalog entry (lookup tao.fleet.model_catalog) as model_entry.',
                        code='model_entry_invalid')


def load_input(image_path, scene, network, stride=16):
    """(RgbImage, description for the result and manifest, golden rectangles of a generated scene).

    A generated scene lies on the model's output grid (network size / stride), so the stand-in
    recovers its rectangles exactly."""
    channels, height, width = network
    if image_path:
        try:
            with open(image_path, 'rb') as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
        except (IOError, OSError) as err:
            raise TaoFleetError('Cannot read the test image %s: %s.' % (image_path, err.strerror),
                                cause='The image option names a file that is not on the host (or not readable).',
                                fix='Copy the image to the host first (ansible.builtin.copy), or leave image unset '
                                    'to use a generated scene.', code='image_missing')
        image = _image.load_image(image_path)
        return image, {'source': 'file', 'path': image_path, 'sha256': digest,
                       'width': image.width, 'height': image.height}, None
    settings = dict(DEFAULT_SCENE)
    settings.update((key, value) for key, value in (scene or {}).items() if value is not None)
    unknown = sorted(set(settings) - set(['seed', 'count', 'distractors', 'width', 'height']))
    if unknown:
        raise TaoFleetError('Unknown scene setting(s): %s.' % ', '.join(unknown),
                            fix='scene takes seed, count, distractors, width and height.', code='invalid_argument')
    scene_width, scene_height = int(settings.get('width') or width), int(settings.get('height') or height)
    made = _image.demo_scene(int(settings['seed']), int(settings['count']), width=scene_width, height=scene_height,
                             distractors=int(settings['distractors']), grid=(width // stride, height // stride))
    description = {'source': 'generated', 'generator': '_image.demo_scene', 'seed': int(settings['seed']),
                   'count': int(settings['count']), 'distractors': int(settings['distractors']),
                   'width': scene_width, 'height': scene_height,
                   'sha256': hashlib.sha256(bytes(made.image.pixels)).hexdigest(),
                   'rects': [list(rect) for rect in made.rects]}
    return made.image, description, [list(rect) for rect in made.rects]


def preprocess(image, model_entry, network, batch):
    """The model's input tensor (batch, C, H, W) float32 for ``image`` repeated ``batch`` times."""
    numpy = _image.import_numpy('preprocessing the smoke-test image')
    channels, height, width = network
    pre = model_entry.get('preprocessing') or {}
    if pre.get('layout', 'nchw') != 'nchw':
        raise TaoFleetError('Model %s takes %s input; the smoke test feeds NCHW only.' % (model_entry.get('id'), pre['layout']),
                            fix='Use an NCHW export of the model.', code='model_entry_invalid')
    tensor = _image.to_input_tensor(image, width=width, height=height)  # RGB x 1/255
    scale = float(pre.get('scale', 1.0 / 255))
    mean = [float(m) for m in (pre.get('mean') or [0.0] * 3)]
    colour = pre.get('color_format', 'rgb')
    if (scale, mean, colour, channels) != (1.0 / 255, [0.0] * 3, 'rgb', 3):
        pixels = tensor * numpy.float32(255.0)
        if colour == 'bgr':
            pixels = pixels[:, ::-1]
        elif colour == 'gray':
            pixels = pixels.mean(axis=1, keepdims=True)
        means = numpy.asarray(mean[:pixels.shape[1]], dtype=numpy.float32).reshape(1, -1, 1, 1)
        tensor = ((pixels - means) * numpy.float32(scale)).astype(numpy.float32)
    return numpy.ascontiguousarray(numpy.repeat(tensor, int(batch), axis=0))


# ---- outputs ------------------------------------------------------------------------------------

def output_roles(outputs, model_entry):
    """{'coverage': name, 'bbox': name} for the model's outputs ``[(name, shape)]``: by the catalog's
    output names (with or without ONNX's ``:0``), else by shape (C planes vs 4C planes)."""
    classes = list(model_entry.get('classes') or [])
    names = {}
    for artifact in model_entry.get('artifacts') or []:
        for output in artifact.get('outputs') or []:
            if output.get('role'):
                names[output['name']] = output['role']
                names[output['name'].split(':')[0]] = output['role']
    roles = {}
    for name, shape in outputs:
        role = names.get(name) or names.get(name.split(':')[0])
        if role is None and len(shape) >= 3 and classes:
            planes = int(shape[-3])
            role = 'coverage' if planes == len(classes) else 'bbox' if planes == 4 * len(classes) else None
        if role and role not in roles:
            roles[role] = name
    if set(roles) != set(['coverage', 'bbox']):
        raise TaoFleetError(
            'Cannot tell the coverage and bbox outputs apart among the model\'s outputs: %s.'
            % ', '.join('%s %s' % (name, list(shape)) for name, shape in outputs),
            cause='The output names match none the catalog lists for model %s (%s), and the shapes do not '
                  'have %d and %d planes.' % (
                      model_entry.get('id'), ', '.join(sorted(names)) or 'none', len(classes), 4 * len(classes)),
            fix='Check that the engine was built from this model; a DetectNet_v2 model has outputs like '
                'output_cov/Sigmoid and output_bbox/BiasAdd (":0" in ONNX releases).',
            code='engine_io_mismatch', details={'outputs': [[name, list(shape)] for name, shape in outputs]})
    return roles


def iou(a, b):
    """Intersection over union of two (left, top, right, bottom) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _box(detection):
    return (detection['left'], detection['top'], detection['right'], detection['bottom'])


# ---- expectations -------------------------------------------------------------------------------

def resolve_expect(expect, scene_rects, classes):
    """Expectation settings with defaults; ``boxes: scene`` becomes the generated scene's rectangles."""
    settings = dict(EXPECT_DEFAULTS)
    given = dict(expect or {})
    unknown = sorted(set(given) - set(EXPECT_DEFAULTS))
    if unknown:
        raise TaoFleetError('Unknown expect key(s): %s.' % ', '.join(unknown),
                            fix='expect takes: %s.' % ', '.join(sorted(EXPECT_DEFAULTS)), code='invalid_argument')
    settings.update((key, value) for key, value in given.items() if value is not None)
    boxes = settings['boxes']
    if boxes == 'scene':
        if scene_rects is None:
            raise TaoFleetError('expect.boxes is "scene" but the input is an image file, not a generated scene.',
                                fix='Give the golden boxes as a list, or leave image unset to use a generated scene.',
                                code='invalid_argument')
        boxes = [{'label': classes[0], 'left': r[0], 'top': r[1], 'right': r[2], 'bottom': r[3]} for r in scene_rects]
    if not isinstance(boxes, list):
        raise TaoFleetError('expect.boxes must be a list of boxes or "scene", got %r.' % (boxes,),
                            fix='Write boxes as [{label: person, left: 0, top: 0, right: 10, bottom: 10}].',
                            code='invalid_argument')
    golden = []
    for box in boxes:
        try:
            golden.append({'label': box.get('label', classes[0]),
                           'box': tuple(float(box[key]) for key in ('left', 'top', 'right', 'bottom')),
                           'confidence': None if box.get('confidence') is None else float(box['confidence'])})
        except (AttributeError, KeyError, TypeError, ValueError):
            raise TaoFleetError('expect.boxes entry %r is not a box.' % (box,),
                                fix='Each box needs left, top, right, bottom (pixels of the image), and may give '
                                    'label and confidence.', code='invalid_argument')
    settings['boxes'] = golden
    return settings


def check_expectations(settings, detections, latency):
    """Failure messages (empty: every expectation met). ``detections`` are on the image's pixels."""
    failures = []
    count = len(detections)
    if count < int(settings['min_detections']):
        failures.append('%d detection(s), expected at least %d%s' % (
            count, settings['min_detections'], ' (the model yields nothing)' if count == 0 else ''))
    if settings['max_detections'] is not None and count > int(settings['max_detections']):
        failures.append('%d detections, expected at most %d' % (count, settings['max_detections']))
    found = set(detection['label'] for detection in detections)
    for label in settings['classes']:
        if label not in found:
            failures.append('no %s detected (found: %s)' % (label, ', '.join(sorted(found)) or 'nothing'))
    if settings['max_latency_ms'] is not None and latency and latency['p95'] > float(settings['max_latency_ms']):
        failures.append('latency p95 %.3f ms is above the limit %.3f ms' % (latency['p95'], float(settings['max_latency_ms'])))
    used = set()
    for golden in settings['boxes']:
        best, best_iou = None, 0.0
        for position, detection in enumerate(detections):
            if position in used or detection['label'] != golden['label']:
                continue
            overlap = iou(golden['box'], _box(detection))
            if overlap > best_iou:
                best, best_iou = position, overlap
        where = '%s box %s' % (golden['label'], [round(v, 1) for v in golden['box']])
        if best is None or best_iou < float(settings['iou']):
            failures.append('%s not found (best IoU %.3f, need %.2f)' % (where, best_iou, float(settings['iou'])))
            continue
        used.add(best)
        if golden['confidence'] is not None and \
                abs(detections[best]['confidence'] - golden['confidence']) > float(settings['score_tolerance']):
            failures.append('%s found with confidence %.4f, expected %.4f +- %.4f' % (
                where, detections[best]['confidence'], golden['confidence'], float(settings['score_tolerance'])))
    if not settings['allow_extra_detections'] and settings['boxes']:
        extra = [detections[i] for i in range(count) if i not in used]
        if extra:
            failures.append('%d detection(s) match no expected box: %s' % (
                len(extra), '; '.join('%s %s' % (d['label'], [round(v, 1) for v in _box(d)]) for d in extra[:5])))
    return failures


# ---- the model the engine was built from --------------------------------------------------------

def model_payload(store, manifest, model_entry, model_path=None, model_key=None):
    """The plaintext model (EtltPayload) the engine was built from, decrypted in memory."""
    expected = (manifest.get('inputs') or {}).get('model_sha256')
    path = model_path or (store.model_file_path(expected) if expected else None)
    if not path or not os.path.isfile(path):
        raise TaoFleetError(
            'The model file the engine was built from is not on the host (%s).' % (path or 'no model sha256 in the manifest'),
            cause='onnxruntime needs the model itself, and the store holds models under <store>/models/<sha256>.',
            fix='Fetch it with tao.fleet.model_fetch into this store, or pass model_path.', code='model_missing')
    keys = sorted(set(a.get('key') for a in model_entry.get('artifacts') or [] if a.get('key')))
    payload = read_model_file(path, model_key or (keys[0] if len(keys) == 1 else None),
                              model_name=model_entry.get('id'), catalog_key=keys[0] if len(keys) == 1 else None)
    if expected and file_sha256(path) != expected and hashlib.sha256(payload.payload).hexdigest() != expected:
        raise TaoFleetError(
            '%s is not the model engine %s was built from (sha256 %s expected).' % (path, manifest.get('fingerprint'), expected),
            cause='A CPU run of another model says nothing about this engine.',
            fix='Pass the model_path of the file the engine was built from, or leave it unset to use the store\'s copy.',
            code='model_mismatch')
    if payload.format != 'onnx':
        raise TaoFleetError(
            'The model of engine %s is %s; onnxruntime runs ONNX only.' % (manifest.get('fingerprint'), payload.format.upper()),
            cause='UFF models (older .etlt files) run only through TensorRT, and the engine cannot execute here.',
            fix='Run the smoke test where TensorRT and pycuda work on the GPU, or release with force: true.',
            code='no_smoke_backend')
    return payload


# ---- the smoke test -----------------------------------------------------------------------------

def _rounded(detection):
    result = dict(detection)
    for key in ('left', 'top', 'right', 'bottom'):
        result[key] = round(float(result[key]), 2)
    result['confidence'] = round(float(result['confidence']), 5)
    return result


def evaluate(execution, model_entry, network, image, expect_settings, batch, platform, precision):
    """Decode, time and judge one execution. ``execution``: outputs [(name, array)], wall_ms, gpu_ms,
    engine_executed. Returns the result keys the module reports."""
    numpy = _image.import_numpy('decoding the smoke-test outputs')
    roles = output_roles([(name, array.shape) for name, array in execution['outputs']], model_entry)
    arrays = dict(execution['outputs'])
    coverage, bbox = arrays[roles['coverage']], arrays[roles['bbox']]
    failures = []
    if not (numpy.all(numpy.isfinite(coverage)) and numpy.all(numpy.isfinite(bbox))):
        failures.append('the outputs hold NaN or Inf values')
    channels, height, width = network
    found = decode(coverage, bbox, model_entry['classes'], (width, height), params=model_entry.get('postprocessing'))
    detections = [_rounded(d) for d in _image.scale_detections(found[0], (width, height), (image.width, image.height))]
    latency = latency_stats(execution['wall_ms'])
    fps = throughput_fps(execution['wall_ms'], batch)
    failures.extend(check_expectations(expect_settings, detections, latency))
    figure, ratio, ratio_reason = compare_published(model_entry, platform, precision, fps, execution['engine_executed'])
    mode, mode_reason = power_mode(platform)
    return {
        'passed': not failures, 'failures': failures, 'detections': detections, 'detection_count': len(detections),
        'latency_ms': latency, 'gpu_latency_ms': latency_stats(execution.get('gpu_ms') or []),
        'throughput_fps': fps, 'batch': batch, 'output_names': roles,
        'published': figure, 'throughput_ratio': ratio, 'throughput_ratio_reason': ratio_reason,
        'power_mode': mode, 'power_mode_reason': mode_reason,
    }


def smoke(store_root, model, model_entry, fingerprint=None, image=None, scene=None, backend='auto', warmup=3,
          runs=20, batch=1, expect=None, postprocessing=None, model_path=None, model_key=None, platform=None,
          device=0, timeout=600, check_mode=False):
    """Run the smoke test; return (result dict, changed). Raises TaoFleetError when it fails (after
    recording the failure, outside check mode): its ``details`` carry the result."""
    if backend not in BACKENDS:
        raise TaoFleetError('backend must be one of %s, got %r.' % (', '.join(BACKENDS), backend), code='invalid_argument')
    for name, value, low in (('warmup', warmup, 0), ('runs', runs, 1), ('batch', batch, 1)):
        if int(value) < low:
            raise TaoFleetError('%s must be %d or more, got %r.' % (name, low, value), code='invalid_argument')
    if not isinstance(model_entry, dict) or not model_entry.get('classes'):
        raise TaoFleetError('model_entry must be the model\'s catalog entry (with classes), got %r.' % (type(model_entry).__name__,),
                            fix='Pass lookup(\'tao.fleet.model_catalog\', \'<model id>\').', code='model_entry_invalid')
    model_entry = dict(model_entry)
    if postprocessing:
        merged = dict(model_entry.get('postprocessing') or {})
        merged.update(postprocessing)
        model_entry['postprocessing'] = merged
    store = EngineStore(store_root)
    store.check_model(model)
    if fingerprint is None:
        fingerprint = store.links(model)['active']
        if fingerprint is None:
            raise TaoFleetError('Model %s has no active engine in %s and no fingerprint was given.' % (model, store.root),
                                fix='Pass the fingerprint that tao.fleet.trt_engine returned.', code='engine_missing')
    status = store.verify(model, fingerprint)
    if not status.intact:
        raise status.error()
    manifest = status.manifest
    # the effective precision trt_engine records (e.g. fp16 where int8 was not possible), else the requested one
    precision = ((manifest.get('build') or {}).get('precision')
                 or ((manifest.get('inputs') or {}).get('build') or {}).get('precision'))
    network = network_input(model_entry)
    stride = int((model_entry.get('postprocessing') or {}).get('stride') or 16)
    picture, input_info, scene_rects = load_input(image, scene, network, stride)
    settings = resolve_expect(expect, scene_rects, list(model_entry['classes']))
    tensor = preprocess(picture, model_entry, network, batch)
    with open(store.engine_path(model, fingerprint), 'rb') as handle:
        engine_bytes = handle.read()

    execution = None
    reason = None
    tensorrt_info = None
    if backend != 'onnxruntime':
        # Which TensorRT is loaded here decides (in the child), never the engine's bytes: an engine that starts
        # like a test double's is handed to a real TensorRT like any other.
        # a DLA engine needs its core on the runtime, and runs at its build batch (the job sees to both)
        dla_core = dla_core_of(manifest)
        attempt = run_in_child(lambda: tensorrt_job(engine_bytes, tensor, platform, warmup, runs, device,
                                                    dla_core=dla_core), timeout)
        tensorrt_info = attempt.get('tensorrt')
        if attempt['executed']:
            execution = {'outputs': attempt['outputs'], 'wall_ms': attempt['wall_ms'], 'gpu_ms': attempt['gpu_ms'],
                         'engine_executed': True, 'backend': TENSORRT_BACKEND, 'gpu': attempt['gpu'],
                         'warnings': attempt['warnings']}
            batch = attempt.get('batch') or batch
        else:
            reason = '; '.join(attempt['reasons'])
            if backend == 'tensorrt':
                raise TaoFleetError('The engine cannot execute on this host: %s.' % reason,
                                    cause='backend tensorrt needs TensorRT (not the test double), pycuda and a CUDA '
                                          'device the engine can run on.',
                                    fix='Install what is missing, or use backend auto to smoke-test the model with '
                                        'onnxruntime on the CPU.', code='engine_not_executable',
                                    details={'engine_not_executed_reason': reason})
            if attempt.get('real_tensorrt') and not attempt.get('no_device'):
                raise TaoFleetError(
                    'The engine cannot execute on this host (%s), and it is not smoke-tested on the CPU instead: this '
                    'host has TensorRT %s and a CUDA device.' % (reason, (tensorrt_info or {}).get('version')),
                    cause='An engine that this host\'s TensorRT would load has to pass by running it; onnxruntime on '
                          'the CPU would test the model the engine claims to come from, not the engine.',
                    fix='Install what is missing so the engine runs (the reason names it), or set backend onnxruntime '
                        'to accept a test of the model alone knowingly.',
                    code='smoke_fallback_refused', details={'engine_not_executed_reason': reason})
    else:
        reason = 'backend onnxruntime was requested'
    if execution is None:
        payload = model_payload(store, manifest, model_entry, model_path, model_key)
        ran = onnxruntime_job(payload.payload, tensor, warmup, runs)
        execution = {'outputs': ran['outputs'], 'wall_ms': ran['wall_ms'], 'gpu_ms': None, 'engine_executed': False,
                     'backend': FALLBACK_BACKEND, 'onnxruntime': ran['onnxruntime'], 'warnings': []}

    result = evaluate(execution, model_entry, network, picture, settings, int(batch), platform, precision)
    result.update({
        'model': model, 'fingerprint': fingerprint, 'engine_path': store.engine_path(model, fingerprint),
        'backend': execution['backend'], 'engine_executed': execution['engine_executed'],
        'engine_not_executed_reason': reason, 'input': input_info, 'precision': precision,
        'tensorrt': tensorrt_info, 'gpu': execution.get('gpu'), 'onnxruntime': execution.get('onnxruntime'),
        'warmup': int(warmup), 'warnings': execution['warnings'],
        # a pass that came from backend auto's CPU fallback says so
        'fallback': backend == 'auto' and not execution['engine_executed'],
    })
    record = {'passed': result['passed'], 'backend': result['backend'], 'engine_executed': result['engine_executed'],
              'engine_not_executed_reason': reason, 'reason': '; '.join(result['failures']) or None,
              'detections': result['detection_count'], 'input': dict((k, v) for k, v in input_info.items() if k != 'rects'),
              'failures': result['failures'],
              'latency_ms': dict((k, result['latency_ms'][k]) for k in ('p50', 'p95', 'max')),
              'throughput_fps': result['throughput_fps'], 'batch': int(batch),
              'throughput_ratio': result['throughput_ratio'], 'power_mode': result['power_mode']}
    previous = manifest.get('smoke') if isinstance(manifest.get('smoke'), dict) else {}
    changed = any(previous.get(key) != record.get(key) for key in RECORD_KEYS)
    if changed and not check_mode:
        result['manifest_smoke'] = store.record_smoke(model, fingerprint, **record)['smoke']
    else:
        result['manifest_smoke'] = previous or None
    if not result['passed']:
        raise TaoFleetError('Smoke test of engine %s (model %s) failed: %s.' % (fingerprint, model, '; '.join(result['failures'])),
                            cause='The engine (or, where it cannot execute, its model on the CPU) did not give what was '
                                  'expected; it is recorded as failed, so engine_release keeps the previous engine.',
                            fix='Check the model file and the expect settings; rebuild with tao.fleet.trt_engine.',
                            code='smoke_failed', details=dict(result, changed=changed))
    return result, changed


def smoke_outcome(result, changed):
    """What a passed test returns, in tao.fleet.engine_smoke and in engine_deploy's smoke stage:
    (result with ``changed`` and ``msg``, tao.fleet's warnings for ``module.warn``)."""
    warnings = result.pop('warnings')
    result.update(changed=changed, msg='smoke test passed (%s, %d detections)' % (
        result['backend'], result['detection_count']))
    return result, warnings


def smoke_failure(err):
    """What a failed test returns, in both places: (failure, warnings). A test that ran and failed
    (``smoke_failed``) returns what it measured as result keys, not as ``error_details``."""
    failure = err.to_result()
    warnings = []
    if err.code == 'smoke_failed':
        failure.pop('error_details', None)
        failure.update(err.details)
        warnings = failure.pop('warnings', [])
    return failure, warnings
