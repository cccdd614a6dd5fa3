# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""One TensorRT version per process: NVIDIA's code and tao.fleet's layer build the same model on one double.

    python child.py SITE_PACKAGES REPO_ROOT WHAT      (WHAT: polygraphy | layer | tao_deploy)

SITE_PACKAGES holds the double, installed as ``tensorrt`` (tests/doubles/install.py). Prints one JSON object
on stdout: what the build did, read back from the double's engine and its call record. A failure is reported
as {"error": ..., "type": ..., "at": ...} (the test decides whether it is a named gap or a failure).
Each version runs in its own process because polygraphy and tao-deploy import ``tensorrt`` once.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import sys
import traceback
import types

# tao.fleet's layer asks for this profile on the stand-in (dynamic batch, max_batch 4); polygraphy gets the
# same numbers so that every difference left is one of API use, not of request
MAX_BATCH = 4
PRECISION = 'fp16'  # TensorRT 11 is strongly typed (no FP16 flag): there both builds keep the model's types
MARKER = 'TAO-FLEET-CONFORMANCE '


def _precision(trt):
    return 'model' if int(trt.__version__.split('.')[0]) >= 11 else PRECISION


def _engine(data):
    header, body = bytes(data).split(b'\n', 1)
    return header.decode().split(' '), json.loads(body.decode())


def _summary(trt, data, network):
    header, description = _engine(data)
    return {
        'header': header[:2],
        'network_inputs': [[network.get_input(i).name, [int(d) for d in network.get_input(i).shape]]
                           for i in range(network.num_inputs)],
        'network_outputs': [[network.get_output(i).name, [int(d) for d in network.get_output(i).shape]]
                            for i in range(network.num_outputs)],
        'engine_io': [[t['name'], t['mode'], t['shape']] for t in description['io']],
        'network_flags': description['network_flags'],
        'builder_flags': description['flags'],
        'profiles': description['profiles'],
        'max_batch_size': description['max_batch_size'],
        'memory_pools': description['memory_pools'],
        'calls': sorted(set(call[0] for call in trt.__tao_fleet_calls__)),
    }


def run_polygraphy(trt, model):
    from polygraphy.backend.trt import (CreateConfig, EngineBytesFromNetwork, EngineFromBytes,
                                        NetworkFromOnnxBytes, Profile)
    from polygraphy.backend.trt import util as trt_util
    shape = [3, 544, 960]
    profile = Profile().add('input_1', min=[1] + shape, opt=[1] + shape, max=[MAX_BATCH] + shape)
    builder, network, parser = NetworkFromOnnxBytes(model)()
    data = EngineBytesFromNetwork((builder, network, parser),
                                  config=CreateConfig(fp16=_precision(trt) == 'fp16', profiles=[profile]))()
    result = _summary(trt, data, network)
    result.update(_requested(trt))
    # polygraphy reads the built engine back with its own helpers (deserialize, then per-tensor metadata)
    engine = EngineFromBytes(bytes(data))()
    result['deserialized'] = engine is not None
    try:
        context = engine.create_execution_context()
        metadata = trt_util.get_metadata_from_engine(engine, context, mode=trt.TensorIOMode.INPUT)
        result['engine_input_metadata'] = [[name, [int(d) for d in meta.shape]] for name, meta in metadata.items()]
    except Exception as error:  # pylint: disable=broad-except
        result['engine_metadata_error'] = _error(error, '')
    return result


def run_layer(trt, model, repo):
    for name, path in (('ansible_collections', []), ('ansible_collections.tao', []),
                       ('ansible_collections.tao.fleet', [repo])):
        module = types.ModuleType(name)
        module.__path__ = path
        sys.modules.setdefault(name, module)
    from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import build
    built = build(trt, {'model': model, 'max_batch': MAX_BATCH, 'precision': _precision(trt)})

    class Network(object):  # the layer's own record of the parsed network, in the ITensor shape
        pass
    network = Network()
    network.num_inputs, network.num_outputs = len(built['inputs']), len(built['outputs'])
    network.get_input = lambda i: types.SimpleNamespace(**built['inputs'][i])
    network.get_output = lambda i: types.SimpleNamespace(**built['outputs'][i])
    result = _summary(trt, built['engine'], network)
    result['layer_profiles'] = built['profiles']
    result.update(_requested(trt))
    return result


