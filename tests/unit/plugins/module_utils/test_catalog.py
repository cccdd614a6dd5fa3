# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The model catalog: the shipped data is valid and complete, selection per platform, the schema
check's messages, and user entries merged on top."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os

import pytest
import yaml

from ansible_collections.tao.fleet.plugins.module_utils import _catalog
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
SYSROOTS = os.path.join(REPO, 'tests', 'fixtures', 'sysroots')


def _catalog_models():
    with open(os.path.join(REPO, 'catalog', 'models.yml')) as handle:
        document = yaml.safe_load(handle)
    assert document['schema_version'] == _catalog.SCHEMA_VERSION
    return document['models']


MODELS = _catalog.merge_models(_catalog_models())


def _facts(version, flavour='tensorrt', jetpack=None, kind='jetson', cc='8.7', double=False):
    return {
        'kind': kind,
        'jetpack': {'version': jetpack} if jetpack else None,
        'compute_capability': cc,
        'tensorrt': {'version': version, 'flavour': flavour, 'test_double': double}
        if version else None,
    }


NANO = _facts('8.2.1.8', jetpack='4.6.6', cc='5.3', double=True)
XAVIER = _facts('8.5.2.2', jetpack='5.1.2', cc='7.2', double=True)
ORIN_TRT10 = _facts('10.3.0.30', jetpack='6.2')
ORIN_RTX = _facts('1.7.1.116', flavour='tensorrt_rtx', jetpack='6.2')
DGPU_TRT10 = _facts('10.13.3.9', kind='dgpu', cc='8.9')


def _error(code, function, *args, **kwargs):
    with pytest.raises(TaoFleetError) as caught:
        function(*args, **kwargs)
    assert caught.value.code == code, str(caught.value)
    return caught.value


# --- the shipped catalog ---------------------------------------------------------------------

def test_catalog_holds_the_issue_models_and_the_stand_in():
    for model_id in ('peoplenet', 'trafficcamnet', 'dashcamnet', 'lpdnet', 'facedetect',
                     'peoplenet_standin'):
        assert model_id in MODELS


def test_peoplenet_interface():
    peoplenet = MODELS['peoplenet']
    assert peoplenet['classes'] == ['person', 'bag', 'face']
    assert peoplenet['preprocessing']['scale'] == pytest.approx(1 / 255.0)
    post = peoplenet['postprocessing']
    assert (post['stride'], post['bbox_norm'], post['offset']) == (16, 35.0, 0.5)
    assert post['dbscan'] == {'eps': 0.7, 'min_boxes': 1}
    by_id = dict((item['id'], item) for item in peoplenet['artifacts'])
    onnx = by_id['onnx_v2.3.4']
    assert onnx['ngc'] == 'nvidia/tao/peoplenet:pruned_quantized_decrypted_v2.3.4'
    assert onnx['input'] == {'name': 'input_1:0', 'dims': [3, 544, 960], 'dtype': 'float32',
                             'batch': 'dynamic'}
    assert all(output['name'].endswith(':0') for output in onnx['outputs'])
    uff = by_id['etlt_int8_v2.6.1']
    assert (uff['format'], uff['key'], uff['input']['name']) == ('etlt-uff', 'tlt_encode',
                                                                 'input_1')
    assert uff['tensorrt']['below'] == '9'


def test_peoplenet_v2_6_3_onnx_release():
    by_id = dict((item['id'], item) for item in MODELS['peoplenet']['artifacts'])
    onnx = by_id['onnx_v2.6.3']
    assert onnx['ngc'] == 'nvidia/tao/peoplenet:deployable_quantized_onnx_v2.6.3'
    assert (onnx['file'], onnx['format']) == ('resnet34_peoplenet.onnx', 'onnx') and 'key' not in onnx
    assert onnx['input'] == {'name': 'input_1:0', 'dims': [3, 544, 960], 'dtype': 'float32', 'batch': 'dynamic'}
    assert onnx['calibration']['file'] == 'resnet34_peoplenet_int8.txt'
    assert onnx['precisions'] == ['fp32', 'fp16', 'int8'] and onnx['tensorrt'] == {'min': '10.3', 'below': None}


