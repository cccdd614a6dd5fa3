# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.tao.fleet.tests.unit.plugins.modules.module_harness import module_methods_patched


@pytest.fixture(autouse=True)
def patched_module():
    with module_methods_patched():
        yield
