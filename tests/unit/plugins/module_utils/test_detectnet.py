# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""DetectNet_v2 decoding on hand-made output tensors whose boxes are known, and a cross-check
against a line-by-line port of DeepStream's parser and NMS.

NVIDIA's own Python code (tao-deploy), scikit-learn's DBSCAN and OpenCV's groupRectangles are
run against this module in ``tests/detectnet_oracle/`` (they need packages the unit venvs lack).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import builtins

import numpy as np
import pytest

from ansible_collections.tao.fleet.plugins.module_utils import _detectnet
from ansible_collections.tao.fleet.plugins.module_utils._errors import OptionalImportError, TaoFleetError

CLASSES = ('person', 'bag', 'face')
NETWORK = (960, 544)
GRID = (34, 60)
NORM = 35.0


def empty_outputs(grid=GRID, classes=3):
    return np.zeros((classes,) + grid, np.float32), np.zeros((4 * classes,) + grid, np.float32)


def put_box(cov, bbox, class_id, row, column, box, coverage, stride=16, offset=0.5):
    """Encode an LTRB box at one cell, inverting DetectNet_v2's formula
    (etlt-and-models.md section 7): x1 = (centre_x - bbox0) * 35, x2 = (bbox2 + centre_x) * 35."""
    centre_x = (column * stride + offset) / NORM
    centre_y = (row * stride + offset) / NORM
    cov[class_id, row, column] = coverage
    bbox[4 * class_id:4 * class_id + 4, row, column] = (
        centre_x - box[0] / NORM, centre_y - box[1] / NORM, box[2] / NORM - centre_x, box[3] / NORM - centre_y)


def boxes(detections):
    return [(d['left'], d['top'], d['right'], d['bottom']) for d in detections]


def decode_one(cov, bbox, params=None, network=NETWORK, classes=CLASSES):
    return _detectnet.decode(cov, bbox, classes, network, params)[0]


def assert_boxes(found, expected, tolerance=1e-3):
    assert len(found) == len(expected), (found, expected)
    for got, want in zip(found, expected):
        assert np.allclose(got, want, atol=tolerance), (got, want)


# ---- decoding ---------------------------------------------------------------------------------

def test_one_cell_decodes_to_its_box():
    cov, bbox = empty_outputs()
    put_box(cov, bbox, 0, 10, 20, (300.0, 150.0, 380.0, 320.0), 0.9)
    found = decode_one(cov, bbox, {'cluster_mode': 'none'})
    assert [(d['label'], d['class_id']) for d in found] == [('person', 0)]
    assert found[0]['confidence'] == pytest.approx(0.9)
    assert_boxes(boxes(found), [(300, 150, 380, 320)])


def test_box_far_from_its_cell_still_decodes():
    """The encoding is relative to the cell centre: a cell may describe a box that does not
    contain it (DetectNet_v2 regresses the whole object from every covered cell)."""
    cov, bbox = empty_outputs()
    put_box(cov, bbox, 1, 0, 0, (500.0, 400.0, 600.0, 500.0), 0.5)
    found = decode_one(cov, bbox, {'cluster_mode': 'none'})
    assert [d['label'] for d in found] == ['bag']
    assert_boxes(boxes(found), [(500, 400, 600, 500)])


def test_stride_is_network_size_over_grid_rounded_up():
    """A 970-pixel-wide network on a 60-column grid: ceil(970 / 60) = 17 (DIVIDE_AND_ROUND_UP)."""
    cov, bbox = empty_outputs()
    put_box(cov, bbox, 0, 5, 30, (100.0, 50.0, 200.0, 150.0), 0.9, stride=17)
    found = decode_one(cov, bbox, {'cluster_mode': 'none'}, network=(970, 544 + 34))
    assert_boxes(boxes(found), [(100, 50, 200, 150)])
    with_16 = decode_one(cov, bbox, {'cluster_mode': 'none', 'stride': 16}, network=(970, 544 + 34))
    assert with_16[0]['left'] == pytest.approx(100 - 30, abs=1e-3)


def test_offset_and_norm_are_parameters():
    cov, bbox = empty_outputs()
    put_box(cov, bbox, 0, 3, 4, (64.0, 40.0, 96.0, 80.0), 0.9, offset=0.0)
    assert_boxes(boxes(decode_one(cov, bbox, {'cluster_mode': 'none', 'offset': 0.0})), [(64, 40, 96, 80)])
    shifted = decode_one(cov, bbox, {'cluster_mode': 'none'})
    assert shifted[0]['left'] == pytest.approx(64.5, abs=1e-3)
    assert shifted[0]['right'] == pytest.approx(96.5, abs=1e-3)


