"""The behaviour behind the TensorRT test double: every class and enum any supported version has.

``populate()`` (in ``__init__``) exposes only what one version's real name list has; the rest of this
module is never reachable through ``import tensorrt``. Engines it "builds" are not plans: they start
with ``TAOFLEET-TRT-DOUBLE <version> <sha256 of every build input>`` and carry a JSON description.

What each version lacks comes from that version's name list (``tests/doubles/names``): a missing name is an
AttributeError. The behaviours below follow NVIDIA's code and docs, each citing its source in ``SOURCES``
(implicit-batch shapes, DLA profile and batch rules, ``set_shape`` errors, ``add_optimization_profile``
returning -1, INT8 without FP16, the runtime's DLA core). Where NVIDIA does not say what happens, the double
refuses (an error naming "unknown"), so no test passes on a guess.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from tao_fleet_trt_double.onnx_reader import WireError, read_model

STATE = {'version': None, 'platform': {}, 'calls': [], 'accessed': set()}

PREFIX = 'TensorRT test double: '
ENGINE_MAGIC = b'TAOFLEET-TRT-DOUBLE'
TIMING_MAGIC = b'TAOFLEET-TRT-DOUBLE-TIMING-CACHE'

# NVIDIA's semantics the double follows, each with where it was read (NVIDIA/TensorRT at a tag, unless a
# page is named). Where NVIDIA's behaviour is not documented the double REFUSES (an error, a RuntimeError
# or a False/None return naming "unknown"), it does not guess.
SOURCES = {
    'implicit_batch_shapes': 'v8.6.1 samples/python/common.py 192-199: on the name-based API an implicit-batch '
                             'engine\'s get_tensor_shape has no batch dimension (size *= engine.max_batch_size); '
                             '252-255: such engines run with execute_async(batch_size=...)',
    'implicit_batch_enqueue': 'v8.6.1 samples/common/sampleInference.cpp 308, 869: enqueueV3 only when '
                              '!hasImplicitBatchDimension(), else the implicit enqueue with the batch',
    'dla_implicit_batch': 'v8.6.1 samples/common/sampleInference.cpp 254-259: DLA + implicit batch: the inference '
                          'batch must equal the engine\'s max batch size',
    'dla_profile': 'docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/dla-layer-restrictions.html '
                   '"General Restrictions": DLA has no dynamic dimensions (profile min = opt = max), and the '
                   'runtime dimensions must be the build dimensions; 8.5.2 include/NvInferRuntime.h 1158',
    'set_shape': '8.5.2 python/src/infer/pyCore.cpp 35-43: set_shape raises RuntimeError "Shape provided for '
                 'min/opt/max is inconsistent with other shapes." when setDimensions returns false; '
                 '8.5.2 include/NvInferRuntime.h 1138-1156 (rank mismatch is its example; full validation at build)',
    'add_optimization_profile': '8.5.2 include/NvInfer.h 8986-8988: returns -1 if the profile is not valid; '
                                '8.5.2 include/NvInferRuntime.h 1282-1291: isValid checks min/opt/max set with '
                                'one rank and min <= opt <= max',
    'int8_without_fp16': '8.2.1 include/NvInfer.h 7716: kINT8 "with FP32 fallback with FP16 fallback if kFP16 also '
                         'specified" (INT8 alone is valid: cc 6.1 has fast INT8, no fast FP16)',
    'runtime_dla_core': '8.5.2 include/NvInferRuntime.h 644 (IRuntime DLA core "Defaults to -1"); '
                        '8.5.2 samples/common/sampleEngines.cpp 113-116 (setDLACore before deserializeCudaEngine); '
                        '8.5.2 python/src/infer/pyCore.cpp 1156 (Runtime.DLA_core)',
    'input_shape_false': '8.5.2 include/NvInferRuntime.h 2560: setInputShape returns false on an error',
    # what NVIDIA's own Python code (polygraphy, tao-deploy: tests/conformance) needs of the bindings
    'shape_tensor': 'v8.6.1 include/NvInfer.h ITensor::isShapeTensor: a shape tensor is an Int32 tensor used as a '
                    'shape or shape-input; a network input that is an image (float) is an execution tensor',
    'network_sequence': 'v8.6.1 python/src/infer/pyGraph.cpp INetworkDefinition "__len__" and "__getitem__": a '
                        'network is a sequence of its layers (polygraphy iterates "for layer in network")',
    'num_optimization_profiles': 'v8.6.1 include/NvInfer.h IBuilderConfig::getNbOptimizationProfiles: the number '
                                 'of profiles added; python/src/infer/pyCore.cpp "num_optimization_profiles"',
    'dtype_aliases': 'v8.6.1 python/src/infer/pyFoundationalTypes.cpp ("direct mappings ... trt.float32": '
                     'm.attr("float32") = DataType::kFLOAT, float16, int8, int32, bool, ...); only the aliases '
                     'of that version\'s name list',
    'context_managers': 'tensorrt_bindings-8.6.1 wheel tensorrt_bindings/__init__.py 73, 103-104 and '
                        'tensorrt_cu12_bindings-10.3.0 tensorrt_bindings/__init__.py 82, 112-113: '
                        'IHostMemory.__enter__ = common_enter (returns the object), __exit__ does nothing',
    'tensor_format': 'v8.6.1 include/NvInfer.h ITensor::setAllowedFormats: network I/O is kLINEAR unless allowed '
                     'formats are set (the double never sets them), so ICudaEngine::getTensorFormat is kLINEAR',
    'active_profile': 'v8.6.1 include/NvInferRuntime.h IExecutionContext::getOptimizationProfile and '
                      'createExecutionContext: a new context uses optimization profile 0',
    'logger_severity': 'v8.6.1 python/src/infer/pyCore.cpp: py::enum_<ILogger::Severity>(..., "Severity", ...) '
                       '.export_values(), so trt.Logger.INFO is trt.Logger.Severity.INFO (both in the 8.6.1 and '
                       '10.x name lists)',
    'parse_from_file': 'v8.6.1 parsers/onnx NvOnnxParser.h IParser::parseFromFile (parse a model file; false on '
                       'an error, which the parser records) and python/src/parsers/pyOnnx.cpp "parse_from_file"',
    'calibration_profile': 'v8.6.1 include/NvInfer.h IBuilderConfig::setCalibrationProfile: "true if the '
                           'calibration profile was set correctly"; getCalibrationProfile: nullptr if none was set',
    # run here on the real TensorRT-RTX 1.7.1.116 bindings (tests/rtx test_profile_errors_are_what_the_double_does):
    # NVIDIA code, though not TensorRT 8/10 itself
    'observed_rtx': 'TensorRT-RTX 1.7.1.116: set_shape with a negative dimension raises RuntimeError "Shape provided '
                    'for min is inconsistent with other shapes."; a rank mismatch, min > opt or opt > max pass '
                    'set_shape and add_optimization_profile returns -1; a corrupt timing cache blob gives an empty '
                    'cache and the warning "Failed to deserialize timing cache" (the double still refuses one: '
                    'RTX makes timing caches no-ops, TensorRT 8/10 are unknown)',
}

# ONNX ops the double lets run on DLA (conv nets as PeopleNet are; shape ops are not)
DLA_OPS = ('Conv', 'ConvTranspose', 'Relu', 'Sigmoid', 'Tanh', 'BatchNormalization', 'MaxPool', 'AveragePool',
           'Add', 'Mul', 'Sub', 'Concat', 'LeakyRelu', 'Clip')


def _static_profile(config, name):
    """True when the config's first profile gives ``name`` one shape (min = opt = max)."""
    for profile in config._profiles[:1]:
        shapes = profile._shapes.get(name)
        if shapes and shapes[0] == shapes[1] == shapes[2]:
            return True
    return False


