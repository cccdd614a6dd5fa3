# -*- coding: utf-8 -*-
"""import_tensorrt: which bindings it finds, and what it says when there are none."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import os
import sys
import types

import pytest

from ansible_collections.tao.fleet.plugins.module_utils._errors import OptionalImportError
from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import LoadedTensorRT, import_tensorrt
from ansible_collections.tao.fleet.plugins.module_utils._trt import _loader

DOUBLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'doubles')
sys.path.insert(0, os.path.abspath(DOUBLES))
import harness  # noqa: E402


@pytest.fixture
def no_tensorrt(monkeypatch):
    real_import = importlib.import_module

    def fake_import(name, *args):
        if name in dict(_loader.CANDIDATES):
            raise ImportError('No module named %r' % name)
        return real_import(name, *args)
    monkeypatch.setattr(_loader.importlib, 'import_module', fake_import)


def test_missing_tensorrt_on_jetpack_points_at_apt(no_tensorrt):
    with pytest.raises(OptionalImportError) as caught:
        import_tensorrt({'jetpack': '4.6.6'})
    error = caught.value
    assert error.code == 'missing_python_package'
    assert 'python3-libnvinfer' in error.fix and 'JetPack 4.6.6' in error.fix
    assert '--system-site-packages' in error.fix
    assert [line.split(':')[0] for line in error.details['tried']] == [name for name, _unused in _loader.CANDIDATES]


def test_missing_tensorrt_on_a_dgpu_points_at_pip(no_tensorrt):
    with pytest.raises(OptionalImportError) as caught:
        import_tensorrt({'cuda': '13.0'})
    assert 'pip install tensorrt-cu13' in caught.value.fix
    assert 'tensorrt-rtx-cu13' in caught.value.fix


def test_finds_the_test_double_and_says_so(tmp_path):
    try:
        harness.load('8.5.2.2', tmp_path)
        loaded = import_tensorrt()
    finally:
        harness.unload()
    assert (loaded.flavour, loaded.version, loaded.test_double) == ('tensorrt', '8.5.2.2', True)


def test_tensorrt_rtx_bindings_without_the_metapackage(monkeypatch):
    fake = types.ModuleType('tensorrt_rtx_bindings')
    fake.Builder = object
    fake.__version__ = '1.7.1.116'
    real_import = importlib.import_module

    def fake_import(name, *args):
        if name == 'tensorrt_rtx_bindings':
            return fake
        if name in dict(_loader.CANDIDATES):
            raise ImportError(name)
        return real_import(name, *args)
    monkeypatch.setattr(_loader.importlib, 'import_module', fake_import)
    loaded = import_tensorrt()
    assert (loaded.module, loaded.flavour, loaded.version, loaded.test_double) == (fake, 'tensorrt_rtx', '1.7.1.116', False)


def test_a_module_without_builder_is_not_taken_for_tensorrt(monkeypatch):
    frontend_only = types.ModuleType('tensorrt')
    real_import = importlib.import_module

    def fake_import(name, *args):
        if name == 'tensorrt':
            return frontend_only
        if name in dict(_loader.CANDIDATES):
            raise ImportError(name)
        return real_import(name, *args)
    monkeypatch.setattr(_loader.importlib, 'import_module', fake_import)
    with pytest.raises(OptionalImportError) as caught:
        import_tensorrt()
    assert 'tensorrt: imported but has no Builder (not the bindings)' in caught.value.details['tried']


def test_wrap_reads_flavour_from_the_module_name():
    module = types.ModuleType('tensorrt_rtx')
    module.__version__ = '1.7.1.116'
    assert LoadedTensorRT.wrap(module).flavour == 'tensorrt_rtx'
