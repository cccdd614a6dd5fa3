"""Install the TensorRT test double of one version and import it in this process (for unit tests).

    module = harness.load('8.2.1.8', tmp_path, dla_cores=2)   # then: harness.unload()

Only one version is imported at a time: ``load`` first drops any ``tensorrt`` imported before.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import install  # noqa: E402  (tests/doubles/install.py, found through HERE)

MODULES = ('tensorrt', 'tensorrt_rtx', 'tao_fleet_trt_double', 'tao_fleet_trt_double.api', 'tao_fleet_trt_double.onnx_reader')


def unload():
    for name in MODULES:
        sys.modules.pop(name, None)
    sys.path[:] = [p for p in sys.path if not p.endswith(os.sep + 'trt-double-site')]


def load(version, tmp_dir, dla_cores=0, fast_fp16=True, fast_int8=True, module='tensorrt'):
    unload()
    site = os.path.join(str(tmp_dir), 'trt-double-site')
    install.install(version, site, {'dla_cores': dla_cores, 'fast_fp16': fast_fp16, 'fast_int8': fast_int8}, module)
    sys.path.insert(0, site)
    importlib.invalidate_caches()
    return importlib.import_module(module)