def test_threshold_is_inclusive_for_deepstream_and_exclusive_for_tao_deploy():
    cov, bbox = empty_outputs()
    put_box(cov, bbox, 0, 10, 10, (100.0, 100.0, 200.0, 300.0), 0.5)
    deepstream = decode_one(cov, bbox, {'cluster_mode': 'none', 'pre_cluster_threshold': 0.5})
    tao = decode_one(cov, bbox, {'flavour': 'tao_deploy', 'cluster_mode': 'nms', 'pre_cluster_threshold': 0.5,
                                 'nms_confidence_threshold': 0.0})
    assert len(deepstream) == 1
    assert tao == []


def test_per_class_thresholds_by_name_and_index():
    cov, bbox = empty_outputs()
    put_box(cov, bbox, 0, 5, 5, (10.0, 10.0, 50.0, 90.0), 0.3)
    put_box(cov, bbox, 1, 20, 40, (600.0, 300.0, 700.0, 400.0), 0.3)
    put_box(cov, bbox, 2, 30, 50, (800.0, 480.0, 850.0, 530.0), 0.3)
    params = {'cluster_mode': 'none', 'pre_cluster_threshold': 0.2,
              'per_class': {'person': {'pre_cluster_threshold': 0.4}, 2: {'pre_cluster_threshold': 0.35}}}
    assert [d['label'] for d in decode_one(cov, bbox, params)] == ['bag']


def test_deepstream_clips_to_the_last_pixel_and_drops_inverted_boxes():
    cov, bbox = empty_outputs()
    put_box(cov, bbox, 0, 2, 2, (-40.0, -10.0, 1000.0, 600.0), 0.9)
    put_box(cov, bbox, 0, 20, 20, (500.0, 300.0, 400.0, 350.0), 0.9)
    found = decode_one(cov, bbox, {'cluster_mode': 'none'})
    assert_boxes(boxes(found), [(0, 0, 959, 543)])
    tao = decode_one(cov, bbox, {'flavour': 'tao_deploy', 'cluster_mode': 'nms', 'nms_iou_threshold': 0.5})
    assert sorted(boxes(tao)) == sorted([(0.0, 0.0, 960.0, 544.0), (500.0, 300.0, 500.0, 350.0)])


def test_batches_and_single_images():
    cov, bbox = empty_outputs()
    put_box(cov, bbox, 0, 10, 10, (100.0, 100.0, 200.0, 300.0), 0.9)
    other_cov, other_bbox = empty_outputs()
    batch_cov, batch_bbox = np.stack([cov, other_cov, cov]), np.stack([bbox, other_bbox, bbox])
    found = _detectnet.decode(batch_cov, batch_bbox, CLASSES, NETWORK, {'cluster_mode': 'nms'})
    assert [len(image) for image in found] == [1, 0, 1]
    assert len(_detectnet.decode(cov, bbox, CLASSES, NETWORK)) == 1


# ---- clustering -------------------------------------------------------------------------------

def overlapping_pair(cov, bbox, second_left, first_cov=0.9, second_cov=0.8):
    """Two 100x100 boxes at x 100 and ``second_left`` (same rows): IoU known by hand."""
    put_box(cov, bbox, 0, 10, 10, (100.0, 100.0, 200.0, 200.0), first_cov)
    put_box(cov, bbox, 0, 10, 11, (second_left, 100.0, second_left + 100.0, 200.0), second_cov)


@pytest.mark.parametrize('second_left, iou_threshold, kept', [
    (125.0, 0.5, 1),   # IoU 75/125 = 0.6 > 0.5: the weaker box goes
    (150.0, 0.5, 2),   # IoU 50/150 = 0.33
    (150.0, 0.3, 1),   # 0.33 > 0.3
])
def test_deepstream_nms(second_left, iou_threshold, kept):
    cov, bbox = empty_outputs()
    overlapping_pair(cov, bbox, second_left)
    found = decode_one(cov, bbox, {'cluster_mode': 2, 'nms_iou_threshold': iou_threshold})
    assert len(found) == kept
    assert found[0]['confidence'] == pytest.approx(0.9)
    assert_boxes(boxes(found)[:1], [(100, 100, 200, 200)])


