# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""A build request: its defaults, and the checks that refuse what a TensorRT version or a device lacks.

Pure: no TensorRT import, so the checks run in check mode and before the build's child process starts.
A request is a plain dict (it crosses a fork); ``normalize_request`` fills its defaults.

Platform facts read here (all optional; a missing fact skips its check and the builder's own query
decides at build time): ``name`` (e.g. 'Jetson Nano'), ``compute_capability`` ('5.3'), ``dla_cores`` (int).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError

FORMATS = ('onnx', 'uff')
PRECISIONS = ('fp32', 'fp16', 'int8', 'model')
INPUT_ORDERS = ('nchw', 'nhwc', 'nc')

DEFAULTS = {
    'format': 'onnx',
    'model': None,              # ONNX or UFF bytes, decoded in memory; never a path
    'input_name': None,         # UFF only: input node, e.g. 'input_1'
    'input_dims': None,         # UFF only: [C, H, W] without the batch
    'input_order': 'nchw',      # UFF only (tao-converter -i)
    'output_names': [],         # UFF only: output nodes
    'precision': 'fp32',        # 'model' = no precision flags: the model's own types decide
    'calibration_cache': None,  # INT8 cache bytes (PeopleNet ships one)
    'dla_core': None,           # None = GPU only
    'gpu_fallback': True,       # layers DLA cannot run go to the GPU
    'profiles': {},             # {input: {'min': [...], 'opt': [...], 'max': [...]}} with batch
    'max_batch': 1,             # implicit batch (UFF); the max batch of a derived ONNX profile (opt 1), or its
                                # one batch on DLA (min = opt = max)
    'workspace': None,          # bytes; None = TensorRT's default
    'timing_cache': None,       # bytes of a previous build's timing cache
    'strict_types': False,      # keep layer precisions as asked (tao-converter -s)
    'compute_capabilities': [],  # TensorRT-RTX: build ahead of time for these GPUs, e.g. ['8.9']
}

# Fast FP16 from compute capability 5.3 except 6.1; INT8 (DP4A / tensor cores) from 6.1 except 6.2 (TX2);
# Nano (5.3) and TX2 (6.2) have no INT8 (field-errors #13, platforms.md section 2).
_SLOW_FP16 = ((6, 1),)
_NO_INT8 = ((6, 2),)


def _invalid(msg, fix):
    return TaoFleetError(msg, cause='The build request is malformed.', fix=fix, code='invalid_request')


def _as_dims(value, what):
    if not isinstance(value, (list, tuple)) or not value or \
            not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise _invalid('%s must be a list of integers, got %r.' % (what, value), 'Give dimensions such as [1, 3, 544, 960].')
    return [int(v) for v in value]