@pytest.mark.parametrize('facts, fits', [
    (_facts('8.6.2', jetpack='6.0'), False),       # below its TensorRT 10.3
    (ORIN_TRT10, True),
    (_facts('10.13.3.9', jetpack='7.1', cc='11.0'), True),
    (_facts('10.16.2.10', jetpack='7.2'), True),
    (ORIN_RTX, True),
])
def test_peoplenet_v2_6_3_is_chosen_when_pinned_where_it_builds(facts, fits):
    model = MODELS['peoplenet']
    if fits:
        choice = _catalog.select_artifact('peoplenet', model, facts, artifact_id='onnx_v2.6.3')
        assert choice['artifact_id'] == 'onnx_v2.6.3' and choice['encrypted'] is False
        assert _catalog.select_artifact('peoplenet', model, facts, prefer=['onnx_v2.6.3'])['artifact_id'] == 'onnx_v2.6.3'
        if facts['tensorrt']['flavour'] == 'tensorrt':
            assert 'int8' in choice['precisions']
    else:
        error = _error('no_artifact_fits', _catalog.select_artifact, 'peoplenet', model, facts,
                       artifact_id='onnx_v2.6.3')
        assert 'TensorRT 10.3 and newer' in error.msg


@pytest.mark.parametrize('profile', ['thor-jp71', 'agx-orin-jp72'])
def test_jetpack_7_1_and_7_2_fixture_facts_choose_an_onnx_peoplenet_that_fits(profile):
    with open(os.path.join(SYSROOTS, profile + '.expected.json')) as handle:
        facts = json.load(handle)['tao_platform']
    choice = _catalog.select_artifact('peoplenet', MODELS['peoplenet'], facts)
    # catalog order keeps v2.3.4 first; v2.6.3 fits as well; the UFF releases are refused by name
    assert choice['artifact_id'] == 'onnx_v2.3.4'
    rejected = dict((item['id'], item['reason']) for item in choice['rejected'])
    assert 'onnx_v2.6.3' not in rejected and 'onnx_v2.3.3' not in rejected
    assert 'no UFF parser' in rejected['etlt_int8_v2.6.1']
    assert 'int8' in choice['precisions']
    pinned = _catalog.select_artifact('peoplenet', MODELS['peoplenet'], facts, artifact_id='onnx_v2.6.3',
                                      precision='int8')
    assert pinned['artifact']['calibration']['file'] == 'resnet34_peoplenet_int8.txt'


def test_every_artifact_has_unknown_checksums_as_null_never_invented():
    for model in MODELS.values():
        for artifact in model['artifacts']:
            assert artifact['sha256'] is None, 'pin a sha256 only after a verified download'


def test_stand_in_matches_the_demo_models_interface():
    standin = MODELS['peoplenet_standin']
    assert standin['stand_in'] is True and 'NOT PeopleNet' in standin['description']
    by_id = dict((item['id'], item) for item in standin['artifacts'])
    assert sorted(by_id) == ['etlt', 'onnx']
    assert (by_id['etlt']['format'], by_id['etlt']['key']) == ('etlt-onnx', 'tlt_encode')
    assert by_id['etlt']['ngc'] == 'nvidia/tao/peoplenet_standin:demo_v1.0'
    assert [o['name'] for o in by_id['etlt']['outputs']] == [
        'output_cov/Sigmoid', 'output_bbox/BiasAdd']
    assert by_id['onnx']['input']['name'] == 'input_1:0'
    # Same interface as the real PeopleNet.
    assert standin['classes'] == MODELS['peoplenet']['classes']
    for key in ('stride', 'bbox_norm', 'offset'):
        assert standin['postprocessing'][key] == MODELS['peoplenet']['postprocessing'][key]


# --- selection -----------------------------------------------------------------------------------

@pytest.mark.parametrize('facts, expected', [
    (NANO, 'etlt_pruned_v2.1'),        # TensorRT 8.2: UFF; the ONNX releases need 8.6+
    (XAVIER, 'etlt_int8_v2.6.1'),      # TensorRT 8.5: the newest UFF release
    (_facts('8.6.2', jetpack='6.0'), 'onnx_v2.3.3'),
    (ORIN_TRT10, 'onnx_v2.3.4'),
    (DGPU_TRT10, 'onnx_v2.3.4'),
    (ORIN_RTX, 'onnx_v2.3.4'),
])
def test_peoplenet_artifact_per_platform(facts, expected):
    choice = _catalog.select_artifact('peoplenet', MODELS['peoplenet'], facts)
    assert choice['artifact_id'] == expected
    assert choice['artifact']['id'] == expected
    rejected = [item['id'] for item in choice['rejected']]
    assert expected not in rejected
    assert len(rejected) + 1 <= len(MODELS['peoplenet']['artifacts'])


