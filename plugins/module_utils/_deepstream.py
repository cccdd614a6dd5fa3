# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Where an engine is used: DeepStream nvinfer config, labels file and Triton ``config.pbtxt``.

Every value comes from one of three places, never from a guess:

* the engine's manifest (``<store>/engines/<model>/<fingerprint>/manifest.json``): its input and
  output tensor names and shapes as TensorRT's parser reported them, its effective precision and
  batch (``build.inputs``, ``build.outputs``, ``build.precision``, ``build.profiles``,
  ``build.max_batch``, ``build.tensorrt``; the fingerprint inputs ``inputs.build`` as fallback for
  precision and batch);
* the artifact the engine was built from (catalog: input and outputs with roles) where the
  manifest records no tensors, and as a cross-check where it does;
* the model's catalog entry: classes, preprocessing (scale, colour format, layout, mean) and
  DetectNet_v2 clustering (``cluster_mode``, thresholds, NMS, DBSCAN, group rectangles).

What the configs users copy by hand often get wrong, and this refuses or derives instead:
output blob names of the other export (``output_cov/Sigmoid`` from an ``.etlt`` vs
``output_cov/Sigmoid:0`` from the ONNX release), a class count or per-class threshold for another
model, ``network-mode`` that disagrees with the engine, a cluster mode without its parameters.

Targets DeepStream 6.0 to 8.0 (JetPack 4.6 to 7): ``infer-dims`` (``input-dims`` is deprecated
since 6.0), ``cluster-mode`` 0-4, ``[class-attrs-all]`` then ``[class-attrs-<id>]`` overrides.
Key names and parsing: nvinfer's ``gstnvinfer_property_parser.cpp``; coverage/bbox lookup by name:
``nvdsinfer_context_impl_output_parsing.cpp`` (``parseBoundingBox``), docs/fleet-report.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

from ansible_collections.tao.fleet.plugins.module_utils._cluster_modes import CLUSTER_MODES
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError

NETWORK_MODES = {'fp32': 0, 'int8': 1, 'fp16': 2}
COLOR_FORMATS = {'rgb': 0, 'bgr': 1, 'gray': 2}
# nvinfer's built-in DetectNet_v2 parser (parseBoundingBox) hard-codes bbox norm 35 and the 0.5
# grid-centre offset; a model decoded with other values needs a custom parser.
DEEPSTREAM_BBOX_NORM = 35.0
DEEPSTREAM_OFFSET = 0.5
TRITON_TYPES = {'float32': 'TYPE_FP32', 'float16': 'TYPE_FP16', 'int8': 'TYPE_INT8',
                'int32': 'TYPE_INT32', 'int64': 'TYPE_INT64', 'bool': 'TYPE_BOOL'}
FLAVOURS = {'tensorrt': 'TensorRT', 'tensorrt_rtx': 'TensorRT-RTX'}
# Precision words that mean "the model's own types" (strongly typed builds).
MODEL_PRECISION_WORDS = ('model', 'strongly_typed')

DEEPSTREAM_CONFIG = 'config_infer_primary.txt'
DEEPSTREAM_LABELS = 'labels.txt'
TRITON_CONFIG = 'config.pbtxt'
TRITON_PLAN = 'model.plan'


def _invalid(msg, cause, fix, code='consumer_config_invalid', details=None):
    return TaoFleetError(msg, cause=cause, fix=fix, code=code, details=details)


# What a value written into a config file may look like. The manifest may come from another host (an engine of
# the share), so a newline in it would add a line of its own (e.g. custom-lib-path=, which DeepStream loads as a
# library): every value is checked for its shape, and every line for control characters, before it is written.
_CONTROL = re.compile(u'[\x00-\x1f\x7f-\x9f\u2028\u2029]')
_SHAPES = {
    # TensorRT / ONNX tensor names as exports give them (input_1:0, output_cov/Sigmoid); never ';' (nvinfer's
    # list separator), '=', '#', quotes, spaces
    'tensor name': re.compile(r'[A-Za-z0-9_.:/+\-\[\]()]{1,256}\Z'),
    'TensorRT version': re.compile(r'[A-Za-z0-9_.+\-]{1,64}\Z'),
    'TensorRT flavour': re.compile(r'[A-Za-z0-9_\-]{1,32}\Z'),
    'fingerprint': re.compile(r'[0-9a-f]{64}\Z'),
    # the store's model names (_store._MODEL_RE), also Triton model names (a directory of the repository)
    'model name': re.compile(r'[A-Za-z0-9][A-Za-z0-9._+-]{0,127}\Z'),
    'artifact id': re.compile(r'[A-Za-z0-9][A-Za-z0-9._+-]{0,127}\Z'),
}


