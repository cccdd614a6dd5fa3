# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""DeepStream nvinfer configs, labels and Triton configs from catalog entries and engine manifests.

The nvinfer configs are read back with GLib's GKeyFile (through ctypes), the parser nvinfer itself
uses (gstnvinfer_property_parser.cpp: g_key_file_get_integer / _double / _integer_list /
_string_list), so a value of the wrong type or a list in the wrong syntax fails here as it would
in DeepStream.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ctypes
import ctypes.util
import json
import os

import pytest
import yaml

from ansible_collections.tao.fleet.plugins.module_utils._cluster_modes import CLUSTER_MODES
from ansible_collections.tao.fleet.plugins.module_utils._deepstream import (
    EngineConsumers,
    engine_max_batch,
    engine_precision,
    TensorInfo,
)
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
ACTIVE = '/var/lib/tao_fleet/engines/peoplenet/active'
FINGERPRINT = 'a' * 64

# Keys nvinfer's config parser knows (gstnvinfer_property_parser.h, DeepStream 6.0-8.0) that these
# configs use; anything else would be printed as "Unknown key" and ignored by nvinfer.
PROPERTY_KEYS = {
    'gpu-id': 'int', 'net-scale-factor': 'double', 'model-color-format': 'int', 'offsets': 'double_list',
    'network-input-order': 'int', 'model-engine-file': 'string', 'labelfile-path': 'string',
    'infer-dims': 'int_list', 'uff-input-blob-name': 'string', 'uff-input-order': 'int',
    'batch-size': 'int', 'network-mode': 'int', 'network-type': 'int', 'num-detected-classes': 'int',
    'output-blob-names': 'string_list', 'cluster-mode': 'int', 'gie-unique-id': 'int',
}
CLASS_KEYS = {'pre-cluster-threshold': 'double', 'nms-iou-threshold': 'double', 'topk': 'int',
              'eps': 'double', 'minBoxes': 'int', 'group-threshold': 'int'}


class GError(ctypes.Structure):
    _fields_ = [('domain', ctypes.c_uint32), ('code', ctypes.c_int), ('message', ctypes.c_char_p)]


def _glib():
    name = ctypes.util.find_library('glib-2.0') or 'libglib-2.0.so.0'
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        pytest.fail('GLib is needed to read nvinfer configs as DeepStream does: install libglib2.0-0')
    p, s = ctypes.c_void_p, ctypes.c_char_p
    size = ctypes.POINTER(ctypes.c_size_t)
    error = ctypes.POINTER(ctypes.POINTER(GError))
    lib.g_key_file_new.restype = p
    lib.g_key_file_load_from_data.argtypes = [p, s, ctypes.c_size_t, ctypes.c_int, error]
    lib.g_key_file_get_groups.argtypes = [p, size]
    lib.g_key_file_get_groups.restype = ctypes.POINTER(s)
    lib.g_key_file_get_keys.argtypes = [p, s, size, error]
    lib.g_key_file_get_keys.restype = ctypes.POINTER(s)
    lib.g_key_file_get_integer.argtypes = [p, s, s, error]
    lib.g_key_file_get_double.argtypes = [p, s, s, error]
    lib.g_key_file_get_double.restype = ctypes.c_double
    lib.g_key_file_get_string.argtypes = [p, s, s, error]
    lib.g_key_file_get_string.restype = s
    lib.g_key_file_get_integer_list.argtypes = [p, s, s, size, error]
    lib.g_key_file_get_integer_list.restype = ctypes.POINTER(ctypes.c_int)
    lib.g_key_file_get_double_list.argtypes = [p, s, s, size, error]
    lib.g_key_file_get_double_list.restype = ctypes.POINTER(ctypes.c_double)
    lib.g_key_file_get_string_list.argtypes = [p, s, s, size, error]
    lib.g_key_file_get_string_list.restype = ctypes.POINTER(s)
    lib.g_key_file_free.argtypes = [p]
    return lib


