# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""TensorRT 10.x: always explicit batch (the EXPLICIT_BATCH flag is ignored), no UFF parser, no implicit
batch (``max_batch_size``), no STRICT_TYPES; DLA gone from 10.8 (names: real 10.3.0 and 10.13.3.9 wheels)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._trt._gen8_5 import Gen8_5


class Gen10(Gen8_5):

    def create_network(self, builder):
        return builder.create_network(0)

    def parse_uff(self, network):
        # check_request refuses UFF before a build starts; this guards a caller that skipped it
        raise TaoFleetError('%s has no UFF parser.' % self.label, fix='Use the ONNX model.', code='uff_unsupported')

    def set_implicit_batch(self, builder):
        return None
