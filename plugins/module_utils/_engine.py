# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""What ``tao.fleet.trt_engine`` decides: options in tao-converter's terms, the fingerprint, reuse or
build, and what the manifest records.

The reuse path (``ensure_engine`` up to ``EngineStore.verify``) reads the model file, hashes it,
normalises the options and checks the store; it never imports TensorRT and never decrypts. Only a
build decrypts the model (in memory) and forks the child process of ``_build.py``.

Precision names: ``_fingerprint`` keys engines by ``fp32 fp16 int8 strongly_typed``, the TensorRT
layer's request says ``model`` for ``strongly_typed``. ``effective_precision`` and
``LAYER_PRECISION`` below are the one place that maps between them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import errno
import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import sys
import tempfile

from ansible_collections.tao.fleet.plugins.module_utils import _etlt
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import (
    BUILD_OPTION_DEFAULTS,
    engine_fingerprint,
    is_sha256,
    normalise_build_options,
    parse_size,
    platform_key_sha256,
    sha256_of,
)
from ansible_collections.tao.fleet.plugins.module_utils._store import (
    ENGINE_FILE, MANIFEST_FILE, EngineStore, file_sha256, os_error)
from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import capabilities, check_request

# tao-converter flag -> (option, how its value is read). Documented one to one in docs/trt_engine.md.
CONVERTER_FLAGS = {
    '-k': ('model_key', 'text'),
    '-t': ('precision', 'text'),
    '-d': ('input_dims', 'text'),
    '-o': ('output_names', 'list'),
    '-c': ('calibration_cache', 'text'),
    '-b': ('calibration_batch_size', 'int'),
    '-m': ('max_batch_size', 'int'),
    '-w': ('workspace', 'text'),
    '-i': ('input_order', 'text'),
    '-p': ('profiles', 'append'),
    '-s': ('strict_types', 'flag'),
    '-u': ('dla_core', 'int'),
    '-e': ('engine_file', 'text'),
}

# Options that reach the engine (and so its fingerprint), with the fingerprint key they feed.
BUILD_KEYS = ('precision', 'workspace', 'max_batch_size', 'input_order', 'input_dims', 'output_names',
              'profiles', 'dla_core', 'gpu_fallback', 'strict_types', 'compute_capabilities')
# Only the UFF parser reads these; an ONNX model carries its own input shape and outputs.
UFF_ONLY_KEYS = ('input_dims', 'output_names', 'input_order')

LAYER_PRECISION = {'fp32': 'fp32', 'fp16': 'fp16', 'int8': 'int8', 'strongly_typed': 'model'}
FINGERPRINT_PRECISION = dict((layer, ours) for ours, layer in LAYER_PRECISION.items())

# The default memory limit: this share of the host's RAM (RLIMIT_DATA of the build child).
AUTO_MEMORY_SHARE = 0.75


def _invalid(msg, fix, cause=None):
    return TaoFleetError(msg, cause=cause or 'The task arguments are inconsistent or malformed.',
                         fix=fix, code='invalid_argument')


# ---- tao-converter arguments ------------------------------------------------------------------

def parse_profile(text):
    """tao-converter ``-p input_1,1x3x544x960,8x3x544x960,16x3x544x960`` -> (name, {min, opt, max})."""
    parts = [part.strip() for part in str(text).split(',')]
    if len(parts) != 4 or not parts[0]:
        raise _invalid('Profile %r is not "name,min,opt,max".' % (text,),
                       'Write it as tao-converter does: input_1,1x3x544x960,8x3x544x960,16x3x544x960.')
    return parts[0], {'min': parts[1], 'opt': parts[2], 'max': parts[3]}