def read_keyfile(text):
    """{group: {key: value}} with each value read by the GKeyFile call nvinfer uses for it."""
    lib = _glib()
    handle = lib.g_key_file_new()
    error = ctypes.POINTER(GError)()
    data = text.encode('utf-8')
    try:
        if not lib.g_key_file_load_from_data(handle, data, len(data), 0, ctypes.byref(error)):
            raise AssertionError('GKeyFile cannot load it: %s' % error.contents.message)
        length = ctypes.c_size_t()
        groups = lib.g_key_file_get_groups(handle, ctypes.byref(length))
        result = {}
        for index in range(length.value):
            group = groups[index]
            keys_length = ctypes.c_size_t()
            keys = lib.g_key_file_get_keys(handle, group, ctypes.byref(keys_length), ctypes.byref(error))
            values = {}
            for key_index in range(keys_length.value):
                key = keys[key_index]
                kind = (PROPERTY_KEYS if group == b'property' else CLASS_KEYS).get(key.decode())
                assert kind, 'nvinfer does not know key %r in [%s]' % (key, group)
                count = ctypes.c_size_t()
                if kind == 'int':
                    value = lib.g_key_file_get_integer(handle, group, key, ctypes.byref(error))
                elif kind == 'double':
                    value = lib.g_key_file_get_double(handle, group, key, ctypes.byref(error))
                elif kind == 'string':
                    value = lib.g_key_file_get_string(handle, group, key, ctypes.byref(error)).decode()
                elif kind == 'int_list':
                    items = lib.g_key_file_get_integer_list(handle, group, key, ctypes.byref(count), ctypes.byref(error))
                    value = [items[i] for i in range(count.value)] if items else None
                elif kind == 'double_list':
                    items = lib.g_key_file_get_double_list(handle, group, key, ctypes.byref(count), ctypes.byref(error))
                    value = [items[i] for i in range(count.value)] if items else None
                else:
                    items = lib.g_key_file_get_string_list(handle, group, key, ctypes.byref(count), ctypes.byref(error))
                    value = [items[i].decode() for i in range(count.value)] if items else None
                if error:
                    raise AssertionError('[%s] %s: %s' % (group.decode(), key.decode(), error.contents.message))
                values[key.decode()] = value
            result[group.decode()] = values
        return result
    finally:
        lib.g_key_file_free(handle)


def catalog():
    with open(os.path.join(REPO, 'catalog', 'models.yml')) as handle:
        return yaml.safe_load(handle)['models']


def artifact_of(model_id, artifact_id):
    return copy.deepcopy([item for item in catalog()[model_id]['artifacts'] if item['id'] == artifact_id][0])


def manifest_for(artifact, precision='fp16', record_tensors=True, max_batch=8, fingerprint=FINGERPRINT,
                 tensorrt=None):
    """A manifest as tao.fleet.trt_engine records it (build.inputs/outputs as TensorRT's parser gives
    them: a leading -1 for a dynamic batch, no batch dimension for an implicit-batch UFF network)."""
    implicit = artifact['input'].get('batch') == 'implicit'

    def shape(dims):
        return list(dims) if implicit else [-1] + list(dims)

    build = {'precision': precision,
             'tensorrt': tensorrt or {'version': '10.3.0.30', 'flavour': 'tensorrt', 'test_double': False}}
    if record_tensors:
        build['inputs'] = [{'name': artifact['input']['name'], 'shape': shape(artifact['input']['dims'])}]
        # TensorRT lists outputs in network order, not by role: put bbox first to prove roles are read
        build['outputs'] = [{'name': item['name'], 'shape': shape(item['dims'])}
                            for item in sorted(artifact['outputs'], key=lambda item: item['role'])]
        if implicit:
            build['max_batch'] = max_batch
        else:
            name = artifact['input']['name']
            build['profiles'] = {name: {'min': [1] + artifact['input']['dims'],
                                        'opt': [max_batch] + artifact['input']['dims'],
                                        'max': [max_batch] + artifact['input']['dims']}}
    return {'manifest_version': 1, 'model': 'peoplenet', 'fingerprint': fingerprint,
            'inputs': {'build': {'precision': precision}}, 'build': build}


def consumers(model_id='peoplenet', artifact_id='onnx_v2.3.4', pass_artifact=True, **manifest_options):
    artifact = artifact_of(model_id, artifact_id)
    model = catalog()[model_id]
    return EngineConsumers(model_id, model, manifest_for(artifact, **manifest_options), ACTIVE,
                           artifact if pass_artifact else None)