def test_deepstream_nms_post_threshold_is_exclusive_and_topk_keeps_the_best():
    cov, bbox = empty_outputs()
    for index, coverage in enumerate((0.5, 0.9, 0.7, 0.6)):
        put_box(cov, bbox, 0, 5, 5 + 10 * index, (150.0 * index, 0.0, 150.0 * index + 100, 100.0), coverage)
    found = decode_one(cov, bbox, {'cluster_mode': 'nms', 'post_cluster_threshold': 0.6, 'topk': 2})
    assert [round(d['confidence'], 3) for d in found] == [0.9, 0.7]
    all_found = decode_one(cov, bbox, {'cluster_mode': 'nms', 'post_cluster_threshold': 0.6})
    assert [round(d['confidence'], 3) for d in all_found] == [0.9, 0.7]


def test_none_mode_keeps_grid_order_unless_topk():
    cov, bbox = empty_outputs()
    for index, coverage in enumerate((0.5, 0.9, 0.7)):
        put_box(cov, bbox, 0, 5, 5 + index, (100.0, 100.0, 200.0, 200.0), coverage)
    assert [round(d['confidence'], 3) for d in decode_one(cov, bbox, {'cluster_mode': 'none'})] == [0.5, 0.9, 0.7]
    assert [round(d['confidence'], 3) for d in decode_one(cov, bbox, {'cluster_mode': 'none', 'topk': 2})] == [0.9, 0.7]


def test_tao_deploy_nms_counts_pixels_inclusively():
    """IoU of [100,200] and [150,250] boxes: 50*100/(2*10000-5000) = 0.333 continuous, and
    51*101/(2*101*101-51*101) = 0.3377 with tao-deploy's +1 areas: a 0.335 threshold splits them."""
    cov, bbox = empty_outputs()
    overlapping_pair(cov, bbox, 150.0)
    deepstream = decode_one(cov, bbox, {'cluster_mode': 'nms', 'nms_iou_threshold': 0.335})
    tao = decode_one(cov, bbox, {'flavour': 'tao_deploy', 'cluster_mode': 'nms', 'nms_iou_threshold': 0.335})
    assert len(deepstream) == 2
    assert len(tao) == 1


def test_tao_deploy_nms_reports_each_kept_box_its_own_coverage():
    """tao-deploy 7.3.0 reads the confidences of kept boxes from its score array after its NMS
    reordered it in place, at the boxes' original indices: here it would report 0.5 for the box
    whose coverage is 0.9 and 0.9 for the one whose coverage is 0.5."""
    cov, bbox = empty_outputs()
    put_box(cov, bbox, 0, 10, 10, (100.0, 100.0, 200.0, 200.0), 0.5)
    put_box(cov, bbox, 0, 10, 11, (400.0, 100.0, 500.0, 200.0), 0.9)
    put_box(cov, bbox, 0, 10, 12, (405.0, 100.0, 505.0, 200.0), 0.8)
    found = decode_one(cov, bbox, {'flavour': 'tao_deploy', 'cluster_mode': 'nms', 'nms_iou_threshold': 0.5})
    assert [round(d['confidence'], 3) for d in found] == [0.9, 0.5]
    assert_boxes(boxes(found), [(400, 100, 500, 200), (100, 100, 200, 200)])


NEAR_BOXES = ((100.0, 100.0, 200.0, 300.0), (102.0, 100.0, 202.0, 300.0), (100.0, 104.0, 200.0, 304.0))
NEAR_COVERAGES = (0.5, 0.3, 0.25)
FAR_BOX = (700.0, 400.0, 760.0, 500.0)


def two_clusters(cov, bbox, class_id=0):
    """Three near-identical boxes (pairwise IoU > 0.9, summed coverage 1.05) and, far away, the
    same box twice (coverage 0.6 + 0.6)."""
    for (row, column), box, coverage in zip(((10, 10), (10, 11), (11, 10)), NEAR_BOXES, NEAR_COVERAGES):
        put_box(cov, bbox, class_id, row, column, box, coverage)
    put_box(cov, bbox, class_id, 25, 50, FAR_BOX, 0.6)
    put_box(cov, bbox, class_id, 25, 51, FAR_BOX, 0.6)