def test_fleet_fixture_facts_select_peoplenet():
    # The platform helper's expected facts for every simulated profile.
    names = sorted(name[:-len('.expected.json')] for name in os.listdir(SYSROOTS)
                   if name.endswith('.expected.json'))
    assert names, 'no sysroot fixtures found under %s' % SYSROOTS
    for name in names:
        with open(os.path.join(SYSROOTS, name + '.expected.json')) as handle:
            facts = json.load(handle)['tao_platform']
        choice = _catalog.select_artifact('peoplenet', MODELS['peoplenet'], facts)
        version = _catalog.parse_version(facts['tensorrt']['version'])
        if version[0] >= 10:
            assert choice['format'] == 'onnx', name
        else:
            assert choice['format'] == 'etlt-uff', name


def test_tensorrt_rtx_takes_onnx_only_and_precision_from_the_model():
    choice = _catalog.select_artifact('peoplenet', MODELS['peoplenet'], ORIN_RTX)
    assert choice['precisions'] == ['fp32']
    assert choice['tensorrt']['flavour'] == 'tensorrt_rtx'
    reasons = dict((item['id'], item['reason']) for item in choice['rejected'])
    assert 'ONNX only' in reasons['etlt_int8_v2.6.1']
    error = _error('no_artifact_fits', _catalog.select_artifact, 'peoplenet',
                   MODELS['peoplenet'], ORIN_RTX, precision='fp16')
    assert 'takes the precision from the model' in str(error)


def test_uff_only_model_on_jetpack_6_says_what_to_do():
    error = _error('no_artifact_fits', _catalog.select_artifact, 'dashcamnet',
                   MODELS['dashcamnet'], ORIN_TRT10)
    assert 'etlt_pruned_v1.0' in error.msg and 'UFF' in error.msg
    assert 'JetPack 6.1+' in error.fix and 'ONNX' in error.fix
    assert 'pruned_onnx_v1.0.5' in error.fix                       # the model's own fix_hint
    assert error.details['rejected'][0]['id'] == 'etlt_pruned_v1.0'


def test_every_artifact_is_listed_with_its_reason():
    error = _error('no_artifact_fits', _catalog.select_artifact, 'facedetect',
                   MODELS['facedetect'], DGPU_TRT10)
    for artifact in MODELS['facedetect']['artifacts']:
        assert '%s: it is UFF' % artifact['id'] in error.msg
    assert 'TensorRT 10 and newer' in error.fix                   # not a Jetson: no JetPack talk


def test_pinned_uff_artifact_on_tensorrt_10_points_at_the_onnx_release():
    error = _error('no_artifact_fits', _catalog.select_artifact, 'peoplenet',
                   MODELS['peoplenet'], ORIN_TRT10, artifact_id='etlt_int8_v2.6.1')
    assert 'JetPack 6.1+' in error.fix
    assert 'pruned_quantized_decrypted_v2.3.4' in error.fix


def test_pinned_artifact_that_fits():
    choice = _catalog.select_artifact('peoplenet', MODELS['peoplenet'], XAVIER,
                                      artifact_id='etlt_pruned_v2.1')
    assert choice['artifact_id'] == 'etlt_pruned_v2.1' and choice['reason'] == 'pinned by the caller'


def test_old_tensorrt_gets_an_upgrade_hint():
    error = _error('no_artifact_fits', _catalog.select_artifact, 'lpdnet_ccpd',
                   MODELS['lpdnet_ccpd'], XAVIER)
    assert 'TensorRT 10.3 or newer' in error.fix


def test_no_tensorrt_on_the_host():
    error = _error('no_artifact_fits', _catalog.select_artifact, 'peoplenet',
                   MODELS['peoplenet'], _facts(None))
    assert 'no TensorRT' in error.msg and 'Install TensorRT' in error.fix