def test_peoplenet_onnx_engine_gets_the_onnx_blob_names():
    config = read_keyfile(consumers().nvinfer_config_text(batch_size=4))
    prop = config['property']
    assert prop['output-blob-names'] == ['output_cov/Sigmoid:0', 'output_bbox/BiasAdd:0']
    assert prop['model-engine-file'] == ACTIVE + '/model.engine'
    assert prop['labelfile-path'] == ACTIVE + '/deepstream/labels.txt'
    assert prop['infer-dims'] == [3, 544, 960]
    assert prop['net-scale-factor'] == pytest.approx(1 / 255.0, rel=1e-12)
    assert (prop['model-color-format'], prop['network-type'], prop['num-detected-classes']) == (0, 0, 3)
    assert (prop['batch-size'], prop['network-mode'], prop['cluster-mode']) == (4, 2, 2)
    assert 'uff-input-blob-name' not in prop
    assert config['class-attrs-all'] == {'pre-cluster-threshold': 0.2, 'nms-iou-threshold': 0.5, 'topk': 20}
    assert config['class-attrs-0'] == {'pre-cluster-threshold': 0.4}
    assert sorted(config) == ['class-attrs-0', 'class-attrs-all', 'property']


def test_uff_engine_gets_the_etlt_blob_names_and_its_input():
    built = consumers(artifact_id='etlt_int8_v2.6.1', precision='int8', max_batch=16)
    prop = read_keyfile(built.nvinfer_config_text())['property']
    assert prop['output-blob-names'] == ['output_cov/Sigmoid', 'output_bbox/BiasAdd']
    assert prop['uff-input-blob-name'] == 'input_1' and prop['uff-input-order'] == 0
    assert prop['network-mode'] == 1 and built.max_batch == 16


@pytest.mark.parametrize('precision,mode', [('fp32', 0), ('int8', 1), ('fp16', 2), ('model', 0),
                                            ('strongly_typed', 0)])
def test_network_mode_follows_the_engine_precision(precision, mode):
    prop = read_keyfile(consumers(precision=precision).nvinfer_config_text())['property']
    assert prop['network-mode'] == mode


def test_precision_from_the_fingerprint_when_the_build_does_not_record_it():
    manifest = manifest_for(artifact_of('peoplenet', 'onnx_v2.3.4'), precision='int8')
    del manifest['build']['precision']
    assert engine_precision(manifest) == 'int8'
    manifest['inputs']['build']['precision'] = 'tf32'
    with pytest.raises(TaoFleetError, match='network-mode needs fp32, fp16 or int8'):
        engine_precision(manifest)


def test_every_catalog_artifact_gives_a_config_deepstream_can_read():
    models = catalog()
    checked = 0
    for model_id, model in sorted(models.items()):
        for artifact in model['artifacts']:
            built = EngineConsumers(model_id, model, manifest_for(artifact), ACTIVE, artifact)
            config = read_keyfile(built.nvinfer_config_text())
            prop = config['property']
            assert prop['num-detected-classes'] == len(model['classes'])
            assert prop['cluster-mode'] == CLUSTER_MODES[model['postprocessing']['cluster_mode']]
            names = dict((item['role'], item['name']) for item in artifact['outputs'])
            assert prop['output-blob-names'] == [names['coverage'], names['bbox']], (model_id, artifact['id'])
            assert prop['infer-dims'] == artifact['input']['dims']
            assert built.labels_text().splitlines() == model['classes']
            checked += 1
    assert checked >= 15


def test_cluster_parameters_follow_the_cluster_mode():
    models = catalog()
    dbscan = copy.deepcopy(models['peoplenet'])
    dbscan['postprocessing']['cluster_mode'] = 'dbscan'
    artifact = artifact_of('peoplenet', 'onnx_v2.3.4')
    config = read_keyfile(EngineConsumers('peoplenet', dbscan, manifest_for(artifact), ACTIVE, artifact)
                          .nvinfer_config_text())
    assert config['property']['cluster-mode'] == 1
    assert config['class-attrs-all'] == {'pre-cluster-threshold': 0.2, 'eps': 0.7, 'minBoxes': 1}
    artifact = artifact_of('dashcamnet', 'etlt_pruned_v1.0')
    config = read_keyfile(EngineConsumers('dashcamnet', models['dashcamnet'], manifest_for(artifact), ACTIVE,
                                          artifact).nvinfer_config_text())
    assert config['property']['cluster-mode'] == 0
    assert config['class-attrs-all'] == {'pre-cluster-threshold': 0.2, 'group-threshold': 1, 'eps': 0.2}
    assert sorted(config) == ['class-attrs-all', 'property']


def test_tensor_names_never_guessed():
    with pytest.raises(TaoFleetError) as caught:
        consumers(record_tensors=False, pass_artifact=False)
    assert caught.value.code == 'engine_io_unknown' and 'output_cov/Sigmoid:0' in caught.value.cause
    built = consumers(record_tensors=False)
    assert built.io_source == 'artifact' and any('records no tensors' in w for w in built.warnings)


