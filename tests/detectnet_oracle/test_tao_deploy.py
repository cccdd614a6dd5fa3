# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""NVIDIA's own DetectNet_v2 post-processing (tao-deploy 7.3.0 ``BboxHandler``) and ours
(``flavour: tao_deploy``) on the same output tensors."""

from __future__ import absolute_import, division, print_function

import importlib.util
import os
import types

import numpy as np
import onnxruntime
import pytest

from ansible_collections.tao.fleet.plugins.module_utils import _detectnet, _image

CLASSES = ['person', 'bag', 'face']
NETWORK = (960, 544)
GRID = (34, 60)

# Per-class clustering_config as tao-deploy's specs/inferencer_spec.txt writes it (its person,
# bicycle and road_sign entries), one variant per algorithm.
SPEC_DBSCAN = {
    'person': dict(coverage_threshold=0.00499999988824, dbscan_eps=0.264999985695, dbscan_min_samples=1,
                   minimum_bounding_box_height=4, dbscan_confidence_threshold=0.2),
    'bag': dict(coverage_threshold=0.00499999988824, dbscan_eps=0.3, dbscan_min_samples=1,
                minimum_bounding_box_height=4, dbscan_confidence_threshold=0.9),
    'face': dict(coverage_threshold=0.00499999988824, dbscan_eps=0.15000000596, dbscan_min_samples=1,
                 minimum_bounding_box_height=4, dbscan_confidence_threshold=0.2),
}
CASES = [
    ('dbscan', SPEC_DBSCAN),
    ('dbscan', {name: dict(coverage_threshold=0.3, dbscan_eps=0.5, dbscan_min_samples=2,
                           minimum_bounding_box_height=20, dbscan_confidence_threshold=2.5) for name in CLASSES}),
    ('nms', {name: dict(coverage_threshold=0.2, nms_iou_threshold=0.5, nms_confidence_threshold=0.25)
             for name in CLASSES}),
    ('nms', {name: dict(coverage_threshold=0.05) for name in CLASSES}),
    ('hybrid', {name: dict(coverage_threshold=0.1, dbscan_eps=0.3, dbscan_min_samples=1, minimum_bounding_box_height=4,
                           dbscan_confidence_threshold=0.5, nms_iou_threshold=0.4, nms_confidence_threshold=0.15)
                for name in CLASSES}),
]
CONFIG_FIELDS = ('coverage_threshold', 'dbscan_eps', 'dbscan_min_samples', 'minimum_bounding_box_height',
                 'dbscan_confidence_threshold', 'nms_iou_threshold', 'nms_confidence_threshold')


def nvidia_detections(tao_deploy, cov, bbox, algorithm, spec):
    """What tao-deploy's inference script does after the engine ran: per image, rows of
    (class, confidence, x1, y1, x2, y2), class as the index into CLASSES."""
    # inferencer.py trt_output_process_fn imports TensorRT, so its few lines are ported here: the
    # NCHW outputs transposed to (N, C, W, H) and split per class. Copies: tao-deploy converts
    # the boxes in place.
    cov_whc = cov.copy().transpose(0, 1, 3, 2)
    bbox_whc = bbox.copy().transpose(0, 1, 3, 2)
    raw = {name: {'cov': cov_whc[:, i, :, :], 'bbox': bbox_whc[:, 4 * i:4 * i + 4, :, :]}
           for i, name in enumerate(CLASSES)}
    params = {}
    for name, config in spec.items():
        settings = dict.fromkeys(CONFIG_FIELDS, 0)
        settings.update(config, clustering_algorithm=algorithm)
        params[name] = types.SimpleNamespace(clustering_config=types.SimpleNamespace(**settings))
    handler = tao_deploy.postprocessor.BboxHandler(
        frame_height=NETWORK[1], frame_width=NETWORK[0], target_classes=CLASSES, postproc_classes=CLASSES,
        classwise_cluster_params=params)
    clustered = handler.cluster_detections(handler.bbox_preprocessing(raw))
    batch = cov.shape[0]
    results = handler.postprocess(clustered, batch, [NETWORK] * batch, NETWORK,
                                  {name: i + 1 for i, name in enumerate(CLASSES)})
    images = []
    for rows in results:
        if len(rows) == 1 and not rows[0][1:].any():  # tao-deploy's "null prediction" row
            rows = rows[:0]
        images.append([(int(row[0]) - 1, float(row[1])) + tuple(float(v) for v in row[2:]) for row in rows])
    return images


def our_params(algorithm, spec):
    per_class = {}
    for name, config in spec.items():
        per_class[name] = {
            'pre_cluster_threshold': config.get('coverage_threshold', 0),
            'eps': config.get('dbscan_eps', 0),
            'min_boxes': config.get('dbscan_min_samples', 0),
            'min_height': config.get('minimum_bounding_box_height', 0),
            'post_cluster_threshold': config.get('dbscan_confidence_threshold', 0),
            # tao-deploy's defaults when the spec leaves these out (postprocessor.py)
            'nms_iou_threshold': config.get('nms_iou_threshold') or 0.3,
            'nms_confidence_threshold': config.get('nms_confidence_threshold') or 0.1,
        }
    return {'flavour': 'tao_deploy', 'cluster_mode': algorithm, 'per_class': per_class}


def our_detections(cov, bbox, algorithm, spec):
    return [[(d['class_id'], d['confidence'], d['left'], d['top'], d['right'], d['bottom']) for d in image]
            for image in _detectnet.decode(cov, bbox, CLASSES, NETWORK, our_params(algorithm, spec))]


def random_outputs(seed, batch=2):
    """Coverage skewed low, boxes scattered around their cells (overlapping at every IoU, some
    past the frame, a few inverted): many candidates and clusters of every size."""
    rng = np.random.RandomState(seed)
    cov = (rng.uniform(0, 1, (batch, 3) + GRID) ** 6).astype(np.float32)
    rows, columns = np.meshgrid(np.arange(GRID[0]), np.arange(GRID[1]), indexing='ij')
    centre_x = (columns * 16 + 0.5) / 35.0
    centre_y = (rows * 16 + 0.5) / 35.0
    bbox = np.empty((batch, 12) + GRID, np.float32)
    for image in range(batch):
        for c in range(3):
            # objects: a few anchor boxes that many cells predict with jitter, plus clutter
            anchors = rng.uniform(0, 1, (6, 4)) * [960, 544, 120, 200]
            pick = rng.randint(0, 6, GRID)
            cx = np.where(rng.uniform(0, 1, GRID) < 0.6, anchors[pick, 0] + rng.normal(0, 3, GRID),
                          columns * 16 + rng.normal(0, 40, GRID))
            cy = np.where(rng.uniform(0, 1, GRID) < 0.6, anchors[pick, 1] + rng.normal(0, 3, GRID),
                          rows * 16 + rng.normal(0, 40, GRID))
            half_w = anchors[pick, 2] / 2 + rng.normal(0, 4, GRID)
            half_h = anchors[pick, 3] / 2 + rng.normal(0, 4, GRID)
            bbox[image, 4 * c] = centre_x - (cx - half_w) / 35.0
            bbox[image, 4 * c + 1] = centre_y - (cy - half_h) / 35.0
            bbox[image, 4 * c + 2] = (cx + half_w) / 35.0 - centre_x
            bbox[image, 4 * c + 3] = (cy + half_h) / 35.0 - centre_y
    return cov, bbox


def candidate_coverage(cov, bbox, image, class_id, detection):
    """The coverage of the grid cell whose decoded, clipped box is ``detection``'s box."""
    rows, columns = np.meshgrid(np.arange(GRID[0]), np.arange(GRID[1]), indexing='ij')
    centre_x = (columns * 16 + 0.5) / 35.0
    centre_y = (rows * 16 + 0.5) / 35.0
    planes = bbox[image, 4 * class_id:4 * class_id + 4].astype(np.float64)
    x1 = np.clip((centre_x - planes[0]) * 35, 0, NETWORK[0])
    y1 = np.clip((centre_y - planes[1]) * 35, 0, NETWORK[1])
    x2 = np.maximum(np.minimum((planes[2] + centre_x) * 35, NETWORK[0]), x1)
    y2 = np.maximum(np.minimum((planes[3] + centre_y) * 35, NETWORK[1]), y1)
    distance = (np.abs(x1 - detection[2]) + np.abs(y1 - detection[3]) + np.abs(x2 - detection[4])
                + np.abs(y2 - detection[5]))
    cell = np.unravel_index(np.argmin(distance), distance.shape)
    assert distance[cell] < 1e-3
    return float(cov[image, class_id][cell])


