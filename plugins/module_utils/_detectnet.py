# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""DetectNet_v2 outputs -> boxes, decoded and clustered the way NVIDIA's own code does it.

A DetectNet_v2 model (PeopleNet, TrafficCamNet, ...) outputs, per image, a coverage grid
``cov[C, Gh, Gw]`` (a Sigmoid: how likely each grid cell lies on an object of class c) and a box
grid ``bbox[4C, Gh, Gw]`` (for class c, planes x1, y1, x2, y2 at ``4c..4c+3``: each cell's box
edges, relative to the cell centre and divided by the box normaliser 35). ``decode`` turns them
into detections, in one of two flavours:

``deepstream`` (default) follows DeepStream's nvinfer
(``sources/libs/nvdsinfer/nvdsinfer_context_impl_output_parsing.cpp``, DeepStream 5.1 sources):
``parseBoundingBox`` (stride ``ceil(net / grid)``, keep cells with ``cov >= pre_cluster_threshold``,
clip to ``[0, net - 1]``, drop inverted boxes), then ``cluster_mode``:

* 0 ``group_rectangles``: OpenCV ``cv::groupRectangles`` on integer rectangles (``group_threshold``,
  ``eps``); confidence reported as -0.1, as nvinfer does.
* 1 ``dbscan``: DeepStream's own DBSCAN is closed source (``libnvds_infer``), so the clustering is
  tao-deploy's (scikit-learn DBSCAN on 1 - IoU, coverage as sample weight, coverage-weighted mean
  box, confidence = summed coverage), run only when ``min_boxes > 0`` as nvinfer does; clusters
  whose summed coverage is below ``min_score`` are dropped; then ``post_cluster_threshold`` and
  ``topk``.
* 2 ``nms``: nvinfer's NMS exactly (per class, by confidence, drop IoU > ``nms_iou_threshold``,
  keep confidence > ``post_cluster_threshold``, ``topk``).
* 3 ``dbscan_nms`` (or ``hybrid``): the raw boxes of the DBSCAN clusters above, then nvinfer's NMS.
* 4 ``none``: every box above the threshold, ``topk`` per class.