def near_mean():
    """The coverage-weighted mean of the near boxes: what tao-deploy's DBSCAN reports."""
    weights = np.asarray(NEAR_COVERAGES) / sum(NEAR_COVERAGES)
    return tuple(np.asarray(NEAR_BOXES).T.dot(weights))


@pytest.mark.parametrize('params', [
    {'cluster_mode': 1, 'eps': 0.2, 'min_boxes': 1},
    {'flavour': 'tao_deploy', 'cluster_mode': 'dbscan', 'eps': 0.2, 'min_boxes': 1},
])
def test_dbscan_merges_near_boxes_into_their_weighted_mean(params):
    cov, bbox = empty_outputs()
    two_clusters(cov, bbox)
    found = sorted(decode_one(cov, bbox, params), key=lambda d: -d['confidence'])
    assert [round(d['confidence'], 4) for d in found] == [1.2, 1.05]
    assert_boxes(boxes(found), [FAR_BOX, near_mean()])


def test_dbscan_min_boxes_is_a_minimum_summed_coverage():
    """scikit-learn's min_samples with coverage as the sample weight: a lone box (0.3) is never a
    core point, and tao-deploy's max(int(min_samples), 1) turns 0.5 and 1.9 into 1."""
    cov, bbox = empty_outputs()
    two_clusters(cov, bbox)
    put_box(cov, bbox, 0, 5, 30, (470.0, 20.0, 520.0, 120.0), 0.3)
    dbscan = {'flavour': 'tao_deploy', 'cluster_mode': 'dbscan', 'eps': 0.2}
    for min_boxes in (0.5, 1, 1.9):
        found = decode_one(cov, bbox, dict(dbscan, min_boxes=min_boxes))
        assert [round(d['confidence'], 4) for d in found] == [1.2, 1.05]
    assert decode_one(cov, bbox, dict(dbscan, min_boxes=2)) == []


def test_deepstream_dbscan_needs_min_boxes_and_applies_min_score_then_post_threshold():
    cov, bbox = empty_outputs()
    two_clusters(cov, bbox)
    dbscan = {'cluster_mode': 'dbscan', 'eps': 0.2}
    assert len(decode_one(cov, bbox, dict(dbscan, min_boxes=0))) == 5
    assert [round(d['confidence'], 4) for d in decode_one(cov, bbox, dict(dbscan, min_boxes=1, min_score=1.1))] == [1.2]
    post = decode_one(cov, bbox, dict(dbscan, min_boxes=1, post_cluster_threshold=1.1))
    assert [round(d['confidence'], 4) for d in post] == [1.2]
    assert len(decode_one(cov, bbox, dict(dbscan, min_boxes=1, topk=1))) == 1


@pytest.mark.parametrize('min_height, expected', [(50.0, 2), (150.0, 1), (250.0, 0)])
def test_dbscan_drops_clusters_not_taller_than_min_height(min_height, expected):
    cov, bbox = empty_outputs()
    two_clusters(cov, bbox)
    found = decode_one(cov, bbox, {'flavour': 'tao_deploy', 'cluster_mode': 'dbscan', 'eps': 0.2,
                                   'min_boxes': 1, 'min_height': min_height})
    assert len(found) == expected


@pytest.mark.parametrize('flavour, cluster_threshold', [('deepstream', 'min_score'),
                                                        ('tao_deploy', 'post_cluster_threshold')])
def test_hybrid_runs_nms_on_the_raw_boxes_of_clusters(flavour, cluster_threshold):
    cov, bbox = empty_outputs()
    two_clusters(cov, bbox)
    put_box(cov, bbox, 0, 5, 30, (470.0, 20.0, 520.0, 120.0), 0.3)  # noise for DBSCAN: never reaches NMS
    params = {'flavour': flavour, 'cluster_mode': 'hybrid', 'eps': 0.2, 'min_boxes': 1, 'nms_iou_threshold': 0.5}
    found = decode_one(cov, bbox, params)
    assert [round(d['confidence'], 4) for d in found] == [0.6, 0.5]
    assert_boxes(boxes(found), [FAR_BOX, NEAR_BOXES[0]])
    params[cluster_threshold] = 1.1
    assert_boxes(boxes(decode_one(cov, bbox, params)), [FAR_BOX])


