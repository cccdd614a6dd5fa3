# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The model catalog's rules: what a model entry must hold, how user entries merge into the
catalog, and which artifact a host can build from.

The catalog itself is data (``catalog/models.yml``, docs/models.md); callers load it and pass
dicts, so this file needs no YAML parser and runs on every JetPack Python.

Selection, for one model and one host's ``tao_platform`` facts:

1. An artifact fits when the host's TensorRT can parse its payload: ONNX (``onnx`` and
   ``etlt-onnx``) on any TensorRT inside the artifact's ``tensorrt`` range and on TensorRT-RTX;
   UFF (``etlt-uff``) only where TensorRT still has its UFF parser (before TensorRT 10; never on
   TensorRT-RTX). A requested precision must be one the artifact can build at there (INT8 needs
   a calibration cache; TensorRT-RTX takes the precision from the model).
2. Among those that fit: the caller's ``prefer`` list, then the model's ``prefer`` list, then
   plain ONNX before ONNX-in-.etlt before UFF-in-.etlt (ONNX is what NVIDIA ships now, needs no
   key and parses on every TensorRT generation; UFF is deprecated since TensorRT 7 and gone in
   10), then catalog order (newest release first).
3. None fits: TaoFleetError ``no_artifact_fits`` listing each artifact and why, with the fix.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import difflib
import re

from ansible_collections.tao.fleet.plugins.module_utils._cluster_modes import CLUSTER_MODES
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._trt._capabilities import (
    LABELS as TENSORRT_LABELS,
    capabilities as tensorrt_capabilities,
)

SCHEMA_VERSION = 1
FORMATS = ('onnx', 'etlt-onnx', 'etlt-uff')
FORMAT_RANK = {'onnx': 0, 'etlt-onnx': 1, 'etlt-uff': 2}
PAYLOAD_FORMAT = {'onnx': 'onnx', 'etlt-onnx': 'onnx', 'etlt-uff': 'uff'}
PRECISIONS = ('fp32', 'fp16', 'int8')
COLOR_FORMATS = ('rgb', 'bgr', 'gray')
LAYOUTS = ('nchw', 'nhwc')
OUTPUT_ROLES = ('coverage', 'bbox')

_NGC_REF = re.compile(r'^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){1,2}:[A-Za-z0-9_.+-]+$')
_SHA256 = re.compile(r'^[0-9a-f]{64}$')
_VERSION = re.compile(r'^[0-9]+(\.[0-9]+)*$')

_MODEL_KEYS = {
    'id': 'the model id (the lookup adds it)', 'name': 'display name', 'description': 'what the model is', 'architecture': 'e.g. detectnet_v2',
    'backbone': 'e.g. resnet34', 'ngc_model': 'NGC catalog page (org/team/name)',
    'classes': 'class names in output order', 'preprocessing': 'input scaling and layout',
    'postprocessing': 'decoder defaults', 'artifacts': 'files a host can build from',
    'prefer': 'artifact ids tried first', 'fix_hint': 'shown when no artifact fits',
    'stand_in': 'true for the demo stand-in model', 'performance': 'published FPS figures',
    'notes': 'free text',
}
_REQUIRED_MODEL_KEYS = ('name', 'architecture', 'classes', 'preprocessing', 'postprocessing',
                        'artifacts')
_ARTIFACT_KEYS = ('id', 'ngc', 'urls', 'file', 'format', 'key', 'sha256', 'tensorrt', 'input',
                  'outputs', 'calibration', 'precisions', 'model_precision', 'stand_in', 'notes')
_REQUIRED_ARTIFACT_KEYS = ('id', 'file', 'format', 'input', 'outputs', 'precisions')
_PREPROCESSING_KEYS = ('color_format', 'layout', 'scale', 'mean', 'resize')
_POSTPROCESSING_KEYS = ('decoder', 'stride', 'bbox_norm', 'offset', 'cluster_mode',
                        'pre_cluster_threshold', 'nms_iou_threshold', 'topk', 'dbscan',
                        'group_rectangles')