def _refused(what, value, where):
    return _invalid(
        'Refusing to write the %s %r into %s: it is not what a %s looks like.' % (what, value, where, what),
        cause='Config values come from the engine\'s manifest (which another host may have written, for an '
              'engine of the share) and the catalog entry; a newline or control character would add lines of '
              'its own to the file (such as a custom-lib-path DeepStream would load as a library).',
        fix='Rebuild the engine on this host with tao.fleet.trt_engine (its manifest then records what '
            'TensorRT reported), or correct the catalog entry; nothing was written.',
        details={'what': what, 'value': repr(value)[:200]})


def checked_text(what, value, where='the DeepStream/Triton config'):
    """``value`` when it has the shape of a ``what`` (a key of _SHAPES), else consumer_config_invalid."""
    if not isinstance(value, str) or not _SHAPES[what].match(value):
        raise _refused(what, value, where)
    return value


def _plain_text(what, value, where):
    """Free text (class names, paths): any characters but control characters and line separators."""
    text = str(value)
    if not text or _CONTROL.search(text):
        raise _refused(what, value, where)
    return text


def _checked_number(what, value):
    """A config number: an int or a finite float (not a bool, not text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not math.isfinite(value)):
        raise _refused(what, value, 'the DeepStream config')
    return value


def _checked_lines(lines, where):
    """The file's text, once no line holds a control character (the last guard: one value, one line)."""
    for line in lines:
        if _CONTROL.search(line):
            raise _refused('line', line, where)
    return '\n'.join(lines) + '\n'


class TensorInfo(object):
    """One engine input or output: name, per-sample dims (C, H, W), batch handling."""

    def __init__(self, name, dims, batch, dtype='float32', role=None):
        self.name = name
        self.dims = list(dims)
        # 'implicit' (UFF / implicit batch), 'dynamic' (-1 leading dim), or an int (fixed leading dim)
        self.batch = batch
        self.dtype = dtype or 'float32'
        self.role = role

    def to_dict(self):
        return {'name': self.name, 'dims': self.dims, 'batch': self.batch, 'dtype': self.dtype,
                'role': self.role}


def _tensor_from_shape(where, record):
    if not isinstance(record, dict) or not record.get('name') or not isinstance(record.get('shape'), list):
        raise _invalid('The engine manifest lists a tensor without name or shape (%s): %r.' % (where, record),
                       cause='The manifest was written by another tool, or by hand.',
                       fix='Rebuild the engine with tao.fleet.trt_engine, which records every tensor.')
    if any(isinstance(size, bool) or not isinstance(size, int) for size in record['shape']):
        raise _refused('tensor shape', record['shape'], 'the DeepStream/Triton config')
    shape = list(record['shape'])
    if len(shape) == 3:
        return TensorInfo(record['name'], shape, 'implicit', record.get('dtype'))
    if len(shape) == 4:
        return TensorInfo(record['name'], shape[1:], 'dynamic' if shape[0] < 0 else shape[0],
                          record.get('dtype'))
    raise _invalid('Tensor %s of the engine has shape %s; DeepStream detectors take C, H, W per sample.' % (
        record['name'], shape), cause='This is not a DetectNet_v2 engine.',
        fix='Use tao.fleet consumers only for DetectNet_v2 models of the catalog.')