def parse_converter_args(text):
    """A tao-converter command line (without the program name) -> (options, positional, warnings).

    ``-k tlt_encode -t fp16 -d 3,544,960`` -> {'model_key': 'tlt_encode', 'precision': 'fp16',
    'input_dims': '3,544,960'}. Values may follow the flag or be glued to it (``-tfp16``), as
    getopt reads them. ``-p`` may repeat (one per input); ``-e`` is accepted and ignored (the
    engine goes to the store).
    """
    try:
        tokens = shlex.split(text or '')
    except ValueError as err:
        raise _invalid('converter_args cannot be split into arguments: %s.' % err,
                       'Quote it as a shell would (e.g. -p "input_1,1x3x544x960,...").')
    options, positional, warnings = {}, [], []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if not token.startswith('-') or token == '-':
            positional.append(token)
            continue
        flag, glued = token[:2], token[2:]
        if flag not in CONVERTER_FLAGS:
            raise _invalid('converter_args: tao-converter flag %s is not supported.' % token,
                           'Use only %s (docs/trt_engine.md has the table).' % ' '.join(sorted(CONVERTER_FLAGS)))
        option, kind = CONVERTER_FLAGS[flag]
        if kind == 'flag':
            if glued:
                raise _invalid('converter_args: %s takes no value (got %r).' % (flag, glued), 'Write %s alone.' % flag)
            value = True
        else:
            if glued:
                value = glued
            elif index < len(tokens):
                value = tokens[index]
                index += 1
            else:
                raise _invalid('converter_args: %s needs a value.' % flag, 'Give it, e.g. -t fp16.')
            if kind == 'int':
                if not re.match(r'^[0-9]+$', value):
                    raise _invalid('converter_args: %s needs a whole number, got %r.' % (flag, value),
                                   'Give e.g. %s 1.' % flag)
                value = int(value)
            elif kind == 'list':
                value = [name.strip() for name in value.split(',') if name.strip()]
        if kind == 'append':
            name, shapes = parse_profile(value)
            profiles = options.setdefault(option, {})
            if name in profiles:
                raise _invalid('converter_args: two -p profiles for input %s.' % name, 'Give one -p per input.')
            profiles[name] = shapes
            continue
        if option in options and options[option] != value:
            raise _invalid('converter_args: %s is given twice with different values.' % flag, 'Give it once.')
        options[option] = value
    if 'engine_file' in options:
        warnings.append('converter_args -e %s is ignored: the engine is stored under its fingerprint in the '
                        'store (applications load <store>/engines/<model>/active/model.engine).'
                        % options.pop('engine_file'))
    if len(positional) > 1:
        raise _invalid('converter_args has %d positional arguments (%s); tao-converter takes one, the model file.'
                       % (len(positional), ' '.join(positional)), 'Leave only the model file, or none.')
    return options, positional, warnings


def _comparable(option, value):
    """One form per meaning, so that ``-w 1073741824`` and ``workspace: 1G`` do not conflict."""
    if option in BUILD_KEYS:
        if option == 'profiles':
            value = [profiles_dict(value)]
        elif option == 'input_dims':
            value = {'': value}
        return normalise_build_options({option: value})[option]
    return value


def merge_converter_args(params, converter):
    """Explicit options and converter_args together; the same option given differently is an error."""
    merged = dict(params)
    for option, value in converter.items():
        explicit = params.get(option)
        if explicit is not None and _comparable(option, explicit) != _comparable(option, value):
            shown = '(hidden)' if option == 'model_key' else '%r / %r' % (explicit, value)
            raise _invalid('%s is given both as an option and in converter_args, differently: %s.' % (option, shown),
                           'Give it once, either as the option %s or in converter_args.' % option)
        merged[option] = value
    return merged


# ---- option normalisation ---------------------------------------------------------------------

def profiles_dict(value):
    """``profiles`` as {input: {min, opt, max}} from a dict or a list of tao-converter -p strings."""
    if not value:
        return {}
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, (list, tuple)):
        result = {}
        for item in value:
            if isinstance(item, dict):
                result.update(item)
                continue
            name, shapes = parse_profile(item)
            result[name] = shapes
        return result
    if isinstance(value, str):
        name, shapes = parse_profile(value)
        return {name: shapes}
    raise _invalid('profiles must be a dict or a list of "name,min,opt,max" strings, got %r.' % (value,),
                   'Give e.g. ["input_1,1x3x544x960,8x3x544x960,16x3x544x960"].')


def parse_min_dla_layers(value):
    """None, ('count', n) or ('percent', p) from ``12`` or ``"80%"``."""
    if value is None or value == '':
        return None
    text = str(value).strip()
    found = re.match(r'^([0-9]+(?:\.[0-9]+)?)\s*%$', text)
    if found and float(found.group(1)) <= 100:
        return ('percent', float(found.group(1)))
    if re.match(r'^[0-9]+$', text):
        return ('count', int(text))
    raise _invalid('min_dla_layers must be a layer count (12) or a percentage ("80%%"), got %r.' % (value,),
                   'Give e.g. 12 or "90%".')


def memory_limit_bytes(value, facts):
    """build_memory_limit -> bytes or None: a size ("6G"), ``none``/0 (no limit) or ``auto``
    (AUTO_MEMORY_SHARE of the host's RAM as platform_facts read it; none when unknown)."""
    text = str(value if value is not None else 'auto').strip().lower()
    if text in ('none', '0', 'unlimited'):
        return None
    if text == 'auto':
        total_mb = ((facts.get('memory') or {}) if isinstance(facts.get('memory'), dict) else {}).get('total_mb')
        return int(total_mb * AUTO_MEMORY_SHARE) << 20 if total_mb else None
    try:
        return parse_size(text, 'build_memory_limit')
    except TaoFleetError:
        raise _invalid('build_memory_limit must be a size ("6G", "512M"), "auto" or "none", got %r.' % (value,),
                       'Give e.g. build_memory_limit: 6G.')