def by_box(detections):
    return sorted(detections, key=lambda d: (d[0],) + tuple(round(v, 3) for v in d[2:]))


@pytest.mark.parametrize('seed', range(3))
@pytest.mark.parametrize('algorithm, spec', CASES, ids=['dbscan-spec', 'dbscan-strict', 'nms', 'nms-defaults',
                                                        'hybrid'])
def test_same_boxes_as_tao_deploy(tao_deploy, seed, algorithm, spec):
    cov, bbox = random_outputs(seed)
    theirs = nvidia_detections(tao_deploy, cov, bbox, algorithm, spec)
    ours = our_detections(cov, bbox, algorithm, spec)
    assert sum(len(image) for image in theirs) >= 4
    for image, (their_image, our_image) in enumerate(zip(theirs, ours)):
        if algorithm == 'dbscan':
            # same clusters, same confidences (summed coverage), same order
            assert len(our_image) == len(their_image)
            for mine, nvidia in zip(our_image, their_image):
                assert mine[0] == nvidia[0]
                assert mine[1:] == pytest.approx(nvidia[1:], rel=1e-6, abs=1e-4)
            continue
        # NMS keeps the same raw boxes; each reports its own coverage (docs/demo-model.md)
        their_boxes = [(d[0],) + d[2:] for d in by_box(their_image)]
        our_boxes = [(d[0],) + d[2:] for d in by_box(our_image)]
        assert len(our_boxes) == len(their_boxes)
        for mine, nvidia in zip(our_boxes, their_boxes):
            assert mine[0] == nvidia[0] and mine[1:] == pytest.approx(nvidia[1:], abs=1e-4)
        for detection in our_image:
            assert detection[1] == pytest.approx(candidate_coverage(cov, bbox, image, detection[0], detection))