def record(name, *args):
    STATE['calls'].append((name,) + tuple(_summary(a) for a in args))


def _summary(value):
    if isinstance(value, (bytes, bytearray)):
        return 'bytes[%d] sha256:%s' % (len(value), hashlib.sha256(value).hexdigest()[:12])
    if isinstance(value, EnumMember):
        return str(value)
    if isinstance(value, (int, float, str, type(None))) or isinstance(value, (list, tuple)):
        return value
    return type(value).__name__


def attribute(private):
    """A public read/write attribute kept in ``private``: a property, so a version's name list can hide it."""
    return property(lambda self: getattr(self, private), lambda self, value: setattr(self, private, value))


class EnumMember(object):
    def __init__(self, enum_name, name, value):
        self._enum_name = enum_name
        self.name = name
        self.value = value

    def __int__(self):
        return self.value

    __index__ = __int__

    def __eq__(self, other):
        return isinstance(other, EnumMember) and (self._enum_name, self.value) == (other._enum_name, other.value)

    def __hash__(self):
        return hash((self._enum_name, self.value))

    def __str__(self):
        return '%s.%s' % (self._enum_name, self.name)

    __repr__ = __str__


ENUMS = {
    'Severity': ('INTERNAL_ERROR', 'ERROR', 'WARNING', 'INFO', 'VERBOSE'),
    'NetworkDefinitionCreationFlag': ('EXPLICIT_BATCH', 'EXPLICIT_PRECISION', 'STRONGLY_TYPED'),
    # every member some version's name list has (a version shows only its own); values are not NVIDIA's
    'BuilderFlag': ('FP16', 'INT8', 'DEBUG', 'GPU_FALLBACK', 'STRICT_TYPES', 'REFIT', 'TF32',
                    'OBEY_PRECISION_CONSTRAINTS', 'PREFER_PRECISION_CONSTRAINTS', 'DIRECT_IO', 'BF16', 'FP8',
                    'REJECT_EMPTY_ALGORITHMS', 'DISABLE_COMPILATION_CACHE', 'DISABLE_TIMING_CACHE',
                    'DISTRIBUTIVE_INDEPENDENCE', 'EDITABLE_TIMING_CACHE', 'ENABLE_TACTIC_HEURISTIC',
                    'ERROR_ON_TIMING_CACHE_MISS', 'EXCLUDE_LEAN_RUNTIME', 'FP4', 'INT4', 'MONITOR_MEMORY',
                    'REFIT_IDENTICAL', 'REFIT_INDIVIDUAL', 'SAFETY_SCOPE', 'SPARSE_WEIGHTS', 'STRICT_NANS',
                    'STRIP_PLAN', 'VERSION_COMPATIBLE', 'WEIGHTLESS', 'WEIGHT_STREAMING'),
    'MemoryPoolType': ('WORKSPACE', 'DLA_MANAGED_SRAM', 'DLA_LOCAL_DRAM', 'DLA_GLOBAL_DRAM', 'TACTIC_DRAM',
                       'TACTIC_SHARED_MEMORY'),
    'DeviceType': ('GPU', 'DLA'),
    # v10.3.0 include/NvInferRuntimeBase.h enum class DataType, in its order (kFLOAT = 0 ... kBF16 = 7); a
    # version shows only the members of its name list
    'DataType': ('FLOAT', 'HALF', 'INT8', 'INT32', 'BOOL', 'UINT8', 'FP8', 'BF16'),
    'UffInputOrder': ('NCHW', 'NHWC', 'NC'),
    'TensorIOMode': ('NONE', 'INPUT', 'OUTPUT'),
    # v8.6.1 include/NvInfer.h enum class TensorFormat, in its order (kLINEAR = 0 ... kDHWC = 12)
    'TensorFormat': ('LINEAR', 'CHW2', 'HWC8', 'CHW4', 'CHW16', 'CHW32', 'DHWC8', 'CDHW32', 'HWC', 'DLA_LINEAR',
                     'DLA_HWC4', 'HWC16', 'DHWC'),
    # v8.6.1 include/NvInfer.h enum class ProfilingVerbosity (kLAYER_NAMES_ONLY = 0, kNONE = 1, kDETAILED = 2;
    # 8.0-8.4 also name kDEFAULT and kVERBOSE, deprecated aliases of 0 and 2)
    'ProfilingVerbosity': ('LAYER_NAMES_ONLY', 'NONE', 'DETAILED', 'DEFAULT', 'VERBOSE'),
    'ComputeCapability': ('NONE', 'CURRENT', 'SM75', 'SM80', 'SM86', 'SM89', 'SM120', 'SM121'),
}