def _artifact_tensors(artifact):
    batch = 'implicit' if (artifact.get('input') or {}).get('batch') == 'implicit' else 'dynamic'
    source = artifact.get('input') or {}
    inputs = [TensorInfo(source.get('name'), source.get('dims') or [], batch, source.get('dtype'))]
    outputs = [TensorInfo(item.get('name'), item.get('dims') or [], batch, 'float32', item.get('role'))
               for item in artifact.get('outputs') or []]
    return inputs, outputs


def engine_tensors(manifest, artifact=None):
    """(inputs, outputs, source): the engine's tensors from its manifest ('manifest'), else from
    the artifact it was built from ('artifact'). With both, they must agree."""
    build = manifest.get('build') if isinstance(manifest.get('build'), dict) else {}
    recorded = build.get('inputs'), build.get('outputs')
    artifact_io = _artifact_tensors(artifact) if isinstance(artifact, dict) and artifact.get('outputs') else None
    if recorded[0] and recorded[1]:
        inputs = [_tensor_from_shape('input', item) for item in recorded[0]]
        outputs = [_tensor_from_shape('output', item) for item in recorded[1]]
        if artifact_io is not None:
            _check_agreement(manifest, inputs, outputs, artifact, artifact_io)
            roles = dict((item.name, item.role) for item in artifact_io[1])
            for tensor in outputs:
                tensor.role = roles.get(tensor.name)
        return inputs, outputs, 'manifest'
    if artifact_io is None:
        raise _invalid(
            'Engine %s of model %s records no input and output tensors, and no artifact was given.' % (
                manifest.get('fingerprint'), manifest.get('model')),
            cause='The output blob names differ between exports of the same model (output_cov/Sigmoid in an '
                  '.etlt, output_cov/Sigmoid:0 in the ONNX release); they are never guessed.',
            fix='Pass the artifact the engine was built from (artifact: "{{ tao_choice.artifact }}"), or '
                'rebuild the engine with tao.fleet.trt_engine, which records its tensors in the manifest.',
            code='engine_io_unknown')
    return artifact_io[0], artifact_io[1], 'artifact'


def _check_agreement(manifest, inputs, outputs, artifact, artifact_io):
    engine_names = sorted(tensor.name for tensor in inputs + outputs)
    artifact_names = sorted(tensor.name for tensor in artifact_io[0] + artifact_io[1])
    if engine_names != artifact_names:
        raise _invalid(
            'Engine %s has tensors %s, but artifact %s names %s.' % (
                manifest.get('fingerprint'), ', '.join(engine_names), artifact.get('id'),
                ', '.join(artifact_names)),
            cause='The engine was not built from this artifact (for example the .etlt export names '
                  'output_cov/Sigmoid, the ONNX release output_cov/Sigmoid:0), so a config made from '
                  'the artifact would not match the engine DeepStream loads.',
            fix='Pass the artifact this engine was built from, or give the fingerprint of the engine built '
                'from this artifact.',
            code='engine_artifact_mismatch',
            details={'engine': engine_names, 'artifact': artifact_names})


def _output_roles(outputs, classes):
    """{'coverage': tensor, 'bbox': tensor}, by the artifact's roles or else by DetectNet_v2 shapes
    (coverage: one plane per class, bbox: four), checked against nvinfer's name lookup."""
    count = len(classes)
    by_role = {}
    for tensor in outputs:
        role = tensor.role
        if role is None and tensor.dims and tensor.dims[0] == count:
            role = 'coverage'
        elif role is None and tensor.dims and tensor.dims[0] == 4 * count:
            role = 'bbox'
        if role in by_role:
            role = None
        if role:
            tensor.role = role
            by_role[role] = tensor
    if sorted(by_role) != ['bbox', 'coverage']:
        raise _invalid(
            'Cannot tell the coverage and bbox outputs apart among %s for %d classes.' % (
                ', '.join('%s %s' % (t.name, t.dims) for t in outputs), count),
            cause='A DetectNet_v2 engine has a coverage output with one plane per class and a bbox output '
                  'with four planes per class.',
            fix='Check that the catalog entry (classes) and the artifact (outputs with role) belong to this '
                'engine.', code='engine_io_unknown')
    for role, word in (('coverage', 'cov'), ('bbox', 'bbox')):
        if word not in by_role[role].name:
            raise _invalid(
                'Output %s (%s) has no "%s" in its name; DeepStream\'s built-in DetectNet_v2 parser finds '
                'the %s output by that word and would fail with "Could not find output %s layer for '
                'parsing objects".' % (by_role[role].name, role, word, role,
                                       'coverage' if role == 'coverage' else 'bbox'),
                cause='nvinfer (parseBoundingBox) locates the outputs by the substrings "cov" and "bbox".',
                fix='Export the model with the usual DetectNet_v2 output names, or use a custom parser '
                    '(parse-bbox-func-name) in a config of your own.', code='deepstream_parser_mismatch')
    return by_role


