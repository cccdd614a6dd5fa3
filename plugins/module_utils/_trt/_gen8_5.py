# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""TensorRT 8.5 and 8.6: only the memory pool limit for the workspace; engines gain the name-based I/O
tensor API next to bindings (names: binding source at tag 8.5.2; real 8.6.1 wheel)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tao.fleet.plugins.module_utils._trt._gen8_0 import Gen8_0


class Gen8_5(Gen8_0):

    def set_workspace(self, config):
        config.set_memory_pool_limit(self.trt.MemoryPoolType.WORKSPACE, self.request['workspace'])
