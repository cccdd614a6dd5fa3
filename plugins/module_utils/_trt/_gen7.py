# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""TensorRT 7.x: explicit batch by flag for ONNX, implicit batch for UFF, ``max_workspace_size``,
``build_engine`` then ``serialize``, no timing cache API (names: NVIDIA's 7.1.3 Python API docs)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._trt._base import Build

UFF_ORDERS = {'nchw': 'NCHW', 'nhwc': 'NHWC', 'nc': 'NC'}


class Gen7(Build):

    def create_network(self, builder):
        if self.request['format'] == 'uff':
            return builder.create_network(0)
        return builder.create_network(1 << int(self.trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))

    def parse_uff(self, network):
        """UFF from memory: the parser needs the input name, its C,H,W dims and order, and the outputs."""
        request = self.request
        parser = self.trt.UffParser()
        self.keep_alive.append(parser)
        order = getattr(self.trt.UffInputOrder, UFF_ORDERS[request['input_order']])
        parser.register_input(request['input_name'], tuple(request['input_dims']), order)
        for name in request['output_names']:
            parser.register_output(name)
        if not parser.parse_buffer(request['model'], network):
            raise self.parse_failed('UFF')

    def parse_failed(self, kind):
        return TaoFleetError(
            '%s could not parse the %s model: %s' % (self.label, kind, '; '.join(self.errors) or 'no error logged'),
            cause='A wrong .etlt key gives "UffParser: Could not read buffer"; a missing plugin names its '
                  'operation; wrong input/output names name the node.',
            fix='Check the .etlt key (PeopleNet: tlt_encode), input_name/output_names (tao-converter -d/-o), '
                'and the TensorRT OSS plugins the model needs.',
            code='uff_parse_failed', details={'log_errors': list(self.errors)})

    def set_workspace(self, config):
        config.max_workspace_size = self.request['workspace']

    def set_timing_cache(self, config):
        return None

    def build_plan(self, builder, network, config):
        engine = builder.build_engine(network, config)
        if engine is None:
            return None
        return bytes(engine.serialize())
