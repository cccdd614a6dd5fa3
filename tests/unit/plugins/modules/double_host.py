# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""A simulated host for the module tests that build engines: the TensorRT TEST DOUBLE installed where the
build child imports it, and Xavier NX platform facts that name it; and the PeopleNet stand-in of the demo."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import importlib.util
import json
import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..'))
sys.path.insert(0, os.path.join(REPO, 'tests', 'doubles'))
import install  # noqa: E402

VERSION = '8.5.2.2'


def load_demo_model():
    """tests/fleet/demo_model.py (the stand-in's .etlt, ONNX and scenes), loaded from its path."""
    spec = importlib.util.spec_from_file_location('demo_model', os.path.join(REPO, 'tests', 'fleet', 'demo_model.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def double_installed(tmp_path):
    """Yields Xavier NX facts naming the double, installed under ``tmp_path``; afterwards the double is gone
    from sys.path and sys.modules."""
    site = str(tmp_path / 'site')
    install.install(VERSION, site, {'dla_cores': 2, 'fast_fp16': True, 'fast_int8': True})
    sys.path.insert(0, site)
    with open(os.path.join(REPO, 'tests', 'fixtures', 'sysroots', 'xavier-nx-jp51.expected.json')) as handle:
        facts = json.load(handle)['tao_platform']
    facts['tensorrt'] = {'version': VERSION, 'flavour': 'tensorrt', 'test_double': True}
    facts['platform_key'].update(tensorrt=VERSION, test_double='true')
    try:
        yield facts
    finally:
        sys.path.remove(site)
        for name in [n for n in sys.modules if n.startswith(('tensorrt', 'tao_fleet_trt_double'))]:
            del sys.modules[name]