# ---- the model, the catalog entry, the platform -----------------------------------------------

class ModelFile(object):
    """The model file as the reuse path sees it: sha256, size, format, without decrypting."""

    def __init__(self, path):
        self.path = path
        try:
            with open(path, 'rb') as handle:
                self.data = handle.read()
        except (IOError, OSError) as err:
            raise TaoFleetError(
                'Cannot read the model file %s: %s.' % (path, err.strerror or err),
                cause='model_path names no readable file on this host.',
                fix='Fetch the model first (tao.fleet.model_fetch returns its path) and pass that path.',
                code='model_missing', details={'path': path})
        self.size = len(self.data)
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        self.format, self.input_node_name, self.encrypted = _etlt.peek_model(self.data, source=os.path.basename(path))

    def describe(self):
        return {'path': self.path, 'sha256': self.sha256, 'size': self.size, 'format': self.format,
                'encrypted': self.encrypted}


def catalog_artifact(model, model_path):
    """(artifact dict, model id) from ``model``: a ``tao.fleet.model_artifact`` selection, one
    artifact, or a whole catalog model entry (then the artifact whose file name is the model's)."""
    if not model:
        return None, None
    if not isinstance(model, dict):
        raise _invalid('model must be a catalog entry (a dict), got %r.' % (type(model).__name__,),
                       "Pass lookup('tao.fleet.model_catalog', 'peoplenet') | tao.fleet.model_artifact(...).")
    if isinstance(model.get('artifact'), dict):
        return model['artifact'], model.get('model')
    if isinstance(model.get('artifacts'), list):
        name = os.path.basename(model_path or '')
        matches = [item for item in model['artifacts'] if isinstance(item, dict) and item.get('file') == name]
        if len(matches) != 1:
            raise _invalid('model lists %d artifacts and none is the file %s.' % (len(model['artifacts']), name),
                           "Pass the selection of the tao.fleet.model_artifact filter (one artifact) instead "
                           'of the whole catalog entry.')
        return matches[0], None
    if 'format' in model or 'file' in model or 'input' in model:
        return model, None
    raise _invalid('model is not a catalog entry: it has none of artifact, artifacts, format, file.',
                   "Pass lookup('tao.fleet.model_catalog', 'peoplenet') | tao.fleet.model_artifact(...).")


def model_store_name(explicit, catalog_id, path):
    if explicit:
        return EngineStore.check_model(explicit)
    if catalog_id:
        return EngineStore.check_model(catalog_id)
    stem = os.path.splitext(os.path.basename(path))[0]
    if stem and not is_sha256(stem):
        try:
            return EngineStore.check_model(stem)
        except TaoFleetError:
            pass
    raise _invalid('model_name is needed: the file name %s does not name the model.' % os.path.basename(path),
                   'Set model_name (the directory under <store>/engines/, e.g. peoplenet), or pass the catalog '
                   'entry as model.')


def platform_tensorrt(facts):
    trt = facts.get('tensorrt') if isinstance(facts, dict) else None
    if not isinstance(trt, dict) or not trt.get('version') or not isinstance(facts.get('platform_key'), dict):
        reason = facts.get('reason') if isinstance(facts, dict) else None
        raise TaoFleetError(
            'The platform facts name no TensorRT that can build on this host%s.' % (': %s' % reason if reason else ''),
            cause='trt_engine keys and builds engines with the TensorRT that tao.fleet.platform_facts found '
                  '(ansible_facts.tao_platform.tensorrt and platform_key).',
            fix='Run tao.fleet.platform_facts on this host and pass platform: "{{ ansible_facts.tao_platform }}"; '
                'if it reports no TensorRT, install it as its reason says.',
            code='tensorrt_missing')
    return {'version': str(trt['version']), 'flavour': trt.get('flavour') or 'tensorrt',
            'test_double': bool(trt.get('test_double'))}


def _fact_version(value):
    return value.get('version') if isinstance(value, dict) else value


def layer_platform(facts):
    """The flat platform dict the TensorRT layer reads (docs/tensorrt.md)."""
    module = facts.get('module') if isinstance(facts.get('module'), dict) else {}
    gpu = facts.get('gpu') if isinstance(facts.get('gpu'), dict) else {}
    return {'name': module.get('name') or gpu.get('name') or facts.get('platform_class'),
            'compute_capability': facts.get('compute_capability'),
            'dla_cores': facts.get('dla_cores'),
            'jetpack': _fact_version(facts.get('jetpack')),
            'cuda': _fact_version(facts.get('cuda'))}


