# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""TensorRT 11.x: strongly typed only. No FP16/INT8 flags, no calibrator, no fast-precision queries, no
precision-constraint flags; the ONNX's own types decide (names: real 11.4.0.106 wheel)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tao.fleet.plugins.module_utils._trt._gen10 import Gen10


class Gen11(Gen10):

    def set_precision(self, builder, config):
        return 'model'