def test_engine_from_another_export_is_refused():
    """An engine built from the .etlt, with the ONNX release's artifact: the classic mix-up."""
    model = catalog()['peoplenet']
    manifest = manifest_for(artifact_of('peoplenet', 'etlt_int8_v2.6.1'))
    with pytest.raises(TaoFleetError) as caught:
        EngineConsumers('peoplenet', model, manifest, ACTIVE, artifact_of('peoplenet', 'onnx_v2.3.4'))
    assert caught.value.code == 'engine_artifact_mismatch'
    assert 'output_cov/Sigmoid:0' in str(caught.value) and 'output_cov/Sigmoid,' in str(caught.value)


def test_roles_from_shapes_without_an_artifact():
    built = consumers(pass_artifact=False)
    assert (built.roles['coverage'].name, built.roles['bbox'].name) == ('output_cov/Sigmoid:0',
                                                                        'output_bbox/BiasAdd:0')


def test_outputs_deepstream_cannot_find_are_refused():
    artifact = artifact_of('peoplenet', 'onnx_v2.3.4')
    artifact['outputs'][0]['name'] = 'scores'
    manifest = manifest_for(artifact)
    with pytest.raises(TaoFleetError) as caught:
        EngineConsumers('peoplenet', catalog()['peoplenet'], manifest, ACTIVE, artifact)
    assert caught.value.code == 'deepstream_parser_mismatch'
    assert 'Could not find output coverage layer' in caught.value.msg


def test_wrong_class_count_is_refused():
    model = copy.deepcopy(catalog()['peoplenet'])
    model['classes'] = ['person', 'bag']
    model['postprocessing']['pre_cluster_threshold'] = 0.3
    artifact = artifact_of('peoplenet', 'onnx_v2.3.4')
    with pytest.raises(TaoFleetError, match='coverage and bbox'):
        EngineConsumers('peoplenet', model, manifest_for(artifact), ACTIVE, None)


@pytest.mark.parametrize('key,value', [('bbox_norm', 40.0), ('offset', 0.0)])
def test_decoding_deepstream_cannot_do_is_refused(key, value):
    model = copy.deepcopy(catalog()['peoplenet'])
    model['postprocessing'][key] = value
    artifact = artifact_of('peoplenet', 'onnx_v2.3.4')
    with pytest.raises(TaoFleetError) as caught:
        EngineConsumers('peoplenet', model, manifest_for(artifact), ACTIVE, artifact)
    assert caught.value.code == 'deepstream_parser_mismatch' and 'custom' in caught.value.fix


def test_batch_size_above_the_engine_is_refused():
    built = consumers(max_batch=2)
    assert read_keyfile(built.nvinfer_config_text(batch_size=2))['property']['batch-size'] == 2
    with pytest.raises(TaoFleetError, match='at most 2'):
        built.nvinfer_config_text(batch_size=3)
    with pytest.raises(TaoFleetError):
        built.nvinfer_config_text(batch_size=0)


def test_max_batch_of_each_kind_of_engine():
    implicit = TensorInfo('input_1', [3, 544, 960], 'implicit')
    assert engine_max_batch({'build': {'max_batch': 4}}, implicit) == 4
    assert engine_max_batch({'inputs': {'build': {'max_batch_size': 16}}}, implicit) == 16
    dynamic = TensorInfo('input_1:0', [3, 544, 960], 'dynamic')
    profiles = [{'input_1:0': {'min': [1, 3, 544, 960], 'max': [2, 3, 544, 960]}},
                {'input_1:0': {'min': [1, 3, 544, 960], 'max': [8, 3, 544, 960]}}]
    assert engine_max_batch({'build': {'profiles': profiles}}, dynamic) == 8
    assert engine_max_batch({'build': {}}, dynamic) is None
    assert engine_max_batch({}, TensorInfo('x', [3, 4, 5], 1)) == 1


def test_triton_config_for_a_dynamic_batch_engine():
    text = consumers(max_batch=4).triton_config_text('peoplenet', gpu_id=1)
    assert 'platform: "tensorrt_plan"' in text and 'max_batch_size: 4' in text
    assert 'name: "peoplenet"' in text and 'default_model_filename: "model.plan"' in text
    assert 'name: "input_1:0"' in text and 'format: FORMAT_NCHW' in text and 'dims: [ 3, 544, 960 ]' in text
    assert text.index('"output_cov/Sigmoid:0"') < text.index('"output_bbox/BiasAdd:0"')
    assert 'dims: [ 12, 34, 60 ]' in text and 'gpus: [ 1 ]' in text
    assert text.count('{') == text.count('}') and text.count('[') == text.count(']')
    with pytest.raises(TaoFleetError, match='at most 4'):
        consumers(max_batch=4).triton_config_text('peoplenet', max_batch_size=5)