def make_enum(name, members):
    """A class whose attributes are the members (only those passed: one version's)."""
    attrs = dict((member, EnumMember(name, member, ENUMS[name].index(member))) for member in members)
    attrs['__members__'] = dict(attrs)
    return type(name, (object,), attrs)


def _severity(name):
    return EnumMember('Severity', name, ENUMS['Severity'].index(name))


class ILogger(object):
    def __init__(self):
        record('ILogger.__init__')

    def log(self, severity, msg):
        raise NotImplementedError('ILogger.log is abstract')


class Logger(ILogger):
    min_severity = attribute('_min_severity')

    def __init__(self, min_severity=None):
        ILogger.__init__(self)
        self._min_severity = min_severity

    def log(self, severity, msg):
        return None


def _log(logger, level, message):
    logger.log(_severity(level), PREFIX + message)


class ParserError(object):
    def __init__(self, code, desc):
        self._code = code
        self._desc = desc

    def code(self):
        return self._code

    def desc(self):
        return self._desc

    def __str__(self):
        return '%s: %s' % (self._code, self._desc)


class ITensor(object):
    name = attribute('_name')
    shape = attribute('_shape')

    def __init__(self, name, shape):
        self._name = name
        self._shape = tuple(shape)

    @property
    def is_shape_tensor(self):
        # SOURCES['shape_tensor']: the parsed models' inputs are float image tensors, never shape tensors
        return False

    @property
    def dtype(self):
        # the double's I/O is always float32 (as ICudaEngine.get_tensor_dtype below)
        return EnumMember('DataType', 'FLOAT', ENUMS['DataType'].index('FLOAT'))


