# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Code that runs in a forked child must not import collection code for the first time there.

Under mitogen, a module's ``ansible_collections`` imports are answered by the controller through a thread
of the module's process; a forked child has no such thread, and its first import of such a module waited
forever (seen on the simulated fleet with mitogen 0.3.54: the build and the smoke test hung at 0 % CPU).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os
import sys

from ansible_collections.tao.fleet.plugins.module_utils._trt import layer

MODULE_UTILS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'plugins', 'module_utils')

# (file, function): what the forked children run (run_in_child's job / target)
CHILD_FUNCTIONS = [('_smoke_backends.py', 'tensorrt_job'), ('_smoke_backends.py', 'engine_readiness'),
                   ('_build.py', 'target'), ('_build.py', '_child'), ('_build.py', '_run_target')]


def _collection_imports(path, name):
    with open(os.path.join(MODULE_UTILS, path)) as handle:
        tree = ast.parse(handle.read())
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == name]
    assert functions, 'no function %s in %s: update CHILD_FUNCTIONS' % (name, path)
    found = []
    for function in functions:
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('ansible_collections'):
                found.append(node.module)
            elif isinstance(node, ast.Import):
                found.extend(alias.name for alias in node.names if alias.name.startswith('ansible_collections'))
    return found


def test_functions_run_in_a_forked_child_import_no_collection_code():
    for path, name in CHILD_FUNCTIONS:
        assert _collection_imports(path, name) == [], '%s:%s imports in the child' % (path, name)


def test_the_build_code_of_every_generation_is_loaded_before_the_fork():
    prefix = 'ansible_collections.tao.fleet.plugins.module_utils._trt.'
    for name in ('_gen7', '_gen8_0', '_gen8_5', '_gen10', '_gen11', '_rtx1'):
        sys.modules.pop(prefix + name, None)
    layer.load_generations()
    for name in ('_gen7', '_gen8_0', '_gen8_5', '_gen10', '_gen11', '_rtx1'):
        assert prefix + name in sys.modules