``tao_deploy`` follows TAO Deploy's DetectNet_v2 post-processing
(``nvidia_tao_deploy/cv/detectnet_v2/postprocessor.py`` and ``utils.py``, nvidia-tao-deploy 7.3.0):
``abs_bbox_converter``, keep ``cov > pre_cluster_threshold`` (its ``coverage_threshold``), then
``dbscan`` (``eps`` + 1e-12, ``min_boxes`` = ``dbscan_min_samples``, ``min_height``,
``post_cluster_threshold`` = ``dbscan_confidence_threshold``), ``nms`` (its own NMS: +1 pixel
areas, ``nms_iou_threshold``, ``nms_confidence_threshold``) or ``dbscan_nms``/``hybrid`` (DBSCAN,
then that NMS on the clusters' raw boxes); boxes clipped to ``[0, net]``. One deliberate
difference: tao-deploy 7.3.0 reports, for boxes kept by its NMS, the coverage found at the box's
original index in an array its NMS has reordered in place (often another box's score, or 0);
here a kept box reports its own coverage.

Settings (``resolve_params``) take a catalog ``postprocessing`` block as it is (docs/models.md,
docs/demo-model.md). Detections are dicts ``class_id``, ``label``, ``confidence``, ``left``,
``top``, ``right``, ``bottom`` (floats, pixels of the network input; ``_image.scale_detections``
maps them onto the original image), grouped by class in model order. numpy is required
(OptionalImportError if it is not importable).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._image import import_numpy

FLAVOURS = ('deepstream', 'tao_deploy')
# Index = DeepStream's cluster-mode number (NvDsInferClusterMode in nvdsinfer_context.h); the same
# names as the catalog (docs/models.md). 'hybrid' (tao-deploy's word) is accepted for dbscan_nms.
CLUSTER_MODES = ('group_rectangles', 'dbscan', 'nms', 'dbscan_nms', 'none')
TAO_DEPLOY_CLUSTER_MODES = ('dbscan', 'nms', 'dbscan_nms')
_MODE_ALIASES = {'hybrid': 'dbscan_nms'}

# Per-class parameters and their defaults: nvinfer's (gstnvinfer_property_parser.h DEFAULT_*),
# and tao-deploy's for the one it alone has (nms_confidence_threshold, postprocessor.py).
CLASS_DEFAULTS = {
    'pre_cluster_threshold': 0.2,
    'post_cluster_threshold': 0.0,
    'nms_iou_threshold': 0.3,
    'nms_confidence_threshold': 0.1,
    'topk': -1,
    'eps': 0.0,
    'min_boxes': 0.0,
    'min_score': 0.0,
    'min_height': 0.0,
    'group_threshold': 0,
}
_INTEGER_PARAMS = ('topk', 'group_threshold')
MODEL_DEFAULTS = {
    'decoder': 'detectnet_v2',
    'flavour': 'deepstream',
    'cluster_mode': 'nms',
    'stride': None,
    'bbox_norm': 35.0,
    'offset': 0.5,
}
# Blocks of per-class settings that apply only in some cluster modes (the catalog's
# ``dbscan: {eps, min_boxes}`` and ``group_rectangles: {group_threshold, eps}``), so that one
# entry can carry settings for several modes although both use ``eps``.
MODE_BLOCKS = {'dbscan': ('dbscan', 'dbscan_nms'), 'group_rectangles': ('group_rectangles',)}
_GROUP_RECTANGLES_CONFIDENCE = -0.1
_EXAMPLE = '{pre_cluster_threshold: {default: 0.2, person: 0.4}}'


def _param_error(msg, fix):
    return TaoFleetError(msg, cause='the DetectNet_v2 post-processing settings are not valid',
                         fix=fix, code='postprocess_params_invalid')


def _number(name, value, where):
    fix = 'give %s a number, e.g. %r' % (name, CLASS_DEFAULTS.get(name, 1))
    if isinstance(value, bool):
        raise _param_error('%s: %s must be a number, got %r.' % (where, name, value), fix)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _param_error('%s: %s must be a number, got %r.' % (where, name, value), fix)
    if name in _INTEGER_PARAMS:
        if number != int(number):
            raise _param_error('%s: %s must be a whole number, got %r.' % (where, name, value),
                               'give %s an integer (topk -1 keeps all)' % name)
        return int(number)
    return number


def _class_index(key, classes, where):
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(classes):
        return key
    if key in classes:
        return classes.index(key)
    if isinstance(key, str) and key.isdigit() and int(key) < len(classes):
        return int(key)
    raise _param_error('%s names %r, which is not a class of this model (%s).' % (where, key, ', '.join(classes)),
                       'name classes by name or index: %s' % ', '.join('%d=%s' % pair for pair in enumerate(classes)))


def _apply(per_class, settings, classes, where):
    """Set per-class keys from ``settings``: each value a number for every class, or a mapping
    {default: number, <class name or index>: number} (default first, then the classes named)."""
    if not isinstance(settings, dict):
        raise _param_error('%s must be a mapping of settings, got %r.' % (where, settings),
                           'write it as %s' % _EXAMPLE)
    wrong = sorted(set(settings) - set(CLASS_DEFAULTS))
    if wrong:
        raise _param_error('Unknown setting(s) in %s: %s.' % (where, ', '.join(str(key) for key in wrong)),
                           'per-class settings are: %s' % ', '.join(sorted(CLASS_DEFAULTS)))
    for name, value in settings.items():
        place = '%s.%s' % (where, name)
        if not isinstance(value, dict):
            for values in per_class:
                values[name] = _number(name, value, place)
            continue
        if 'default' in value:
            for values in per_class:
                values[name] = _number(name, value['default'], place)
        for key, number in value.items():
            if key != 'default':
                per_class[_class_index(key, classes, place)][name] = _number(name, number, place)


def resolve_params(params, classes):
    """Validated settings: (model-wide dict, list of per-class dicts in class order).

    ``params`` is a catalog ``postprocessing`` block (docs/models.md) or the same with more keys:
    ``decoder`` (detectnet_v2), ``flavour``, ``cluster_mode`` (name, or DeepStream's number 0-4
    in the deepstream flavour), ``stride`` (None: ceil(network size / grid) per axis),
    ``bbox_norm``, ``offset``; any per-class key of CLASS_DEFAULTS, as a number for all classes
    or {default: n, <class>: n}; ``dbscan`` / ``group_rectangles``: per-class keys that apply
    only in those modes (MODE_BLOCKS); ``per_class``: {<class name or index>: {key: number}}.
    Later wins: CLASS_DEFAULTS, top-level keys, the active mode block, per_class.
    """
    params = dict(params or {})
    known = set(MODEL_DEFAULTS) | set(CLASS_DEFAULTS) | set(MODE_BLOCKS) | set(['per_class'])
    unknown = sorted(str(key) for key in set(params) - known)
    if unknown:
        raise _param_error('Unknown DetectNet_v2 post-processing setting(s): %s.' % ', '.join(unknown),
                           'use only: %s' % ', '.join(sorted(known)))
    model = dict(MODEL_DEFAULTS)
    model.update((key, params[key]) for key in MODEL_DEFAULTS if key in params)
    if model['decoder'] != 'detectnet_v2':
        raise _param_error('decoder %r is not detectnet_v2.' % (model['decoder'],),
                           'this decoder handles DetectNet_v2 models (PeopleNet, TrafficCamNet, ...) only')
    if model['flavour'] not in FLAVOURS:
        raise _param_error('flavour %r is not known.' % (model['flavour'],),
                           'use one of: %s' % ', '.join(FLAVOURS))
    model['cluster_mode'] = _cluster_mode(model['flavour'], model['cluster_mode'])
    for key in ('bbox_norm', 'offset'):
        model[key] = _number(key, model[key], 'postprocessing')
    if model['bbox_norm'] <= 0:
        raise _param_error('bbox_norm must be positive, got %r.' % model['bbox_norm'],
                           'use the model\'s box normaliser (35 for the TAO DetectNet_v2 models)')
    if model['stride'] is not None:
        model['stride'] = _number('stride', model['stride'], 'postprocessing')
        if model['stride'] <= 0 or model['stride'] != int(model['stride']):
            raise _param_error('stride must be a positive whole number, got %r.' % model['stride'],
                               'use the model\'s output stride (16 for the TAO DetectNet_v2 models)')
        model['stride'] = int(model['stride'])

    per_class = [dict(CLASS_DEFAULTS) for _name in classes]
    _apply(per_class, dict((key, params[key]) for key in CLASS_DEFAULTS if key in params), classes,
           'postprocessing')
    for block, modes in sorted(MODE_BLOCKS.items()):
        if block in params:
            # checked even when another mode is active, so that a typo never waits for a mode switch
            scratch = [dict(values) for values in per_class]
            _apply(scratch, params[block], classes, 'postprocessing.%s' % block)
            if model['cluster_mode'] in modes:
                per_class = scratch
    overrides = params.get('per_class') or {}
    if not isinstance(overrides, dict):
        raise _param_error('per_class must be a mapping of class to settings, got %r.' % (overrides,),
                           'write per_class as {person: {pre_cluster_threshold: 0.4}}')
    for key, values in overrides.items():
        index = _class_index(key, classes, 'per_class')
        one = [per_class[index]]
        _apply(one, values, classes, 'per_class.%s' % key)
    return model, per_class


def _cluster_mode(flavour, mode):
    mode = _MODE_ALIASES.get(mode, mode) if isinstance(mode, str) else mode
    if flavour == 'tao_deploy':
        if mode in TAO_DEPLOY_CLUSTER_MODES:
            return mode
        raise _param_error('cluster_mode %r is not one of tao-deploy\'s algorithms.' % (mode,),
                           'with flavour tao_deploy use a name: %s (numbers are ambiguous: '
                           'tao-deploy and DeepStream number them differently)'
                           % ', '.join(TAO_DEPLOY_CLUSTER_MODES))
    if isinstance(mode, int) and not isinstance(mode, bool) and 0 <= mode < len(CLUSTER_MODES):
        return CLUSTER_MODES[mode]
    if mode in CLUSTER_MODES:
        return mode
    raise _param_error('cluster_mode %r is not a DeepStream cluster mode.' % (mode,),
                       'use one of %s (or DeepStream\'s numbers 0-4)' % ', '.join(CLUSTER_MODES))


def _as_batches(numpy, cov, bbox, classes):
    cov = numpy.asarray(cov, dtype=numpy.float32)
    bbox = numpy.asarray(bbox, dtype=numpy.float32)
    if cov.ndim == 3 and bbox.ndim == 3:
        cov, bbox = cov[None], bbox[None]
    fix = ('pass the coverage output as [N,] C, H, W and the bbox output as [N,] 4C, H, W (reshape '
           'flat engine buffers first), with C = the %d classes the catalog lists (%s)'
           % (len(classes), ', '.join(classes)))
    if cov.ndim != 4 or bbox.ndim != 4:
        raise TaoFleetError('DetectNet_v2 outputs have %d and %d dimensions, expected 3 or 4.'
                            % (cov.ndim, bbox.ndim),
                            cause='these are not DetectNet_v2 coverage/bbox tensors', fix=fix,
                            code='output_shape_mismatch')
    if (cov.shape[0] != bbox.shape[0] or bbox.shape[1] != 4 * cov.shape[1]
            or cov.shape[2:] != bbox.shape[2:] or cov.shape[1] != len(classes)):
        raise TaoFleetError('DetectNet_v2 output shapes %s (coverage) and %s (bbox) do not fit %d classes.'
                            % (list(cov.shape), list(bbox.shape), len(classes)),
                            cause='the engine and the catalog entry describe different models, or '
                                  'the two outputs were swapped', fix=fix,
                            code='output_shape_mismatch')
    return cov, bbox


def decode(cov, bbox, classes, network_size, params=None):
    """Detections per image: a list (one entry per image of the batch) of detection dicts.

    ``cov``/``bbox``: the model's coverage and bbox outputs, ``[N,] C, H, W`` and ``[N,] 4C, H, W``.
    ``classes``: class names in model order (from the catalog). ``network_size``: the model
    input (width, height), e.g. (960, 544). ``params``: see ``resolve_params``.
    """
    numpy = import_numpy('decoding DetectNet_v2 outputs')
    classes = list(classes)
    model, per_class = resolve_params(params, classes)
    cov, bbox = _as_batches(numpy, cov, bbox, classes)
    grid_h, grid_w = cov.shape[2:]
    net_w, net_h = int(network_size[0]), int(network_size[1])
    if model['stride']:
        strides = (model['stride'], model['stride'])
    else:
        strides = (-(-net_w // grid_w), -(-net_h // grid_h))
    decode_image = _deepstream_image if model['flavour'] == 'deepstream' else _tao_deploy_image
    return [decode_image(numpy, cov[index], bbox[index], classes, (net_w, net_h), strides, model, per_class)
            for index in range(cov.shape[0])]


def _detection(classes, class_id, confidence, left, top, right, bottom):
    return {'class_id': int(class_id), 'label': classes[class_id], 'confidence': float(confidence),
            'left': float(left), 'top': float(top), 'right': float(right), 'bottom': float(bottom)}


# ---- DeepStream flavour -----------------------------------------------------------------------

def _deepstream_candidates(numpy, cov, bbox, class_id, network, strides, model, threshold):
    """parseBoundingBox for one class: float32 arrays left, top, width, height, confidence, in
    the parser's cell order (row by row)."""
    f32 = numpy.float32
    net_w, net_h = network
    grid_h, grid_w = cov.shape[1:]
    norm = f32(model['bbox_norm'])
    centres_x = (numpy.arange(grid_w) * strides[0] + model['offset']).astype(f32) / norm
    centres_y = (numpy.arange(grid_h) * strides[1] + model['offset']).astype(f32) / norm
    rows, columns = numpy.nonzero(cov[class_id] >= f32(threshold))
    planes = bbox[4 * class_id:4 * class_id + 4, rows, columns]
    x1 = (planes[0] - centres_x[columns]) * -norm
    y1 = (planes[1] - centres_y[rows]) * -norm
    x2 = (planes[2] + centres_x[columns]) * norm
    y2 = (planes[3] + centres_y[rows]) * norm
    for values, limit in ((x1, net_w), (x2, net_w), (y1, net_h), (y2, net_h)):
        values[values >= limit] = f32(limit - 1)
        values[values < 0] = f32(0)
    width, height = x2 - x1, y2 - y1
    keep = (width >= 0) & (height >= 0)
    return (x1[keep], y1[keep], width[keep], height[keep], cov[class_id, rows, columns][keep])


def _top_k(numpy, confidences, topk):
    """filterTopKOutputs: topk < 0 keeps all in their order; else a stable sort by descending
    confidence, cut to topk. Returns positions."""
    if topk < 0:
        return numpy.arange(confidences.size)
    return numpy.argsort(-confidences, kind='stable')[:topk]


def _deepstream_nms(numpy, left, top, width, height, confidence, iou_threshold):
    """nvinfer nonMaximumSuppression: positions kept, in descending confidence order. Boxes are
    nvinfer's (left, top, width, height) in float32; right/bottom are recomputed as it does."""
    f32 = numpy.float32
    right, bottom = left + width, top + height
    area = width * height
    kept = []
    for index in numpy.argsort(-confidence, kind='stable'):
        if kept:
            others = numpy.asarray(kept)
            overlap_x = _overlap_1d(numpy, left[index], right[index], left[others], right[others])
            overlap_y = _overlap_1d(numpy, top[index], bottom[index], top[others], bottom[others])
            overlap = overlap_x * overlap_y
            union = area[index] + area[others] - overlap
            with numpy.errstate(divide='ignore', invalid='ignore'):
                iou = numpy.where(union == 0, f32(0), overlap / union)
            if numpy.any(iou > f32(iou_threshold)):
                continue
        kept.append(index)
    return numpy.asarray(kept, dtype=numpy.intp)


def _overlap_1d(numpy, low1, high1, low2, high2):
    """nvinfer overlap1D for one interval against many (the earlier-starting one goes first)."""
    swap = low1 > low2
    first_high = numpy.where(swap, high2, high1)
    second_low = numpy.where(swap, low1, low2)
    second_high = numpy.where(swap, high1, high2)
    return numpy.where(first_high < second_low, numpy.float32(0),
                       numpy.minimum(first_high, second_high) - second_low)


def _deepstream_group_rectangles(numpy, cov, bbox, classes, network, strides, model, per_class):
    """cluster-mode 0 (clusterAndFillDetectionOutputCV)."""
    found = []
    for class_id, settings in enumerate(per_class):
        left, top, width, height, _confidence = _deepstream_candidates(
            numpy, cov, bbox, class_id, network, strides, model, settings['pre_cluster_threshold'])
        # cv::Rect from floats: C++ converts to int by truncation (all values are >= 0 here).
        rectangles = [tuple(int(value) for value in box) for box in zip(left, top, width, height)]
        if settings['group_threshold'] > 0:
            rectangles = group_rectangles(numpy, rectangles, settings['group_threshold'], settings['eps'])
        found.extend(_detection(classes, class_id, _GROUP_RECTANGLES_CONFIDENCE, x, y, x + w, y + h)
                     for x, y, w, h in rectangles)
    return found


def _deepstream_image(numpy, cov, bbox, classes, network, strides, model, per_class):
    mode = model['cluster_mode']
    if mode == 'group_rectangles':
        return _deepstream_group_rectangles(numpy, cov, bbox, classes, network, strides, model, per_class)
    found = []
    for class_id, settings in enumerate(per_class):
        left, top, width, height, confidence = _deepstream_candidates(
            numpy, cov, bbox, class_id, network, strides, model, settings['pre_cluster_threshold'])
        right, bottom = left + width, top + height
        if mode in ('dbscan', 'dbscan_nms') and settings['min_boxes'] > 0 and confidence.size:
            clusters = tao_dbscan(numpy, numpy.stack([left, top, right, bottom], axis=1), confidence,
                                  settings['eps'], settings['min_boxes'], settings['min_height'],
                                  settings['min_score'])
            if mode == 'dbscan':
                means = numpy.asarray([box for box, _total, _members in clusters],
                                      dtype=numpy.float32).reshape(-1, 4)
                left, top, right, bottom = means.T
                confidence = numpy.asarray([total for _box, total, _members in clusters], dtype=numpy.float32)
            else:
                members = numpy.concatenate([indices for _box, _total, indices in clusters] or
                                            [numpy.zeros(0, dtype=numpy.intp)])
                left, top, width, height = left[members], top[members], width[members], height[members]
                right, bottom, confidence = right[members], bottom[members], confidence[members]
        post_threshold = numpy.float32(settings['post_cluster_threshold'])
        if mode == 'dbscan':
            kept = numpy.nonzero(confidence >= post_threshold)[0]
        elif mode in ('nms', 'dbscan_nms'):
            kept = _deepstream_nms(numpy, left, top, width, height, confidence, settings['nms_iou_threshold'])
            kept = kept[confidence[kept] > post_threshold]
        else:
            kept = numpy.arange(confidence.size)
        kept = kept[_top_k(numpy, confidence[kept], settings['topk'])]
        found.extend(_detection(classes, class_id, confidence[position], left[position], top[position],
                                right[position], bottom[position]) for position in kept)
    return found


def group_rectangles(numpy, rectangles, group_threshold, eps):
    """OpenCV cv::groupRectangles(rectList, groupThreshold, eps) on (x, y, w, h) integer tuples
    (opencv modules/objdetect/src/cascadedetect.cpp and cv::partition in
    core/include/opencv2/core/operations.hpp)."""
    if group_threshold <= 0 or not rectangles:
        return list(rectangles)
    labels, count = _partition(rectangles, eps)
    sums = [[0, 0, 0, 0] for _label in range(count)]
    members = [0] * count
    for rectangle, label in zip(rectangles, labels):
        for axis in range(4):
            sums[label][axis] += rectangle[axis]
        members[label] += 1
    averaged = []
    for total, size in zip(sums, members):
        scale = numpy.float32(1.0) / numpy.float32(size)
        # saturate_cast<int>(int * float): float32 product rounded half to even (cvRound).
        averaged.append(tuple(int(numpy.rint(numpy.float32(value) * scale)) for value in total))
    grouped = []
    for i, (r1, n1) in enumerate(zip(averaged, members)):
        if n1 <= group_threshold:
            continue
        inside_bigger = False
        for j, (r2, n2) in enumerate(zip(averaged, members)):
            if j == i or n2 <= group_threshold:
                continue
            dx = _round_half_even(r2[2] * eps)
            dy = _round_half_even(r2[3] * eps)
            if (r1[0] >= r2[0] - dx and r1[1] >= r2[1] - dy
                    and r1[0] + r1[2] <= r2[0] + r2[2] + dx and r1[1] + r1[3] <= r2[1] + r2[3] + dy
                    and (n2 > max(3, n1) or n1 < 3)):
                inside_bigger = True
                break
        if not inside_bigger:
            grouped.append(r1)
    return grouped


def _round_half_even(value):
    return int(round(value))


def _similar(r1, r2, eps):
    """OpenCV SimilarRects."""
    delta = eps * (min(r1[2], r2[2]) + min(r1[3], r2[3])) * 0.5
    return (abs(r1[0] - r2[0]) <= delta and abs(r1[1] - r2[1]) <= delta
            and abs(r1[0] + r1[2] - r2[0] - r2[2]) <= delta
            and abs(r1[1] + r1[3] - r2[1] - r2[3]) <= delta)


def _partition(items, eps):
    """cv::partition: union-find with union by rank and path compression; labels numbered in
    order of first appearance of each root."""
    parent = [-1] * len(items)
    rank = [0] * len(items)

    def find(node):
        while parent[node] >= 0:
            node = parent[node]
        return node

    for i in range(len(items)):
        root = find(i)
        for j in range(len(items)):
            if i == j or not _similar(items[i], items[j], eps):
                continue
            root2 = find(j)
            if root2 == root:
                continue
            if rank[root] > rank[root2]:
                parent[root2] = root
            else:
                parent[root] = root2
                rank[root2] += rank[root] == rank[root2]
                root = root2
            for start in (j, i):
                node = start
                while parent[node] >= 0:
                    parent[node], node = root, parent[node]
    labels = []
    numbers = {}
    for i in range(len(items)):
        root = find(i)
        if root not in numbers:
            numbers[root] = len(numbers)
        labels.append(numbers[root])
    return labels, len(numbers)


# ---- tao-deploy flavour and its clustering ----------------------------------------------------

def tao_iou_matrix(numpy, boxes):
    """tao-deploy ``iou_vectorized``: pairwise IoU of LTRB boxes, +0.01 in the denominator."""
    left, top, right, bottom = boxes.T
    inter_w = numpy.maximum(0, numpy.minimum(right[:, None], right[None, :])
                            - numpy.maximum(left[:, None], left[None, :]))
    inter_h = numpy.maximum(0, numpy.minimum(bottom[:, None], bottom[None, :])
                            - numpy.maximum(top[:, None], top[None, :]))
    intersection = inter_w * inter_h
    areas = (right - left) * (bottom - top)
    return intersection / (areas[:, None] + areas[None, :] - intersection + .01)


def dbscan_labels(numpy, distances, weights, eps, min_samples):
    """scikit-learn ``DBSCAN(eps, min_samples, metric='precomputed').fit_predict(distances,
    sample_weight=weights)``: neighbours at distance <= eps (a point is its own neighbour only
    if its self-distance is), core when the neighbours' weights sum to >= min_samples, clusters
    grown depth-first from cores in index order (sklearn/cluster/_dbscan_inner.pyx); -1 = noise."""
    count = len(weights)
    neighbourhoods = [numpy.nonzero(row <= eps)[0] for row in distances]
    core = [numpy.sum(weights[members]) >= min_samples for members in neighbourhoods]
    labels = [-1] * count
    label = 0
    for seed in range(count):
        if labels[seed] != -1 or not core[seed]:
            continue
        stack = []
        point = seed
        while True:
            if labels[point] == -1:
                labels[point] = label
                if core[point]:
                    stack.extend(int(other) for other in neighbourhoods[point] if labels[other] == -1)
            if not stack:
                break
            point = stack.pop()
        label += 1
    return numpy.asarray(labels, dtype=numpy.intp)


def tao_dbscan(numpy, boxes, coverages, eps, min_samples, min_height, threshold):
    """tao-deploy ``cluster_with_dbscan`` (criterion IOU, confidence model aggregate_cov, cluster
    weights 1): list of (coverage-weighted mean box, summed coverage, member positions) for
    clusters taller than ``min_height`` whose summed coverage is >= ``threshold``."""
    distances = 1.0 - tao_iou_matrix(numpy, boxes)
    labels = dbscan_labels(numpy, distances, coverages, eps, max(int(min_samples), 1))
    clusters = []
    for label in numpy.unique(labels[labels >= 0]):
        members = numpy.nonzero(labels == label)[0]
        weights = coverages[members]
        total = numpy.sum(weights)
        mean_box = numpy.sum((boxes[members].T * (weights / total)).T, axis=0)
        if mean_box[3] - mean_box[1] <= min_height:
            continue
        if total >= threshold:
            clusters.append((mean_box, total, members))
    return clusters


def tao_nms(numpy, boxes, coverages, iou_threshold, threshold):
    """tao-deploy ``get_keep_indices`` (method 4, original NMS): a selection sort that moves the
    best remaining box to the front, zeroes the scores of later boxes overlapping it by IoU >
    ``iou_threshold`` (areas counted with +1 pixel), and keeps boxes whose final score is >
    ``threshold``. Returns the kept positions in selection order."""
    count = len(coverages)
    left, top, right, bottom = boxes.T
    rows = numpy.concatenate((numpy.asarray([top, left, bottom, right]).T,
                              numpy.arange(count)[:, None]), axis=1)
    scores = coverages.copy()
    areas = (right - left + 1) * (bottom - top + 1)
    for i in range(count):
        after = i + 1
        if i != count - 1:
            best = after + int(numpy.argmax(scores[after:]))
            if scores[i] < scores[best]:
                rows[[i, best]] = rows[[best, i]]
                scores[[i, best]] = scores[[best, i]]
                areas[[i, best]] = areas[[best, i]]
        inter_w = numpy.maximum(0.0, numpy.minimum(rows[i, 3], rows[after:, 3])
                                - numpy.maximum(rows[i, 1], rows[after:, 1]) + 1)
        inter_h = numpy.maximum(0.0, numpy.minimum(rows[i, 2], rows[after:, 2])
                                - numpy.maximum(rows[i, 0], rows[after:, 0]) + 1)
        intersection = inter_w * inter_h
        overlap = intersection / (areas[i] + areas[after:] - intersection)
        weight = numpy.ones(overlap.shape)
        weight[overlap > iou_threshold] = 0
        scores[after:] = weight * scores[after:]
    return rows[:, 4][scores > threshold].astype(numpy.intp)


def _tao_deploy_image(numpy, cov, bbox, classes, network, strides, model, per_class):
    norm = model['bbox_norm']
    grid_h, grid_w = cov.shape[1:]
    # tao-deploy works on (x, y)-ordered grids (inferencer.py transposes H and W), so cells are
    # visited column by column, and its grid centres are float64.
    centres_x = (numpy.arange(grid_w) * strides[0] + model['offset']) / norm
    centres_y = (numpy.arange(grid_h) * strides[1] + model['offset']) / norm
    found = []
    for class_id, settings in enumerate(per_class):
        planes = bbox[4 * class_id:4 * class_id + 4].transpose(0, 2, 1).astype(numpy.float64)
        x1 = (planes[0] - centres_x[:, None]).astype(numpy.float32) * numpy.float32(-norm)
        y1 = (planes[1] - centres_y[None, :]).astype(numpy.float32) * numpy.float32(-norm)
        x2 = (planes[2] + centres_x[:, None]).astype(numpy.float32) * numpy.float32(norm)
        y2 = (planes[3] + centres_y[None, :]).astype(numpy.float32) * numpy.float32(norm)
        coverages = cov[class_id].T.flatten()
        valid = coverages > settings['pre_cluster_threshold']
        coverages = coverages[valid]
        if not coverages.size:
            continue
        boxes = numpy.stack([x1.flatten(), y1.flatten(), x2.flatten(), y2.flatten()], axis=1)[valid]
        results = _tao_cluster(numpy, boxes, coverages, model['cluster_mode'], settings)
        order = sorted(range(len(results)), key=lambda position: -results[position][1])
        for position in order:
            box, confidence = results[position]
            found.append(_tao_clip(classes, class_id, confidence, box, network))
    return found


def _tao_cluster(numpy, boxes, coverages, mode, settings):
    """(box, confidence) pairs for one class, as tao-deploy's cluster_bboxes makes them."""
    if mode == 'nms':
        kept = tao_nms(numpy, boxes, coverages, settings['nms_iou_threshold'],
                       settings['nms_confidence_threshold'])
        return [(boxes[position], coverages[position]) for position in kept]
    clusters = tao_dbscan(numpy, boxes, coverages, settings['eps'] + 1e-12, settings['min_boxes'],
                          settings['min_height'], settings['post_cluster_threshold'])
    if mode == 'dbscan':
        return [(box, total) for box, total, _members in clusters]
    if not clusters:
        return []
    members = numpy.concatenate([indices for _box, _total, indices in clusters])
    candidates = boxes[members].astype(numpy.float32)
    candidate_coverages = coverages[members].astype(numpy.float32)
    kept = tao_nms(numpy, candidates, candidate_coverages, settings['nms_iou_threshold'],
                   settings['nms_confidence_threshold'])
    return [(candidates[position], candidate_coverages[position]) for position in kept]


def _tao_clip(classes, class_id, confidence, box, network):
    """tao-deploy postprocessor ``_scale_bbox`` clipping (to [0, network size], right >= left)."""
    net_w, net_h = network
    left = min(max(0.0, float(box[0])), net_w)
    top = min(max(0.0, float(box[1])), net_h)
    right = max(min(float(box[2]), net_w), left)
    bottom = max(min(float(box[3]), net_h), top)
    return _detection(classes, class_id, confidence, left, top, right, bottom)