class ILayer(object):
    name = attribute('_name')

    def __init__(self, name, op_type, network=None):
        self._name = name
        self._op_type = op_type
        self._network = network


class INetworkDefinition(object):
    def __init__(self, flags):
        self._flags = flags
        self._inputs, self._outputs, self._layers = [], [], []
        self._model_sha256 = None

    @property
    def num_inputs(self):
        return len(self._inputs)

    @property
    def num_outputs(self):
        return len(self._outputs)

    @property
    def num_layers(self):
        return len(self._layers)

    def get_input(self, index):
        return self._inputs[index]

    def get_output(self, index):
        return self._outputs[index]

    def get_layer(self, index):
        return self._layers[index]

    # SOURCES['network_sequence']: the bindings make a network a sequence of its layers
    def __len__(self):
        return len(self._layers)

    def __getitem__(self, index):
        if not -len(self._layers) <= index < len(self._layers):
            raise IndexError('layer index %d out of range' % index)
        return self._layers[index]


class OnnxParser(object):
    def __init__(self, network, logger):
        record('OnnxParser.__init__')
        self._network = network
        self._logger = logger
        self._errors = []

    def parse(self, model, path=None):
        record('OnnxParser.parse', bytes(model))
        try:
            graph = read_model(bytes(model))
        except WireError as exc:
            error = ParserError('ErrorCode.MODEL_DESERIALIZE_FAILED', PREFIX + 'not an ONNX model: %s' % exc)
            self._errors.append(error)
            _log(self._logger, 'ERROR', str(error))
            return False
        network = self._network
        network._inputs = [ITensor(n, d) for n, d in graph['inputs']]
        network._outputs = [ITensor(n, d) for n, d in graph['outputs']]
        network._layers = [ILayer(n, op, network) for n, op in graph['nodes']]
        network._model_sha256 = hashlib.sha256(bytes(model)).hexdigest()
        return True

    def parse_from_file(self, model):
        # SOURCES['parse_from_file']: the model file's bytes, parsed as parse() parses them
        record('OnnxParser.parse_from_file', model)
        try:
            with open(model, 'rb') as handle:
                data = handle.read()
        except (IOError, OSError) as exc:
            error = ParserError('ErrorCode.MODEL_DESERIALIZE_FAILED', PREFIX + 'cannot read %s: %s' % (model, exc))
            self._errors.append(error)
            _log(self._logger, 'ERROR', str(error))
            return False
        return self.parse(data, model)

    @property
    def num_errors(self):
        return len(self._errors)

    def get_error(self, index):
        return self._errors[index]

    def clear_errors(self):
        self._errors = []


class UffParser(object):
    def __init__(self):
        record('UffParser.__init__')
        self._inputs, self._outputs = [], []

    def register_input(self, name, shape, order=None):
        record('UffParser.register_input', name, list(shape), order)
        self._inputs.append((name, list(shape)))
        return True

    def register_output(self, name):
        record('UffParser.register_output', name)
        self._outputs.append(name)
        return True

    def parse_buffer(self, buffer, network, weights_type=None):
        record('UffParser.parse_buffer', bytes(buffer))
        if not buffer or not self._inputs or not self._outputs:
            return False
        # implicit batch: the network's tensors have no batch dimension, as UFF networks in TensorRT
        network._inputs = [ITensor(n, d) for n, d in self._inputs]
        network._outputs = [ITensor(n, []) for n in self._outputs]
        network._layers = [ILayer('uff_graph', 'Uff', network)]
        network._model_sha256 = hashlib.sha256(bytes(buffer)).hexdigest()
        return True


class IOptimizationProfile(object):
    def __init__(self):
        self._shapes = {}

    def set_shape(self, input, min, opt, max):
        record('IOptimizationProfile.set_shape', input, list(min), list(opt), list(max))
        # SOURCES['set_shape'] and ['observed_rtx']: a negative dimension is refused at once (RuntimeError);
        # a rank mismatch or min > opt > max is accepted here and refused by add_optimization_profile
        for name, dims in (('min', min), ('opt', opt), ('max', max)):
            if any(int(d) < 0 for d in dims):
                raise RuntimeError('Shape provided for %s is inconsistent with other shapes.' % name)
        self._shapes[input] = [list(min), list(opt), list(max)]

    def _is_valid(self):
        # SOURCES['add_optimization_profile'] and ['observed_rtx']: isValid's partial checks (one rank,
        # min <= opt <= max); the rest waits for the build
        for shapes in self._shapes.values():
            low, mid, high = shapes
            if not len(low) == len(mid) == len(high) or any(a > b for a, b in zip(low, mid)) or \
                    any(a > b for a, b in zip(mid, high)):
                return False
        return True

    def get_shape(self, input):
        return self._shapes.get(input, [])