def test_preference_order():
    standin = MODELS['peoplenet_standin']
    assert _catalog.select_artifact('peoplenet_standin', standin, ORIN_TRT10)['artifact_id'] == 'etlt'
    assert _catalog.select_artifact('peoplenet_standin', standin, ORIN_TRT10,
                                    prefer=['onnx'])['artifact_id'] == 'onnx'
    # Without the model's own preference, plain ONNX wins over ONNX-in-.etlt.
    unranked = dict(standin, prefer=[])
    assert _catalog.select_artifact('peoplenet_standin', unranked, ORIN_TRT10)['artifact_id'] == 'onnx'


def test_catalog_order_breaks_ties_between_equal_formats():
    peoplenet = MODELS['peoplenet']
    choice = _catalog.select_artifact('peoplenet', peoplenet, _facts('8.6.1'))
    assert choice['artifact_id'] == 'onnx_v2.3.3'
    reordered = dict(peoplenet, artifacts=list(reversed(peoplenet['artifacts'])))
    assert _catalog.select_artifact('peoplenet', reordered, _facts('8.6.1'))['format'] == 'onnx'


@pytest.mark.parametrize('version, fits', [
    ('7.0.0', False), ('7.1.3', True), ('8.6.2', True), ('9.0.0', False), ('8.99', True),
])
def test_tensorrt_range_edges(version, fits):
    facedetect = MODELS['facedetect']
    only_v20 = dict(facedetect, artifacts=[a for a in facedetect['artifacts'] if a['id'] == 'etlt_v2.0'])
    if fits:
        assert _catalog.select_artifact('facedetect', only_v20, _facts(version))['artifact_id'] == 'etlt_v2.0'
    else:
        _error('no_artifact_fits', _catalog.select_artifact, 'facedetect', only_v20, _facts(version))


def test_tensorrt_7_calibration_cache_does_not_serve_tensorrt_8():
    trafficcamnet = MODELS['trafficcamnet']
    on_trt7 = _catalog.select_artifact('trafficcamnet', trafficcamnet, _facts('7.1.3'))
    on_trt8 = _catalog.select_artifact('trafficcamnet', trafficcamnet, XAVIER)
    assert 'int8' in on_trt7['precisions'] and 'int8' not in on_trt8['precisions']
    error = _error('no_artifact_fits', _catalog.select_artifact, 'trafficcamnet', trafficcamnet,
                   XAVIER, precision='int8')
    assert 'written by TensorRT 7' in error.msg


def test_int8_without_calibration_cache():
    peoplenet = MODELS['peoplenet']
    choice = _catalog.select_artifact('peoplenet', peoplenet, NANO, precision='fp16')
    assert choice['precision'] == 'fp16'
    error = _error('no_artifact_fits', _catalog.select_artifact, 'peoplenet', peoplenet, NANO,
                   precision='int8')
    assert 'no INT8 calibration cache' in error.msg


def test_test_double_is_reported():
    choice = _catalog.select_artifact('peoplenet', MODELS['peoplenet'], NANO)
    assert choice['tensorrt'] == {'flavour': 'tensorrt', 'version': '8.2.1.8', 'test_double': True}
    assert 'test double' in _catalog.describe_host(NANO)


def test_bad_arguments():
    _error('invalid_precision', _catalog.select_artifact, 'peoplenet', MODELS['peoplenet'],
           XAVIER, precision='int4')
    _error('unknown_artifact', _catalog.select_artifact, 'peoplenet', MODELS['peoplenet'],
           XAVIER, artifact_id='nope')


@pytest.mark.parametrize('text, expected', [
    ('10.3.0.30', (10, 3, 0, 30)), ('8.6.1-1+cuda12.0', (8, 6, 1)), (' 9 ', (9,)), (8.5, (8, 5)),
])
def test_parse_version(text, expected):
    assert _catalog.parse_version(text) == expected


# --- schema check ---------------------------------------------------------------------------------