def effective_precision(requested, caps):
    """The fingerprint's precision for what was asked: strongly typed builders (TensorRT 11,
    TensorRT-RTX) build the model's own types, so fp32 and strongly_typed are one engine there;
    builders with precision flags build fp32 for strongly_typed (no flags)."""
    precision = normalise_build_options({'precision': requested})['precision']
    if caps['precision'] == 'strongly_typed' and precision in ('fp32', 'strongly_typed'):
        return 'strongly_typed'
    if caps['precision'] != 'strongly_typed' and precision == 'strongly_typed':
        return 'fp32'
    return precision


def engine_targets(caps, facts, build):
    """Which GPUs the engine is for; TensorRT-RTX cannot target Jetson (8.7, 11.0) and says so."""
    device = facts.get('compute_capability')
    if not caps['compute_capability_selection']:
        return {'compute_capabilities': [device] if device else [], 'chosen_by': 'the GPU of the building host',
                'device_compute_capability': device, 'device_supported': True}
    chosen = list(build['compute_capabilities'])
    return {'compute_capabilities': chosen, 'chosen_by': 'compute_capabilities' if chosen else
            '%s default targets' % caps['label'],
            'device_compute_capability': device,
            'device_supported': bool(device) and device in (chosen or list(caps['compute_capabilities']))}


def targets_warning(caps, targets, facts):
    if targets['device_supported'] or not targets['device_compute_capability']:
        return None
    kind = 'Jetson' if facts.get('kind') == 'jetson' else facts.get('kind') or 'this'
    return ('%s cannot build for this %s device (compute capability %s; it targets %s): this engine is for %s '
            'and will NOT run here. Build with the TensorRT of the device (JetPack) for an engine that runs on it.'
            % (caps['label'], kind, targets['device_compute_capability'], ', '.join(caps['compute_capabilities']),
               ', '.join(targets['compute_capabilities']) or targets['chosen_by']))


# ---- the plan: fingerprint and request --------------------------------------------------------