def test_group_rectangles_averages_similar_rectangles_and_needs_more_than_threshold():
    """Coordinates end in .5 (or their differences do) so that the C++ float-to-int truncation
    cannot fall on the wrong side of an integer."""
    cov, bbox = empty_outputs()
    put_box(cov, bbox, 0, 10, 10, (100.5, 100.5, 201.0, 301.0), 0.9)
    put_box(cov, bbox, 0, 10, 11, (104.5, 100.5, 205.0, 301.0), 0.9)
    put_box(cov, bbox, 0, 11, 10, (100.5, 108.5, 201.0, 309.0), 0.9)
    put_box(cov, bbox, 0, 25, 50, (700.5, 400.5, 761.0, 501.0), 0.9)
    found = decode_one(cov, bbox, {'cluster_mode': 0, 'group_threshold': 1, 'eps': 0.2})
    # rectangles (100,100,100,200), (104,100,100,200), (100,108,100,200): mean x 101.33 -> 101,
    # y 102.67 -> 103; the far one is alone (1 member, not > group_threshold 1)
    assert boxes(found) == [(101.0, 103.0, 201.0, 303.0)]
    assert found[0]['confidence'] == -0.1
    assert len(decode_one(cov, bbox, {'cluster_mode': 0, 'group_threshold': 0})) == 4


@pytest.mark.parametrize('outer, inner, expected', [
    (5, 3, [(100, 100, 100, 200)]),                       # 5 > max(3, 3): the inner group goes
    (3, 3, [(100, 100, 100, 200), (120, 120, 40, 80)]),   # neither is stronger: both stay
    (3, 2, [(100, 100, 100, 200)]),                       # fewer than 3 inside: it goes
])
def test_group_rectangles_drops_a_small_group_inside_a_stronger_one(outer, inner, expected):
    rectangles = [(100, 100, 100, 200)] * outer + [(120, 120, 40, 80)] * inner
    assert _detectnet.group_rectangles(np, rectangles, 1, 0.2) == expected


def test_no_candidates_gives_no_detections_in_every_mode():
    cov, bbox = empty_outputs()
    for mode in _detectnet.CLUSTER_MODES:
        assert decode_one(cov, bbox, {'cluster_mode': mode, 'min_boxes': 1, 'group_threshold': 1}) == []
    for mode in _detectnet.TAO_DEPLOY_CLUSTER_MODES:
        assert decode_one(cov, bbox, {'flavour': 'tao_deploy', 'cluster_mode': mode, 'min_boxes': 1}) == []


# ---- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize('params, fragment', [
    ({'cluster-mode': 2}, 'Unknown DetectNet_v2 post-processing setting'),
    ({'flavour': 'triton'}, 'flavour'),
    ({'cluster_mode': 7}, 'not a DeepStream cluster mode'),
    ({'cluster_mode': True}, 'not a DeepStream cluster mode'),
    ({'flavour': 'tao_deploy', 'cluster_mode': 1}, 'numbers are ambiguous'),
    ({'flavour': 'tao_deploy', 'cluster_mode': 'group_rectangles'}, "tao-deploy's algorithms"),
    ({'per_class': {'car': {'topk': 1}}}, 'not a class of this model'),
    ({'per_class': {'person': {'threshold': 1}}}, 'Unknown setting(s) in per_class.person: threshold'),
    ({'pre_cluster_threshold': {'default': 0.2, 'car': 0.4}}, 'postprocessing.pre_cluster_threshold names'),
    ({'cluster_mode': 'nms', 'dbscan': {'epsilon': 0.3}}, 'Unknown setting(s) in postprocessing.dbscan'),
    ({'group_rectangles': [1, 0.2]}, 'postprocessing.group_rectangles must be a mapping'),
    ({'decoder': 'yolo_v4'}, 'is not detectnet_v2'),
    ({'per_class': {'person': 0.4}}, 'must be a mapping'),
    ({'per_class': ['person']}, 'must be a mapping'),
    ({'topk': 2.5}, 'whole number'),
    ({'pre_cluster_threshold': True}, 'must be a number'),
    ({'pre_cluster_threshold': 'high'}, 'must be a number'),
    ({'stride': 0}, 'positive whole number'),
    ({'bbox_norm': 0}, 'bbox_norm must be positive'),
])
def test_invalid_params_name_the_problem(params, fragment):
    cov, bbox = empty_outputs()
    with pytest.raises(TaoFleetError) as caught:
        decode_one(cov, bbox, params)
    assert caught.value.code == 'postprocess_params_invalid'
    assert fragment in str(caught.value)
    assert caught.value.fix