class ITimingCache(object):
    def __init__(self, entries):
        self._entries = sorted(set(entries))

    def serialize(self):
        record('ITimingCache.serialize')
        return IHostMemory(TIMING_MAGIC + b' ' + STATE['version'].encode() + b'\n' +
                           json.dumps(self._entries).encode())

    def reset(self):
        self._entries = []
        return True

    def combine(self, input_cache, ignore_mismatch):
        self._entries = sorted(set(self._entries) | set(input_cache._entries))
        return True


class IHostMemory(object):
    def __init__(self, data):
        self._data = bytes(data)

    def __bytes__(self):
        return self._data

    # SOURCES['context_managers']
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        return None

    @property
    def nbytes(self):
        return len(self._data)


class IInt8Calibrator(object):
    def __init__(self):
        record('%s.__init__' % type(self).__mro__[-2].__name__)


class IInt8EntropyCalibrator2(IInt8Calibrator):
    pass


class IInt8EntropyCalibrator(IInt8Calibrator):
    pass


class IInt8MinMaxCalibrator(IInt8Calibrator):
    pass


class IInt8LegacyCalibrator(IInt8Calibrator):
    pass


class IBuilderConfig(object):
    max_workspace_size = attribute('_max_workspace_size')
    default_device_type = attribute('_default_device_type')
    DLA_core = attribute('_dla_core')
    int8_calibrator = attribute('_int8_calibrator')
    profiling_verbosity = attribute('_profiling_verbosity')

    def __init__(self):
        # v8.6.1 include/NvInfer.h IBuilderConfig::setProfilingVerbosity: default kLAYER_NAMES_ONLY
        self._profiling_verbosity = EnumMember('ProfilingVerbosity', 'LAYER_NAMES_ONLY', 0)
        self._flags = set()
        self._pools = {}
        self._max_workspace_size = 0
        self._default_device_type = None
        self._dla_core = -1
        self._int8_calibrator = None
        self._profiles = []
        self._timing_cache = None
        self._capabilities = []
        self._num_capabilities = 0

    def set_flag(self, flag):
        record('IBuilderConfig.set_flag', flag)
        self._flags.add(str(flag))

    def clear_flag(self, flag):
        self._flags.discard(str(flag))

    def get_flag(self, flag):
        return str(flag) in self._flags

    def set_memory_pool_limit(self, pool, pool_size):
        record('IBuilderConfig.set_memory_pool_limit', pool, pool_size)
        self._pools[str(pool)] = pool_size

    def get_memory_pool_limit(self, pool):
        return self._pools.get(str(pool), 0)

    def add_optimization_profile(self, profile):
        record('IBuilderConfig.add_optimization_profile')
        if not profile._is_valid():
            return -1  # SOURCES['add_optimization_profile']
        self._profiles.append(profile)
        return len(self._profiles) - 1

    def set_calibration_profile(self, profile):
        # SOURCES['calibration_profile']
        record('IBuilderConfig.set_calibration_profile')
        if profile is None or not profile._is_valid():
            return False
        self._calibration_profile = profile
        return True

    def get_calibration_profile(self):
        return getattr(self, '_calibration_profile', None)

    @property
    def num_optimization_profiles(self):
        # SOURCES['num_optimization_profiles']
        return len(self._profiles)

    def can_run_on_DLA(self, layer):
        # SOURCES['dla_profile']: DLA takes no dynamic dimension. Whether can_run_on_DLA looks at the profile
        # (or what it answers before one is added) NVIDIA does not say: asked before every dynamic input has
        # a static profile, the double refuses instead of guessing.
        network = layer._network
        if network is not None:
            for tensor in network._inputs:
                if any(d < 0 for d in tensor._shape) and not _static_profile(self, tensor._name):
                    raise RuntimeError(PREFIX + 'can_run_on_DLA(%s) asked while input %s %s has no static '
                                       'profile: NVIDIA\'s answer here is unknown'
                                       % (layer._name, tensor._name, list(tensor._shape)))
        return layer._op_type in DLA_OPS

    def create_timing_cache(self, serialized_timing_cache):
        record('IBuilderConfig.create_timing_cache', bytes(serialized_timing_cache))
        data = bytes(serialized_timing_cache)
        if not data:
            return ITimingCache([])
        header, _unused, body = data.partition(b'\n')
        entries = []
        if header.startswith(TIMING_MAGIC):
            try:
                entries = json.loads(body.decode())
            except ValueError:
                # 8.5.2 include/NvInfer.h 9177-9191 does not say what a corrupt blob gives: refuse
                raise RuntimeError(PREFIX + 'corrupt timing cache: what TensorRT does with one is unknown')
        cache = ITimingCache(entries)
        cache._foreign = header != TIMING_MAGIC + b' ' + STATE['version'].encode()
        return cache

    def set_timing_cache(self, cache, ignore_mismatch):
        record('IBuilderConfig.set_timing_cache', ignore_mismatch)
        if getattr(cache, '_foreign', False) and not ignore_mismatch:
            return False
        self._timing_cache = cache
        return True

    def get_timing_cache(self):
        return self._timing_cache

    @property
    def num_compute_capabilities(self):
        return self._num_capabilities

    @num_compute_capabilities.setter
    def num_compute_capabilities(self, value):
        record('IBuilderConfig.num_compute_capabilities', value)
        self._num_capabilities = value
        self._capabilities = [None] * value

    def set_compute_capability(self, compute_capability, index):
        record('IBuilderConfig.set_compute_capability', compute_capability, index)
        self._capabilities[index] = str(compute_capability)
        return True