def test_tao_deploy_nms_confidences_are_still_misattributed(tao_deploy):
    """The reason for the one deliberate difference: tao-deploy 7.3.0 reports some kept boxes
    with another box's score (or a suppressed 0). If this starts failing, NVIDIA fixed it; drop
    the note in _detectnet.py and docs/demo-model.md."""
    cov, bbox = random_outputs(0)
    theirs = nvidia_detections(tao_deploy, cov, bbox, 'nms', CASES[2][1])
    wrong = [d for image, found in enumerate(theirs) for d in found
             if abs(d[1] - candidate_coverage(cov, bbox, image, d[0], d)) > 1e-6]
    assert wrong


def load_generator():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fleet', 'demo_model.py')
    spec = importlib.util.spec_from_file_location('demo_model', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('algorithm, spec', [CASES[0], CASES[2], CASES[4]], ids=['dbscan', 'nms', 'hybrid'])
def test_tao_deploy_finds_the_stand_in_rectangles(tao_deploy, algorithm, spec):
    """NVIDIA's decoder, given the stand-in's outputs, recovers the drawn rectangles: the model
    really encodes boxes as DetectNet_v2 does."""
    demo_model = load_generator()
    session = onnxruntime.InferenceSession(demo_model.onnx_bytes(demo_model.DEFAULT_VERSION),
                                           providers=['CPUExecutionProvider'])
    scenes = [_image.demo_scene(seed, count, distractors=2) for seed, count in ((11, 0), (12, 1), (13, 3), (14, 5))]
    cov, bbox = session.run(None, {'input_1:0': _image.to_input_tensor([scene.image for scene in scenes])})
    theirs = nvidia_detections(tao_deploy, cov, bbox, algorithm, spec)
    for scene, found in zip(scenes, theirs):
        found_edges = [edge for d in sorted(found, key=lambda d: [round(v) for v in d[2:]]) for edge in d[2:]]
        drawn_edges = [float(edge) for rect in sorted(scene.rects) for edge in rect]
        assert found_edges == pytest.approx(drawn_edges, abs=0.01)
        assert all(d[0] == 0 for d in found)
