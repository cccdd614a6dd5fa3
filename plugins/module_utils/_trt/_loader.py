# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Find the TensorRT Python bindings on this host: full TensorRT first, then TensorRT-RTX.

Import it in the process that builds (the build's child), never in the module's parent: a TensorRT
import loads CUDA libraries and can take seconds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib

from ansible_collections.tao.fleet.plugins.module_utils._errors import OptionalImportError

# (module, flavour): ``tensorrt`` is JetPack's apt package or the pip metapackage; ``tensorrt_bindings``
# is the pip bindings wheel without the metapackage; TensorRT-RTX imports as ``tensorrt_rtx`` only with
# the ``tensorrt-rtx-cuXX`` metapackage, else as ``tensorrt_rtx_bindings``.
CANDIDATES = (
    ('tensorrt', 'tensorrt'),
    ('tensorrt_bindings', 'tensorrt'),
    ('tensorrt_rtx', 'tensorrt_rtx'),
    ('tensorrt_rtx_bindings', 'tensorrt_rtx'),
)


class LoadedTensorRT(object):
    """The imported bindings and what they are."""

    def __init__(self, module, flavour, version, test_double):
        self.module = module
        self.flavour = flavour
        self.version = version
        self.test_double = test_double

    @classmethod
    def wrap(cls, module):
        """Describe a module imported elsewhere (flavour from its name, version from ``__version__``)."""
        flavour = 'tensorrt_rtx' if module.__name__.startswith('tensorrt_rtx') else 'tensorrt'
        return cls(module, flavour, str(module.__version__),
                   bool(getattr(module, '__tao_fleet_test_double__', False)))


def install_hint(platform=None):
    """Where TensorRT's Python bindings come from on this kind of host."""
    platform = platform or {}
    jetpack = str(platform.get('jetpack') or '')
    if jetpack:
        return ('JetPack %s ships TensorRT for the system Python only: run the module with /usr/bin/python3 '
                '(ansible_python_interpreter), or make the venv with --system-site-packages; if it is missing, '
                '"sudo apt-get install python3-libnvinfer" (JetPack 4.6: TensorRT 8.2, 5.1: 8.5, 6.x: 10.3, '
                '7.x: 10.13).' % jetpack)
    cuda = str(platform.get('cuda') or '')
    suffix = 'cu13' if cuda.startswith('13') else 'cu12'
    return ('On an x86_64/SBSA GPU host: "pip install tensorrt-%s" (CUDA %s), or for RTX GPUs '
            'TensorRT-RTX: "pip install tensorrt-rtx-cu13" (Python 3.10+). On Jetson: '
            '"sudo apt-get install python3-libnvinfer" for /usr/bin/python3.' % (suffix, cuda or '12'))


def import_tensorrt(platform=None):
    """Import the first TensorRT flavour found; raise OptionalImportError naming the package to install."""
    tried = []
    for name, flavour in CANDIDATES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            tried.append('%s: %s' % (name, exc))
            continue
        if not hasattr(module, 'Builder'):
            tried.append('%s: imported but has no Builder (not the bindings)' % name)
            continue
        return LoadedTensorRT(module, flavour, str(getattr(module, '__version__', '')),
                              bool(getattr(module, '__tao_fleet_test_double__', False)))
    raise OptionalImportError('tensorrt', 'building TensorRT engines', install_hint(platform),
                              details={'tried': tried})