class ICudaEngine(object):
    def __init__(self, data):
        self._data = data
        self._description = json.loads(data.split(b'\n', 1)[1].decode())
        self._io = self._description['io']

    def _io_shape(self, name):
        return dict((t['name'], t['shape']) for t in self._io)[name]

    def serialize(self):
        record('ICudaEngine.serialize')
        return IHostMemory(self._data)

    @property
    def num_bindings(self):
        return len(self._io)

    def get_binding_name(self, index):
        return self._io[index]['name']

    def get_binding_shape(self, index):
        return tuple(self._io[index]['shape'])

    def binding_is_input(self, index):
        return self._io[index]['mode'] == 'INPUT'

    @property
    def num_io_tensors(self):
        return len(self._io)

    def get_tensor_name(self, index):
        return self._io[index]['name']

    def get_tensor_shape(self, name):
        # SOURCES['implicit_batch_shapes']: an implicit-batch engine's shapes have no batch dimension here too
        return tuple(dict((t['name'], t['shape']) for t in self._io)[name])

    def _profile(self, name):
        for profile in self._description['profiles'][:1]:
            if name in profile:
                return profile[name]
        return None

    def get_tensor_profile_shape(self, name, profile_index):
        shapes = self._profile(name) if profile_index == 0 else None
        if shapes is None:
            raise RuntimeError(PREFIX + 'no profile %d for %s' % (profile_index, name))
        return [tuple(s) for s in shapes]

    def get_profile_shape(self, profile_index, binding):
        return self.get_tensor_profile_shape(self.get_binding_name(binding) if isinstance(binding, int)
                                             else binding, profile_index)

    def get_tensor_format(self, name, profile_index=0):
        # SOURCES['tensor_format']
        self._io_shape(name)  # KeyError for a name the engine does not have
        return EnumMember('TensorFormat', 'LINEAR', ENUMS['TensorFormat'].index('LINEAR'))

    def get_tensor_mode(self, name):
        mode = dict((t['name'], t['mode']) for t in self._io)[name]
        return EnumMember('TensorIOMode', mode, ENUMS['TensorIOMode'].index(mode))

    # Run-time side (the smoke test's runtime): the double's I/O is always float32.
    def get_binding_dtype(self, index):
        return EnumMember('DataType', 'FLOAT', ENUMS['DataType'].index('FLOAT'))

    def get_tensor_dtype(self, name):
        return EnumMember('DataType', 'FLOAT', ENUMS['DataType'].index('FLOAT'))

    @property
    def has_implicit_batch_dimension(self):
        # UFF networks are created without EXPLICIT_BATCH (flag value 1), as on TensorRT 7/8
        return not self._description['network_flags'] & 1 and int(STATE['version'].split('.')[0]) < 10

    @property
    def max_batch_size(self):
        return self._description['max_batch_size']

    def create_execution_context(self):
        record('ICudaEngine.create_execution_context')
        return IExecutionContext(self)


