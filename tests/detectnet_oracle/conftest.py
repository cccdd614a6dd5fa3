# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The DetectNet_v2 oracle suite: NVIDIA's tao-deploy post-processing, scikit-learn's DBSCAN
and OpenCV's groupRectangles, run against plugins/module_utils/_detectnet.py.

tao-deploy's wheel (nvidia-tao-deploy 7.3.0, pure Python, plain source) cannot be installed with
its dependencies here (cupy, TensorRT-era pins, mpi4py...), and the two modules used need only
numpy, six and scikit-learn. So the suite downloads the wheel itself (``pip download --no-deps``,
into ~/.cache/tao_fleet/wheels or $TAO_FLEET_WHEEL_CACHE), checks its sha256 and imports those
modules from the wheel file. If that fails, the tests fail: an oracle that did not run proves
nothing.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import os
import subprocess
import sys
import types

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TAO_DEPLOY_REQUIREMENT = 'nvidia-tao-deploy==7.3.0'
TAO_DEPLOY_WHEEL = 'nvidia_tao_deploy-7.3.0-py3-none-any.whl'
TAO_DEPLOY_SHA256 = '6b7f9693af7b38072f8eed43993134df6367629718e31c7af7aedd515cd25679'


def _make_collection_importable():
    """``ansible_collections.tao.fleet`` from this checkout, wherever the checkout sits."""
    try:
        import ansible_collections.tao.fleet.plugins.module_utils._detectnet  # noqa: F401
        return
    except ImportError:
        pass
    for name, path in (('ansible_collections', []), ('ansible_collections.tao', []),
                       ('ansible_collections.tao.fleet', [REPO_ROOT])):
        module = sys.modules.get(name)
        if module is None or name.endswith('.fleet'):
            module = types.ModuleType(name)
            module.__path__ = path
            sys.modules[name] = module


_make_collection_importable()


def _sha256(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.fixture(scope='session')
def tao_deploy():
    """NVIDIA's ``nvidia_tao_deploy.cv.detectnet_v2`` ``postprocessor`` and ``utils`` modules."""
    cache = os.environ.get('TAO_FLEET_WHEEL_CACHE') or os.path.expanduser('~/.cache/tao_fleet/wheels')
    wheel = os.path.join(cache, TAO_DEPLOY_WHEEL)
    if not os.path.isfile(wheel):
        if not os.path.isdir(cache):
            os.makedirs(cache)
        # --ignore-requires-python: the wheel says >= 3.10; its post-processing code is plain
        # Python 3.6 and this suite runs it under 3.6 too.
        command = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:',
                   '--ignore-requires-python', '--dest', cache, TAO_DEPLOY_REQUIREMENT]
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, timeout=600, check=False)
        if result.returncode or not os.path.isfile(wheel):
            pytest.fail('Cannot download %s (the oracle for this suite): %s\n%s'
                        % (TAO_DEPLOY_REQUIREMENT, ' '.join(command), result.stdout[-2000:]))
    if _sha256(wheel) != TAO_DEPLOY_SHA256:
        pytest.fail('%s has sha256 %s, expected %s: delete it and rerun to download it again'
                    % (wheel, _sha256(wheel), TAO_DEPLOY_SHA256))
    sys.path.insert(0, wheel)
    from nvidia_tao_deploy.cv.detectnet_v2 import postprocessor, utils
    assert os.path.abspath(utils.__file__).startswith(os.path.abspath(wheel))
    return types.SimpleNamespace(postprocessor=postprocessor, utils=utils)