def _user_model():
    """A complete user model: the shape docs/models.md shows."""
    return {
        'name': 'Acme people detector',
        'architecture': 'detectnet_v2',
        'classes': ['person'],
        'preprocessing': {'color_format': 'rgb', 'layout': 'nchw', 'scale': 1 / 255.0},
        'postprocessing': {'decoder': 'detectnet_v2', 'stride': 16, 'bbox_norm': 35.0,
                           'offset': 0.5, 'cluster_mode': 'nms', 'pre_cluster_threshold': 0.3,
                           'nms_iou_threshold': 0.5, 'topk': 20},
        'artifacts': [{
            'id': 'etlt', 'urls': ['http://127.0.0.1:8080/acme.etlt'], 'file': 'acme.etlt',
            'format': 'etlt-onnx', 'key': 'acme-secret', 'sha256': None,
            'tensorrt': {'min': '8.0'},
            'input': {'name': 'input_1', 'dims': [3, 384, 640]},
            'outputs': [{'name': 'cov', 'dims': [1, 24, 40], 'role': 'coverage'},
                        {'name': 'bbox', 'dims': [4, 24, 40], 'role': 'bbox'}],
            'precisions': ['fp32', 'fp16'],
        }],
    }


def test_a_complete_user_model_is_valid():
    assert _catalog.check_model('acme', _user_model()) == []


def _problems(mutate):
    model = _user_model()
    mutate(model)
    return '\n'.join(_catalog.check_model('acme', model))


@pytest.mark.parametrize('mutate, expected', [
    (lambda m: m['artifacts'][0]['input'].pop('dims'),
     "model acme.artifacts[etlt].input: dims must be a list of positive integers"),
    (lambda m: m['artifacts'][0]['input'].update(dims=[544, 960]),
     'dims must have 3 entries (C, H, W)'),
    (lambda m: m['artifacts'][0].update(format='tensorflow'),
     "format: unknown format 'tensorflow' (known: onnx, etlt-onnx, etlt-uff)"),
    (lambda m: m['artifacts'][0].update(fromat='onnx'),
     "unknown key 'fromat' (did you mean 'format'?)"),
    (lambda m: m['artifacts'][0].pop('key'), 'needs its model key'),
    (lambda m: m['artifacts'][0].update(format='onnx'), 'plain onnx artifact is not encrypted'),
    (lambda m: m['artifacts'][0].update(precisions=['fp32', 'int8']),
     'int8 needs a calibration cache'),
    (lambda m: m['artifacts'][0].update(sha256='ABC'), 'sha256: 64 lowercase hex digits'),
    (lambda m: m['artifacts'][0].update(ngc='peoplenet', urls=None), 'ngc: "org/team/model:version"'),
    (lambda m: m['artifacts'][0].update(urls=None), 'give ngc'),
    (lambda m: m['artifacts'][0].update(file='models/acme.etlt'), 'file name without directories'),
    (lambda m: m['artifacts'][0].update(tensorrt={'min': 'ten'}), 'a version like "8.6"'),
    (lambda m: m.update(classes=['person', 'bag']), 'a coverage output has 2 planes for 2 classes'),
    (lambda m: m['artifacts'][0]['outputs'][1].update(dims=[4, 34, 60]),
     'input 384x640 at stride 16 gives a 24x40 grid'),
    (lambda m: m['postprocessing'].update(cluster_mode='kmeans'), 'cluster_mode: one of'),
    (lambda m: m['postprocessing'].update(pre_cluster_threshold={'car': 0.3}),
     "'car' is not one of the classes"),
    (lambda m: m['preprocessing'].update(layout='chw'), 'layout: one of nchw, nhwc'),
    (lambda m: m.pop('classes'), 'classes is missing'),
    (lambda m: m['artifacts'].append(copy.deepcopy(m['artifacts'][0])), "artifact id 'etlt' is used twice"),
    (lambda m: m.update(prefer=['onnx']), "prefer: 'onnx' is not an artifact"),
    (lambda m: m.update(performance=[{'device': 'x', 'fps': 9}]), 'every figure needs its source'),
])
def test_schema_problems_are_named(mutate, expected):
    assert expected in _problems(mutate)


def test_validate_models_reports_every_problem_at_once():
    broken = _user_model()
    broken['artifacts'][0]['input'].pop('dims')
    broken['artifacts'][0]['format'] = 'uff'
    error = _error('catalog_invalid', _catalog.validate_models, {'acme': broken})
    assert len(error.details['problems']) == 2
    assert 'docs/models.md' in error.fix


