# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The two algorithms _detectnet ports instead of importing: scikit-learn's DBSCAN (what
tao-deploy clusters with) and OpenCV's groupRectangles (DeepStream cluster-mode 0), each run
against the port on the same data."""

from __future__ import absolute_import, division, print_function

import cv2
import numpy as np
import pytest
from sklearn.cluster import DBSCAN

from ansible_collections.tao.fleet.plugins.module_utils import _detectnet

CLASSES = ['person', 'bag', 'face']


def clustered_boxes(rng, count, jitter):
    """LTRB float32 boxes around a few objects, with outliers."""
    objects = rng.uniform(0, 1, (5, 4)) * [900, 500, 150, 250] + [0, 0, 10, 10]
    pick = rng.randint(0, 5, count)
    left = objects[pick, 0] + rng.normal(0, jitter, count)
    top = objects[pick, 1] + rng.normal(0, jitter, count)
    width = objects[pick, 2] + rng.normal(0, jitter, count)
    height = objects[pick, 3] + rng.normal(0, jitter, count)
    outliers = rng.uniform(0, 1, count) < 0.15
    left[outliers] = rng.uniform(0, 900, outliers.sum())
    return np.stack([left, top, left + width, top + height], axis=1).astype(np.float32)


@pytest.mark.parametrize('seed', range(8))
@pytest.mark.parametrize('eps, min_samples', [(0.2, 1), (0.35, 2), (0.5, 3), (0.1, 1)])
def test_dbscan_labels_are_sklearns(seed, eps, min_samples):
    rng = np.random.RandomState(seed)
    boxes = clustered_boxes(rng, 150, jitter=6 + seed)
    weights = rng.uniform(0.3, 1, len(boxes)).astype(np.float32)
    distances = 1.0 - _detectnet.tao_iou_matrix(np, boxes)
    expected = DBSCAN(eps=eps, min_samples=min_samples, metric='precomputed').fit_predict(
        distances, sample_weight=weights)
    ours = _detectnet.dbscan_labels(np, distances, weights, eps, min_samples)
    assert len(set(expected)) > 2
    assert ours.tolist() == expected.tolist()


def integer_rectangles(rng, count):
    boxes = clustered_boxes(rng, count, jitter=3)
    return [(int(l), int(t), int(r - l), int(b - t)) for l, t, r, b in boxes if r > l and b > t]


@pytest.mark.parametrize('seed', range(8))
@pytest.mark.parametrize('threshold, eps', [(1, 0.2), (2, 0.2), (3, 0.35), (1, 0.05), (5, 0.5)])
def test_group_rectangles_is_opencvs(seed, threshold, eps):
    rng = np.random.RandomState(100 + seed)
    rectangles = integer_rectangles(rng, 60)
    # nested groups exercise the "small group inside a bigger one" rule
    outer = rectangles[0]
    rectangles += [(outer[0] + 5, outer[1] + 5, outer[2] // 3, outer[3] // 3)] * (seed % 5)
    expected, _weights = cv2.groupRectangles([list(r) for r in rectangles], threshold, eps)
    expected = [tuple(int(v) for v in r) for r in expected]
    assert _detectnet.group_rectangles(np, rectangles, threshold, eps) == expected


@pytest.mark.parametrize('seed', range(4))
def test_cluster_mode_0_is_opencv_on_nvinfers_integer_rectangles(seed):
    """decode(cluster_mode 0) == cv2.groupRectangles over the unclustered boxes, truncated to
    int as nvinfer's cv::Rect construction does."""
    rng = np.random.RandomState(seed)
    cov = (rng.uniform(0, 1, (3, 34, 60)) ** 4).astype(np.float32)
    bbox = np.zeros((12, 34, 60), np.float32)
    rows, columns = np.meshgrid(np.arange(34), np.arange(60), indexing='ij')
    for c in range(3):
        boxes = clustered_boxes(rng, 34 * 60, jitter=2).reshape(34, 60, 4)
        bbox[4 * c] = (columns * 16 + 0.5) / 35.0 - boxes[..., 0] / 35.0
        bbox[4 * c + 1] = (rows * 16 + 0.5) / 35.0 - boxes[..., 1] / 35.0
        bbox[4 * c + 2] = boxes[..., 2] / 35.0 - (columns * 16 + 0.5) / 35.0
        bbox[4 * c + 3] = boxes[..., 3] / 35.0 - (rows * 16 + 0.5) / 35.0
    params = {'pre_cluster_threshold': 0.3, 'group_threshold': 2, 'eps': 0.2}
    raw = _detectnet.decode(cov, bbox, CLASSES, (960, 544), dict(params, cluster_mode='none'))[0]
    grouped = _detectnet.decode(cov, bbox, CLASSES, (960, 544), dict(params, cluster_mode='group_rectangles'))[0]
    for class_id in range(3):
        rectangles = [[int(d['left']), int(d['top']), int(d['right'] - d['left']), int(d['bottom'] - d['top'])]
                      for d in raw if d['class_id'] == class_id]
        expected, _weights = cv2.groupRectangles(rectangles, 2, 0.2)
        ours = [(d['left'], d['top'], d['right'] - d['left'], d['bottom'] - d['top'])
                for d in grouped if d['class_id'] == class_id]
        assert len(expected) > 0
        assert ours == [tuple(float(v) for v in r) for r in expected]