def test_catalog_form_default_and_per_class_mappings():
    model, per_class = _detectnet.resolve_params(
        {'decoder': 'detectnet_v2', 'cluster_mode': 'dbscan_nms', 'pre_cluster_threshold': {'default': 0.2, 'person': 0.4},
         'topk': {'face': 5}, 'dbscan': {'eps': 0.7, 'min_boxes': 1}, 'group_rectangles': {'eps': 0.1, 'group_threshold': 3},
         'per_class': {'bag': {'eps': 0.5}}}, CLASSES)
    assert model['cluster_mode'] == 'dbscan_nms'
    assert [c['pre_cluster_threshold'] for c in per_class] == [0.4, 0.2, 0.2]
    assert [c['topk'] for c in per_class] == [-1, -1, 5]
    # the dbscan block applies in dbscan_nms, the group_rectangles block does not; per_class last
    assert [c['eps'] for c in per_class] == [0.7, 0.5, 0.7]
    assert [c['group_threshold'] for c in per_class] == [0, 0, 0]
    _model, grouped = _detectnet.resolve_params(
        {'cluster_mode': 0, 'dbscan': {'eps': 0.7}, 'group_rectangles': {'eps': 0.1, 'group_threshold': 3}}, CLASSES)
    assert [(c['eps'], c['group_threshold']) for c in grouped] == [(0.1, 3)] * 3
    assert _detectnet.resolve_params({'cluster_mode': 'hybrid'}, CLASSES)[0]['cluster_mode'] == 'dbscan_nms'
    assert _detectnet.resolve_params({'flavour': 'tao_deploy', 'cluster_mode': 'hybrid'}, CLASSES)[0]['cluster_mode'] \
        == 'dbscan_nms'


def test_numeric_strings_are_accepted_as_ansible_templating_gives_them():
    model, per_class = _detectnet.resolve_params(
        {'pre_cluster_threshold': '0.3', 'topk': '20', 'per_class': {'0': {'pre_cluster_threshold': 0.4}}}, CLASSES)
    assert model['cluster_mode'] == 'nms'
    assert [settings['pre_cluster_threshold'] for settings in per_class] == [0.4, 0.3, 0.3]
    assert per_class[1]['topk'] == 20


@pytest.mark.parametrize('cov_shape, bbox_shape', [
    ((3, 34, 60), (8, 34, 60)),
    ((2, 34, 60), (8, 34, 60)),
    ((3, 34, 60), (12, 34, 61)),
    ((1, 3, 34, 60), (2, 12, 34, 60)),
    ((34, 60), (12, 34, 60)),
])
def test_output_shapes_must_fit_the_classes(cov_shape, bbox_shape):
    with pytest.raises(TaoFleetError) as caught:
        _detectnet.decode(np.zeros(cov_shape, np.float32), np.zeros(bbox_shape, np.float32), CLASSES, NETWORK)
    assert caught.value.code == 'output_shape_mismatch'
    assert 'person, bag, face' in caught.value.fix


def test_missing_numpy_is_an_optional_import_error(monkeypatch):
    real_import = builtins.__import__

    def no_numpy(name, *args, **kwargs):
        if name == 'numpy' or name.startswith('numpy.'):
            raise ImportError('No module named numpy')
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', no_numpy)
    with pytest.raises(OptionalImportError) as caught:
        _detectnet.decode([[[0.0]]], [[[0.0]]] * 4, ['person'], NETWORK)
    assert caught.value.code == 'missing_python_package'
    assert 'python3-numpy' in caught.value.fix


# ---- cross-check: line-by-line port of DeepStream 5.1 ------------------------------------------
# Ported from NVIDIA DeepStream 5.1 sources as published in github.com/mdegans/deepstream-5.1 at
# commit 0e3a0bf4aab4bc957f73749d7b8e93c25f384360, file
# sources/libs/nvdsinfer/nvdsinfer_context_impl_output_parsing.cpp: DetectPostprocessor::
# parseBoundingBox, preClusteringThreshold, nonMaximumSuppression, clusterAndFillDetectionOutputNMS,
# filterTopKOutputs, fillUnclusteredOutput. Scalar float32 arithmetic as the C++ does it; one
# statement per C++ statement where that matters for rounding.