def engine_precision(manifest, artifact=None):
    """fp32 / fp16 / int8 the engine runs at: the build's effective precision, else the
    fingerprint's; a strongly typed engine runs at the model's own precision."""
    build = manifest.get('build') if isinstance(manifest.get('build'), dict) else {}
    inputs_build = (manifest.get('inputs') or {}).get('build') or {}
    precision = build.get('precision') or inputs_build.get('precision')
    if precision in MODEL_PRECISION_WORDS:
        precision = (artifact or {}).get('model_precision') or 'fp32'
    if precision not in NETWORK_MODES:
        raise _invalid('Engine %s records precision %r; DeepStream\'s network-mode needs fp32, fp16 or int8.' % (
            manifest.get('fingerprint'), precision),
            cause='The manifest has no build precision, or one this module does not know.',
            fix='Rebuild the engine with tao.fleet.trt_engine, which records the effective precision.')
    return precision


def engine_max_batch(manifest, tensor):
    """Largest batch the engine takes through ``tensor`` (its input), or None when unrecorded."""
    build = manifest.get('build') if isinstance(manifest.get('build'), dict) else {}
    if tensor.batch == 'implicit':
        value = build.get('max_batch') or ((manifest.get('inputs') or {}).get('build') or {}).get('max_batch_size')
        return int(value) if value else None
    if tensor.batch != 'dynamic':
        return int(tensor.batch)
    profiles = build.get('profiles')
    shapes = []
    if isinstance(profiles, dict):
        profiles = [profiles]
    for profile in profiles or []:
        if isinstance(profile, dict) and isinstance(profile.get(tensor.name), dict):
            shapes.append((profile[tensor.name].get('max') or [None])[0])
    shapes = [int(size) for size in shapes if isinstance(size, int) and size > 0]
    return max(shapes) if shapes else None


def _number_text(value):
    # repr: the shortest text that reads back as the same float (0.00392156862745098, 0.2).
    return repr(value) if isinstance(value, float) else str(value)


def _class_attrs(post, classes):
    """[class-attrs-all] keys, then {class index: keys} for classes whose threshold differs."""
    mode = post.get('cluster_mode')
    threshold = post.get('pre_cluster_threshold')
    if isinstance(threshold, dict):
        default = threshold.get('default')
        per_class = dict((name, value) for name, value in threshold.items() if name != 'default')
    else:
        default, per_class = threshold, {}
    common = []
    if default is not None:
        common.append(('pre-cluster-threshold', default))
    if mode in ('nms', 'dbscan_nms'):
        if post.get('nms_iou_threshold') is not None:
            common.append(('nms-iou-threshold', post['nms_iou_threshold']))
        if post.get('topk') is not None:
            common.append(('topk', post['topk']))
    if mode in ('dbscan', 'dbscan_nms') and isinstance(post.get('dbscan'), dict):
        if post['dbscan'].get('eps') is not None:
            common.append(('eps', post['dbscan']['eps']))
        if post['dbscan'].get('min_boxes') is not None:
            common.append(('minBoxes', post['dbscan']['min_boxes']))
    if mode == 'group_rectangles' and isinstance(post.get('group_rectangles'), dict):
        if post['group_rectangles'].get('group_threshold') is not None:
            common.append(('group-threshold', post['group_rectangles']['group_threshold']))
        if post['group_rectangles'].get('eps') is not None:
            common.append(('eps', post['group_rectangles']['eps']))
    overrides = {}
    for name, value in per_class.items():
        if name not in classes:
            raise _invalid('pre_cluster_threshold names class %r, which is not one of %s.' % (name, classes),
                           cause='The catalog entry and its classes disagree.',
                           fix='Correct the model entry (docs/models.md).')
        if value != default:
            overrides[classes.index(name)] = [('pre-cluster-threshold', value)]
    return common, overrides