def test_triton_config_for_a_fixed_batch_engine():
    artifact = artifact_of('peoplenet', 'onnx_v2.3.4')
    manifest = manifest_for(artifact)
    for tensor in manifest['build']['inputs'] + manifest['build']['outputs']:
        tensor['shape'][0] = 1
    built = EngineConsumers('peoplenet', catalog()['peoplenet'], manifest, ACTIVE, artifact)
    text = built.triton_config_text('peoplenet')
    assert 'max_batch_size: 0' in text and 'dims: [ 1, 3, 544, 960 ]' in text


def test_triton_needs_a_max_batch():
    manifest = manifest_for(artifact_of('peoplenet', 'onnx_v2.3.4'))
    del manifest['build']['profiles']
    built = EngineConsumers('peoplenet', catalog()['peoplenet'], manifest, ACTIVE, None)
    with pytest.raises(TaoFleetError, match='triton_max_batch_size'):
        built.triton_config_text('peoplenet')
    assert 'max_batch_size: 2' in built.triton_config_text('peoplenet', max_batch_size=2)


def test_engines_deepstream_cannot_load_are_flagged():
    rtx = consumers(tensorrt={'version': '1.7.1.116', 'flavour': 'tensorrt_rtx', 'test_double': False})
    assert any('TensorRT-RTX' in warning for warning in rtx.warnings)
    double = consumers(tensorrt={'version': '8.2.1.8', 'flavour': 'tensorrt', 'test_double': True})
    assert any('test double' in warning for warning in double.warnings)
    assert 'Built with TensorRT 8.2.1.8' in double.nvinfer_config_text()
    assert not consumers().warnings


def test_stand_in_etlt_engine():
    """The demo stand-in: an .etlt with ONNX inside keeps the .etlt names (no :0)."""
    built = consumers('peoplenet_standin', 'etlt')
    prop = read_keyfile(built.nvinfer_config_text())['property']
    assert prop['output-blob-names'] == ['output_cov/Sigmoid', 'output_bbox/BiasAdd']
    assert 'uff-input-blob-name' not in prop


@pytest.mark.parametrize('precision_word', ['model', 'strongly_typed'])
def test_tensors_as_a_real_tensorrt_rtx_build_reports_them(precision_word):
    """The layer's result of a real TensorRT-RTX 1.7 build of the stand-in's ONNX (recorded in
    tests/report/fixtures/engines), stored as trt_engine stores it under the manifest's build."""
    path = os.path.join(REPO, 'tests', 'report', 'fixtures', 'engines', 'rtx-1.7.1.116-peoplenet_standin-onnx.json')
    with open(path) as handle:
        layer = json.load(handle)['layer_result']
    build = dict((key, layer[key]) for key in ('tensorrt', 'profiles', 'max_batch', 'inputs', 'outputs'))
    build['precision'] = precision_word if layer['precision'] == 'model' else layer['precision']
    manifest = {'fingerprint': FINGERPRINT, 'model': 'peoplenet_standin', 'build': build,
                'inputs': {'build': {'precision': 'strongly_typed'}}}
    artifact = artifact_of('peoplenet_standin', 'onnx')
    built = EngineConsumers('peoplenet_standin', catalog()['peoplenet_standin'], manifest, ACTIVE, artifact)
    prop = read_keyfile(built.nvinfer_config_text(batch_size=4))['property']
    assert prop['output-blob-names'] == ['output_cov/Sigmoid:0', 'output_bbox/BiasAdd:0']
    assert (prop['infer-dims'], prop['network-mode'], prop['batch-size']) == ([3, 544, 960], 0, 4)
    assert built.io_source == 'manifest' and built.max_batch == 4
    assert 'max_batch_size: 4' in built.triton_config_text('peoplenet_standin')
    assert any('TensorRT-RTX' in warning for warning in built.warnings)


# ---- nothing from a host reaches a config file unchecked (issue 16, row 4) -------------------------------

INJECTED = '\ncustom-lib-path=/var/lib/tao_fleet/engines/peoplenet/active/model.engine'


