# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""TensorRT 8.0 to 8.4: ``build_serialized_network`` and the timing cache arrive; the memory pool limit
replaces ``max_workspace_size`` in 8.4 (names: NVIDIA/TensorRT binding source at tags 8.0.1, 8.2.1, 8.4.3)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tao.fleet.plugins.module_utils._trt._base import Build
from ansible_collections.tao.fleet.plugins.module_utils._trt._gen7 import Gen7


class Gen8_0(Gen7):

    def set_workspace(self, config):
        # feature detection, as the 8.0-8.3 and 8.4 rows differ only here
        if hasattr(config, 'set_memory_pool_limit'):
            config.set_memory_pool_limit(self.trt.MemoryPoolType.WORKSPACE, self.request['workspace'])
        else:
            config.max_workspace_size = self.request['workspace']

    def set_timing_cache(self, config):
        return Build.set_timing_cache(self, config)

    def strict_flags(self):
        """From 8.2 STRICT_TYPES is deprecated; OBEY_PRECISION_CONSTRAINTS alone is not what it meant. It meant
        PREFER_PRECISION_CONSTRAINTS + DIRECT_IO + REJECT_EMPTY_ALGORITHMS (NvInfer.h @8.2.1 7719-7729), the
        three tao-deploy sets (``engine/builder.py`` ``_set_precision_constraints``). 10.x keeps all three
        (deprecated from 10.7 / 10.10, still present in 10.13.3)."""
        if self.caps['strict_flag'] == 'OBEY_PRECISION_CONSTRAINTS':
            return ['PREFER_PRECISION_CONSTRAINTS', 'DIRECT_IO', 'REJECT_EMPTY_ALGORITHMS']
        return Build.strict_flags(self)

    def build_plan(self, builder, network, config):
        plan = builder.build_serialized_network(network, config)
        return None if plan is None else bytes(plan)