class IExecutionContext(object):
    """Records what a runtime sets and enqueues; computes nothing (output buffers keep what they held)."""

    def __init__(self, engine):
        self._engine = engine
        self._shapes = dict((t['name'], list(t['shape'])) for t in engine._io)

    def _shape(self, name):
        shape = list(self._shapes[name])
        inputs = [t['name'] for t in self._engine._io if t['mode'] == 'INPUT']
        if shape and shape[0] < 0 and inputs and self._shapes[inputs[0]][0] >= 0:
            shape[0] = self._shapes[inputs[0]][0]  # a dynamic batch follows the input's
        return tuple(shape)

    def _name(self, index):
        return self._engine._io[index]['name']

    @property
    def active_optimization_profile(self):
        return 0  # SOURCES['active_profile']

    def _fits(self, name, shape):
        """SOURCES['input_shape_false'] and ['dla_profile']: a shape outside the profile is refused."""
        shapes = self._engine._profile(name)
        if shapes is None:
            return len(shape) == len(self._engine._io_shape(name))
        low, high = shapes[0], shapes[2]
        return len(shape) == len(low) and all(a <= d <= b for a, d, b in zip(low, shape, high))

    def set_binding_shape(self, binding, shape):
        record('IExecutionContext.set_binding_shape', binding, list(shape))
        if not self._fits(self._name(binding), list(shape)):
            return False
        self._shapes[self._name(binding)] = list(shape)
        return True

    def get_binding_shape(self, binding):
        return self._shape(self._name(binding))

    def set_input_shape(self, name, shape):
        record('IExecutionContext.set_input_shape', name, list(shape))
        if not self._fits(name, list(shape)):
            return False
        self._shapes[name] = list(shape)
        return True

    def get_tensor_shape(self, name):
        return self._shape(name)

    def set_tensor_address(self, name, memory):
        record('IExecutionContext.set_tensor_address', name, int(memory))
        return True

    def execute_async(self, batch_size=1, bindings=None, stream_handle=None, input_consumed=None):
        record('IExecutionContext.execute_async', batch_size, list(bindings), stream_handle)
        description = self._engine._description
        if not self._engine.has_implicit_batch_dimension:
            return False  # SOURCES['implicit_batch_enqueue']: the implicit enqueue is for implicit-batch engines
        if batch_size < 1 or batch_size > description['max_batch_size']:
            return False
        if description.get('dla') and batch_size != description['max_batch_size']:
            return False  # SOURCES['dla_implicit_batch']
        return True

    def execute_async_v2(self, bindings, stream_handle, input_consumed=None):
        record('IExecutionContext.execute_async_v2', list(bindings), stream_handle)
        return True

    def execute_async_v3(self, stream_handle):
        record('IExecutionContext.execute_async_v3', stream_handle)
        return True


class Runtime(object):
    DLA_core = attribute('_dla_core')

    def __init__(self, logger):
        self._logger = logger
        self._dla_core = -1  # SOURCES['runtime_dla_core']: "Defaults to -1"

    @property
    def num_DLA_cores(self):
        return STATE['platform'].get('dla_cores', 0)

    def deserialize_cuda_engine(self, serialized_engine):
        data = bytes(serialized_engine)
        record('Runtime.deserialize_cuda_engine', data)
        magic = ENGINE_MAGIC + b' ' + STATE['version'].encode() + b' '
        if not data.startswith(magic):
            _log(self._logger, 'ERROR', 'not an engine of this test double version (%s)' % STATE['version'])
            return None
        engine = ICudaEngine(data)
        if engine._description.get('dla') and self._dla_core < 0:
            # SOURCES['runtime_dla_core']: trtexec sets the core first; what a DLA engine does on a runtime
            # left at -1 is not documented, so the double refuses it
            _log(self._logger, 'ERROR', 'DLA engine deserialized with Runtime.DLA_core unset (-1): what TensorRT '
                                        'does then is unknown to the double')
            return None
        return engine


