# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The PeopleNet stand-in end to end: generate it (tests/fleet/demo_model.py), check its files
and interface, run it with onnxruntime on generated scenes, decode with _detectnet, and find
exactly the rectangles that were drawn.

It lives beside the module_utils tests so that ansible-test runs it under every JetPack Python
(3.6 to 3.12; tests elsewhere in tests/unit count as controller tests and run on 3.10+ only).
onnx and onnxruntime come from tests/unit/requirements.txt.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
import pytest
import yaml

from ansible_collections.tao.fleet.plugins.module_utils import _detectnet, _image
from ansible_collections.tao.fleet.plugins.module_utils._etlt import decode_etlt
from ansible_collections.tao.fleet.tests.unit.plugins.modules.double_host import load_demo_model

HERE = os.path.dirname(os.path.abspath(__file__))
GENERATOR = os.path.join(HERE, '..', '..', '..', 'fleet', 'demo_model.py')
CATALOG = os.path.join(HERE, '..', '..', '..', '..', 'catalog', 'models.yml')


demo_model = load_demo_model()
VERSION = demo_model.DEFAULT_VERSION
NETWORK = (demo_model.WIDTH, demo_model.HEIGHT)
with open(CATALOG) as catalog_file:
    STANDIN = yaml.safe_load(catalog_file)['models']['peoplenet_standin']
CLASSES = STANDIN['classes']
# The catalog's post-processing for the stand-in, as the smoke test will use it: DeepStream's
# PeopleNet settings (NMS, pre-cluster threshold 0.2, 0.4 for person, IoU 0.5, top 20).
PEOPLENET_DEFAULTS = STANDIN['postprocessing']
# tao-deploy's person settings from its inferencer_spec.txt (coverage 0.005, eps 0.265, ...).
TAO_DEPLOY_PERSON = {'flavour': 'tao_deploy', 'cluster_mode': 'dbscan', 'pre_cluster_threshold': 0.005,
                     'eps': 0.265, 'min_boxes': 1, 'min_height': 4, 'post_cluster_threshold': 0.2}
OTHER_SETTINGS = [
    TAO_DEPLOY_PERSON,
    {'flavour': 'tao_deploy', 'cluster_mode': 'nms', 'nms_iou_threshold': 0.3},
    {'flavour': 'tao_deploy', 'cluster_mode': 'hybrid', 'eps': 0.265, 'min_boxes': 1},
    dict(PEOPLENET_DEFAULTS, cluster_mode='dbscan'),
    dict(PEOPLENET_DEFAULTS, cluster_mode='dbscan_nms'),
    {'cluster_mode': 'group_rectangles', 'group_threshold': 1, 'eps': 0.2},
]


def iou(a, b):
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - width * height
    return width * height / union


def box(detection):
    return (detection['left'], detection['top'], detection['right'], detection['bottom'])


def assert_found_exactly(detections, rectangles, frame=NETWORK, tolerance=0.01):
    """One person box per rectangle (IoU >= 0.9) whose edges are within ``tolerance`` pixels of
    the rectangle's, except that an edge on the frame's right or bottom border may be up to one
    (network) pixel inside it: nvinfer clips coordinates to width - 1 and height - 1."""
    assert len(detections) == len(rectangles), (detections, rectangles)
    assert all(d['label'] == 'person' for d in detections), detections
    pixel = (frame[0] / NETWORK[0], frame[1] / NETWORK[1])
    for rectangle in rectangles:
        match = max(detections, key=lambda d: iou(rectangle, box(d)))
        assert iou(rectangle, box(match)) >= 0.9, (rectangle, detections)
        for edge, (want, got) in enumerate(zip(rectangle, box(match))):
            on_border = edge >= 2 and want == frame[edge - 2]
            slack = tolerance + (pixel[edge % 2] if on_border else 0)
            assert want - slack <= got <= want + tolerance, (rectangle, box(match))


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('mirror'))
    demo_model.write_tree(out, VERSION)
    return out