F = np.float32


def ds_parse_bounding_box(cov, bbox, net_w, net_h, thresholds):
    classes, grid_h, grid_w = cov.shape
    bbox_norm = [F(35.0), F(35.0)]
    grid_size = grid_w * grid_h
    stride_x = (net_w + grid_w - 1) // grid_w
    stride_y = (net_h + grid_h - 1) // grid_h
    gc_centers0 = [F(i * stride_x + 0.5) / bbox_norm[0] for i in range(grid_w)]
    gc_centers1 = [F(i * stride_y + 0.5) / bbox_norm[1] for i in range(grid_h)]
    flat_cov = cov.reshape(-1)
    flat_bbox = bbox.reshape(-1)
    objects = []
    for class_index in range(classes):
        x1_at = class_index * 4 * grid_h * grid_w  # classIndex * sizeof(float) * h * w
        y1_at, x2_at, y2_at = x1_at + grid_size, x1_at + 2 * grid_size, x1_at + 3 * grid_size
        for h in range(grid_h):
            for w in range(grid_w):
                i = w + h * grid_w
                confidence = flat_cov[class_index * grid_size + i]
                if confidence < F(thresholds[class_index]):
                    continue
                rect_x1 = flat_bbox[x1_at + i] - gc_centers0[w]
                rect_y1 = flat_bbox[y1_at + i] - gc_centers1[h]
                rect_x2 = flat_bbox[x2_at + i] + gc_centers0[w]
                rect_y2 = flat_bbox[y2_at + i] + gc_centers1[h]
                rect_x1 = rect_x1 * -bbox_norm[0]
                rect_y1 = rect_y1 * -bbox_norm[1]
                rect_x2 = rect_x2 * bbox_norm[0]
                rect_y2 = rect_y2 * bbox_norm[1]
                if rect_x1 >= net_w:
                    rect_x1 = F(net_w - 1)
                if rect_x2 >= net_w:
                    rect_x2 = F(net_w - 1)
                if rect_y1 >= net_h:
                    rect_y1 = F(net_h - 1)
                if rect_y2 >= net_h:
                    rect_y2 = F(net_h - 1)
                if rect_x1 < 0:
                    rect_x1 = F(0)
                if rect_x2 < 0:
                    rect_x2 = F(0)
                if rect_y1 < 0:
                    rect_y1 = F(0)
                if rect_y2 < 0:
                    rect_y2 = F(0)
                if (rect_x2 - rect_x1) < 0 or (rect_y2 - rect_y1) < 0:
                    continue
                objects.append({'classId': class_index, 'left': rect_x1, 'top': rect_y1,
                                'width': rect_x2 - rect_x1, 'height': rect_y2 - rect_y1,
                                'detectionConfidence': confidence})
    return objects


def ds_pre_clustering_threshold(objects, thresholds, classes_configured):
    return [o for o in objects if not (o['classId'] >= classes_configured
                                       or o['detectionConfidence'] < F(thresholds[o['classId']]))]


def ds_filter_top_k(top_k, objects):
    if top_k < 0:
        return objects
    objects = sorted(objects, key=lambda o: -o['detectionConfidence'])  # stable, like std::stable_sort
    return objects[:top_k] if top_k <= len(objects) else objects


def ds_overlap_1d(x1min, x1max, x2min, x2max):
    if x1min > x2min:
        x1min, x2min = x2min, x1min
        x1max, x2max = x2max, x1max
    return F(0) if x1max < x2min else min(x1max, x2max) - x2min


def ds_compute_iou(bbox1, bbox2):
    overlap_x = ds_overlap_1d(bbox1['left'], bbox1['left'] + bbox1['width'],
                              bbox2['left'], bbox2['left'] + bbox2['width'])
    overlap_y = ds_overlap_1d(bbox1['top'], bbox1['top'] + bbox1['height'],
                              bbox2['top'], bbox2['top'] + bbox2['height'])
    area1 = bbox1['width'] * bbox1['height']
    area2 = bbox2['width'] * bbox2['height']
    overlap_2d = overlap_x * overlap_y
    u = area1 + area2 - overlap_2d
    return F(0) if u == 0 else overlap_2d / u