def normalize_request(request):
    """A copy of ``request`` with defaults filled and types checked; raises TaoFleetError('invalid_request')."""
    unknown = sorted(set(request) - set(DEFAULTS))
    if unknown:
        raise _invalid('Unknown build request keys: %s.' % ', '.join(unknown),
                       'Use only: %s.' % ', '.join(sorted(DEFAULTS)))
    result = dict(DEFAULTS)
    result.update(request)
    if result['format'] not in FORMATS:
        raise _invalid('Model format %r is not one of %s.' % (result['format'], ', '.join(FORMATS)),
                       'Decode the .etlt first; it says whether the payload is ONNX or UFF.')
    if not isinstance(result['model'], bytes) or not result['model']:
        raise TaoFleetError('The model to build is empty.', cause='No model bytes reached the build.',
                            fix='Check the downloaded file and the .etlt key; the model must be non-empty bytes.',
                            code='model_empty')
    if result['precision'] not in PRECISIONS:
        raise _invalid('Precision %r is not one of %s.' % (result['precision'], ', '.join(PRECISIONS)),
                       'Use fp32, fp16, int8, or model (the ONNX types decide).')
    if result['input_order'] not in INPUT_ORDERS:
        raise _invalid('Input order %r is not one of %s.' % (result['input_order'], ', '.join(INPUT_ORDERS)),
                       'Use nchw (TAO models), nhwc or nc.')
    for key in ('calibration_cache', 'timing_cache'):
        if result[key] is not None and not isinstance(result[key], bytes):
            raise _invalid('%s must be bytes or None.' % key, 'Read the file in binary mode.')
    if result['dla_core'] is not None and (not isinstance(result['dla_core'], int) or result['dla_core'] < 0):
        raise _invalid('dla_core must be a non-negative integer or None, got %r.' % (result['dla_core'],),
                       'Use 0 or 1 on Xavier/Orin, or leave it unset for the GPU.')
    if not isinstance(result['max_batch'], int) or result['max_batch'] < 1:
        raise _invalid('max_batch must be a positive integer, got %r.' % (result['max_batch'],), 'Use 1 or more.')
    if result['workspace'] is not None and (not isinstance(result['workspace'], int) or result['workspace'] <= 0):
        raise _invalid('workspace must be a positive number of bytes, got %r.' % (result['workspace'],),
                       'Use e.g. 1073741824 for 1 GiB, or leave it unset.')
    result['output_names'] = list(result['output_names'] or [])
    if result['input_dims'] is not None:
        result['input_dims'] = _as_dims(result['input_dims'], 'input_dims')
    profiles = {}
    for name, shapes in sorted((result['profiles'] or {}).items()):
        if not isinstance(shapes, dict) or sorted(shapes) != ['max', 'min', 'opt']:
            raise _invalid('Profile of %r must have exactly min, opt and max shapes.' % name,
                           "Give {'min': [1, 3, 544, 960], 'opt': [...], 'max': [...]}.")
        profiles[name] = dict((key, _as_dims(shapes[key], 'profile %s %s' % (name, key))) for key in shapes)
    result['profiles'] = profiles
    capabilities = result['compute_capabilities'] or []
    for capability in capabilities:
        if not re.match(r'^\d+\.\d+$', str(capability)):
            raise _invalid('Compute capability %r is not like 8.9.' % (capability,), 'Write it as major.minor, e.g. 8.9.')
    result['compute_capabilities'] = [str(c) for c in capabilities]
    return result