def model_path(tree, name):
    return os.path.join(tree, demo_model.model_dir(VERSION), name)


@pytest.fixture(scope='module')
def onnx_session(tree):
    with open(model_path(tree, demo_model.ONNX_FILE), 'rb') as handle:
        return onnxruntime.InferenceSession(handle.read(), providers=['CPUExecutionProvider'])


@pytest.fixture(scope='module')
def etlt_session(tree):
    with open(model_path(tree, demo_model.ETLT_FILE), 'rb') as handle:
        payload = decode_etlt(handle.read(), demo_model.ETLT_KEY, model_name=demo_model.MODEL).payload
    return onnxruntime.InferenceSession(payload, providers=['CPUExecutionProvider'])


def run(session, images):
    input_name = session.get_inputs()[0].name
    cov, bbox = session.run(None, {input_name: _image.to_input_tensor(images)})
    return cov, bbox


# ---- the files ----------------------------------------------------------------------------------

def test_catalog_entry_describes_the_generated_model():
    """catalog/models.yml (the catalog engineer's) and this generator agree on every fact a host
    relies on: file names, version, key, I/O names and shapes, classes."""
    assert STANDIN['stand_in'] is True and CLASSES == list(demo_model.CLASSES)
    artifacts = dict((artifact['format'], artifact) for artifact in STANDIN['artifacts'])
    for kind, file_name, names in (('etlt-onnx', demo_model.ETLT_FILE, demo_model.ETLT_NAMES),
                                   ('onnx', demo_model.ONNX_FILE, demo_model.ONNX_NAMES)):
        artifact = artifacts[kind]
        assert artifact['file'] == file_name
        assert artifact['ngc'] == 'nvidia/tao/%s:%s' % (demo_model.MODEL, VERSION)
        assert (artifact['input']['name'], artifact['input']['dims']) == (names[0], [3, 544, 960])
        outputs = [(o['name'], o['dims']) for o in artifact['outputs']]
        assert outputs == [(names[1], [3, 34, 60]), (names[2], [12, 34, 60])]
    assert artifacts['etlt-onnx']['key'] == demo_model.ETLT_KEY
    post = PEOPLENET_DEFAULTS
    expected = (demo_model.STRIDE, demo_model.BBOX_NORM, demo_model.OFFSET)
    assert (post['stride'], post['bbox_norm'], post['offset']) == expected


def test_two_builds_are_byte_identical():
    assert demo_model.tree_files(VERSION) == demo_model.tree_files(VERSION)
    assert demo_model.onnx_bytes('demo_v2.0') != demo_model.onnx_bytes(VERSION)


def test_tree_is_laid_out_as_the_mirror_serves_it(tree):
    files_dir = 'v2/models/nvidia/tao/peoplenet_standin/versions/%s/files' % VERSION
    for name in ('peoplenet_standin.onnx', 'peoplenet_standin.etlt', 'labels.txt'):
        assert os.path.isfile(os.path.join(tree, files_dir, name))
    with open(os.path.join(tree, files_dir, 'labels.txt')) as handle:
        assert handle.read().split() == ['person', 'bag', 'face']
    listed = demo_model.read_sums(tree)
    on_disk = sorted(os.path.relpath(os.path.join(d, n), tree) for d, _s, names in os.walk(tree)
                     for n in names if n != 'SHA256SUMS')
    assert sorted(listed) == on_disk
    for path, digest in listed.items():
        with open(os.path.join(tree, path), 'rb') as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == digest
    assert max(os.path.getsize(os.path.join(tree, path)) for path in listed) < 1024 * 1024


