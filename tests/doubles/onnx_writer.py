"""Write small valid ONNX models with the standard library (unit tests run where ``onnx`` is absent).

``peoplenet_shaped()`` has PeopleNet's I/O names and shapes (dynamic batch) and one Conv per output;
tests/rtx checks with the real ``onnx`` package and TensorRT-RTX that these bytes are a valid model.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct


def _varint(value):
    out = b''
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def _field(number, value):
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    if isinstance(value, str):
        value = value.encode('utf-8')
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _value_info(name, dims):
    shape = b''.join(_field(1, _field(2, 'N') if d is None or d < 0 else _field(1, d)) for d in dims)
    tensor_type = _field(1, 1) + _field(2, shape)  # elem_type FLOAT
    return _field(1, name) + _field(2, _field(1, tensor_type))


def _initializer(name, dims, values):
    floats = struct.pack('<%df' % len(values), *values)
    return b''.join(_field(1, d) for d in dims) + _field(2, 1) + _field(4, floats) + _field(8, name)


def _ints_attribute(name, values):
    return _field(1, name) + b''.join(_field(8, v) for v in values) + _field(20, 7)  # type INTS


def _node(op_type, inputs, outputs, name, int_attributes=None):
    return b''.join(_field(1, i) for i in inputs) + b''.join(_field(2, o) for o in outputs) + \
        _field(3, name) + _field(4, op_type) + \
        b''.join(_field(5, _ints_attribute(k, v)) for k, v in sorted((int_attributes or {}).items()))


def model(inputs, outputs, nodes, initializers=(), opset=13):
    """inputs/outputs: [(name, dims)] (None or -1 = dynamic); nodes: [(op, [in], [out], name[, int attrs])];
    initializers: [(name, dims, float values)]."""
    graph = b''.join(_field(1, _node(*n)) for n in nodes) + _field(2, 'tao_fleet_test_graph') + \
        b''.join(_field(5, _initializer(*i)) for i in initializers) + \
        b''.join(_field(11, _value_info(*i)) for i in inputs) + \
        b''.join(_field(12, _value_info(*o)) for o in outputs)
    return _field(1, 7) + _field(2, 'tao.fleet') + _field(7, graph) + _field(8, _field(1, '') + _field(2, opset))


def peoplenet_shaped(height=544, width=960, input_name='input_1', cov_name='output_cov/Sigmoid',
                     bbox_name='output_bbox/BiasAdd'):
    """input 3xHxW -> coverage 3x(H/16)x(W/16) (Conv stride 16 + Sigmoid) and bbox 12x(H/16)x(W/16)."""
    grid = [None, None, height // 16, width // 16]
    return model(
        inputs=[(input_name, [None, 3, height, width])],
        outputs=[(cov_name, [None, 3] + grid[2:]), (bbox_name, [None, 12] + grid[2:])],
        nodes=[('Conv', [input_name, 'cov_w'], ['cov_logits'], 'conv_cov', {'strides': [16, 16]}),
               ('Sigmoid', ['cov_logits'], [cov_name], 'sigmoid_cov'),
               ('Conv', [input_name, 'bbox_w'], [bbox_name], 'conv_bbox', {'strides': [16, 16]})],
        initializers=[('cov_w', [3, 3, 16, 16], [0.001] * (3 * 3 * 16 * 16)),
                      ('bbox_w', [12, 3, 16, 16], [0.001] * (12 * 3 * 16 * 16))],
    )