_PERFORMANCE_KEYS = ('device', 'precision', 'batch', 'fps', 'what', 'source')
_CALIBRATION_KEYS = ('file', 'sha256', 'tensorrt', 'ngc', 'urls')


# ---------------------------------------------------------------------------------------------
# Versions
# ---------------------------------------------------------------------------------------------

def parse_version(text):
    """'10.3.0.30' -> (10, 3, 0, 30); anything after the numbers ('8.6.1-1+cuda12.0') is ignored."""
    match = re.match(r'^\s*([0-9]+(?:\.[0-9]+)*)', str(text))
    if not match:
        raise ValueError('not a version: %r' % (text,))
    return tuple(int(part) for part in match.group(1).split('.'))


def _version_text(numbers):
    return '.'.join(str(number) for number in numbers)


# ---------------------------------------------------------------------------------------------
# Schema check
# ---------------------------------------------------------------------------------------------

def _unknown_keys(where, mapping, allowed, problems):
    for key in sorted(mapping):
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            problems.append('%s: unknown key %r%s' % (
                where, key, ' (did you mean %r?)' % close[0] if close else ''))


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_text(value):
    return isinstance(value, str) and value.strip() != ''


def _check_dims(where, dims, length, problems):
    if not isinstance(dims, list) or not dims or not all(
            isinstance(size, int) and not isinstance(size, bool) and size > 0 for size in dims):
        problems.append('%s: dims must be a list of positive integers (C, H, W without the batch '
                        'dimension), got %r' % (where, dims))
        return False
    if length is not None and len(dims) != length:
        problems.append('%s: dims must have %d entries (C, H, W), got %r' % (where, length, dims))
        return False
    return True


def _check_preprocessing(where, block, problems):
    if not isinstance(block, dict):
        problems.append('%s: must be a mapping' % where)
        return
    _unknown_keys(where, block, _PREPROCESSING_KEYS, problems)
    if block.get('color_format') not in COLOR_FORMATS:
        problems.append('%s.color_format: one of %s, got %r' % (
            where, ', '.join(COLOR_FORMATS), block.get('color_format')))
    if block.get('layout') not in LAYOUTS:
        problems.append('%s.layout: one of %s, got %r' % (where, ', '.join(LAYOUTS),
                                                          block.get('layout')))
    if not _is_number(block.get('scale')) or block.get('scale') <= 0:
        problems.append('%s.scale: a positive number (1/255 = 0.00392156862745098), got %r' % (
            where, block.get('scale')))
    mean = block.get('mean')
    if mean is not None and not (isinstance(mean, list) and all(_is_number(m) for m in mean)):
        problems.append('%s.mean: a list of numbers, got %r' % (where, mean))


def _check_postprocessing(where, block, classes, problems):
    if not isinstance(block, dict):
        problems.append('%s: must be a mapping' % where)
        return
    _unknown_keys(where, block, _POSTPROCESSING_KEYS, problems)
    if block.get('decoder') != 'detectnet_v2':
        problems.append('%s.decoder: tao.fleet decodes detectnet_v2 outputs only, got %r' % (
            where, block.get('decoder')))
        return
    for name in ('stride', 'bbox_norm'):
        if not _is_number(block.get(name)) or block.get(name) <= 0:
            problems.append('%s.%s: a positive number, got %r' % (where, name, block.get(name)))
    if not _is_number(block.get('offset')):
        problems.append('%s.offset: a number, got %r' % (where, block.get('offset')))
    if block.get('cluster_mode') not in CLUSTER_MODES:
        problems.append('%s.cluster_mode: one of %s, got %r' % (
            where, ', '.join(sorted(CLUSTER_MODES)), block.get('cluster_mode')))
    threshold = block.get('pre_cluster_threshold')
    if isinstance(threshold, dict):
        for name, value in threshold.items():
            if name != 'default' and name not in (classes or []):
                problems.append('%s.pre_cluster_threshold: %r is not one of the classes %s' % (
                    where, name, classes))
            if not _is_number(value) or not 0 <= value <= 1:
                problems.append('%s.pre_cluster_threshold.%s: a number in [0, 1], got %r' % (
                    where, name, value))
    elif not _is_number(threshold) or not 0 <= threshold <= 1:
        problems.append('%s.pre_cluster_threshold: a number in [0, 1] or a mapping class -> '
                        'number, got %r' % (where, threshold))


