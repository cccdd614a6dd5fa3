# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""One TensorRT layer for TensorRT 7.x, 8.0-8.4, 8.5/8.6, 10.x, 11.x and TensorRT-RTX 1.x.

``capabilities(version, flavour)`` and ``check_request(caps, request, platform)`` are pure (no TensorRT
import): use them in check mode and in the parent process. ``import_tensorrt()`` and ``build()`` run in
the build's child process. docs/tensorrt.md describes the request and result dicts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gc

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._trt._capabilities import capabilities, parse_version
from ansible_collections.tao.fleet.plugins.module_utils._trt._loader import (
    LoadedTensorRT, import_tensorrt, install_hint)
from ansible_collections.tao.fleet.plugins.module_utils._trt._request import (
    check_request, normalize_request, parse_calibration_header)

__all__ = ['build', 'capabilities', 'check_request', 'import_tensorrt', 'install_hint', 'load_generations', 'normalize_request',
           'parse_calibration_header', 'parse_version', 'LoadedTensorRT']


def _generation_class(name):
    # imported on demand: a module that only checks requests never needs the build code
    if name == 'gen7':
        from ansible_collections.tao.fleet.plugins.module_utils._trt._gen7 import Gen7 as cls
    elif name == 'gen8_0':
        from ansible_collections.tao.fleet.plugins.module_utils._trt._gen8_0 import Gen8_0 as cls
    elif name == 'gen8_5':
        from ansible_collections.tao.fleet.plugins.module_utils._trt._gen8_5 import Gen8_5 as cls
    elif name == 'gen10':
        from ansible_collections.tao.fleet.plugins.module_utils._trt._gen10 import Gen10 as cls
    elif name == 'gen11':
        from ansible_collections.tao.fleet.plugins.module_utils._trt._gen11 import Gen11 as cls
    else:
        from ansible_collections.tao.fleet.plugins.module_utils._trt._rtx1 import Rtx1 as cls
    return cls


def load_generations():
    """Import the build code of every generation now, before the build forks its child: under mitogen a
    module's imports come from the controller through a thread that a forked child does not have, so an
    import made first in the child waits forever."""
    for name in ('gen7', 'gen8_0', 'gen8_5', 'gen10', 'gen11', 'rtx1'):
        _generation_class(name)


def build(trt, request, log=None, platform=None):
    """Build and serialize an engine with the imported TensorRT ``trt`` (a LoadedTensorRT or the module).

    ``log(level, message)``, if given, receives every TensorRT logger message as it comes. Returns a dict:
    engine (bytes), tensorrt (version, flavour, generation, test_double), precision (effective), dla
    (layer counts or None), profiles, max_batch (UFF), inputs, outputs, timing_cache (bytes or None),
    warnings, errors, log. Raises TaoFleetError with a code (docs/tensorrt.md lists them).
    """
    loaded = trt if isinstance(trt, LoadedTensorRT) else LoadedTensorRT.wrap(trt)
    caps = capabilities(loaded.version, loaded.flavour)
    request = normalize_request(request)
    warnings = check_request(caps, request, platform)
    generation = _generation_class(caps['generation'])(loaded, caps, request, warnings, log)
    # TensorRT objects of an earlier build that only a cycle still holds die here, not inside a
    # TensorRT call of this one (see _drop_tracebacks).
    gc.collect()
    try:
        return generation.run()
    except TaoFleetError as error:
        _drop_tracebacks(error)
        raise error  # not a bare raise: Python 3.6 to 3.10 would restore the saved traceback


def _drop_tracebacks(error):
    """Free a failed build's TensorRT objects now, by dropping the frames that hold them.

    Left to the garbage collector (a caller that keeps the error, as pytest.raises does, makes a
    cycle), an IBuilder of TensorRT-RTX 1.7.1 was destroyed inside the next Builder's constructor and
    deadlocked on TensorRT's own mutex. The error's message, cause and details say what failed.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        error.__traceback__ = None
        error = error.__cause__ or error.__context__