# --- merging user entries -------------------------------------------------------------------------

def test_user_model_is_added():
    merged = _catalog.merge_models(_catalog_models(), {'acme': _user_model()})
    assert 'acme' in merged and 'peoplenet' in merged
    choice = _catalog.select_artifact('acme', merged['acme'], ORIN_RTX)
    assert choice['artifact_id'] == 'etlt' and choice['encrypted'] is True


def test_user_artifact_extends_a_catalog_model():
    onnx = {
        'id': 'onnx_mine', 'urls': ['http://127.0.0.1:8080/dashcamnet.onnx'],
        'file': 'dashcamnet.onnx', 'format': 'onnx', 'sha256': None,
        'tensorrt': {'min': '8.6'},
        'input': {'name': 'input_1:0', 'dims': [3, 544, 960]},
        'outputs': [{'name': 'output_cov/Sigmoid:0', 'dims': [4, 34, 60], 'role': 'coverage'},
                    {'name': 'output_bbox/BiasAdd:0', 'dims': [16, 34, 60], 'role': 'bbox'}],
        'precisions': ['fp32', 'fp16'],
    }
    catalog = _catalog_models()
    pristine = copy.deepcopy(catalog)
    merged = _catalog.merge_models(catalog, {'dashcamnet': {'artifacts': [onnx]}})
    assert catalog == pristine
    assert [a['id'] for a in merged['dashcamnet']['artifacts']] == ['etlt_pruned_v1.0', 'onnx_mine']
    assert _catalog.select_artifact('dashcamnet', merged['dashcamnet'],
                                    ORIN_TRT10)['artifact_id'] == 'onnx_mine'


def test_user_artifact_replaces_one_with_the_same_id():
    digest = 'a' * 64
    merged = _catalog.merge_models(_catalog_models(), {'peoplenet': {'artifacts': [
        dict(copy.deepcopy(MODELS['peoplenet']['artifacts'][0]), sha256=digest)]}})
    artifacts = merged['peoplenet']['artifacts']
    assert len(artifacts) == len(MODELS['peoplenet']['artifacts'])
    assert artifacts[0]['sha256'] == digest


def test_user_override_of_a_key_and_bad_user_entry():
    merged = _catalog.merge_models(_catalog_models(),
                                   {'peoplenet': {'postprocessing': dict(
                                       MODELS['peoplenet']['postprocessing'], topk=50)}})
    assert merged['peoplenet']['postprocessing']['topk'] == 50
    error = _error('catalog_invalid', _catalog.merge_models, _catalog_models(),
                   {'mine': {'name': 'half a model'}})
    assert 'model mine: architecture is missing' in str(error)


# --- the stand-in entry against the files the demo generator writes ------------------------------

def _load_demo_generator():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'demo_model', os.path.join(REPO, 'tests', 'fleet', 'demo_model.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stand_in_entry_describes_the_demo_files():
    pytest.importorskip('numpy')
    pytest.importorskip('onnx')
    from ansible_collections.tao.fleet.plugins.module_utils import _etlt

    demo = _load_demo_generator()
    standin = MODELS['peoplenet_standin']
    by_id = dict((item['id'], item) for item in standin['artifacts'])
    version = by_id['etlt']['ngc'].split(':')[1]
    assert version == demo.DEFAULT_VERSION
    files = {by_id['etlt']['file']: demo.etlt_bytes(version),
             by_id['onnx']['file']: demo.onnx_bytes(version)}
    assert sorted(files) == sorted([demo.ETLT_FILE, demo.ONNX_FILE])
    for artifact in by_id.values():
        model = _etlt.read_model(files[artifact['file']], artifact.get('key'),
                                 model_name='peoplenet_standin')
        assert model.encrypted == (artifact['format'] != 'onnx')
        description = _etlt.describe_onnx(model.payload)
        assert [(item['name'], item['dims'][1:]) for item in description['inputs']] == [
            (artifact['input']['name'], artifact['input']['dims'])]
        assert [(item['name'], item['dims'][1:]) for item in description['outputs']] == [
            (item['name'], item['dims']) for item in artifact['outputs']]
    assert list(demo.CLASSES) == standin['classes']