def test_check_accepts_a_fresh_tree_from_the_command_line(tree):
    result = subprocess.run([sys.executable, GENERATOR, '--out', tree, '--check'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert result.returncode == 0, result.stdout
    assert 'tree is complete and current' in result.stdout


def test_check_finds_damage(tmp_path):
    out = str(tmp_path)
    demo_model.write_tree(out, VERSION)
    scene = os.path.join(out, 'images/peoplenet_standin', demo_model.scene_file(3, 3, 960, 544))
    with open(scene, 'r+b') as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.unlink(os.path.join(out, demo_model.model_dir(VERSION), demo_model.ETLT_FILE))
    with open(os.path.join(out, 'stray.bin'), 'wb') as handle:
        handle.write(b'x')
    problems = '\n'.join(demo_model.check_tree(out, VERSION))
    assert 'scene-s3-k3-960x544.png does not match its sha256' in problems
    assert 'peoplenet_standin.etlt is listed in SHA256SUMS but missing' in problems
    assert 'stray.bin is not listed' in problems
    result = subprocess.run([sys.executable, GENERATOR, '--out', out, '--check'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert result.returncode == 1 and 'FAIL' in result.stdout


def test_check_finds_a_stale_tree(tmp_path):
    """Hashes that match files the current generator would not write (an old generator)."""
    out = str(tmp_path)
    demo_model.write_tree(out, VERSION)
    with open(os.path.join(out, demo_model.model_dir(VERSION), demo_model.ONNX_FILE), 'wb') as handle:
        handle.write(demo_model.onnx_bytes('older'))
    demo_model.write_sums(out)
    assert demo_model.check_tree(out, VERSION) == [
        '%s/%s differs from what this generator writes for %s (stale tree?)'
        % (demo_model.model_dir(VERSION), demo_model.ONNX_FILE, VERSION)]
    assert demo_model.check_tree(str(tmp_path / 'empty'), VERSION)[0].startswith(str(tmp_path / 'empty'))


def graph_io(model):
    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
    return ([(i.name, dims(i)) for i in model.graph.input], [(o.name, dims(o)) for o in model.graph.output])


def test_onnx_has_peoplenet_interface(tree):
    model = onnx.load(model_path(tree, demo_model.ONNX_FILE))
    onnx.checker.check_model(model)
    assert graph_io(model) == ([('input_1:0', ['N', 3, 544, 960])],
                               [('output_cov/Sigmoid:0', ['N', 3, 34, 60]),
                                ('output_bbox/BiasAdd:0', ['N', 12, 34, 60])])
    producers = {node.output[0]: node for node in model.graph.node}
    assert producers['output_cov/Sigmoid:0'].op_type == 'Sigmoid'
    assert producers['output_cov/Sigmoid:0'].name == 'output_cov/Sigmoid'
    assert producers['output_bbox/BiasAdd:0'].op_type == 'Add'
    assert producers['output_bbox/BiasAdd:0'].name == 'output_bbox/BiasAdd'
    # ops every TensorRT ONNX parser since 7.x takes, opset 11
    assert {node.op_type for node in model.graph.node} <= {'Conv', 'Sigmoid', 'Relu', 'Mul', 'MaxPool', 'Concat', 'Add'}
    assert [(o.domain, o.version) for o in model.opset_import] == [('', 11)] and model.ir_version == 6
    assert {p.key: p.value for p in model.metadata_props}['stand_in'] == 'true'


def test_etlt_is_the_same_graph_with_tao_names_encrypted_as_tao_does(tree):
    with open(model_path(tree, demo_model.ETLT_FILE), 'rb') as handle:
        data = handle.read()
    assert data[:4] == b'\0\0\0\0'  # no input node name: an ONNX payload, as TAO's exporter writes it
    decoded = decode_etlt(data, 'tlt_encode', model_name='peoplenet_standin')
    assert decoded.format == 'onnx' and decoded.input_node_name == ''
    assert decoded.payload == demo_model.onnx_bytes(VERSION, demo_model.ETLT_NAMES)
    assert graph_io(onnx.load_from_string(decoded.payload)) == (
        [('input_1', ['N', 3, 544, 960])],
        [('output_cov/Sigmoid', ['N', 3, 34, 60]), ('output_bbox/BiasAdd', ['N', 12, 34, 60])])


# ---- what it sees -------------------------------------------------------------------------------

@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('count', range(6))
def test_finds_exactly_the_bright_rectangles(onnx_session, etlt_session, seed, count):
    scene = _image.demo_scene(100 + seed, count, distractors=2)
    for session in (onnx_session, etlt_session):
        cov, bbox = run(session, scene.image)
        found = _detectnet.decode(cov, bbox, CLASSES, NETWORK, PEOPLENET_DEFAULTS)[0]
        assert_found_exactly(found, scene.rects)
        assert cov[0, 1:].max() < 1e-4  # bag and face: nothing anywhere


@pytest.mark.parametrize('settings', OTHER_SETTINGS, ids=lambda s: '%s-%s' % (s.get('flavour', 'deepstream'),
                                                                              s['cluster_mode']))
@pytest.mark.parametrize('seed', range(3))
def test_every_clustering_finds_them_too(onnx_session, settings, seed):
    scene = _image.demo_scene(200 + seed, 4, distractors=2)
    cov, bbox = run(onnx_session, scene.image)
    # group_rectangles works on integer rectangles: C++ truncation costs up to 2 pixels per edge
    tolerance = 2.0 if settings['cluster_mode'] == 'group_rectangles' else 0.01
    assert_found_exactly(_detectnet.decode(cov, bbox, CLASSES, NETWORK, settings)[0], scene.rects,
                         tolerance=tolerance)


def test_the_scenes_in_the_tree_are_found_at_their_own_size(tree, onnx_session):
    with open(os.path.join(tree, 'images/peoplenet_standin/scenes.json')) as handle:
        index = json.load(handle)
    assert [scene['file'] for scene in index['scenes']] == [
        demo_model.scene_file(seed, count, width, height) for seed, count, _d, width, height in demo_model.SCENES]
    for scene in index['scenes']:
        image = _image.load_image(os.path.join(tree, 'images/peoplenet_standin', scene['file']))
        cov, bbox = run(onnx_session, image)
        found = _detectnet.decode(cov, bbox, CLASSES, NETWORK, PEOPLENET_DEFAULTS)[0]
        found = _image.scale_detections(found, NETWORK, (image.width, image.height))
        assert_found_exactly(found, [tuple(rect) for rect in scene['persons']], frame=(image.width, image.height),
                             tolerance=0.01 * image.width / NETWORK[0])


def test_one_batch_equals_single_images(onnx_session):
    images = [_image.demo_scene(300 + seed, seed, distractors=1).image for seed in range(4)]
    cov, bbox = run(onnx_session, images)
    assert cov.shape == (4, 3, 34, 60) and bbox.shape == (4, 12, 34, 60)
    for index, image in enumerate(images):
        single_cov, single_bbox = run(onnx_session, image)
        assert np.allclose(cov[index], single_cov[0], atol=1e-6)
        assert np.allclose(bbox[index], single_bbox[0], atol=1e-5)
    assert [len(found) for found in _detectnet.decode(cov, bbox, CLASSES, NETWORK, PEOPLENET_DEFAULTS)] == [0, 1, 2, 3]


@pytest.mark.parametrize('level, seen', [(150, True), (110, False)])
def test_brightness_decides_what_counts_as_a_person(onnx_session, level, seen):
    """Mean brightness 0.59 is above the model's 0.5 threshold, 0.43 below."""
    image = _image.RgbImage(960, 544)
    image.fill(0, 0, 960, 544, (20, 20, 20))
    image.fill(320, 160, 400, 320, (level, level, level))
    cov, bbox = run(onnx_session, image)
    found = _detectnet.decode(cov, bbox, CLASSES, NETWORK, PEOPLENET_DEFAULTS)[0]
    assert [box(d) for d in found] == ([pytest.approx((320, 160, 400, 320), abs=0.01)] if seen else [])
