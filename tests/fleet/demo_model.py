# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The PeopleNet stand-in: a model with PeopleNet's exact interface whose detections are known.

    python tests/fleet/demo_model.py --out DIR [--version demo_v1.0]            write the tree
    python tests/fleet/demo_model.py --out DIR [--version demo_v1.0] --check    verify a written tree

It is NOT PeopleNet. It "detects" bright axis-aligned rectangles (``_image.demo_scene``) as
``person``, so a smoke test can predict its boxes exactly; ``docs/demo-model.md`` explains the
graph and how to use the real NGC PeopleNet instead.

Writes, under DIR (the model mirror's root):

    v2/models/nvidia/tao/peoplenet_standin/versions/<ver>/files/peoplenet_standin.onnx
        plain ONNX, I/O ``input_1:0``, ``output_cov/Sigmoid:0``, ``output_bbox/BiasAdd:0``
    .../files/peoplenet_standin.etlt     the same graph with I/O ``input_1``, ``output_cov/Sigmoid``,
        ``output_bbox/BiasAdd``, encrypted as TAO's exporter does (key ``tlt_encode``)
    .../files/labels.txt                 person, bag, face
    images/peoplenet_standin/*.png       demo scenes for the smoke test
    images/peoplenet_standin/scenes.json the rectangles each scene holds (what the model must find)
    SHA256SUMS                           sha256sum format, every file under DIR, paths relative to DIR

Every byte is a function of ``--version`` alone (fixed producer fields, no timestamps, an .etlt
nonce derived from the payload), so two runs give identical files and ``--check`` compares a
tree with a fresh in-memory build. Needs ``onnx`` and ``numpy`` (the controller venv has both)
and the collection's module_utils; runs on Python 3.6+ (the unit tests run it under each
JetPack Python).
"""

from __future__ import absolute_import, division, print_function

import argparse
import hashlib
import json
import os
import re
import sys
import types

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MODEL = 'peoplenet_standin'
DEFAULT_VERSION = 'demo_v1.0'
ETLT_KEY = 'tlt_encode'
ONNX_FILE = 'peoplenet_standin.onnx'
ETLT_FILE = 'peoplenet_standin.etlt'
LABELS_FILE = 'labels.txt'
SUMS_FILE = 'SHA256SUMS'
CLASSES = ('person', 'bag', 'face')

# PeopleNet (DetectNet_v2 ResNet34): input 3x544x960 RGB x 1/255, stride 16, bbox norm 35, offset 0.5.
CHANNELS, HEIGHT, WIDTH = 3, 544, 960
STRIDE = 16
BBOX_NORM = 35.0
OFFSET = 0.5
GRID_ROWS, GRID_COLUMNS = HEIGHT // STRIDE, WIDTH // STRIDE

ONNX_NAMES = ('input_1:0', 'output_cov/Sigmoid:0', 'output_bbox/BiasAdd:0')
ETLT_NAMES = ('input_1', 'output_cov/Sigmoid', 'output_bbox/BiasAdd')

# A cell is "bright" above this mean brightness (0..1); demo scenes keep rectangles >= 0.72,
# distractors <= 0.30 and the background <= 0.19, far from it on both sides.
BRIGHTNESS_THRESHOLD = 0.5
# Logit slopes. Coverage: sigmoid(40 * (b - 0.5)) gives >= 0.9998 on rectangles, <= 3.4e-4 on
# distractors (below tao-deploy's 0.005 coverage threshold). The run mask is much steeper: it
# is exactly 1.0 in float32 on every cell brighter than 0.52, so rectangle edges come out as
# exact multiples of 16 pixels.
COVERAGE_SLOPE = 40.0
MASK_SLOPE = 1000.0
# Logit for bag and face everywhere: sigmoid(-12) = 6e-6.
ABSENT_CLASS_LOGIT = -12.0

OPSET = 11      # TensorRT 7.1+ parses opset 11; every op used exists there unchanged.
IR_VERSION = 6  # the IR of opset 11 (onnx 1.6)
PRODUCER = 'tao.fleet tests/fleet/demo_model.py'
PRODUCER_VERSION = '1'

# (seed, rectangles, distractors, width, height): K = 0, 1, 3, 5, and one twice the network size.
SCENES = (
    (1, 0, 0, WIDTH, HEIGHT),
    (2, 1, 0, WIDTH, HEIGHT),
    (3, 3, 2, WIDTH, HEIGHT),
    (4, 5, 1, WIDTH, HEIGHT),
    (5, 3, 1, 2 * WIDTH, 2 * HEIGHT),
)

VERSION_PATTERN = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')


def _make_collection_importable():
    """Import module_utils from this checkout even when it does not sit at
    ``ansible_collections/tao/fleet`` on sys.path (the script is run straight from the repo)."""
    try:
        import ansible_collections.tao.fleet.plugins.module_utils._image  # noqa: F401
        return
    except ImportError:
        pass
    for name, path in (('ansible_collections', []), ('ansible_collections.tao', []),
                       ('ansible_collections.tao.fleet', [REPO_ROOT])):
        module = sys.modules.get(name)
        if module is None or name.endswith('.fleet'):
            module = types.ModuleType(name)
            module.__path__ = path
            sys.modules[name] = module


_make_collection_importable()

from ansible_collections.tao.fleet.plugins.module_utils._etlt import encode_etlt  # noqa: E402
from ansible_collections.tao.fleet.plugins.module_utils._image import (  # noqa: E402
    demo_scene,
    encode_png,
    write_atomic,
)


def model_dir(version):
    return 'v2/models/nvidia/tao/%s/versions/%s/files' % (MODEL, version)


def images_dir():
    return 'images/%s' % MODEL


def build_graph(version, names=ONNX_NAMES):
    """The stand-in as an onnx ModelProto with I/O names ``names`` (input, coverage, bbox).

    cell brightness (16x16 mean) -> coverage = sigmoid(40 (b - 0.5)) for person, ~0 for bag/face
                                 -> run mask = sigmoid(100 (b - 0.5))
    run mask -> starts/ends of bright runs along rows and columns (2-tap convs + Relu), times the
    cell's position, then a cumulative max (MaxPool as wide as the grid, padded on one side):
    every bright cell learns the first/last column and row of its rectangle. A 1x1 conv and a
    bias add turn those into DetectNet_v2's box encoding (bbox = centre - x1 / 35, ...), the
    same for all three classes.
    """
    import numpy
    from onnx import TensorProto, helper, numpy_helper

    f32 = numpy.float32
    initializers = []
    nodes = []

    def constant(name, values):
        initializers.append(numpy_helper.from_array(numpy.asarray(values, dtype=f32), name))
        return name

    def node(op, inputs, output, name=None, **attributes):
        nodes.append(helper.make_node(op, inputs, [output], name=name or output, **attributes))
        return output

    input_name, coverage_name, bbox_name = names
    cell_weight = numpy.full((1, CHANNELS, STRIDE, STRIDE), 1.0 / (CHANNELS * STRIDE * STRIDE))
    brightness = node('Conv', [input_name, constant('cell_mean.weight', cell_weight),
                               constant('cell_mean.bias', [0.0])],
                      'cell_brightness', kernel_shape=[STRIDE, STRIDE], strides=[STRIDE, STRIDE])

    coverage_logits = node('Conv', [brightness,
                                    constant('coverage.weight', [[[[COVERAGE_SLOPE]]], [[[0.0]]], [[[0.0]]]]),
                                    constant('coverage.bias', [-COVERAGE_SLOPE * BRIGHTNESS_THRESHOLD,
                                                               ABSENT_CLASS_LOGIT, ABSENT_CLASS_LOGIT])],
                           'coverage_logits', kernel_shape=[1, 1])
    node('Sigmoid', [coverage_logits], coverage_name, name='output_cov/Sigmoid')

    mask_logits = node('Conv', [brightness, constant('run_mask.weight', [[[[MASK_SLOPE]]]]),
                                constant('run_mask.bias', [-MASK_SLOPE * BRIGHTNESS_THRESHOLD])],
                       'run_mask_logits', kernel_shape=[1, 1])
    mask = node('Sigmoid', [mask_logits], 'run_mask')

    columns = numpy.arange(GRID_COLUMNS, dtype=numpy.float64)
    rows = numpy.arange(GRID_ROWS, dtype=numpy.float64)
    # (edge, 2-tap kernel, conv pads, position of the cell (> 0), pool kernel, pool pads);
    # ONNX pads are [row begin, column begin, row end, column end].
    edges = (
        ('left', [[[[-1.0, 1.0]]]], [0, 1, 0, 0], (columns + 1).reshape(1, 1, 1, -1),
         [1, GRID_COLUMNS], [0, GRID_COLUMNS - 1, 0, 0]),
        ('top', [[[[-1.0], [1.0]]]], [1, 0, 0, 0], (rows + 1).reshape(1, 1, -1, 1),
         [GRID_ROWS, 1], [GRID_ROWS - 1, 0, 0, 0]),
        ('right', [[[[1.0, -1.0]]]], [0, 0, 0, 1], (GRID_COLUMNS - columns).reshape(1, 1, 1, -1),
         [1, GRID_COLUMNS], [0, 0, 0, GRID_COLUMNS - 1]),
        ('bottom', [[[[1.0], [-1.0]]]], [0, 0, 1, 0], (GRID_ROWS - rows).reshape(1, 1, -1, 1),
         [GRID_ROWS, 1], [0, 0, GRID_ROWS - 1, 0]),
    )
    extents = []
    for edge, kernel, pads, positions, pool_kernel, pool_pads in edges:
        kernel = numpy.asarray(kernel)
        step = node('Conv', [mask, constant('%s_edge.weight' % edge, kernel)], '%s_edge' % edge,
                    kernel_shape=list(kernel.shape[2:]), pads=pads)
        marks = node('Relu', [step], '%s_edge_marks' % edge)
        placed = node('Mul', [marks, constant('%s_edge.position' % edge, positions)], '%s_edge_positions' % edge)
        extents.append(node('MaxPool', [placed], '%s_extent' % edge, kernel_shape=pool_kernel, pads=pool_pads))
    cell_extents = node('Concat', extents, 'cell_extents', axis=1)

    # extents (left+1, top+1, columns-right, rows-bottom) -> pixels: x1 = S (L - 1),
    # x2 = S (columns + 1 - R); encoded as bbox = centre - x1 / norm, x2 / norm - centre, with
    # centre = (cell * S + offset) / norm. Scale part in the conv, the rest in the bias.
    scale = -STRIDE / BBOX_NORM
    weight = numpy.zeros((4 * len(CLASSES), 4, 1, 1))
    for class_id in range(len(CLASSES)):
        for plane in range(4):
            weight[4 * class_id + plane, plane, 0, 0] = scale
    scaled = node('Conv', [cell_extents, constant('box_scale.weight', weight)], 'box_scaled', kernel_shape=[1, 1])
    x_cells = columns.reshape(1, -1) * STRIDE
    y_cells = rows.reshape(-1, 1) * STRIDE
    planes = (
        numpy.broadcast_to((x_cells + OFFSET + STRIDE) / BBOX_NORM, (GRID_ROWS, GRID_COLUMNS)),
        numpy.broadcast_to((y_cells + OFFSET + STRIDE) / BBOX_NORM, (GRID_ROWS, GRID_COLUMNS)),
        numpy.broadcast_to((STRIDE * (GRID_COLUMNS + 1) - x_cells - OFFSET) / BBOX_NORM, (GRID_ROWS, GRID_COLUMNS)),
        numpy.broadcast_to((STRIDE * (GRID_ROWS + 1) - y_cells - OFFSET) / BBOX_NORM, (GRID_ROWS, GRID_COLUMNS)),
    )
    bias = numpy.stack(planes * len(CLASSES))[None]
    node('Add', [scaled, constant('output_bbox.bias', bias)], bbox_name, name='output_bbox/BiasAdd')

    batch = 'N'
    graph = helper.make_graph(
        nodes, MODEL,
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, CHANNELS, HEIGHT, WIDTH])],
        [helper.make_tensor_value_info(coverage_name, TensorProto.FLOAT,
                                       [batch, len(CLASSES), GRID_ROWS, GRID_COLUMNS]),
         helper.make_tensor_value_info(bbox_name, TensorProto.FLOAT,
                                       [batch, 4 * len(CLASSES), GRID_ROWS, GRID_COLUMNS])],
        initializer=initializers)
    model = helper.make_model(graph, producer_name=PRODUCER, producer_version=PRODUCER_VERSION,
                              opset_imports=[helper.make_opsetid('', OPSET)])
    model.ir_version = IR_VERSION
    model.doc_string = ('tao.fleet PeopleNet stand-in %s: NOT PeopleNet. Same interface as DetectNet_v2 '
                        'ResNet34 PeopleNet; reports bright rectangles as person. See docs/demo-model.md.'
                        % version)
    helper.set_model_props(model, {'stand_in': 'true', 'version': version, 'classes': ','.join(CLASSES)})
    return model


def onnx_bytes(version, names=ONNX_NAMES):
    return build_graph(version, names).SerializeToString()


def etlt_bytes(version):
    payload = onnx_bytes(version, ETLT_NAMES)
    # TAO's exporter draws a random nonce; a nonce derived from the payload keeps the file
    # reproducible (the key is public, nothing secret is protected by it).
    nonce = hashlib.sha256(b'tao.fleet demo etlt nonce\0' + payload).digest()[:16]
    return encode_etlt(payload, ETLT_KEY, input_node_name='', nonce=nonce)


def scene_file(seed, count, width, height):
    return 'scene-s%d-k%d-%dx%d.png' % (seed, count, width, height)


def scene_files():
    """{relative path: bytes} for the scene PNGs and scenes.json."""
    files = {}
    described = []
    for seed, count, distractors, width, height in SCENES:
        scene = demo_scene(seed, count, width=width, height=height, distractors=distractors)
        name = scene_file(seed, count, width, height)
        files['%s/%s' % (images_dir(), name)] = encode_png(scene.image)
        described.append({'file': name, 'seed': seed, 'width': width, 'height': height,
                          'persons': [list(rect) for rect in scene.rects],
                          'distractors': [list(rect) for rect in scene.distractors]})
    index = {'model': MODEL, 'classes': list(CLASSES), 'network_size': [WIDTH, HEIGHT],
             'note': 'persons: rectangles (left, top, right, bottom; right/bottom exclusive, pixels of '
                     'the image) the stand-in reports as person; distractors: dim rectangles it '
                     'must not report', 'scenes': described}
    files['%s/scenes.json' % images_dir()] = (json.dumps(index, indent=1, sort_keys=True) + '\n').encode()
    return files


def tree_files(version):
    """{relative path: bytes} of everything one version writes, SHA256SUMS excluded."""
    if not VERSION_PATTERN.match(version):
        raise ValueError('version %r: use letters, digits, ".", "_" and "-" only (e.g. demo_v1.0)' % version)
    files = {
        '%s/%s' % (model_dir(version), ONNX_FILE): onnx_bytes(version),
        '%s/%s' % (model_dir(version), ETLT_FILE): etlt_bytes(version),
        '%s/%s' % (model_dir(version), LABELS_FILE): ('\n'.join(CLASSES) + '\n').encode(),
    }
    files.update(scene_files())
    return files


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _all_files(out):
    found = []
    for directory, _subdirs, names in os.walk(out):
        for name in names:
            path = os.path.relpath(os.path.join(directory, name), out).replace(os.sep, '/')
            if path != SUMS_FILE and not name.startswith('.'):
                found.append(path)
    return sorted(found)


def write_sums(out):
    """SHA256SUMS over every file under ``out`` (other models a mirror holds included)."""
    lines = []
    for path in _all_files(out):
        with open(os.path.join(out, path), 'rb') as handle:
            lines.append('%s  %s\n' % (_sha256(handle.read()), path))
    write_atomic(os.path.join(out, SUMS_FILE), ''.join(lines).encode())


def write_tree(out, version=DEFAULT_VERSION):
    """Write (atomically, file by file) this version's files under ``out``, then SHA256SUMS."""
    files = tree_files(version)
    for path in sorted(files):
        target = os.path.join(out, path)
        if not os.path.isdir(os.path.dirname(target)):
            os.makedirs(os.path.dirname(target))
        write_atomic(target, files[path])
    write_sums(out)
    return files


def read_sums(out):
    sums = {}
    with open(os.path.join(out, SUMS_FILE)) as handle:
        for number, line in enumerate(handle, 1):
            match = re.match(r'^([0-9a-f]{64}) [ *](.+)$', line.rstrip('\n'))
            if not match:
                raise ValueError('%s line %d is not in sha256sum format: %r' % (SUMS_FILE, number, line))
            sums[match.group(2)] = match.group(1)
    return sums


def check_tree(out, version=DEFAULT_VERSION):
    """Problems found in a written tree (empty list: the tree is complete and current)."""
    if not os.path.isfile(os.path.join(out, SUMS_FILE)):
        return ['%s is missing: run demo_model.py --out %s' % (os.path.join(out, SUMS_FILE), out)]
    try:
        sums = read_sums(out)
    except ValueError as err:
        return [str(err)]
    problems = []
    for path, digest in sorted(sums.items()):
        full = os.path.join(out, path)
        if not os.path.isfile(full):
            problems.append('%s is listed in %s but missing' % (path, SUMS_FILE))
            continue
        with open(full, 'rb') as handle:
            if _sha256(handle.read()) != digest:
                problems.append('%s does not match its sha256 in %s' % (path, SUMS_FILE))
    unlisted = sorted(set(_all_files(out)) - set(sums))
    problems.extend('%s is not listed in %s' % (path, SUMS_FILE) for path in unlisted)
    for path, data in sorted(tree_files(version).items()):
        if path not in sums:
            problems.append('%s (version %s) is not in the tree' % (path, version))
        elif sums[path] != _sha256(data):
            problems.append('%s differs from what this generator writes for %s (stale tree?)' % (path, version))
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True, help='the mirror root to write into (created if missing)')
    parser.add_argument('--version', default=DEFAULT_VERSION, help='model version (default %(default)s)')
    parser.add_argument('--check', action='store_true',
                        help='verify DIR instead of writing: hashes, completeness, equal to a fresh build')
    args = parser.parse_args(argv)
    if args.check:
        problems = check_tree(args.out, args.version)
        for problem in problems:
            print('FAIL %s' % problem)
        print('%s: %s' % (args.out, 'tree is complete and current' if not problems else
                          '%d problem(s); rewrite it with demo_model.py --out %s' % (len(problems), args.out)))
        return 1 if problems else 0
    if not os.path.isdir(args.out):
        os.makedirs(args.out)
    files = write_tree(args.out, args.version)
    for path in sorted(files):
        print('%s  %8d  %s' % (_sha256(files[path])[:12], len(files[path]), path))
    print('wrote %d files and %s under %s' % (len(files), SUMS_FILE, args.out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
