"""Just enough of the protobuf wire format to read an ONNX model's graph inputs, outputs and nodes.

The test double parses the real ONNX bytes it is given (so a corrupt model fails, and the network has
the model's real I/O names and shapes) without needing the ``onnx`` package on Python 3.6 hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class WireError(ValueError):
    pass


def _varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WireError('truncated varint at byte %d' % pos)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError('varint too long at byte %d' % pos)


def fields(data):
    """Yield (field number, wire type, value) of one message; value is int or bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError('field number 0 at byte %d' % pos)
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise WireError('field %d runs past the end (%d bytes at %d of %d)' % (number, length, pos, len(data)))
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise WireError('unsupported wire type %d at byte %d' % (wire, pos))
        yield number, wire, value


def _value_info(data):
    """ValueInfoProto -> (name, dims); a dim_param (symbolic) or missing dim becomes -1."""
    name, dims = '', []
    for number, _unused, value in fields(data):
        if number == 1:
            name = value.decode('utf-8')
        elif number == 2:
            for t_number, _unused, t_value in fields(value):
                if t_number != 1:
                    continue
                for tensor_number, _unused, tensor_value in fields(t_value):
                    if tensor_number != 2:
                        continue
                    for dim_number, _unused, dim in fields(tensor_value):
                        if dim_number != 1:
                            continue
                        size = -1
                        for d_number, d_wire, d_value in fields(dim):
                            if d_number == 1 and d_wire == 0:
                                size = d_value
                        dims.append(size)
    return name, dims


def read_model(data):
    """ONNX bytes -> {'inputs': [(name, dims)], 'outputs': [...], 'nodes': [(name, op_type)]}."""
    graph = None
    for number, wire, value in fields(data):
        if number == 7 and wire == 2:
            graph = value
    if graph is None:
        raise WireError('no graph (ModelProto field 7) in %d bytes' % len(data))
    inputs, outputs, nodes, initializers = [], [], [], set()
    for number, wire, value in fields(graph):
        if wire != 2:
            continue
        if number == 1:
            name, op_type = '', ''
            for n_number, _unused, n_value in fields(value):
                if n_number == 3:
                    name = n_value.decode('utf-8')
                elif n_number == 4:
                    op_type = n_value.decode('utf-8')
            nodes.append((name or op_type, op_type))
        elif number == 5:
            for t_number, _unused, t_value in fields(value):
                if t_number == 8:
                    initializers.add(t_value.decode('utf-8'))
        elif number == 11:
            inputs.append(_value_info(value))
        elif number == 12:
            outputs.append(_value_info(value))
    inputs = [item for item in inputs if item[0] not in initializers]
    if not inputs or not outputs or not nodes:
        raise WireError('graph has %d inputs, %d outputs, %d nodes' % (len(inputs), len(outputs), len(nodes)))
    return {'inputs': inputs, 'outputs': outputs, 'nodes': nodes}
