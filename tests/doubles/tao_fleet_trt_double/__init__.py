"""TensorRT test double for tao.fleet: NOT NVIDIA TensorRT.

``tests/doubles/install.py`` installs this package next to a generated ``tensorrt`` package whose
``__init__`` calls ``populate()``. ``populate`` builds the ``tensorrt`` namespace of one version from
that version's real name list (``names.txt``): a class, method, property or enum member appears only
if the real bindings of that version have it, so code calling a missing name fails with AttributeError
exactly as on a device. Objects the double returns are instances of those filtered classes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import types

from tao_fleet_trt_double import api

HERE = os.path.dirname(os.path.abspath(__file__))

CLASSES = ('ILogger', 'Logger', 'ParserError', 'ITensor', 'ILayer', 'INetworkDefinition', 'OnnxParser',
           'UffParser', 'IOptimizationProfile', 'ITimingCache', 'IHostMemory', 'IInt8EntropyCalibrator2',
           'IInt8EntropyCalibrator', 'IInt8MinMaxCalibrator', 'IInt8LegacyCalibrator', 'IBuilderConfig',
           'ICudaEngine', 'IExecutionContext', 'Runtime', 'Builder')
FUNCTIONS = ('init_libnvinfer_plugins',)
SKIPPED_DUNDERS = ('__dict__', '__weakref__')


def read_names(path):
    with open(path) as handle:
        return set(line.strip() for line in handle if line.strip() and not line.startswith('#'))


class RecordingModule(types.ModuleType):
    """Module type of the generated ``tensorrt``: notes each public name read from it."""

    def __getattribute__(self, name):
        value = types.ModuleType.__getattribute__(self, name)
        if not name.startswith('_'):
            api.STATE['accessed'].add(name)
        return value


class RecordingEnumType(type):
    """Metaclass of the double's enums: notes each member read (``BuilderFlag.FP16``)."""

    def __getattribute__(cls, name):
        value = type.__getattribute__(cls, name)
        if not name.startswith('_'):
            api.STATE['accessed'].add('%s.%s' % (type.__getattribute__(cls, '_qualified'), name))
        return value


def make_enum(qualified, members):
    enum = api.make_enum(qualified.split('.')[-1], members)
    attrs = dict((k, v) for k, v in vars(enum).items() if k not in SKIPPED_DUNDERS)
    attrs['_qualified'] = qualified
    return RecordingEnumType(enum.__name__, (object,), attrs)


def _recording_getattribute(holder):
    def __getattribute__(self, name):
        value = object.__getattribute__(self, name)
        # only names of the exposed API count (a subclass's own methods, e.g. a logger's log, do not)
        if not name.startswith('_') and hasattr(holder[0], name):
            api.STATE['accessed'].add('%s.%s' % (holder[0].__name__, name))
        return value
    return __getattribute__


def _guarded_setattr(allowed_type):
    def __setattr__(self, name, value):
        # pybind11 objects refuse unknown attributes; Python subclasses (loggers, calibrators) may add any
        if self.__class__ is allowed_type[0] and not name.startswith('_') and not hasattr(type(self), name):
            raise AttributeError("'%s' object has no attribute '%s'" % (type(self).__name__, name))
        if not name.startswith('_') and hasattr(allowed_type[0], name):
            api.STATE['accessed'].add('%s.%s' % (allowed_type[0].__name__, name))
        object.__setattr__(self, name, value)
    return __setattr__


def expose_class(implementation, names):
    """A flat copy of ``implementation`` keeping private attributes and the public ones ``names`` lists."""
    name = implementation.__name__
    attrs = {}
    for klass in reversed(implementation.__mro__[:-1]):
        for key, value in vars(klass).items():
            if key in SKIPPED_DUNDERS:
                continue
            if key.startswith('_') or '%s.%s' % (name, key) in names:
                attrs[key] = value
    holder = []
    attrs['__setattr__'] = _guarded_setattr(holder)
    attrs['__getattribute__'] = _recording_getattribute(holder)
    attrs['__module__'] = 'tensorrt'
    exposed = type(name, (object,), attrs)
    holder.append(exposed)
    return exposed


def populate(namespace, version, module=None):
    """Fill ``namespace`` (the generated package's globals); ``module`` then records the names read from it."""
    names = read_names(os.path.join(HERE, 'names.txt'))
    with open(os.path.join(HERE, 'platform.json')) as handle:
        platform = json.load(handle)
    api.STATE.update(version=version, platform=platform, calls=[], accessed=set())
    for enum_name, members in api.ENUMS.items():
        if enum_name in names:
            namespace[enum_name] = make_enum(enum_name, [m for m in members if '%s.%s' % (enum_name, m) in names])
    for class_name in CLASSES:
        if class_name not in names:
            continue
        exposed = expose_class(getattr(api, class_name), names)
        setattr(api, class_name, exposed)
        namespace[class_name] = exposed
    for logger_name in ('ILogger', 'Logger'):
        if '%s.Severity' % logger_name in names:
            severity = make_enum('%s.Severity' % logger_name, [m for m in api.ENUMS['Severity']
                                                               if '%s.Severity.%s' % (logger_name, m) in names])
            setattr(namespace[logger_name], 'Severity', severity)
            # SOURCES['logger_severity']: the members are class attributes too (trt.Logger.INFO)
            for member in api.ENUMS['Severity']:
                if '%s.%s' % (logger_name, member) in names:
                    setattr(namespace[logger_name], member, type.__getattribute__(severity, member))
    if 'DataType' in namespace:
        for alias, member in sorted(api.DTYPE_ALIASES.items()):
            if alias in names and hasattr(namespace['DataType'], member):
                namespace[alias] = type.__getattribute__(namespace['DataType'], member)
    for function in FUNCTIONS:
        if function in names:
            namespace[function] = getattr(api, function)
    namespace['__tao_fleet_calls__'] = api.STATE['calls']
    namespace['__tao_fleet_accessed__'] = api.STATE['accessed']
    if module is not None:
        module.__class__ = RecordingModule