def check_decoder(model):
    post = model.get('postprocessing') or {}
    if post.get('decoder') != 'detectnet_v2':
        raise _invalid('Model decoder %r is not DetectNet_v2; nvinfer\'s built-in detector parser reads '
                       'DetectNet_v2 outputs only.' % post.get('decoder'),
                       cause='tao.fleet writes consumer configs for DetectNet_v2 models.',
                       fix='Write the config of this model by hand (with its custom parser).',
                       code='deepstream_parser_mismatch')
    for key, expected in (('bbox_norm', DEEPSTREAM_BBOX_NORM), ('offset', DEEPSTREAM_OFFSET)):
        value = post.get(key)
        if value is not None and float(value) != expected:
            raise _invalid(
                'The model decodes boxes with %s %s; DeepStream\'s built-in DetectNet_v2 parser uses %s.' % (
                    key, value, expected),
                cause='nvinfer hard-codes bbox norm 35 and offset 0.5 in parseBoundingBox: its boxes would be '
                      'wrong for this model.',
                fix='Use a custom bbox parser (parse-bbox-func-name) in a config of your own.',
                code='deepstream_parser_mismatch')
    if post.get('cluster_mode') not in CLUSTER_MODES:
        known = sorted(CLUSTER_MODES.items(), key=lambda item: item[1])
        raise _invalid('Unknown cluster_mode %r.' % post.get('cluster_mode'),
                       cause='nvinfer knows cluster-mode 0-4: %s.' % ', '.join(
                           '%d %s' % (number, name) for name, number in known),
                       fix='Correct the model entry (docs/models.md).')