def run_runner(trt, model):
    import numpy
    from polygraphy.backend.trt import CreateConfig, EngineFromNetwork, NetworkFromOnnxBytes, Profile, TrtRunner
    shape = [3, 544, 960]
    profile = Profile().add('input_1', min=[1] + shape, opt=[1] + shape, max=[MAX_BATCH] + shape)
    engine = EngineFromNetwork(NetworkFromOnnxBytes(model), config=CreateConfig(profiles=[profile]))
    with TrtRunner(engine) as runner:
        outputs = runner.infer({'input_1': numpy.zeros([2] + shape, dtype=numpy.float32)})
    calls = [list(call) for call in trt.__tao_fleet_calls__ if call[0].startswith('IExecutionContext.')]
    return {'outputs': dict((k, list(v.shape)) for k, v in outputs.items()), 'context_calls': calls}


def run_tao_deploy(trt, model, wheel):
    # the wheel's own files, imported from the wheel; pycuda is the import-only stand-in (pycuda_standin/)
    sys.path.insert(0, wheel)
    sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pycuda_standin'))
    import tempfile
    from nvidia_tao_deploy.engine.builder import EngineBuilder  # noqa: F401  (the import is the first test)
    from nvidia_tao_deploy.cv.detectnet_v2.engine_builder import DetectNetEngineBuilder
    with tempfile.TemporaryDirectory() as tmp:
        onnx = os.path.join(tmp, 'model.onnx')
        with open(onnx, 'wb') as handle:
            handle.write(model)
        builder = DetectNetEngineBuilder(max_batch_size=MAX_BATCH, workspace=1)
        builder.create_network(onnx, 'onnx')
        try:
            builder.create_engine(os.path.join(tmp, 'model.engine'), _precision(trt))
            with open(os.path.join(tmp, 'model.engine'), 'rb') as handle:
                result = _summary(trt, handle.read(), builder.network)
        except Exception as error:  # pylint: disable=broad-except
            # what it did before the error, from the double's call record
            result = _error(error, '')
            result['calls_before_error'] = sorted(set(call[0] for call in trt.__tao_fleet_calls__))
            result['network_inputs'] = _tensors(builder.network.get_input, builder.network.num_inputs)
            result['network_outputs'] = _tensors(builder.network.get_output, builder.network.num_outputs)
        result.update(_requested(trt))
        return result


def _tensors(get, count):
    return [[get(i).name, [int(d) for d in get(i).shape]] for i in range(count)]


def _requested(trt):
    """What a builder asked of the double, from its call record: network flags, builder flags, the profile."""
    calls = trt.__tao_fleet_calls__
    shapes = dict((call[1], [call[2], call[3], call[4]]) for call in calls
                  if call[0] == 'IOptimizationProfile.set_shape')
    return {'network_flags_requested': [call[1] for call in calls if call[0] == 'Builder.create_network'],
            'flags_set': sorted(set(call[1] for call in calls if call[0] == 'IBuilderConfig.set_flag')),
            'profile': shapes}


def main(argv):
    site, repo, what = argv[1:4]
    sys.path.insert(0, os.path.join(repo, 'tests', 'doubles'))
    sys.path.insert(0, site)
    import onnx_writer
    import tensorrt as trt
    assert trt.__tao_fleet_test_double__, 'not the test double'
    model = onnx_writer.peoplenet_shaped()
    try:
        if what == 'polygraphy':
            result = run_polygraphy(trt, model)
        elif what == 'runner':
            result = run_runner(trt, model)
        elif what == 'layer':
            result = run_layer(trt, model, repo)
        else:
            result = run_tao_deploy(trt, model, argv[4])
    except Exception as error:  # pylint: disable=broad-except
        result = _error(error, site)
    # polygraphy logs to stdout: the result is the last line, after a marker
    sys.stdout.write('\n' + MARKER + json.dumps(result, sort_keys=True) + '\n')
    return 0


def _error(error, site):
    frames = traceback.extract_tb(error.__traceback__)
    where = []
    for frame in frames[-4:]:
        name = frame.filename
        name = os.path.relpath(name, site) if site and name.startswith(site) else \
            name.split('site-packages/')[-1].split('.whl/')[-1]
        where.append('%s:%d' % (name, frame.lineno))
    return {'error': str(error), 'type': type(error).__name__, 'at': where, 'name': getattr(error, 'name', None)}


if __name__ == '__main__':
    sys.exit(main(sys.argv))