class Builder(object):
    max_batch_size = attribute('_max_batch_size')
    max_workspace_size = attribute('_max_workspace_size')

    def __init__(self, logger):
        record('Builder.__init__')
        self._logger = logger
        self._max_batch_size = 1
        self._max_workspace_size = 0

    @property
    def platform_has_fast_fp16(self):
        return STATE['platform'].get('fast_fp16', True)

    @property
    def platform_has_fast_int8(self):
        return STATE['platform'].get('fast_int8', True)

    @property
    def num_DLA_cores(self):
        return STATE['platform'].get('dla_cores', 0)

    def create_network(self, flags=0):
        record('Builder.create_network', int(flags))
        return INetworkDefinition(int(flags))

    def create_builder_config(self):
        record('Builder.create_builder_config')
        return IBuilderConfig()

    def create_optimization_profile(self):
        return IOptimizationProfile()

    def build_engine(self, network, config):
        record('Builder.build_engine')
        data = self._build(network, config)
        return None if data is None else ICudaEngine(data)

    def build_serialized_network(self, network, config):
        record('Builder.build_serialized_network')
        data = self._build(network, config)
        return None if data is None else IHostMemory(data)

    def _fail(self, message):
        _log(self._logger, 'ERROR', message)
        return None

    def _build(self, network, config):
        if network._model_sha256 is None:
            return self._fail('the network is empty (nothing was parsed)')
        profiled = set()
        for profile in config._profiles:
            profiled.update(profile._shapes)
        for tensor in network._inputs:
            if any(d < 0 for d in tensor._shape) and tensor._name not in profiled:
                return self._fail('input %s has dynamic dimensions %s and no optimization profile'
                                  % (tensor._name, list(tensor._shape)))
        # SOURCES['set_shape'], condition (3) of setDimensions, checked "at engine build time"
        for profile in config._profiles:
            for tensor in network._inputs:
                for shape in profile._shapes.get(tensor._name, []):
                    if len(shape) != len(tensor._shape) or any(
                            d >= 0 and d != s for d, s in zip(tensor._shape, shape)):
                        return self._fail('profile shape %s does not fit input %s %s'
                                          % (shape, tensor._name, list(tensor._shape)))
        calibration = None
        if 'BuilderFlag.INT8' in config._flags:
            if config._int8_calibrator is None:
                return self._fail('INT8 requested without a calibrator (no scaling factors)')
            cache = config._int8_calibrator.read_calibration_cache()
            if not cache:
                return self._fail('INT8 calibrator returned no calibration cache')
            calibration = hashlib.sha256(bytes(cache)).hexdigest()
        dla = None
        if str(config._default_device_type) == 'DeviceType.DLA':
            cores = STATE['platform'].get('dla_cores', 0)
            if config._dla_core >= cores:
                return self._fail('DLA core %d requested, %d available' % (config._dla_core, cores))
            dla = {'core': config._dla_core, 'gpu_fallback': 'BuilderFlag.GPU_FALLBACK' in config._flags}
            # SOURCES['dla_profile']: no dynamic dimension on DLA. What TensorRT does with a dynamic profile
            # (error, or every layer on the GPU under fallback) is not documented: the double refuses the build.
            for tensor in network._inputs:
                if any(d < 0 for d in tensor._shape) and not _static_profile(config, tensor._name):
                    return self._fail('DLA build with a dynamic profile for input %s: DLA needs min = opt = max '
                                      '(what TensorRT does here is unknown to the double)' % tensor._name)
        if 'BuilderFlag.FP16' in config._flags and not STATE['platform'].get('fast_fp16', True):
            # the builder's own warning text (docs field-errors #14: NVIDIA/TensorRT#218)
            _log(self._logger, 'WARNING', 'Half2 support requested on hardware without native FP16 support, '
                                          'performance will be negatively affected.')
        io = [{'name': t._name, 'shape': list(t._shape), 'mode': 'INPUT'} for t in network._inputs] + \
             [{'name': t._name, 'shape': list(t._shape), 'mode': 'OUTPUT'} for t in network._outputs]
        description = {
            'tensorrt_version': STATE['version'],
            'model_sha256': network._model_sha256,
            'network_flags': network._flags,
            'flags': sorted(config._flags),
            'max_batch_size': self._max_batch_size,
            'max_workspace_size': config._max_workspace_size,
            'memory_pools': config._pools,
            'dla': dla,
            'calibration_cache_sha256': calibration,
            'profiles': [p._shapes for p in config._profiles],
            'compute_capabilities': config._capabilities,
            'io': io,
        }
        body = json.dumps(description, sort_keys=True).encode()
        digest = hashlib.sha256(body).hexdigest()
        if config._timing_cache is not None:
            config._timing_cache._entries = sorted(set(config._timing_cache._entries) | {digest})
        return ENGINE_MAGIC + b' ' + STATE['version'].encode() + b' ' + digest.encode() + b'\n' + body


# SOURCES['dtype_aliases']: module-level name -> DataType member (only those the double's DataType has)
DTYPE_ALIASES = {'float32': 'FLOAT', 'float16': 'HALF', 'int8': 'INT8', 'int32': 'INT32', 'bool': 'BOOL',
                 'uint8': 'UINT8', 'fp8': 'FP8', 'bfloat16': 'BF16'}


def init_libnvinfer_plugins(logger, namespace):
    record('init_libnvinfer_plugins', namespace)
    return True