class EngineConsumers(object):
    """The consumer files of one engine of one model, made from its manifest and catalog entry.

    ``active_dir`` is the path applications use: ``<store>/engines/<model>/active``, so the files
    name the engine and labels through the ``active`` link and switch with it.
    """

    def __init__(self, model_name, model, manifest, active_dir, artifact=None):
        self.model_name = model_name
        self.model = model
        self.manifest = manifest
        self.active_dir = active_dir
        self.artifact = artifact if isinstance(artifact, dict) else None
        classes = model.get('classes')
        if not isinstance(classes, list) or not classes:
            raise _invalid('The model entry of %s has no classes.' % model_name,
                           cause='num-detected-classes, the labels file and the per-class thresholds come '
                                 'from the catalog entry\'s classes.',
                           fix='Pass the catalog entry (model_entry: "{{ lookup(\'tao.fleet.model_catalog\', '
                               '\'%s\') }}").' % model_name)
        self.classes = [str(name) for name in classes]
        check_decoder(model)
        self.inputs, self.outputs, self.io_source = engine_tensors(manifest, self.artifact)
        if len(self.inputs) != 1:
            raise _invalid('Engine %s has %d inputs; a DeepStream detector feeds exactly one.' % (
                manifest.get('fingerprint'), len(self.inputs)),
                cause='This is not a DetectNet_v2 engine.', fix='Check the fingerprint and the model.')
        self.input = self.inputs[0]
        self.roles = _output_roles(self.outputs, self.classes)
        self.precision = engine_precision(manifest, self.artifact)
        self.max_batch = engine_max_batch(manifest, self.input)
        build = manifest.get('build') if isinstance(manifest.get('build'), dict) else {}
        tensorrt = build.get('tensorrt')
        self.tensorrt = tensorrt if isinstance(tensorrt, dict) else {'version': tensorrt}
        self._check_values()
        self.warnings = []
        if self.io_source == 'artifact':
            self.warnings.append('Engine %s records no tensors in its manifest; tensor names and shapes '
                                 'come from artifact %s.' % (manifest.get('fingerprint'),
                                                             self.artifact.get('id')))
        if self.tensorrt.get('test_double'):
            self.warnings.append('Engine %s was built by tao.fleet\'s TensorRT test double: it is a '
                                 'stand-in file, not a plan DeepStream or Triton can load.'
                                 % manifest.get('fingerprint'))
        elif 'rtx' in str(self.tensorrt.get('flavour') or '').lower():
            self.warnings.append('Engine %s was built by TensorRT-RTX; DeepStream and Triton\'s TensorRT '
                                 'backend load plans of TensorRT itself, not TensorRT-RTX engines.'
                                 % manifest.get('fingerprint'))

    def _check_values(self):
        """Every value of the manifest, the artifact and the catalog entry that goes into a file, checked for its
        shape before anything is written."""
        checked_text('fingerprint', self.manifest.get('fingerprint'))
        checked_text('model name', self.model_name)
        _plain_text('engine directory', self.active_dir, 'the DeepStream config')
        for name in self.classes:
            _plain_text('class name', name, 'the labels file')
        for tensor in self.inputs + self.outputs:
            checked_text('tensor name', tensor.name)
            for size in tensor.dims:
                if isinstance(size, bool) or not isinstance(size, int):
                    raise _refused('tensor dimension', size, 'the DeepStream/Triton config')
        for key in ('version', 'flavour'):
            value = self.tensorrt.get(key)
            if value is not None:
                checked_text('TensorRT %s' % key, value)
        if self.io_source == 'artifact' and self.artifact.get('id') is not None:
            checked_text('artifact id', self.artifact.get('id'))
        pre = self.model.get('preprocessing') or {}
        _checked_number('net-scale-factor (preprocessing.scale)', pre.get('scale'))
        for value in pre.get('mean') or []:
            _checked_number('offset (preprocessing.mean)', value)
        common, overrides = _class_attrs(self.model.get('postprocessing') or {}, self.classes)
        for key, value in common + [item for items in overrides.values() for item in items]:
            _checked_number(key, value)

    def batch(self, requested):
        if requested is None or requested < 1:
            raise _invalid('batch size must be 1 or more, got %r.' % (requested,),
                           cause='nvinfer and Triton batch at least one frame.', fix='Set a batch size >= 1.',
                           code='invalid_argument')
        if self.max_batch is not None and requested > self.max_batch:
            raise _invalid(
                'Batch size %d is more than engine %s takes (%d).' % (
                    requested, self.manifest.get('fingerprint'), self.max_batch),
                cause='The config names no model file, so nvinfer cannot rebuild a bigger engine: it would '
                      'fail to start instead of silently building one with other settings.',
                fix='Ask for a batch of at most %d, or rebuild the engine with max_batch_size (or a profile '
                    'max) of %d.' % (self.max_batch, requested), code='invalid_argument')
        return requested

    def _header(self, comment):
        trt = self.tensorrt
        return [
            '%s Written by tao.fleet.engine_consumers for engine %s of model %s.' % (
                comment, self.manifest.get('fingerprint'), self.model_name),
            '%s Built with %s %s; tensors from the %s. Regenerate it with the module, do not edit.' % (
                comment, FLAVOURS.get(trt.get('flavour'), trt.get('flavour') or 'TensorRT'),
                trt.get('version') or '(version not recorded)',
                'engine manifest' if self.io_source == 'manifest' else 'artifact %s' % (self.artifact or {}).get('id')),
        ]

    def labels_text(self):
        return _checked_lines(self.classes, 'the labels file')

    def nvinfer_config_text(self, gpu_id=0, batch_size=1, gie_unique_id=1):
        """DeepStream nvinfer config for this engine (primary detector)."""
        batch_size = self.batch(batch_size)
        pre = self.model.get('preprocessing') or {}
        post = self.model.get('postprocessing') or {}
        lines = self._header('#') + [
            '# Engine and labels are named through the store\'s "active" link, and this file is reached',
            '# through it too: engine_release switches all three at once.',
            '[property]',
            'gpu-id=%d' % gpu_id,
            'net-scale-factor=%s' % _number_text(pre.get('scale')),
            'model-color-format=%d' % COLOR_FORMATS[pre.get('color_format', 'rgb')],
        ]
        mean = pre.get('mean') or []
        if any(value for value in mean):
            lines.append('offsets=%s' % ';'.join(_number_text(value) for value in mean))
        if pre.get('layout') == 'nhwc':
            lines.append('network-input-order=1')
        lines += [
            'model-engine-file=%s/model.engine' % self.active_dir,
            'labelfile-path=%s/deepstream/%s' % (self.active_dir, DEEPSTREAM_LABELS),
            'infer-dims=%s' % ';'.join(str(size) for size in self.input.dims),
        ]
        if self.input.batch == 'implicit':
            # A UFF-built (implicit batch) engine: the names nvinfer's UFF path uses, for reference.
            lines += ['uff-input-blob-name=%s' % self.input.name, 'uff-input-order=0']
        lines += [
            'batch-size=%d' % batch_size,
            'network-mode=%d' % NETWORK_MODES[self.precision],
            'network-type=0',
            'num-detected-classes=%d' % len(self.classes),
            'output-blob-names=%s;%s' % (self.roles['coverage'].name, self.roles['bbox'].name),
            'cluster-mode=%d' % CLUSTER_MODES[post['cluster_mode']],
            'gie-unique-id=%d' % gie_unique_id,
        ]
        common, overrides = _class_attrs(post, self.classes)
        lines += ['', '[class-attrs-all]'] + ['%s=%s' % (key, _number_text(value)) for key, value in common]
        for index in sorted(overrides):
            lines += ['', '# %s' % self.classes[index], '[class-attrs-%d]' % index]
            lines += ['%s=%s' % (key, _number_text(value)) for key, value in overrides[index]]
        return _checked_lines(lines, 'the DeepStream config')

    def triton_config_text(self, name, gpu_id=0, max_batch_size=None):
        """Triton model configuration (TensorRT backend) for this engine."""
        checked_text('model name', name, 'the Triton config')
        batched = self.input.batch in ('implicit', 'dynamic')
        if batched:
            if max_batch_size is None:
                if self.max_batch is None:
                    raise _invalid(
                        'Engine %s records no maximum batch, and triton_max_batch_size is not set.' % (
                            self.manifest.get('fingerprint')),
                        cause='Triton\'s max_batch_size must not exceed what the engine\'s profile takes.',
                        fix='Set triton_max_batch_size, or rebuild with tao.fleet.trt_engine, which records '
                            'the profile.', code='invalid_argument')
                max_batch_size = self.max_batch
            max_batch_size = self.batch(max_batch_size)
        else:
            max_batch_size = 0

        def tensor_block(tensor, extra):
            dims = tensor.dims if batched else [tensor.batch] + tensor.dims
            lines = ['  {', '    name: %s' % _quote(tensor.name),
                     '    data_type: %s' % TRITON_TYPES.get(tensor.dtype, 'TYPE_FP32')]
            lines += ['    %s' % line for line in extra]
            lines += ['    dims: [ %s ]' % ', '.join(str(size) for size in dims), '  }']
            return lines

        layout = 'FORMAT_NHWC' if (self.model.get('preprocessing') or {}).get('layout') == 'nhwc' else 'FORMAT_NCHW'
        outputs = []
        for tensor in [self.roles['coverage'], self.roles['bbox']]:
            if outputs:
                outputs[-1] += ','
            outputs += tensor_block(tensor, [])
        lines = self._header('#') + [
            'name: %s' % _quote(name),
            'platform: "tensorrt_plan"',
            'default_model_filename: "%s"' % TRITON_PLAN,
            'max_batch_size: %d' % max_batch_size,
            'input [',
        ] + tensor_block(self.input, ['format: %s' % layout]) + [
            ']',
            'output [',
        ] + outputs + [
            ']',
            'instance_group [',
            '  {',
            '    kind: KIND_GPU',
            '    count: 1',
            '    gpus: [ %d ]' % gpu_id,
            '  }',
            ']',
        ]
        return _checked_lines(lines, 'the Triton config')


def _quote(text):
    return '"%s"' % str(text).replace('\\', '\\\\').replace('"', '\\"')