def _check_tensorrt_range(where, block, problems):
    if block is None:
        return
    if not isinstance(block, dict):
        problems.append('%s: a mapping {min, below} of TensorRT versions, got %r' % (where, block))
        return
    _unknown_keys(where, block, ('min', 'below'), problems)
    for name in ('min', 'below'):
        value = block.get(name)
        if value is not None and not _VERSION.match(str(value)):
            problems.append('%s.%s: a version like "8.6", got %r' % (where, name, value))


def _check_outputs(where, outputs, classes, input_dims, stride, problems):
    if not isinstance(outputs, list) or not outputs:
        problems.append('%s: a non-empty list of {name, dims, role}' % where)
        return
    for index, output in enumerate(outputs):
        here = '%s[%d]' % (where, index)
        if not isinstance(output, dict):
            problems.append('%s: a mapping {name, dims, role}' % here)
            continue
        _unknown_keys(here, output, ('name', 'dims', 'role'), problems)
        if not _is_text(output.get('name')):
            problems.append('%s.name: the output tensor name is missing' % here)
        if not _check_dims(here, output.get('dims'), 3, problems):
            continue
        role = output.get('role')
        if role is None:
            continue
        if role not in OUTPUT_ROLES:
            problems.append('%s.role: one of %s, got %r' % (here, ', '.join(OUTPUT_ROLES), role))
            continue
        # DetectNet_v2: coverage has one plane per class, bbox four; both on the stride grid.
        planes = len(classes or []) * (1 if role == 'coverage' else 4)
        if classes and output['dims'][0] != planes:
            problems.append('%s: a %s output has %d planes for %d classes, got %r' % (
                here, role, planes, len(classes), output['dims']))
        if input_dims and _is_number(stride) and stride > 0:
            grid = [-(-input_dims[1] // int(stride)), -(-input_dims[2] // int(stride))]
            if output['dims'][1:] != grid:
                problems.append('%s: input %dx%d at stride %s gives a %dx%d grid, got %r' % (
                    here, input_dims[1], input_dims[2], stride, grid[0], grid[1],
                    output['dims']))


def _check_artifact(where, artifact, model, problems):
    if not isinstance(artifact, dict):
        problems.append('%s: must be a mapping' % where)
        return
    _unknown_keys(where, artifact, _ARTIFACT_KEYS, problems)
    for name in _REQUIRED_ARTIFACT_KEYS:
        if artifact.get(name) in (None, '', [], {}):
            problems.append('%s: %s is missing' % (where, name))
    file_name = artifact.get('file')
    if file_name is not None and (not _is_text(file_name) or '/' in file_name):
        problems.append('%s.file: a file name without directories, got %r' % (where, file_name))
    ngc, urls = artifact.get('ngc'), artifact.get('urls')
    if ngc is None and not urls:
        problems.append('%s: give ngc ("org/team/model:version") or urls (a list of URLs)' % where)
    if ngc is not None and not (isinstance(ngc, str) and _NGC_REF.match(ngc)):
        problems.append('%s.ngc: "org/team/model:version" or "org/model:version", got %r' % (
            where, ngc))
    if urls is not None and not (isinstance(urls, list) and all(_is_text(url) for url in urls)):
        problems.append('%s.urls: a list of URLs, got %r' % (where, urls))
    fmt = artifact.get('format')
    if fmt is not None and fmt not in FORMATS:
        problems.append('%s.format: unknown format %r (known: %s)' % (
            where, fmt, ', '.join(FORMATS)))
    key = artifact.get('key')
    if fmt in ('etlt-onnx', 'etlt-uff') and not _is_text(key):
        problems.append('%s.key: an %s artifact needs its model key (NGC models: tlt_encode or '
                        'nvidia_tlt)' % (where, fmt))
    if fmt == 'onnx' and key is not None:
        problems.append('%s.key: a plain onnx artifact is not encrypted; remove the key' % where)
    sha256 = artifact.get('sha256')
    if sha256 is not None and not (isinstance(sha256, str) and _SHA256.match(sha256)):
        problems.append('%s.sha256: 64 lowercase hex digits or null (unknown), got %r' % (
            where, sha256))
    _check_tensorrt_range('%s.tensorrt' % where, artifact.get('tensorrt'), problems)
    input_block = artifact.get('input')
    input_dims = None
    if isinstance(input_block, dict):
        _unknown_keys('%s.input' % where, input_block, ('name', 'dims', 'dtype', 'batch'),
                      problems)
        if not _is_text(input_block.get('name')):
            problems.append('%s.input.name: the input tensor name is missing' % where)
        if _check_dims('%s.input' % where, input_block.get('dims'), 3, problems):
            input_dims = input_block['dims']
    elif input_block is not None:
        problems.append('%s.input: a mapping {name, dims}' % where)
    classes = model.get('classes') if isinstance(model.get('classes'), list) else None
    post = model.get('postprocessing') if isinstance(model.get('postprocessing'), dict) else {}
    if artifact.get('outputs') is not None:
        _check_outputs('%s.outputs' % where, artifact.get('outputs'), classes, input_dims,
                       post.get('stride'), problems)
    precisions = artifact.get('precisions')
    if precisions is not None and (not isinstance(precisions, list) or not precisions or any(
            precision not in PRECISIONS for precision in precisions)):
        problems.append('%s.precisions: a list from %s, got %r' % (
            where, ', '.join(PRECISIONS), precisions))
    model_precision = artifact.get('model_precision')
    if model_precision is not None and model_precision not in PRECISIONS:
        problems.append('%s.model_precision: one of %s, got %r' % (where, ', '.join(PRECISIONS),
                                                                   model_precision))
    calibration = artifact.get('calibration')
    if calibration is not None:
        if not isinstance(calibration, dict) or not _is_text(calibration.get('file')):
            problems.append('%s.calibration: a mapping with at least file, got %r' % (
                where, calibration))
        else:
            _unknown_keys('%s.calibration' % where, calibration, _CALIBRATION_KEYS, problems)
            cal_sha = calibration.get('sha256')
            if cal_sha is not None and not (isinstance(cal_sha, str) and _SHA256.match(cal_sha)):
                problems.append('%s.calibration.sha256: 64 lowercase hex digits or null' % where)
    if isinstance(precisions, list) and 'int8' in precisions and calibration is None \
            and model_precision != 'int8':
        problems.append('%s.precisions: int8 needs a calibration cache (calibration.file) or an '
                        'INT8 (QDQ) model (model_precision: int8)' % where)


def check_model(model_id, model):
    """Every problem with one model entry, as readable lines (empty list: the entry is valid)."""
    where = 'model %s' % model_id
    if not isinstance(model, dict):
        return ['%s: must be a mapping, got %s' % (where, type(model).__name__)]
    problems = []
    _unknown_keys(where, model, _MODEL_KEYS, problems)
    for name in _REQUIRED_MODEL_KEYS:
        if model.get(name) in (None, '', [], {}):
            problems.append('%s: %s is missing (%s)' % (where, name, _MODEL_KEYS[name]))
    classes = model.get('classes')
    if classes is not None and not (isinstance(classes, list) and classes and all(
            _is_text(name) for name in classes)):
        problems.append('%s.classes: a list of class names, got %r' % (where, classes))
        classes = None
    if model.get('preprocessing') is not None:
        _check_preprocessing('%s.preprocessing' % where, model['preprocessing'], problems)
    if model.get('postprocessing') is not None:
        _check_postprocessing('%s.postprocessing' % where, model['postprocessing'], classes,
                              problems)
    artifacts = model.get('artifacts')
    if artifacts is not None and not isinstance(artifacts, list):
        problems.append('%s.artifacts: a list, got %r' % (where, type(artifacts).__name__))
        artifacts = []
    seen = set()
    for index, artifact in enumerate(artifacts or []):
        artifact_id = artifact.get('id') if isinstance(artifact, dict) else None
        label = '%s.artifacts[%s]' % (where, artifact_id or index)
        _check_artifact(label, artifact, model, problems)
        if artifact_id in seen:
            problems.append('%s: artifact id %r is used twice' % (where, artifact_id))
        seen.add(artifact_id)
    performance = model.get('performance')
    if performance is not None and not isinstance(performance, list):
        problems.append('%s.performance: a list of {device, precision, fps, source}' % where)
        performance = []
    for index, row in enumerate(performance or []):
        here = '%s.performance[%d]' % (where, index)
        if not isinstance(row, dict):
            problems.append('%s: a mapping {device, precision, fps, source}' % here)
            continue
        _unknown_keys(here, row, _PERFORMANCE_KEYS, problems)
        if row.get('fps') is not None and not _is_number(row.get('fps')):
            problems.append('%s.fps: a number or null (unknown), got %r' % (here, row.get('fps')))
        if not _is_text(row.get('source')):
            problems.append('%s.source: every figure needs its source' % here)
    for preferred in model.get('prefer') or []:
        if preferred not in seen:
            problems.append('%s.prefer: %r is not an artifact of this model' % (where, preferred))
    return problems


def validate_models(models):
    """Raise TaoFleetError ``catalog_invalid`` listing every problem in ``{id: entry}``."""
    if not isinstance(models, dict):
        raise TaoFleetError('The model catalog must map model ids to entries, got %s.' % (
            type(models).__name__), code='catalog_invalid')
    problems = []
    for model_id in sorted(models):
        problems.extend(check_model(model_id, models[model_id]))
    if problems:
        raise TaoFleetError(
            'Model catalog entries are invalid: %s' % '; '.join(problems),
            cause='A model entry (the collection catalog or one from inventory or role '
                  'variables) does not follow the catalog schema.',
            fix='Correct the entries listed; docs/models.md describes every key and '
                'catalog/models.yml has complete examples.',
            code='catalog_invalid', details={'problems': problems})


def merge_models(catalog_models, user_models=None):
    """The catalog with a user's entries on top, validated.

    A user entry with a new id adds a model and must be complete. One with an existing id
    overrides the keys it gives; its ``artifacts`` replace the catalog's artifacts of the same
    ``id`` and add the others.
    """
    merged = copy.deepcopy(catalog_models or {})
    for model_id, entry in (user_models or {}).items():
        if model_id not in merged or not isinstance(entry, dict) \
                or not isinstance(merged[model_id], dict):
            merged[model_id] = copy.deepcopy(entry)
            continue
        target = merged[model_id]
        for key, value in entry.items():
            if key != 'artifacts':
                target[key] = copy.deepcopy(value)
                continue
            by_id = dict((item.get('id'), index) for index, item in
                         enumerate(target.get('artifacts') or []) if isinstance(item, dict))
            artifacts = list(target.get('artifacts') or [])
            for item in value or []:
                item_id = item.get('id') if isinstance(item, dict) else None
                if item_id in by_id:
                    artifacts[by_id[item_id]] = copy.deepcopy(item)
                else:
                    artifacts.append(copy.deepcopy(item))
            target['artifacts'] = artifacts
    validate_models(merged)
    return merged


# ---------------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------------

def _host_tensorrt(platform):
    """``(flavour, version tuple, capabilities)`` of the host, or ``(None, None, None)``."""
    trt = platform.get('tensorrt') if isinstance(platform, dict) else None
    if not isinstance(trt, dict) or not trt.get('version'):
        return None, None, None
    flavour = 'tensorrt_rtx' if 'rtx' in str(trt.get('flavour') or '').lower() else 'tensorrt'
    version = parse_version(trt['version'])
    return flavour, version, tensorrt_capabilities(_version_text(version), flavour)


def _jetpack(platform):
    jetpack = platform.get('jetpack')
    if isinstance(jetpack, dict):
        return jetpack.get('version')
    return jetpack


def describe_host(platform):
    """'TensorRT 10.3.0.30 (JetPack 6.2, jetson, compute capability 8.7)' for messages."""
    flavour, version, _caps = _host_tensorrt(platform)
    trt = 'no TensorRT' if flavour is None else '%s %s%s' % (
        TENSORRT_LABELS[flavour], _version_text(version),
        ' (tao.fleet test double)' if platform['tensorrt'].get('test_double') else '')
    where = [part for part in (
        'JetPack %s' % _jetpack(platform) if _jetpack(platform) else None,
        platform.get('kind'),
        'compute capability %s' % platform['compute_capability']
        if platform.get('compute_capability') else None) if part]
    return '%s (%s)' % (trt, ', '.join(where)) if where else trt


def _calibration_mismatch(artifact, version):
    """Why the artifact's INT8 calibration cache cannot serve this TensorRT, or None.

    TensorRT 8 cannot read caches written by TensorRT 7 (DeepStream 6.0 "Readme First"), so a
    cache is trusted only on the major version that wrote it, where that is known.
    """
    calibration = artifact.get('calibration') or {}
    written = calibration.get('tensorrt')
    if not written or version is None or parse_version(written)[0] == version[0]:
        return None
    return 'its calibration cache %s was written by TensorRT %s, which TensorRT %d cannot read' % (
        calibration.get('file'), written, version[0])


def artifact_precisions(artifact, flavour, caps, version=None):
    """Precisions an engine can be built at from this artifact with this TensorRT."""
    if caps is not None and caps.get('precision') == 'strongly_typed':
        # Strongly typed builders (TensorRT-RTX, TensorRT 11) take tensor types from the model.
        return [artifact.get('model_precision') or 'fp32']
    offered = list(artifact.get('precisions') or [])
    if 'int8' in offered and artifact.get('model_precision') != 'int8' \
            and _calibration_mismatch(artifact, version):
        offered.remove('int8')
    return offered


def _misfit(artifact, flavour, version, caps, precision):
    """Why ``artifact`` cannot be built with this TensorRT (a phrase), or None when it can."""
    if flavour is None:
        return 'the host has no TensorRT'
    label = caps['label']
    if PAYLOAD_FORMAT[artifact['format']] == 'uff':
        if flavour == 'tensorrt_rtx':
            return 'it is UFF; %s parses ONNX only' % label
        if not caps.get('uff_parser') or version[0] >= 10:
            return 'it is UFF, and %s has no UFF parser (none in TensorRT 9, removed in 10)' % label
    if flavour == 'tensorrt':
        span = artifact.get('tensorrt') or {}
        if span.get('min') and version < parse_version(span['min']):
            return 'it builds on TensorRT %s and newer, not on %s' % (span['min'], label)
        if span.get('below') and version >= parse_version(span['below']):
            return 'it builds on TensorRT before %s, not on %s' % (span['below'], label)
    if precision:
        offered = artifact_precisions(artifact, flavour, caps, version)
        if precision not in offered:
            if caps.get('precision') == 'strongly_typed':
                return ('%s requested, but %s takes the precision from the model, which is %s'
                        % (precision, label, offered[0]))
            if precision == 'int8' and not artifact.get('calibration'):
                return 'int8 requested, but it ships no INT8 calibration cache'
            if precision == 'int8' and _calibration_mismatch(artifact, version):
                return 'int8 requested, but %s' % _calibration_mismatch(artifact, version)
            return '%s requested, but it offers %s' % (precision, ', '.join(offered))
    return None


def _rank(artifact, order_index, prefer):
    artifact_id = artifact['id']
    preferred = prefer.index(artifact_id) if artifact_id in prefer else len(prefer)
    return (preferred, FORMAT_RANK[artifact['format']], order_index)


def _selection(model_id, artifact, flavour, version, caps, precision, platform, rejected, reason):
    trt = platform.get('tensorrt') or {}
    return {
        'model': model_id,
        'artifact_id': artifact['id'],
        'artifact': copy.deepcopy(artifact),
        'format': artifact['format'],
        'payload_format': PAYLOAD_FORMAT[artifact['format']],
        'encrypted': artifact['format'] != 'onnx',
        'precisions': artifact_precisions(artifact, flavour, caps, version),
        'precision': precision,
        'tensorrt': {'flavour': flavour, 'version': trt.get('version'),
                     'test_double': bool(trt.get('test_double'))},
        'reason': reason,
        'rejected': rejected,
        'warnings': list(caps.get('warnings') or []),
    }


_FORMAT_WORDS = {'onnx': 'ONNX release', 'etlt-onnx': '.etlt (ONNX inside)',
                 'etlt-uff': '.etlt (UFF inside)'}


def _no_uff_phrase(flavour, platform):
    if flavour == 'tensorrt_rtx':
        return 'TensorRT-RTX parses ONNX only'
    if platform.get('kind') == 'jetson':
        return 'JetPack 6.1+ ships TensorRT 10, which has no UFF parser'
    return 'TensorRT 10 and newer have no UFF parser'


def _fix(model_id, model, rejected, flavour, version, platform, fitting, offered=()):
    """The next thing to do when the wanted artifact (or every artifact) does not fit."""
    if flavour is None:
        return ('Install TensorRT on the host (JetPack: "sudo apt-get install tensorrt") or '
                'TensorRT-RTX in the Python that runs tao.fleet, then gather facts again '
                '(tao.fleet.platform_facts).')
    reasons = [reason for _id, reason in rejected]
    if fitting:
        best = fitting[0]
        release = best['ngc'].split(':')[-1] if best.get('ngc') else best['file']
        lead = '%s: u' % _no_uff_phrase(flavour, platform) if any(
            'UFF' in reason for reason in reasons) else 'U'
        return '%sse the %s %s (artifact %s of %s), or leave the artifact unpinned so that ' \
               'tao.fleet picks it.' % (lead, _FORMAT_WORDS[best['format']], release, best['id'],
                                        model_id)
    hints = []
    if any('UFF' in reason for reason in reasons):
        hints.append('%s, and %s has no ONNX artifact this host can build: add one (an ONNX '
                     'export from "tao <task> export", or an NGC ONNX release) as a user '
                     'artifact (docs/models.md, "Adding a model")' % (
                         _no_uff_phrase(flavour, platform), model_id))
    if any('and newer' in reason for reason in reasons):
        needed = sorted(set(artifact['tensorrt']['min'] for artifact in model['artifacts']
                            if (artifact.get('tensorrt') or {}).get('min')), key=parse_version)
        hints.append('upgrade to a JetPack or TensorRT that the artifacts build on (TensorRT %s '
                     'or newer), or add an artifact known to build on this TensorRT' % needed[0])
    if any('requested' in reason for reason in reasons):
        # name the values, as the option takes them (precision / deploy_model_precision; empty: the default)
        hints.append('ask for a precision the artifacts offer here%s, or add an artifact whose '
                     'INT8 calibration cache matches this TensorRT' % (
                         ' (precision: %s, or leave it unset)' % ' or '.join(offered) if offered else ''))
    if model.get('fix_hint'):
        hints.append(' '.join(model['fix_hint'].split()))
    if not hints:
        return 'Add an artifact this host can build (docs/models.md, "Adding a model").'
    text = '; '.join(hints) + '.'
    return text[0].upper() + text[1:]


def select_artifact(model_id, model, platform, precision=None, prefer=None, artifact_id=None):
    """The artifact of ``model`` that this host builds from (see the module docstring).

    ``platform`` is ``ansible_facts.tao_platform``; ``precision`` (fp32/fp16/int8) is required
    of the artifact when given; ``prefer`` lists artifact ids tried first; ``artifact_id`` pins
    one artifact (an error, with the artifact to use instead, when it does not fit).
    """
    if precision is not None and precision not in PRECISIONS:
        raise TaoFleetError('Unknown precision %r.' % (precision,),
                            fix='Use one of %s.' % ', '.join(PRECISIONS),
                            code='invalid_precision')
    artifacts = model['artifacts']
    if artifact_id is not None and artifact_id not in [item['id'] for item in artifacts]:
        raise TaoFleetError(
            'Model %s has no artifact %r.' % (model_id, artifact_id),
            fix='Use one of: %s.' % ', '.join(item['id'] for item in artifacts),
            code='unknown_artifact')
    flavour, version, caps = _host_tensorrt(platform)
    order = list(prefer or []) + [item for item in model.get('prefer') or []
                                  if item not in (prefer or [])]
    rejected, fitting = [], []
    for index, artifact in enumerate(artifacts):
        why = _misfit(artifact, flavour, version, caps, precision)
        if why is None:
            fitting.append((_rank(artifact, index, order), artifact))
        else:
            rejected.append((artifact['id'], why))
    fitting = [artifact for _rank_key, artifact in sorted(fitting, key=lambda pair: pair[0])]
    chosen = fitting[0] if fitting else None
    if artifact_id is not None:
        chosen = next((item for item in fitting if item['id'] == artifact_id), None)
    rejected_list = [{'id': item_id, 'reason': reason} for item_id, reason in rejected]
    offered = [p for p in PRECISIONS if any(_misfit(a, flavour, version, caps, p) is None for a in artifacts)]
    if chosen is not None:
        reason = 'pinned by the caller' if artifact_id is not None else (
            'first of %d that fit%s' % (len(fitting), '' if len(fitting) > 1 else 's')
            + ('' if len(fitting) < 2 else ' (order: caller/model preference, then onnx, '
               'etlt-onnx, etlt-uff, then catalog order)'))
        return _selection(model_id, chosen, flavour, version, caps, precision, platform,
                          rejected_list, reason)
    host = describe_host(platform)
    cause = ('An artifact fits a host when its TensorRT can parse it (UFF only before TensorRT '
             '10, never on TensorRT-RTX), within the TensorRT range the artifact is known to '
             'build on, at the precision asked for.')
    if artifact_id is not None:
        raise TaoFleetError(
            'Artifact %s of model %s does not fit %s: %s.' % (
                artifact_id, model_id, host, dict(rejected)[artifact_id]),
            cause=cause,
            fix=_fix(model_id, model, rejected, flavour, version, platform, fitting, offered),
            code='no_artifact_fits',
            details={'model': model_id, 'rejected': rejected_list})
    raise TaoFleetError(
        'No artifact of model %s fits %s: %s.' % (
            model_id, host, '; '.join('%s: %s' % pair for pair in rejected)),
        cause=cause,
        fix=_fix(model_id, model, rejected, flavour, version, platform, fitting, offered),
        code='no_artifact_fits',
        details={'model': model_id, 'rejected': rejected_list})