def ds_non_maximum_suppression(score_index, bbox, nms_threshold):
    indices = []
    for _score, idx in score_index:
        keep = True
        for kept_idx in indices:
            if keep:
                overlap = ds_compute_iou(bbox[idx], bbox[kept_idx])
                keep = overlap <= F(nms_threshold)
            else:
                break
        if keep:
            indices.append(idx)
    return indices


def ds_cluster_nms(per_class_objects, per_class_params):
    clustered = []
    for c, objects in enumerate(per_class_objects):
        if not objects:
            continue
        score_index = sorted(((o['detectionConfidence'], r) for r, o in enumerate(objects)),
                             key=lambda pair: -pair[0])
        indices = ds_non_maximum_suppression(score_index, objects, per_class_params[c]['nms_iou_threshold'])
        post_nms = [objects[idx] for idx in indices
                    if objects[idx]['detectionConfidence'] > F(per_class_params[c]['post_cluster_threshold'])]
        clustered.extend(ds_filter_top_k(per_class_params[c]['topk'], post_nms))
    return clustered


def ds_fill_unclustered(objects, per_class_params):
    per_class = [[] for _params in per_class_params]
    for o in objects:
        per_class[o['classId']].append(o)
    found = []
    for c, params in enumerate(per_class_params):
        found.extend(ds_filter_top_k(params['topk'], per_class[c]))
    return found


def deepstream_reference(cov, bbox, per_class_params, mode):
    thresholds = [params['pre_cluster_threshold'] for params in per_class_params]
    objects = ds_parse_bounding_box(cov, bbox, NETWORK[0], NETWORK[1], thresholds)
    objects = ds_pre_clustering_threshold(objects, thresholds, len(per_class_params))
    if mode == 'none':
        found = ds_fill_unclustered(objects, per_class_params)
    else:
        per_class = [[] for _params in per_class_params]
        for o in objects:
            per_class[o['classId']].append(o)
        found = ds_cluster_nms(per_class, per_class_params)
    return [(o['classId'], float(o['detectionConfidence']), float(o['left']), float(o['top']),
             float(o['left'] + o['width']), float(o['top'] + o['height'])) for o in found]


def random_outputs(seed):
    """Coverage in [0, 1) and boxes scattered around their cells, so that many cells pass the
    threshold, boxes overlap at every IoU, some reach past the frame, and a few are inverted."""
    rng = np.random.RandomState(seed)
    cov = rng.uniform(0, 1, (3,) + GRID).astype(np.float32) ** 6
    rows, columns = np.meshgrid(np.arange(GRID[0]), np.arange(GRID[1]), indexing='ij')
    centre_x = (columns * 16 + 0.5) / NORM
    centre_y = (rows * 16 + 0.5) / NORM
    bbox = np.empty((12,) + GRID, np.float32)
    for c in range(3):
        cx = columns * 16 + rng.normal(0, 30, GRID)
        cy = rows * 16 + rng.normal(0, 30, GRID)
        half_w = rng.uniform(-5, 120, GRID)
        half_h = rng.uniform(-5, 160, GRID)
        bbox[4 * c] = centre_x - (cx - half_w) / NORM
        bbox[4 * c + 1] = centre_y - (cy - half_h) / NORM
        bbox[4 * c + 2] = (cx + half_w) / NORM - centre_x
        bbox[4 * c + 3] = (cy + half_h) / NORM - centre_y
    return cov, bbox


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('mode, params', [
    ('nms', {'pre_cluster_threshold': 0.2, 'nms_iou_threshold': 0.5, 'topk': 20,
             'per_class': {'person': {'pre_cluster_threshold': 0.4}}}),
    ('nms', {'pre_cluster_threshold': 0.5, 'nms_iou_threshold': 0.2, 'post_cluster_threshold': 0.6}),
    ('none', {'pre_cluster_threshold': 0.7, 'topk': 15, 'per_class': {'bag': {'topk': -1}}}),
])
def test_deepstream_flavour_matches_the_port_of_nvinfer(seed, mode, params):
    cov, bbox = random_outputs(seed)
    params = dict(params, cluster_mode=mode)
    ours = decode_one(cov, bbox, params)
    _model, per_class = _detectnet.resolve_params(params, CLASSES)
    reference = deepstream_reference(cov, bbox, per_class, mode)
    assert len(reference) > 5
    assert [(d['class_id'], d['confidence'], d['left'], d['top'], d['right'], d['bottom'])
            for d in ours] == reference