def parse_calibration_header(cache):
    """First line of an INT8 calibration cache -> (version tuple, algorithm), or None if it has no such header.

    TensorRT writes ``TRT-<version>-<algorithm>``; the version is major*1000+minor*100+patch up to 8.x
    (``TRT-8201-EntropyCalibration2``) and major*10000+minor*100+patch from 10.0 (``TRT-100300-...``).
    """
    first_line = cache.split(b'\n', 1)[0][:128].strip().decode('ascii', 'replace')
    # ASCII digits, at most 9 (int() of thousands of digits is refused from Python 3.11 on): anything else is
    # no header, and the check says so instead of raising
    found = re.match(r'TRT-([0-9]{1,9})-([A-Za-z0-9_]{1,64})\Z', first_line)
    if not found:
        return None
    number = int(found.group(1))
    if number >= 100000:
        version = (number // 10000, number // 100 % 100, number % 100)
    else:
        version = (number // 1000, number // 100 % 10, number % 100)
    return version, found.group(2)


# '<tensor name>: <scale as hex float bits>', one per line after the header (NVIDIA/TensorRT#2036 shows one:
# 'TRT-8203-EntropyCalibration2' then '167: 3c009976'); names may hold ':' ('input_1:0: 3c010a14')
_CACHE_ENTRY = re.compile(r'^(.{1,4096}): ([0-9A-Fa-f]{1,16})\Z')


def calibration_cache_tensors(cache):
    """Tensor names that an INT8 calibration cache holds scales for (lines after the header)."""
    names = []
    for raw in cache.split(b'\n')[1:]:
        found = _CACHE_ENTRY.match(raw.strip().decode('utf-8', 'replace'))
        if found:
            names.append(found.group(1))
    return names


def check_calibration_tensors(cache, network_tensors, network_inputs, label):
    """Refuse a cache that holds no scale for any tensor of the network; warn about inputs it lacks.

    TensorRT does not fail on such a cache: for each tensor without a scale it logs "Missing scale and
    zero-point for tensor ..., expect fall back to non-int8 implementation" (NVIDIA/TensorRT#3131, #3933) and
    builds that layer in FP16/FP32, so a cache for another network gives a silently non-INT8 engine.
    ``network_tensors``: every tensor name the build knows (inputs, outputs, layer outputs where the bindings
    list them); ``network_inputs``: the input names. Returns warnings; raises TaoFleetError.
    """
    cached = calibration_cache_tensors(cache)
    known = set(network_tensors)
    fix = ("Give the calibration cache that ships with this model release (the catalog's calibration file, "
           "e.g. resnet34_peoplenet_int8.txt beside PeopleNet's ONNX), or set precision: fp16. A cache of a "
           ".etlt (UFF) release names tensors like input_1, the ONNX release like input_1:0: they do not mix.")
    if not cached:
        raise TaoFleetError(
            'The INT8 calibration cache holds no tensor scales (no "<tensor>: <hex>" line after its header); '
            '%s would build this network without INT8.' % label,
            cause='TensorRT takes each tensor\'s INT8 scale from the cache and falls back to FP16/FP32, with a '
                  'warning only, for every tensor the cache lacks.',
            fix=fix, code='calibration_cache_network_mismatch')
    matched = [name for name in cached if name in known]
    if not matched:
        raise TaoFleetError(
            'The INT8 calibration cache was written for another network: none of its %d tensor names (first: '
            '%s) is a tensor of this model (inputs: %s).' % (
                len(cached), ', '.join(cached[:3]), ', '.join(network_inputs) or 'none'),
            cause='%s would find no scale for any tensor and build every layer without INT8, without an error '
                  '("Missing scale and zero-point for tensor ..., expect fall back to non-int8 implementation").'
                  % label,
            fix=fix, code='calibration_cache_network_mismatch')
    missing = [name for name in network_inputs if name not in set(cached)]
    if missing:
        return ['The INT8 calibration cache has no scale for input %s (it matches %d of this network\'s tensors); '
                'the layers reading it run without INT8.' % (', '.join(missing), len(set(matched)))]
    return []


def _capability_numbers(capability):
    found = re.match(r'^(\d+)\.(\d+)', capability)
    return (int(found.group(1)), int(found.group(2))) if found else None


def _platform_name(platform):
    return platform.get('name') or platform.get('module') or 'this device'


def _check_precision(caps, request, platform, warnings):
    precision = request['precision']
    label = caps['label']
    if caps['precision'] == 'strongly_typed':
        if precision in ('fp16', 'int8'):
            raise TaoFleetError(
                '%s cannot build %s on request: it is strongly typed, so each layer runs in the type the '
                'model gives it.' % (label, precision),
                cause='%s has no FP16/INT8 builder flags (or INT8 calibrator); precision is implied by the '
                      'ONNX model.' % label,
                # names values the modules and the role accept ('model' is this layer's own word)
                fix='Leave precision unset, or set fp32 or strongly_typed (role tao.fleet.deploy_model: '
                    'deploy_model_precision: "" or fp32): %s then builds each layer in the type the model gives '
                    'it. For FP16 or INT8 speed, build a model that carries its precision: an FP16 ONNX, or a '
                    'Q/DQ (explicitly quantized) ONNX made with TensorRT Model Optimizer.' % label,
                code='precision_implied_by_model')
        if request['calibration_cache'] is not None:
            warnings.append('%s ignores INT8 calibration caches (no calibrator API); the cache is not used.' % label)
        return
    capability = str(platform.get('compute_capability') or '')
    numbers = _capability_numbers(capability)
    if precision == 'fp16' and numbers and (numbers in _SLOW_FP16 or numbers < (5, 3)):
        raise TaoFleetError(
            '%s (compute capability %s) has no fast FP16, so %s would build FP16 layers slower than FP32.'
            % (_platform_name(platform), capability, label),
            cause='Native FP16 needs compute capability 5.3, 6.0, 6.2 or 7.0 and newer.',
            fix='Set precision: fp32 for this device.', code='fp16_unsupported_platform')
    if precision == 'int8':
        if numbers and (numbers in _NO_INT8 or numbers < (6, 1)):
            raise TaoFleetError(
                '%s (compute capability %s) has no fast INT8; %s refuses INT8 there ("Your platform support '
                'int8: false").' % (_platform_name(platform), capability, label),
                cause='INT8 needs compute capability 6.1 or 7.0 and newer; Jetson Nano (5.3) and TX2 (6.2) '
                      'lack it.',
                fix='Set precision: fp16 for this device.', code='int8_unsupported_platform')
        if request['calibration_cache'] is None:
            raise TaoFleetError(
                'INT8 on %s needs a calibration cache, and none was given.' % label,
                cause='Without calibration scales TensorRT fails with "Calibration failure occurred with no '
                      'scaling factors detected".',
                fix="Give the model's calibration cache (PeopleNet ships resnet34_peoplenet_int8.txt), or "
                    'set precision: fp16.', code='int8_needs_calibration')
        header = parse_calibration_header(request['calibration_cache'])
        if header is None:
            warnings.append('The INT8 calibration cache has no "TRT-<version>-<algorithm>" first line; %s may '
                            'reject it.' % label)
        elif header[0][0] != caps['version_tuple'][0]:
            # TensorRT "will skip the file if it is incompatible" (NVIDIA/TensorRT#1378, an NVIDIA reply), and
            # TensorRT 8 cannot use caches written by TensorRT 7 (DeepStream 6.0 "Readme First"): an engine
            # built from it is silently not INT8. Other major pairs are unconfirmed; refused the same way.
            written = '.'.join(str(n) for n in header[0])
            raise TaoFleetError(
                'The INT8 calibration cache was written by TensorRT %s (header TRT-...-%s), and this host has %s: '
                'another major version.' % (written, header[1], label),
                cause='TensorRT skips a calibration cache it cannot read without failing the build, so the engine '
                      'would silently lose INT8 (TensorRT 8 cannot read TensorRT 7 caches).',
                fix='Use the cache made for TensorRT %d (the model release for this JetPack), regenerate it with '
                    'this TensorRT (tao-deploy gen_trt_engine with calibration images, or trtexec --int8 --calib), '
                    'or set precision: fp16.' % caps['version_tuple'][0],
                code='calibration_cache_version_mismatch')
        elif tuple(header[0]) != tuple(caps['version_tuple'][:3]):
            warnings.append(
                'The INT8 calibration cache was written by TensorRT %s (header TRT-...-%s) and this host has %s; '
                'TensorRT may reject or misread it. Regenerate the cache with this TensorRT if the engine '
                'misdetects.' % ('.'.join(str(n) for n in header[0]), header[1], label))


def _check_dla(caps, request, platform, warnings):
    core = request['dla_core']
    if core is None:
        return
    label = caps['label']
    if not caps['dla']:
        raise TaoFleetError(
            'DLA core %d was requested, but %s has no DLA support.' % (core, label),
            cause='TensorRT 10.8 to 11.4.0 and 11.5 onwards have no DLA on Jetson (11.4.1 has it on AGX Orin with '
                  'JetPack 7.2.2 and later), and TensorRT-RTX targets GPUs without DLA.',
            fix='Leave dla_core unset to build for the GPU, or use a TensorRT with DLA (JetPack 5/6 on '
                'Xavier/Orin).', code='dla_unavailable')
    cores = platform.get('dla_cores')
    if cores is not None and int(cores) == 0:
        raise TaoFleetError(
            'DLA core %d was requested, but %s has no DLA.' % (core, _platform_name(platform)),
            cause='Jetson Nano, TX2, Orin Nano and Thor, and dGPU boxes, have no Deep Learning Accelerator.',
            fix='Leave dla_core unset to build for the GPU.', code='dla_unavailable')
    if cores is not None and core >= int(cores):
        raise TaoFleetError(
            'DLA core %d was requested, but %s has only %d DLA core(s).' % (core, _platform_name(platform), int(cores)),
            cause='DLA cores are numbered from 0.', fix='Use dla_core between 0 and %d.' % (int(cores) - 1),
            code='dla_unavailable')
    if caps['precision'] == 'flags' and request['precision'] not in ('fp16', 'int8'):
        raise TaoFleetError(
            'DLA core %d was requested with precision %s; DLA runs only FP16 and INT8.' % (core, request['precision']),
            cause='Every FP32 layer would fall back to the GPU ("DLA only supports FP16 and Int8 precision").',
            fix='Set precision: fp16 (or int8 with a calibration cache) for a DLA build.',
            code='dla_needs_reduced_precision')
    # DLA has no dynamic dimensions: a profile's min, opt and max must be one shape, and the run uses that
    # shape ("DLA Supported Layers and Restrictions", General Restrictions; tao-deploy builds 1/1/1)
    for name, shapes in sorted(request['profiles'].items()):
        if not shapes['min'] == shapes['opt'] == shapes['max']:
            raise TaoFleetError(
                'DLA core %d was requested with a dynamic profile for input %s (min %s, opt %s, max %s); %s '
                'cannot build a DLA engine from it.' % (core, name, shapes['min'], shapes['opt'], shapes['max'], label),
                cause='DLA does not support dynamic dimensions: the profile\'s min = opt = max, and the engine '
                      'then runs only at that shape.',
                fix='Give one shape as min, opt and max (e.g. %s for every one, the batch the pipeline runs), '
                    'or leave profiles unset for a DLA build of max_batch, or build for the GPU (no dla_core).'
                    % (shapes['max'],), code='dla_profile_dynamic')
    if not request['gpu_fallback']:
        warnings.append('DLA core %d without GPU fallback: the build fails if any layer cannot run on DLA.' % core)


def _check_uff(caps, request):
    label = caps['label']
    if not caps['uff_parser']:
        raise TaoFleetError(
            '%s cannot parse UFF models (.etlt files with a UFF payload): TensorRT 9 ships no UFF parser and '
            'TensorRT 10 removed it.' % label,
            cause='This host runs %s; UFF needs TensorRT 8.6 or older.' % label,
            fix='Use the ONNX release of the model (PeopleNet: resnet34_peoplenet_int8.onnx, or run tao-export '
                'to make an ONNX), or build on a host with TensorRT 8.x.', code='uff_unsupported')
    missing = [key for key in ('input_name', 'input_dims') if not request[key]]
    if not request['output_names']:
        missing.append('output_names')
    if missing:
        raise TaoFleetError(
            'A UFF model needs its input name, input dimensions and output names; missing: %s.' % ', '.join(missing),
            cause='UFF files do not carry their input shape in a form the UFF parser reads.',
            fix="Give input_name (e.g. 'input_1'), input_dims as C,H,W (tao-converter -d, e.g. [3, 544, 960]) "
                "and output_names (-o, e.g. ['output_cov/Sigmoid', 'output_bbox/BiasAdd']).",
            code='uff_input_required')
    if len(request['input_dims']) != 3 and request['input_order'] != 'nc':
        raise TaoFleetError(
            'UFF input_dims %r must be C,H,W (three numbers, no batch).' % (request['input_dims'],),
            cause='The UFF parser takes the per-image shape; the batch is implicit.',
            fix='Give input_dims like [3, 544, 960].', code='uff_input_required')


def check_request(caps, request, platform=None):
    """Refuse what ``caps`` (from ``capabilities()``) or the device cannot do; return the warnings.

    Raises TaoFleetError whose message names the TensorRT version and the fix. Codes: invalid_request,
    model_empty, uff_unsupported, uff_input_required, precision_implied_by_model, fp16_unsupported_platform,
    int8_unsupported_platform, int8_needs_calibration, calibration_cache_version_mismatch, dla_unavailable,
    dla_needs_reduced_precision, dla_profile_dynamic, compute_capability_unsupported.
    """
    request = normalize_request(request)
    platform = platform or {}
    warnings = list(caps.get('warnings', []))
    label = caps['label']
    if request['format'] == 'uff':
        _check_uff(caps, request)
        if request['profiles']:
            warnings.append('UFF networks have an implicit batch: profiles are ignored, max_batch %d is used.'
                            % request['max_batch'])
    _check_precision(caps, request, platform, warnings)
    _check_dla(caps, request, platform, warnings)
    if request['compute_capabilities']:
        if not caps['compute_capability_selection']:
            raise TaoFleetError(
                '%s cannot build for chosen compute capabilities (%s).' % (label, ', '.join(request['compute_capabilities'])),
                cause='Only TensorRT-RTX builds ahead of time for other GPUs; TensorRT builds for the GPU it runs on.',
                fix='Leave compute_capabilities unset and build on a host with the target GPU.',
                code='compute_capability_unsupported')
        unknown = [c for c in request['compute_capabilities'] if c not in caps['compute_capabilities']]
        if unknown:
            raise TaoFleetError(
                '%s cannot build for compute capability %s.' % (label, ', '.join(unknown)),
                cause='%s supports %s.' % (label, ', '.join(caps['compute_capabilities'])),
                fix='Choose among those, or build this device with full TensorRT (JetPack on Jetson).',
                code='compute_capability_unsupported')
    if request['strict_types'] and not caps['strict_flag']:
        warnings.append('%s is strongly typed: strict_types has no effect.' % label)
    if request['timing_cache'] is not None and not caps['timing_cache']:
        warnings.append('%s does not use a timing cache; the cache given is ignored.' % label)
    return warnings
