# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""TensorRT as the running interpreter sees it (probe_interpreter=True), against a fixture's system one.

Packages are written into tmp_path and put on sys.path (and PYTHONPATH, for the child-process import).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import os
import sys

import pytest

from ansible_collections.tao.fleet.plugins.module_utils import _platform

SYSROOTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'fixtures', 'sysroots')

DOUBLE_INIT = '''"""TensorRT TEST DOUBLE (shape of tests/doubles/install.py's): NOT NVIDIA TensorRT."""

__version__ = "%s"
__tao_fleet_test_double__ = True

raise ImportError("platform_facts must read this file, not import it")
'''
RTX_INIT = '''import ctypes
raise ImportError("libtensorrt_rtx.so.1 cannot be loaded here: platform_facts must not import this")
__version__ = "1.7.1.116"
'''


@pytest.fixture
def site(tmp_path, monkeypatch):
    """site(name, init_text) puts a package on this interpreter's path and the child processes'."""
    directory = tmp_path / 'site'
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    monkeypatch.setenv('PYTHONPATH', str(directory))
    for name, _flavour in _platform.INTERPRETER_TENSORRT_PACKAGES:
        if name in sys.modules:
            monkeypatch.delitem(sys.modules, name)

    def add(name, init_text):
        package = directory / name
        package.mkdir()
        (package / '__init__.py').write_text(init_text)
        importlib.invalidate_caches()
        return str(package)
    return add


def gather(profile, **kwargs):
    return _platform.gather(os.path.join(SYSROOTS, profile), probe_interpreter=True, **kwargs)


def test_test_double_is_reported_as_such_and_builds(site):
    path = site('tensorrt', DOUBLE_INIT % '8.2.1.8')
    facts = gather('nano-jp46')
    trt = facts['tensorrt']
    assert trt['scope'] == 'interpreter' and trt['test_double'] is True
    assert (trt['version'], trt['flavour'], trt['package'], trt['path']) == ('8.2.1.8', 'tensorrt', 'tensorrt', path)
    assert trt['interpreter'] == sys.executable
    assert trt['version_source'] == 'read from %s' % os.path.join(path, '__init__.py')
    assert [other['scope'] for other in facts['tensorrt_others']] == ['system']
    assert facts['platform_key']['test_double'] == 'true'
    assert facts['platform_key']['tensorrt'] == '8.2.1.8'
    assert facts['supported'] is True
    warning, = [w for w in facts['warnings'] if 'Engines are built with' in w]
    assert 'TEST DOUBLE' in warning and 'ansible_python_interpreter: /usr/bin/python3' in warning
    assert sys.executable in warning


def test_rtx_bindings_are_read_without_import_and_warn_on_a_jetson(site):
    site('tensorrt_rtx_bindings', RTX_INIT)
    facts = gather('orin-nx-jp62')
    trt = facts['tensorrt']
    assert (trt['version'], trt['flavour'], trt['package'], trt['test_double']) == \
        ('1.7.1.116', 'tensorrt_rtx', 'tensorrt_rtx_bindings', False)
    assert 'test_double' not in facts['platform_key']
    assert facts['platform_key']['tensorrt_flavour'] == 'tensorrt_rtx'
    assert facts['tensorrt_others'][0]['version'] == '10.3.0.30'
    assert any('TensorRT-RTX 1.7.1.116 builds for RTX GPUs' in w and '8.7' in w for w in facts['warnings'])
    assert any('system TensorRT is 10.3.0.30' in w and 'Python 3.10' in w for w in facts['warnings'])
    assert facts['supported'] is True


def test_rtx_on_an_rtx_gpu_gives_no_rtx_warning(site):
    site('tensorrt_rtx_bindings', RTX_INIT)
    facts = gather('dgpu-x86')
    assert facts['tensorrt']['flavour'] == 'tensorrt_rtx'
    assert not any('builds for RTX GPUs' in w for w in facts['warnings'])


def test_the_first_importable_package_builds_and_the_others_are_listed(site):
    site('tensorrt', DOUBLE_INIT % '10.13.3.9')
    site('tensorrt_rtx_bindings', RTX_INIT)
    facts = gather('thor-jp70')
    assert facts['tensorrt']['package'] == 'tensorrt'
    assert [(o['scope'], o.get('package'), o['version']) for o in facts['tensorrt_others']] == [
        ('interpreter', 'tensorrt_rtx_bindings', '1.7.1.116'), ('system', None, '10.13.3.9')]


def test_same_version_as_the_system_gives_no_interpreter_warning(site):
    site('tensorrt', 'from .tensorrt import *  # noqa\n__version__ = "10.13.3.9"\n')
    facts = gather('thor-jp70')
    assert facts['tensorrt']['version'] == '10.13.3.9' and facts['tensorrt']['test_double'] is False
    assert not any('Engines are built with' in w for w in facts['warnings'])


def test_version_not_in_the_file_is_read_by_a_bounded_child_import(site):
    site('tensorrt', 'import os\n__version__ = ".".join(["8", "5", "2", "2"])\n')
    facts = gather('xavier-nx-jp51')
    assert facts['tensorrt']['version'] == '8.5.2.2'
    assert facts['tensorrt']['version_source'] == 'imported in a child process'
    assert 'tensorrt' not in sys.modules


def test_package_whose_import_crashes_is_skipped_with_a_warning(site):
    site('tensorrt_rtx', 'import os\nos.abort()\n')
    facts = gather('orin-nx-jp62')
    assert facts['tensorrt']['scope'] == 'system'
    assert any('Python package tensorrt_rtx is present' in w for w in facts['warnings'])


def test_package_whose_import_hangs_is_killed_at_the_timeout(site):
    site('tensorrt_rtx', 'import time\ntime.sleep(60)\n')
    facts = gather('orin-nx-jp62', timeout=1)
    assert any('tensorrt_rtx' in w and 'did not finish within 1 s' in w for w in facts['warnings'])


def test_interpreter_without_tensorrt_on_a_jetson_points_at_the_system_python(site):
    facts = gather('agx-orin-jp62')
    assert facts['tensorrt']['scope'] == 'system'
    assert facts['supported'] is False
    assert 'not importable by the interpreter running this module (%s' % sys.executable in facts['reason']
    assert 'ansible_python_interpreter: /usr/bin/python3' in facts['reason']
    assert '--system-site-packages' in facts['reason']
    assert 'Python 3.10' in facts['reason']


class OfferEverythingFinder(object):
    """Answers find_spec for every TensorRT package with a spec that has no files, as mitogen's importer does
    for any package missing on the host (it would fetch it from the controller)."""

    def find_spec(self, name, path=None, target=None):
        if name in dict(_platform.INTERPRETER_TENSORRT_PACKAGES):
            import importlib.machinery
            return importlib.machinery.ModuleSpec(name, loader=self)
        return None


def test_a_finder_that_only_offers_to_fetch_a_package_is_not_an_installed_package(site, monkeypatch):
    monkeypatch.setattr(sys, 'meta_path', [OfferEverythingFinder()] + sys.meta_path)
    facts = gather('thor-jp70')
    assert facts['tensorrt']['scope'] == 'system'
    assert not any('is present' in w for w in facts['warnings']), facts['warnings']
    site('tensorrt', DOUBLE_INIT % '10.13.3.9')
    monkeypatch.setattr(sys, 'meta_path', [finder for finder in sys.meta_path
                                           if not isinstance(finder, OfferEverythingFinder)])
    assert gather('thor-jp70')['tensorrt']['scope'] == 'interpreter'
