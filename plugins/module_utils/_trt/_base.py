# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The build pipeline every TensorRT generation shares; each ``_genX.py`` overrides the steps that differ.

Only names that every supported version has are used here (tests/api_names checks this against the
real bindings' name lists); a generation file uses its own version's names.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._trt._request import (
    check_calibration_tensors, parse_calibration_header)

# calibration cache algorithm (its header) -> calibrator base class that reads such a cache
CALIBRATORS = {
    'EntropyCalibration2': 'IInt8EntropyCalibrator2',
    'EntropyCalibration': 'IInt8EntropyCalibrator',
    'MinMaxCalibration': 'IInt8MinMaxCalibrator',
}

# logger text -> what to do about it (field-errors #11, #15, #16)
BUILD_FAILURE_FIXES = (
    ('out of memory', 'The build ran out of GPU memory: set a smaller workspace (e.g. 268435456), a smaller '
                      'max batch/profile, stop other GPU users, or add swap on Jetson.'),
    ('could not find any implementation', 'No kernel fit the memory or precision: set a larger workspace if '
                                          'memory allows, or a smaller profile.'),
    ('calibration failure', 'INT8 calibration failed: give the calibration cache that matches this model, '
                            'or use fp16.'),
)

LEVELS = ('INTERNAL_ERROR', 'ERROR', 'WARNING', 'INFO', 'VERBOSE')


class Build(object):
    """One engine build. ``run()`` returns the result dict described in docs/tensorrt.md."""

    def __init__(self, loaded, caps, request, warnings, log=None):
        self.trt = loaded.module
        self.loaded = loaded
        self.caps = caps
        self.request = request
        self.label = caps['label']
        self.warnings = list(warnings)
        self.errors = []
        self.log_lines = []
        self.sink = log
        # the parser refers to the network, the config to the calibrator: TensorRT needs them alive
        self.keep_alive = []

    # ---- steps shared by every generation --------------------------------------------------------

    def make_logger(self):
        trt = self.trt
        build = self

        class CapturingLogger(trt.ILogger):
            def __init__(self):
                trt.ILogger.__init__(self)

            def log(self, severity, msg):
                build.record(str(severity).rsplit('.', 1)[-1], msg)

        return CapturingLogger()

    def record(self, level, message):
        if level in ('INTERNAL_ERROR', 'ERROR'):
            self.errors.append(message)
        elif level == 'WARNING':
            self.warnings.append(message)
        if level != 'VERBOSE':
            self.log_lines.append('[%s] %s' % (level, message))
        if self.sink is not None:
            self.sink(level, message)

    def parse_onnx(self, network, logger):
        parser = self.trt.OnnxParser(network, logger)
        self.keep_alive.append(parser)
        if parser.parse(self.request['model']):
            return
        parser_errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise TaoFleetError(
            '%s could not parse the ONNX model: %s' % (self.label, '; '.join(parser_errors or self.errors)),
            cause="TensorRT's ONNX parser rejected the model: a corrupt or truncated file, a wrong .etlt key, "
                  'or an operator or opset this TensorRT does not support.',
            fix='Check the model sha256 against the catalog and the .etlt key; for an unsupported operator use '
                "a newer TensorRT or the model's other export.",
            code='onnx_parse_failed', details={'parser_errors': parser_errors, 'log_errors': list(self.errors)})

    def tensors(self, network):
        inputs = [network.get_input(i) for i in range(network.num_inputs)]
        outputs = [network.get_output(i) for i in range(network.num_outputs)]
        return ([{'name': t.name, 'shape': [int(d) for d in t.shape]} for t in inputs],
                [{'name': t.name, 'shape': [int(d) for d in t.shape]} for t in outputs])

    def set_profiles(self, builder, network, config):
        """One optimization profile covering every dynamic input. A batch-only dynamic input without a
        profile in the request gets min 1 / opt 1 / max max_batch (tao-deploy's default opt batch is 1;
        pipelines run batch 1-2), or, on DLA, one static shape of max_batch (DLA has no dynamic dimensions:
        "DLA Supported Layers and Restrictions"; tao-deploy ``engine/builder.py`` builds 1/1/1).

        Shapes are checked against setDimensions' conditions (NvInferRuntime.h @8.5.2 1138-1156) first, so a
        bad profile is ``profile_invalid`` naming the input, not a TensorRT exception or a failed build."""
        inputs = self.tensors(network)[0]
        by_name = dict((t['name'], t['shape']) for t in inputs)
        profiles = dict(self.request['profiles'])
        unknown = sorted(set(profiles) - set(by_name))
        if unknown:
            raise TaoFleetError(
                'Profiles name inputs the model does not have: %s.' % ', '.join(unknown),
                cause='The model inputs are: %s.' % ', '.join('%s %s' % (n, s) for n, s in sorted(by_name.items())),
                fix='Name the profile after one of those inputs.', code='profile_invalid')
        dla = self.request['dla_core'] is not None
        for name, shape in sorted(by_name.items()):
            if name in profiles:
                self.check_profile(name, shape, profiles[name])
                continue
            if not any(d < 0 for d in shape):
                continue
            if shape[0] < 0 and all(d >= 0 for d in shape[1:]):
                batch = self.request['max_batch']
                full = [batch] + shape[1:]
                if dla:
                    profiles[name] = {'min': full, 'opt': full, 'max': full}
                    self.warnings.append('Input %s has a dynamic batch and no profile: built for DLA at batch %d '
                                         'only (DLA has no dynamic dimensions); the engine runs at that batch.'
                                         % (name, batch))
                else:
                    profiles[name] = {'min': [1] + shape[1:], 'opt': [1] + shape[1:], 'max': full}
                    self.warnings.append('Input %s has a dynamic batch and no profile: built for batch 1 to %d, '
                                         'optimised for batch 1.' % (name, batch))
                continue
            raise TaoFleetError(
                'Input %s has dynamic dimensions %s other than the batch, and no profile was given.' % (name, shape),
                cause='TensorRT needs min/opt/max shapes for every dynamic input.',
                fix='Give profiles: {%s: {min: [...], opt: [...], max: [...]}} (tao-converter -p).' % name,
                code='profile_required')
        if profiles:
            profile = builder.create_optimization_profile()
            for name in sorted(profiles):
                shapes = profiles[name]
                try:
                    profile.set_shape(name, shapes['min'], shapes['opt'], shapes['max'])
                except RuntimeError as err:
                    # pyCore.cpp @8.5.2 35-43: setDimensions returning false becomes a RuntimeError
                    raise self.profile_refused(name, shapes, 'set_shape raised "%s"' % err)
            index = config.add_optimization_profile(profile)
            if index is not None and int(index) < 0:
                # NvInfer.h @8.5.2 8986-8988: -1 if the profile is not valid
                raise self.profile_refused(', '.join(sorted(profiles)), None,
                                           'add_optimization_profile returned %d' % int(index))
        return profiles

    def check_profile(self, name, shape, shapes):
        def bad(problem, fix):
            return TaoFleetError(
                'Profile of input %s (min %s, opt %s, max %s) is invalid: %s.'
                % (name, shapes['min'], shapes['opt'], shapes['max'], problem),
                cause='The model gives input %s as %s (-1 = dynamic); a profile gives the full shape, batch '
                      'included.' % (name, shape),
                fix=fix, code='profile_invalid')
        for key in ('min', 'opt', 'max'):
            if len(shapes[key]) != len(shape):
                raise bad('%s has %d dimensions and the input %d' % (key, len(shapes[key]), len(shape)),
                          'Give shapes like %s with the -1 dimensions filled in.' % (shape,))
            if any(d < 0 for d in shapes[key]):
                raise bad('%s has a negative dimension' % key,
                          'Give shapes like %s with the -1 dimensions filled in.' % (shape,))
        for index, dims in enumerate(zip(shapes['min'], shapes['opt'], shapes['max'])):
            if not dims[0] <= dims[1] <= dims[2]:
                raise bad('dimension %d needs min <= opt <= max, got %d, %d, %d' % ((index,) + dims),
                          'Order the shapes: min the smallest, max the largest (e.g. batch 1 / 2 / 4).')
            if shape[index] >= 0 and dims != (shape[index],) * 3:
                raise bad('dimension %d is fixed at %d in the model' % (index, shape[index]),
                          'Use %d for dimension %d in min, opt and max (only -1 dimensions vary).'
                          % (shape[index], index))

    def profile_refused(self, name, shapes, what):
        return TaoFleetError(
            '%s refused the optimization profile of input %s%s: %s.'
            % (self.label, name, ' (min %s, opt %s, max %s)' % (shapes['min'], shapes['opt'], shapes['max'])
               if shapes else '', what),
            cause='TensorRT found the shapes inconsistent (rank, min <= opt <= max, or fixed model dimensions).',
            fix='Give min, opt and max with the model input\'s rank, min <= opt <= max, and the model\'s fixed '
                'dimensions unchanged.', code='profile_invalid', details={'log_errors': list(self.errors)})

    def set_dla(self, builder, network, config):
        """Route layers to a DLA core; count which layers DLA can take (TensorRT moves the rest to the GPU
        silently). Counted with IBuilderConfig.can_run_on_DLA before the build, after the profile is set
        (DLA takes only static shapes, so the count depends on it)."""
        core = self.request['dla_core']
        if core is None:
            return None
        cores = int(builder.num_DLA_cores)
        if core >= cores:
            raise TaoFleetError(
                'DLA core %d was requested, but the %s builder reports %d DLA core(s) on this device.'
                % (core, self.label, cores),
                cause='This device (or this container) has no such DLA core.',
                fix='Leave dla_core unset to build for the GPU%s.' % (', or use dla_core 0' if cores else ''),
                code='dla_unavailable')
        config.default_device_type = self.trt.DeviceType.DLA
        config.DLA_core = core
        flag = self.trt.BuilderFlag
        if self.request['gpu_fallback']:
            config.set_flag(flag.GPU_FALLBACK)
        elif hasattr(flag, 'DIRECT_IO'):
            # reformatting runs on the GPU, so without fallback avoid I/O reformats (trtexec,
            # samples/common/sampleEngines.cpp @8.5.2 989-997); 7.x and 8.0/8.1 have no such flag
            config.set_flag(flag.DIRECT_IO)
        layers = [network.get_layer(i) for i in range(network.num_layers)]
        on_gpu = [layer.name for layer in layers if not config.can_run_on_DLA(layer)]
        if on_gpu and not self.request['gpu_fallback']:
            raise TaoFleetError(
                '%d of %d layers cannot run on DLA and GPU fallback is off (first: %s).'
                % (len(on_gpu), len(layers), ', '.join(on_gpu[:5])),
                cause='Without GPU fallback every layer must run on the DLA.',
                fix='Set gpu_fallback: true, or build for the GPU.', code='dla_layers_unsupported')
        if on_gpu:
            self.warnings.append('%d of %d layers cannot run on DLA core %d and run on the GPU (first: %s).'
                                 % (len(on_gpu), len(layers), core, ', '.join(on_gpu[:5])))
        return {'core': core, 'gpu_fallback': self.request['gpu_fallback'], 'layers': len(layers),
                'layers_on_dla': len(layers) - len(on_gpu), 'layers_on_gpu': len(on_gpu),
                'counted_by': 'IBuilderConfig.can_run_on_DLA'}

    def check_calibration_cache(self, network):
        """Before the build: refuse an INT8 cache with no scale for any tensor of this network."""
        if self.request['precision'] != 'int8' or self.request['calibration_cache'] is None or \
                not self.caps['calibrator']:
            return
        inputs, outputs = self.tensors(network)
        names = [t['name'] for t in inputs + outputs]
        for index in range(network.num_layers):
            layer = network.get_layer(index)
            # ILayer.num_outputs / get_output: every real version; the test double's layers have no outputs
            for output in range(getattr(layer, 'num_outputs', 0)):
                names.append(layer.get_output(output).name)
        self.warnings.extend(check_calibration_tensors(
            self.request['calibration_cache'], names, [t['name'] for t in inputs], self.label))

    def make_calibrator(self):
        """A calibrator that only hands TensorRT the shipped cache (no calibration images)."""
        cache = self.request['calibration_cache']
        header = parse_calibration_header(cache)
        base = getattr(self.trt, CALIBRATORS.get(header[1] if header else None, 'IInt8EntropyCalibrator2'))

        class CacheOnlyCalibrator(base):
            def __init__(self):
                base.__init__(self)

            def get_batch_size(self):
                return 1

            def get_batch(self, *args):
                return None

            def read_calibration_cache(self):
                return cache

            def write_calibration_cache(self, data):
                return None

        return CacheOnlyCalibrator()

    def set_precision(self, builder, config):
        """Precision flags (generations with flags); returns the effective precision.

        INT8 adds FP16 (layers without an INT8 kernel then run in FP16) only where the GPU has fast FP16:
        compute capability 6.1 (P4, P40, GTX 10xx) has fast INT8 and no fast FP16, and INT8 alone is valid
        ("with FP32 fallback with FP16 fallback if kFP16 also specified", NvInfer.h @8.2.1 7716; tao-deploy
        sets FP16 next to INT8 only when platform_has_fast_fp16)."""
        precision = self.request['precision']
        flag = self.trt.BuilderFlag
        fast_fp16 = precision in ('fp16', 'int8') and bool(builder.platform_has_fast_fp16)
        if precision == 'fp16' and not fast_fp16:
            raise TaoFleetError(
                'The %s builder reports no fast FP16 on this GPU ("Half2 support requested on hardware without '
                'native FP16 support").' % self.label,
                cause='This GPU has no native FP16.', fix='Set precision: fp32 (or int8 where the GPU has fast '
                                                          'INT8, as compute capability 6.1 does).',
                code='fp16_unsupported_platform')
        if precision == 'int8' and not builder.platform_has_fast_int8:
            raise TaoFleetError(
                'The %s builder reports no fast INT8 on this GPU ("Your platform support int8: false").' % self.label,
                cause='Jetson Nano and TX2 have no INT8.', fix='Set precision: fp16.', code='int8_unsupported_platform')
        if fast_fp16:
            config.set_flag(flag.FP16)
        if precision == 'int8':
            if not fast_fp16:
                self.warnings.append('%s reports fast INT8 and no fast FP16 on this GPU: built INT8 without FP16, '
                                     'so layers without an INT8 kernel run in FP32.' % self.label)
            config.set_flag(flag.INT8)
            calibrator = self.make_calibrator()
            self.keep_alive.append(calibrator)
            config.int8_calibrator = calibrator
        if self.request['strict_types']:
            for name in self.strict_flags():
                config.set_flag(getattr(flag, name))
        return 'fp32' if precision == 'model' else precision

    def strict_flags(self):
        """BuilderFlag names that keep layer precisions as asked (tao-converter -s)."""
        return [self.caps['strict_flag']]

    def build_failed(self):
        text = ' '.join(self.errors).lower()
        fixes = [fix for pattern, fix in BUILD_FAILURE_FIXES if pattern in text]
        return TaoFleetError(
            '%s failed to build the engine: %s' % (self.label, '; '.join(self.errors[-5:]) or 'no error was logged'),
            cause='The builder returned no engine (errors above are its own).',
            fix=' '.join(fixes) or 'Read the TensorRT errors; rerun with a smaller workspace or profile to rule out memory.',
            code='build_failed', details={'log_errors': list(self.errors)})

    # ---- steps each generation defines -----------------------------------------------------------
    # create_network(builder), parse_uff(network), set_workspace(config), set_implicit_batch(builder),
    # set_timing_cache(config) -> cache or None, set_compute_capabilities(config), build_plan(...) -> bytes|None

    def set_implicit_batch(self, builder):
        builder.max_batch_size = self.request['max_batch']

    def set_compute_capabilities(self, config):
        return None

    def set_timing_cache(self, config):
        """The stored cache, or a fresh one when it is foreign or corrupt (a warning says which): a timing
        cache only saves build time, so a bad one never fails the build. What TensorRT does with a corrupt
        blob is not documented (NvInfer.h @8.5.2 9177-9191), so an exception or None both count as corrupt."""
        data = self.request['timing_cache'] or b''
        cache = None
        if data:
            try:
                cache = config.create_timing_cache(data)
            except Exception as err:  # pylint: disable=broad-except
                self.warnings.append('The stored timing cache is corrupt and was dropped (%s: %s); this build '
                                     'starts a new one.' % (type(err).__name__, err))
            else:
                if cache is None:
                    self.warnings.append('The stored timing cache is corrupt and was dropped (TensorRT made no '
                                         'cache of it); this build starts a new one.')
        if cache is None:
            cache = config.create_timing_cache(b'')
        if not config.set_timing_cache(cache, False):
            self.warnings.append('The timing cache was made by another device or TensorRT and was not used.')
            cache = config.create_timing_cache(b'')
            config.set_timing_cache(cache, False)
        return cache

    def read_timing_cache(self, config):
        return bytes(config.get_timing_cache().serialize())

    # ---- the pipeline ----------------------------------------------------------------------------

    def run(self):
        trt = self.trt
        logger = self.make_logger()
        trt.init_libnvinfer_plugins(logger, '')
        builder = trt.Builder(logger)
        network = self.create_network(builder)
        if self.request['format'] == 'uff':
            self.parse_uff(network)
        else:
            self.parse_onnx(network, logger)
        self.check_calibration_cache(network)
        config = builder.create_builder_config()
        if self.request['workspace'] is not None:
            self.set_workspace(config)
        precision = self.set_precision(builder, config)
        if self.request['format'] == 'uff':
            self.set_implicit_batch(builder)
            profiles = {}
        else:
            profiles = self.set_profiles(builder, network, config)
        # after the profile: what DLA can run depends on the shapes it fixes
        dla = self.set_dla(builder, network, config)
        timing_cache = self.set_timing_cache(config) if self.caps['timing_cache'] else None
        self.set_compute_capabilities(config)
        plan = self.build_plan(builder, network, config)
        if plan is None:
            raise self.build_failed()
        inputs, outputs = self.tensors(network)
        return {
            'engine': plan,
            'tensorrt': {'version': self.loaded.version, 'flavour': self.loaded.flavour,
                         'generation': self.caps['generation'], 'test_double': self.loaded.test_double},
            'precision': precision,
            'dla': dla,
            'profiles': profiles,
            'max_batch': self.request['max_batch'] if self.request['format'] == 'uff' else None,
            'inputs': inputs,
            'outputs': outputs,
            'timing_cache': self.read_timing_cache(config) if timing_cache is not None else None,
            'warnings': self.warnings,
            'errors': self.errors,
            'log': self.log_lines,
        }
