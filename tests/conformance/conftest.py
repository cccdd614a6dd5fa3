# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The conformance suite: code NVIDIA wrote (polygraphy's TensorRT backend, tao-deploy's engine builder) runs
unmodified on the TensorRT test double, and tao.fleet's layer builds the same model on the same double.

Each (version, what) runs in its own process (``child.py``): polygraphy and tao-deploy import ``tensorrt``
once. Nothing here is real TensorRT: what passes here RAN ON THE DOUBLE, it is not verified on a device.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import importlib.util
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
DOUBLES = os.path.join(REPO_ROOT, 'tests', 'doubles')
MARKER = 'TAO-FLEET-CONFORMANCE '


def _detectnet_oracle():
    """tests/detectnet_oracle/conftest.py: the tao-deploy wheel's pin and sha256 live there, once."""
    spec = importlib.util.spec_from_file_location(
        'tao_fleet_detectnet_oracle_conftest', os.path.join(REPO_ROOT, 'tests', 'detectnet_oracle', 'conftest.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ORACLE = _detectnet_oracle()


def run_child(site, what, *extra):
    command = [sys.executable, os.path.join(HERE, 'child.py'), site, REPO_ROOT, what] + list(extra)
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                            timeout=300, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith(MARKER)]
    if result.returncode or not lines:
        pytest.fail('%s exited %d without a result:\n%s'
                    % (' '.join(command), result.returncode, result.stdout[-3000:]))
    return json.loads(lines[-1][len(MARKER):])


@pytest.fixture(scope='session')
def double_site(tmp_path_factory):
    """version -> a site-packages dir holding the double installed as ``tensorrt`` of that version."""
    sites = {}

    def site(version):
        if version not in sites:
            path = str(tmp_path_factory.mktemp('trt-%s' % version))
            subprocess.run([sys.executable, os.path.join(DOUBLES, 'install.py'), '--trt-version', version,
                            '--site-packages', path], check=True, stdout=subprocess.PIPE)
            sites[version] = path
        return sites[version]
    return site


@pytest.fixture(scope='session')
def built(double_site):
    """(version, what) -> the child's result, each computed once."""
    results = {}

    def get(version, what, *extra):
        key = (version, what) + extra
        if key not in results:
            results[key] = run_child(double_site(version), what, *extra)
        return results[key]
    return get


@pytest.fixture(scope='session')
def tao_deploy_wheel():
    """The nvidia-tao-deploy wheel the DetectNet_v2 oracle pins (downloaded once, sha256 checked)."""
    cache = os.environ.get('TAO_FLEET_WHEEL_CACHE') or os.path.expanduser('~/.cache/tao_fleet/wheels')
    wheel = os.path.join(cache, ORACLE.TAO_DEPLOY_WHEEL)
    if not os.path.isfile(wheel):
        os.makedirs(cache, exist_ok=True)
        command = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--dest', cache,
                   ORACLE.TAO_DEPLOY_REQUIREMENT]
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, timeout=600, check=False)
        if result.returncode or not os.path.isfile(wheel):
            pytest.fail('Cannot download %s: %s' % (ORACLE.TAO_DEPLOY_REQUIREMENT, result.stdout[-2000:]))
    with open(wheel, 'rb') as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    if digest != ORACLE.TAO_DEPLOY_SHA256:
        pytest.fail('%s has sha256 %s, expected %s' % (wheel, digest, ORACLE.TAO_DEPLOY_SHA256))
    return wheel
