# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""TensorRT-RTX 1.x: the 11.x API plus ahead-of-time builds for chosen compute capabilities; no plugin
library, no DLA, and timing cache calls are no-ops (names: real tensorrt-rtx 1.7.1.116 wheel)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tao.fleet.plugins.module_utils._trt._gen11 import Gen11


class Rtx1(Gen11):

    def set_compute_capabilities(self, config):
        """Without a choice TensorRT-RTX builds for its default targets, which works on a CPU-only host."""
        chosen = self.request['compute_capabilities']
        if not chosen:
            return
        config.num_compute_capabilities = len(chosen)
        for index, capability in enumerate(chosen):
            value = getattr(self.trt.ComputeCapability, 'SM' + capability.replace('.', ''))
            config.set_compute_capability(value, index)