def crafted_manifest(change):
    manifest = manifest_for(artifact_of('peoplenet', 'onnx_v2.3.4'))
    change(manifest)
    return manifest


def set_tensorrt_version(manifest):
    manifest['build']['tensorrt']['version'] = '10.3.0' + INJECTED


def set_tensorrt_text(manifest):
    manifest['build']['tensorrt'] = '10.3.0' + INJECTED          # a bare version string, as older manifests hold


def set_flavour(manifest):
    manifest['build']['tensorrt']['flavour'] = 'tensorrt' + INJECTED


def set_fingerprint(manifest):
    manifest['fingerprint'] = 'a' * 64 + INJECTED


def set_output_name(manifest):
    manifest['build']['outputs'][0]['name'] = 'output_bbox/BiasAdd:0;other' + INJECTED


def set_input_name(manifest):
    manifest['build']['inputs'][0]['name'] = 'input_1:0' + INJECTED


def set_dims(manifest):
    manifest['build']['inputs'][0]['shape'] = [-1, 3, 544.5, 960]


def set_dims_text(manifest):
    manifest['build']['inputs'][0]['shape'] = [-1, 3, '544\n', 960]


@pytest.mark.parametrize('change', [set_tensorrt_version, set_tensorrt_text, set_flavour, set_fingerprint,
                                    set_output_name, set_input_name, set_dims, set_dims_text])
def test_a_crafted_manifest_value_is_refused_before_any_file_text(change):
    # without the artifact: its tensor names would refuse the crafted names for another reason
    with pytest.raises(TaoFleetError) as caught:
        built = EngineConsumers('peoplenet', catalog()['peoplenet'], crafted_manifest(change), ACTIVE, None)
        texts = built.nvinfer_config_text() + built.triton_config_text('peoplenet') + built.labels_text()
        assert 'custom-lib-path' not in texts        # (reached only when the value was let through)
    assert caught.value.code == 'consumer_config_invalid'
    assert 'Refusing to write' in caught.value.msg and caught.value.cause and caught.value.fix


@pytest.mark.parametrize('where, value', [
    ('classes', ['person', 'bag\ncustom-lib-path=/tmp/x.so', 'face']),
    ('scale', '0.0039' + INJECTED),
    ('scale', True),
    ('scale', float('nan')),
    ('mean', [0.0, '1' + INJECTED, 0.0]),
    ('threshold', {'default': '0.2' + INJECTED, 'person': 0.4}),
])
def test_a_crafted_catalog_value_is_refused(where, value):
    model = copy.deepcopy(catalog()['peoplenet'])
    if where == 'classes':
        model['classes'] = value
    elif where == 'threshold':
        model['postprocessing']['pre_cluster_threshold'] = value
    else:
        model['preprocessing'][where] = value
    manifest = manifest_for(artifact_of('peoplenet', 'onnx_v2.3.4'))
    with pytest.raises(TaoFleetError) as caught:
        EngineConsumers('peoplenet', model, manifest, ACTIVE, None)
    assert caught.value.code == 'consumer_config_invalid'


@pytest.mark.parametrize('name', ['peoplenet\n}', 'people net', '../peoplenet', ''])
def test_a_triton_model_name_of_another_shape_is_refused(name):
    with pytest.raises(TaoFleetError) as caught:
        consumers().triton_config_text(name)
    assert caught.value.code == 'consumer_config_invalid' and 'Triton config' in caught.value.msg


def test_an_engine_directory_with_a_newline_is_refused():
    manifest = manifest_for(artifact_of('peoplenet', 'onnx_v2.3.4'))
    with pytest.raises(TaoFleetError) as caught:
        EngineConsumers('peoplenet', catalog()['peoplenet'], manifest, ACTIVE + INJECTED, None)
    assert caught.value.code == 'consumer_config_invalid'


def test_every_honest_value_still_passes_and_reads_back():
    # the shapes admit what the catalog and real builds give (the other tests here read the files back)
    for model_id, entry in catalog().items():
        for artifact in entry['artifacts']:
            built = EngineConsumers(model_id, entry, manifest_for(artifact), ACTIVE, artifact)
            assert read_keyfile(built.nvinfer_config_text())['property']['num-detected-classes'] == len(entry['classes'])
            assert built.triton_config_text(model_id).count('{') == built.triton_config_text(model_id).count('}')
            assert built.labels_text().splitlines() == [str(name) for name in entry['classes']]
