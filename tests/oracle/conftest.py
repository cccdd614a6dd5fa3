# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Make ``ansible_collections.tao.fleet`` importable for this suite when the runner has not.

The oracle venvs hold only NVIDIA's encoder, pytest and cryptography: no collection install. A
link ``<tmp>/ansible_collections/tao/fleet -> <repo root>`` outside the repo is enough.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import os
import shutil
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _ensure_collection_importable():
    try:
        import ansible_collections.tao.fleet.plugins.module_utils._etlt  # noqa: F401
        return
    except ImportError:
        pass
    root = tempfile.mkdtemp(prefix='tao_fleet_oracle_')
    atexit.register(shutil.rmtree, root, True)
    namespace = os.path.join(root, 'ansible_collections', 'tao')
    os.makedirs(namespace)
    os.symlink(REPO_ROOT, os.path.join(namespace, 'fleet'))
    sys.path.insert(0, root)
    for name in [name for name in sys.modules if name.startswith('ansible_collections')]:
        del sys.modules[name]


_ensure_collection_importable()