class EnginePlan(object):
    """Everything decided before the store is asked: options, model, platform, fingerprint."""

    def __init__(self, params):
        self.warnings = []
        converter, positional, converter_warnings = parse_converter_args(params.get('converter_args'))
        self.warnings.extend(converter_warnings)
        params = dict(params)
        if positional:
            if params.get('model_path') and os.path.basename(positional[0]) != os.path.basename(params['model_path']):
                raise _invalid('converter_args names the model file %s, model_path %s.'
                               % (positional[0], params['model_path']), 'Name the model once, as model_path.')
            params['model_path'] = params.get('model_path') or positional[0]
        options = merge_converter_args(params, converter)
        if not options.get('model_path'):
            raise _invalid('No model file: model_path is not set.', 'Set model_path to the fetched .etlt or .onnx.')
        if options.get('calibration_batch_size') is not None:
            self.warnings.append('calibration_batch_size (-b) has no effect: engines are built from the INT8 '
                                 'calibration cache, never calibrated from images on the host.')
        self.store = EngineStore(options['store'])
        self.artifact, catalog_id = catalog_artifact(options.get('model'), options['model_path'])
        self.model = ModelFile(options['model_path'])
        self.name = model_store_name(options.get('model_name'), catalog_id, options['model_path'])
        self.facts = options.get('platform') or self._gather(options)
        self.trt = platform_tensorrt(self.facts)
        self.caps = capabilities(self.trt['version'], self.trt['flavour'])
        self.options = options
        self.key = options.get('model_key') or (self.artifact or {}).get('key')
        self.input_name = self._input_name()
        self.calibration_path = options.get('calibration_cache')
        self.calibration = self._read_calibration()
        build_options = self._build_options()
        calibration_sha256 = hashlib.sha256(self.calibration).hexdigest() if self.calibration else None
        self.fingerprint, self.inputs = engine_fingerprint(
            self.model.sha256, self.facts['platform_key'], build_options, calibration_sha256)
        self.build = self.inputs['build']
        self.min_dla_layers = parse_min_dla_layers(options.get('min_dla_layers'))
        if self.min_dla_layers and self.build['dla_core'] is None:
            raise _invalid('min_dla_layers is set but dla_core is not.', 'Set dla_core (-u) for a DLA build, or '
                           'drop min_dla_layers.')
        self.targets = engine_targets(self.caps, self.facts, self.build)
        warning = targets_warning(self.caps, self.targets, self.facts)
        if warning:
            self.warnings.append(warning)

    @staticmethod
    def _gather(options):
        from ansible_collections.tao.fleet.plugins.module_utils._platform import gather
        return gather(options.get('sysroot') or '/', probe_interpreter=True)

    def _input_name(self):
        catalog_input = (self.artifact or {}).get('input') or {}
        return self.options.get('input_name') or self.model.input_node_name or catalog_input.get('name')

    def _read_calibration(self):
        if not self.calibration_path:
            return None
        try:
            with open(self.calibration_path, 'rb') as handle:
                return handle.read()
        except (IOError, OSError) as err:
            raise TaoFleetError(
                'Cannot read the INT8 calibration cache %s: %s.' % (self.calibration_path, err.strerror or err),
                cause='calibration_cache (-c) names no readable file on this host.',
                fix="Copy or fetch the model's calibration cache (PeopleNet: resnet34_peoplenet_int8.txt) to the "
                    'host first.', code='calibration_cache_missing', details={'path': self.calibration_path})

    def _build_options(self):
        options = self.options
        catalog_input = (self.artifact or {}).get('input') or {}
        catalog_outputs = [item.get('name') for item in (self.artifact or {}).get('outputs') or []
                           if isinstance(item, dict) and item.get('name')]
        requested = options.get('precision') or BUILD_OPTION_DEFAULTS['precision']
        precision = effective_precision(requested, self.caps)
        if options.get('precision') and normalise_build_options({'precision': requested})['precision'] != precision:
            self.warnings.append('%s: precision %s builds as %s (%s).' % (
                self.caps['label'], requested, precision,
                'the model\'s own types decide' if precision == 'strongly_typed' else 'no precision flags'))
        if self.calibration is not None and precision != 'int8':
            self.warnings.append('calibration_cache is read only for precision int8; it does not change this build.')
        profiles = profiles_dict(options.get('profiles'))
        build = {
            'precision': precision,
            'workspace': options.get('workspace'),
            'max_batch_size': options.get('max_batch_size'),
            'profiles': [profiles] if profiles else [],
            'dla_core': options.get('dla_core'),
            'gpu_fallback': options.get('gpu_fallback'),
            'strict_types': options.get('strict_types'),
            'compute_capabilities': options.get('compute_capabilities'),
        }
        if self.model.format == 'uff':
            dims = options.get('input_dims') or catalog_input.get('dims')
            build['input_dims'] = {self.input_name or '': dims} if dims else {}
            build['output_names'] = options.get('output_names') or catalog_outputs
            build['input_order'] = options.get('input_order')
        else:
            given = [key for key in UFF_ONLY_KEYS if options.get(key)]
            if given:
                self.warnings.append('%s (-d/-o/-i) apply to UFF models only; this ONNX model carries its own '
                                     'input shape and outputs, so they are ignored.' % ', '.join(given))
        return build

    def layer_request(self, payload, timing_cache):
        """The TensorRT layer's request (docs/tensorrt.md) from the normalised fingerprint inputs, so
        the engine is built from exactly what its fingerprint says."""
        build = self.build
        request = {
            'format': self.model.format,
            'model': payload,
            'precision': LAYER_PRECISION[build['precision']],
            'calibration_cache': self.calibration if build['precision'] == 'int8' else None,
            'dla_core': build['dla_core'],
            'gpu_fallback': build['gpu_fallback'] is not False,
            'profiles': build['profiles'][0] if build['profiles'] else {},
            'max_batch': build['max_batch_size'],
            'workspace': build['workspace'],
            'timing_cache': timing_cache,
            'strict_types': build['strict_types'],
            'compute_capabilities': build['compute_capabilities'],
        }
        if self.model.format == 'uff':
            names = list(build['input_dims'])
            request.update(input_name=(names[0] if names else None) or self.input_name or None,
                           input_dims=build['input_dims'][names[0]] if names else None,
                           input_order=build['input_order'], output_names=build['output_names'])
        return request

    def decode(self):
        """The plaintext model, in memory only (never written unless keep_decrypted_model asks)."""
        catalog_key = (self.artifact or {}).get('key')
        return _etlt.read_model(self.model.data, self.key, model_name=self.name,
                                source=os.path.basename(self.model.path), catalog_key=catalog_key)


# ---- the store side ---------------------------------------------------------------------------

def check_dla_threshold(threshold, dla, label):
    if not threshold or not dla:
        return
    kind, wanted = threshold
    on_dla, layers = dla['layers_on_dla'], dla['layers']
    shown = '%d%%' % wanted if kind == 'percent' else '%d layers' % wanted
    below = on_dla * 100.0 < wanted * layers if kind == 'percent' else on_dla < wanted
    if below:
        raise TaoFleetError(
            'Only %d of %d layers run on DLA core %d with %s, below min_dla_layers (%s).'
            % (on_dla, layers, dla['core'], label, shown),
            cause='TensorRT moves layers DLA cannot run to the GPU without failing (GPU fallback); %d layers '
                  'would run on the GPU.' % dla['layers_on_gpu'],
            fix='Lower min_dla_layers, build for the GPU (no dla_core), or change the model so more layers fit '
                'DLA (FP16/INT8, DLA-supported operators).',
            code='dla_below_threshold', details=dla)


def write_private_file(path, data):
    """The decrypted model where the user asked for it: mode 0600, temp file, fsync, rename."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temp = tempfile.mkstemp(prefix='.tao-fleet-model-', dir=directory)
    except OSError as err:
        raise os_error(err, 'writing', path)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, path)
    except OSError as err:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise os_error(err, 'writing', path)


def keep_decrypted(plan, payload, check_mode):
    """Write the decrypted model to keep_decrypted_model when asked; True if the file changed."""
    path = plan.options.get('keep_decrypted_model')
    if not path:
        return False
    digest = hashlib.sha256(payload).hexdigest()
    try:
        if file_sha256(path) == digest:
            return False
    except (IOError, OSError) as err:
        if err.errno != errno.ENOENT:
            raise os_error(err, 'reading', path)
    if not check_mode:
        write_private_file(path, payload)
    return True


class _NewDirs(object):
    """Directories of the store a failed build created; removed again when empty, so that a failure
    leaves the store as it found it."""

    def __init__(self, store, model):
        self.paths = [path for path in (store.root, os.path.join(store.root, 'engines'), store.model_dir(model))
                      if not os.path.lexists(path)]

    def remove_empty(self):
        for path in reversed(self.paths):
            try:
                os.rmdir(path)
            except OSError:
                return


def discard(build_dir, new_dirs):
    if build_dir:
        shutil.rmtree(build_dir, ignore_errors=True)
    new_dirs.remove_empty()


def _merged(first, second):
    return list(first) + [line for line in second if line not in first]


def _manifest_build(plan, child, seconds, decrypted_path):
    return {
        'tensorrt': child['tensorrt'],
        'seconds': seconds,
        'import_seconds': child['import_seconds'],
        'warnings': _merged(plan.warnings, child['warnings']),
        'precision': FINGERPRINT_PRECISION[child['precision']],
        'options': plan.build,
        'targets': plan.targets,
        'dla': child['dla'],
        'profiles': child['profiles'],
        'max_batch': child['max_batch'],
        'inputs': child['inputs'],
        'outputs': child['outputs'],
        'model': dict(plan.model.describe(), name=plan.name,
                      artifact=(plan.artifact or {}).get('id'),
                      calibration_cache=plan.calibration_path),
        'timing_cache': child['timing_cache_info'],
        'limits': child['limits'],
        'decrypted_model': decrypted_path,
        'builder': {'host': socket.gethostname(), 'python': '%d.%d.%d' % sys.version_info[:3],
                    'interpreter': sys.executable},
        # how this store got the engine: 'build' here, or 'share' (import_shared)
        'source': 'build',
    }


def _manifest_summary(store, model, fingerprint, manifest):
    build = manifest.get('build') or {}
    return {'path': os.path.join(store.engine_dir(model, fingerprint), 'manifest.json'),
            'created_at': manifest.get('created_at'), 'engine': manifest.get('engine'),
            'tensorrt': build.get('tensorrt'), 'seconds': build.get('seconds'),
            'precision': build.get('precision'), 'smoke': manifest.get('smoke')}


def _result(plan, **values):
    result = {
        'changed': False, 'built': False, 'reused': False, 'shared': False, 'missing': False,
        'model_name': plan.name,
        'engine_path': plan.store.engine_path(plan.name, plan.fingerprint),
        'fingerprint': plan.fingerprint,
        'fingerprint_inputs': plan.inputs,
        'model': plan.model.describe(),
        'tensorrt': dict(plan.trt, label=plan.caps['label'], generation=plan.caps['generation']),
        'targets': plan.targets,
        'build_seconds': None, 'build_warnings': [], 'dla': None, 'manifest': None,
        'timing_cache': None, 'decrypted_model_path': None,
    }
    result.update(values)
    return result


def reuse(plan, status, check_mode):
    manifest = status.manifest
    build = manifest.get('build') or {}
    check_dla_threshold(plan.min_dla_layers, build.get('dla'), plan.caps['label'])
    changed = False
    if plan.options.get('keep_decrypted_model'):
        changed = keep_decrypted(plan, plan.decode().payload, check_mode)
    return _result(plan, changed=changed, reused=True, build_seconds=build.get('seconds'),
                   build_warnings=build.get('warnings') or [], dla=build.get('dla'),
                   manifest=_manifest_summary(plan.store, plan.name, plan.fingerprint, manifest),
                   decrypted_model_path=plan.options.get('keep_decrypted_model'),
                   msg='engine %s of %s is in the store and intact: reused' % (plan.fingerprint, plan.name))


def build_and_publish(plan, check_mode):
    # Imported here, in the module's own process before the build forks (never in the child: mitogen),
    # so that the reuse path, every later run, does not compile the build code (docs/scale.md).
    from ansible_collections.tao.fleet.plugins.module_utils import _build
    payload = plan.decode()
    if payload.format != plan.model.format:
        raise TaoFleetError('The model decrypts to %s, but its .etlt header says %s.' % (payload.format, plan.model.format),
                            cause='The file is damaged or was not made by TAO\'s exporter.',
                            fix='Fetch the model again and check its sha256.', code='model_key_rejected')
    store = plan.store
    cache_info = {'path': store.timing_cache_path(plan.facts['platform_key']),
                  'platform_key_sha256': platform_key_sha256(plan.facts['platform_key']),
                  'used': bool(plan.caps['timing_cache']), 'read': False, 'written': False}
    timing_cache = store.read_timing_cache(plan.facts['platform_key']) if plan.caps['timing_cache'] else None
    cache_info['read'] = timing_cache is not None
    request = plan.layer_request(payload.payload, timing_cache)
    # Refusals (UFF on TensorRT 10, INT8 without a cache, DLA where there is none...) come before
    # anything is forked or written; the child's build runs the same checks again.
    layer_warnings = check_request(plan.caps, request, layer_platform(plan.facts))
    if check_mode:
        return _result(plan, changed=True, build_warnings=_merged(plan.warnings, layer_warnings),
                       timing_cache=cache_info, msg='engine %s of %s would be built' % (plan.fingerprint, plan.name))
    limits = {'timeout_seconds': plan.options.get('build_timeout'),
              'memory_bytes': memory_limit_bytes(plan.options.get('build_memory_limit'), plan.facts),
              'memory_rlimit': 'RLIMIT_DATA'}
    decrypted_path = plan.options.get('keep_decrypted_model')
    new_dirs = _NewDirs(store, plan.name)
    build_dir = None
    try:
        build_dir = store.temp_dir(plan.name)
        child = _build.build_engine(store, build_dir, request, plan.trt, layer_platform(plan.facts),
                                    limits['timeout_seconds'], limits['memory_bytes'])
        check_dla_threshold(plan.min_dla_layers, child['dla'], plan.caps['label'])
        child['timing_cache_info'] = cache_info
        child['limits'] = limits
        manifest = store.write_manifest(build_dir, plan.fingerprint, plan.inputs, model=plan.name,
                                        build=_manifest_build(plan, child, child['seconds'], decrypted_path))
        published = store.publish(plan.name, build_dir)
    except BaseException:
        discard(build_dir, new_dirs)
        raise
    if decrypted_path:
        keep_decrypted(plan, payload.payload, False)
    warnings = list(manifest['build']['warnings'])
    new_cache = child.get('timing_cache')
    if new_cache is not None:
        data = base64.b64decode(new_cache)
        if data != timing_cache:
            try:
                store.write_timing_cache(plan.facts['platform_key'], data)
                cache_info['written'] = True
            except TaoFleetError as err:
                # The engine is published and whole; a cache that cannot be saved only costs time later.
                warnings.append('The timing cache was not saved (%s); the next build starts without it.' % err.msg)
    return _result(plan, changed=not published['reused'], built=True, reused=published['reused'],
                   build_seconds=child['seconds'], build_warnings=warnings, dla=child['dla'],
                   manifest=_manifest_summary(store, plan.name, plan.fingerprint, manifest),
                   timing_cache=cache_info, decrypted_model_path=decrypted_path,
                   msg='engine %s of %s built in %.1f s with %s'
                   % (plan.fingerprint, plan.name, child['seconds'], plan.caps['label']))


# ---- the engine share: an engine built on another host with the same fingerprint ------------------

def _shared_entry_problem(plan, directory, manifest=None, expected_sha256=None):
    """(manifest, None) when ``directory`` holds an engine for exactly this fingerprint whose bytes
    match its manifest (``manifest``, when the caller sent it along instead of a file) and, when given,
    ``expected_sha256`` (the sha256 the controller's share index recorded when it fetched the engine from
    its builder: the manifest is the builder's own word, the index is not), else (None, why not)."""
    if manifest is None:
        try:
            with open(os.path.join(directory, MANIFEST_FILE), 'rb') as handle:
                manifest = json.loads(handle.read().decode('utf-8'))
        except (IOError, OSError, ValueError) as err:
            return None, 'its manifest.json is missing or unreadable (%s)' % err
    if not isinstance(manifest, dict):
        return None, 'its manifest.json is not a JSON object'
    if manifest.get('fingerprint') != plan.fingerprint:
        return None, 'it is engine %s, this host needs %s' % (manifest.get('fingerprint'), plan.fingerprint)
    try:
        inputs_hash = sha256_of(manifest.get('inputs'))
    except TaoFleetError:
        inputs_hash = None
    if inputs_hash != plan.fingerprint:
        return None, 'its manifest inputs do not hash to its fingerprint'
    engine = manifest.get('engine') if isinstance(manifest.get('engine'), dict) else {}
    try:
        digest = file_sha256(os.path.join(directory, ENGINE_FILE))
    except (IOError, OSError) as err:
        return None, '%s is missing or unreadable (%s)' % (ENGINE_FILE, err)
    if digest != engine.get('sha256'):
        return None, '%s has sha256 %s, its manifest says %s' % (ENGINE_FILE, digest, engine.get('sha256'))
    if expected_sha256 is not None and digest != expected_sha256:
        return None, ('%s has sha256 %s, the controller\'s share index recorded %s when it took the engine from '
                      'its builder' % (ENGINE_FILE, digest, expected_sha256))
    return manifest, None


def import_shared(plan, directory, check_mode, may_build=True, manifest=None, expected_sha256=None):
    """Install the engine in ``directory`` (model.engine + manifest.json from the engine share; the
    manifest may come as ``manifest`` instead) into the store as if it had been built here, after checking
    that it is this host's fingerprint and that its bytes are the ones its manifest names. Returns the
    module result, or None (with a warning in ``plan.warnings``) when the entry cannot be used: the caller
    then builds."""
    manifest, problem = _shared_entry_problem(plan, directory, manifest, expected_sha256)
    if problem is not None:
        plan.warnings.append('The shared engine in %s was not used: %s. %s' % (
            directory, problem, 'Building it here instead.' if may_build else
            'The engine stays missing (build is false): run again with build true, or give shared_engine an '
            'entry of this fingerprint.'))
        return None
    shared_build = manifest.get('build') if isinstance(manifest.get('build'), dict) else {}
    check_dla_threshold(plan.min_dla_layers, shared_build.get('dla'), plan.caps['label'])
    # The host still proves it can open its own model (an .etlt with a wrong key fails here, at the
    # engine stage, exactly as a build would), so a share never hides a misconfigured host.
    plan.decode()
    builder = (shared_build.get('builder') or {}).get('host')
    if check_mode:
        return _result(plan, changed=True, shared=True,
                       msg='engine %s of %s would be taken from the engine share' % (plan.fingerprint, plan.name))
    build = dict(shared_build, source='share',
                 shared={'from_host': builder, 'built_at': manifest.get('created_at'), 'imported_from': directory})
    new_dirs = _NewDirs(plan.store, plan.name)
    build_dir = None
    try:
        build_dir = plan.store.temp_dir(plan.name)
        try:
            shutil.copyfile(os.path.join(directory, ENGINE_FILE), os.path.join(build_dir, ENGINE_FILE))
        except (IOError, OSError) as err:
            raise os_error(err, 'copying the shared engine into', build_dir)
        written = plan.store.write_manifest(build_dir, plan.fingerprint, plan.inputs, model=plan.name, build=build)
        if written['engine']['sha256'] != manifest['engine']['sha256']:
            # the copy itself went wrong (the source changed under us): never publish it
            discard(build_dir, new_dirs)
            plan.warnings.append('The copy of the shared engine %s changed while it was copied. Building it here '
                                 'instead.' % directory)
            return None
        published = plan.store.publish(plan.name, build_dir)
    except BaseException:
        discard(build_dir, new_dirs)
        raise
    return _result(plan, changed=not published['reused'], shared=not published['reused'],
                   reused=published['reused'], build_seconds=shared_build.get('seconds'),
                   build_warnings=shared_build.get('warnings') or [], dla=shared_build.get('dla'),
                   manifest=_manifest_summary(plan.store, plan.name, plan.fingerprint, written),
                   msg='engine %s of %s taken from the engine share (built on %s), its fingerprint and sha256 checked'
                   % (plan.fingerprint, plan.name, builder or 'another host'))


def ensure_engine(params, check_mode=False):
    """Reuse the engine whose fingerprint matches, or take it from ``shared_engine`` (a directory with
    an engine share entry), or build and publish it (unless ``build`` is false: then the result says
    ``missing``). ``params`` are the module's options (see plugins/modules/trt_engine.py). Returns
    ``(result, warnings)``: the module result and tao.fleet's own warnings for ``module.warn``
    (TensorRT's are in ``result['build_warnings']``). Raises TaoFleetError."""
    params = dict(params)
    shared_engine = params.pop('shared_engine', None)
    shared_manifest = params.pop('shared_manifest', None)
    shared_sha256 = params.pop('shared_sha256', None)
    may_build = params.pop('build', True)
    plan = EnginePlan(params)
    status = plan.store.verify(plan.name, plan.fingerprint)
    if status.intact:
        return reuse(plan, status, check_mode), plan.warnings
    if shared_engine:
        imported = import_shared(plan, shared_engine, check_mode, may_build=may_build is not False,
                                 manifest=shared_manifest, expected_sha256=shared_sha256)
        if imported is not None:
            return imported, plan.warnings
    if may_build is False:
        return _result(plan, missing=True, msg='engine %s of %s is not in the store; not built (build=false)'
                       % (plan.fingerprint, plan.name)), plan.warnings
    return build_and_publish(plan, check_mode), plan.warnings
