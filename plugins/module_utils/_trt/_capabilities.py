# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""What each TensorRT version can do: the one table the layer, its checks and docs/tensorrt.md read.

Pure data and lookups; nothing here imports TensorRT, so check mode and the parent process of a build
use it freely. Evidence per row: ``wheel`` = names imported from the real bindings wheel,
``source`` = NVIDIA/TensorRT binding source at the release tag, ``docs`` = NVIDIA's documentation
(see docs/tensorrt.md for each citation).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

FLAVOURS = ('tensorrt', 'tensorrt_rtx')

COLUMNS = (
    'generation',             # module in this package that drives the build
    'explicit_batch_flag',    # needed | ignored | absent: NetworkDefinitionCreationFlag.EXPLICIT_BATCH
    'uff_parser',             # UffParser present
    'precision',              # flags (BuilderFlag.FP16/INT8) | strongly_typed (types come from the model)
    'fast_precision_queries',  # Builder.platform_has_fast_fp16 / _int8
    'workspace_api',          # max_workspace_size | memory_pool_limit
    'build_api',              # build_engine (then serialize) | build_serialized_network
    'calibrator',             # IInt8*Calibrator + IBuilderConfig.int8_calibrator
    'strict_flag',            # STRICT_TYPES | OBEY_PRECISION_CONSTRAINTS | None
    'implicit_batch',         # Builder.max_batch_size (UFF networks)
    'dla',                    # DLA usable by this TensorRT (the device must have DLA cores too)
    'io_api',                 # bindings | bindings+tensors | tensors (engine I/O at run time)
    'timing_cache',           # IBuilderConfig.create_timing_cache / set_timing_cache
    'compute_capability_selection',  # IBuilderConfig.set_compute_capability (build for chosen GPUs)
    'compute_capabilities',   # the ComputeCapability values it can build for ('major.minor')
    'evidence',               # wheel | source | docs | wheel+docs (names from a wheel, a behaviour from docs)
)

_GEN7 = dict(generation='gen7', explicit_batch_flag='needed', uff_parser=True, precision='flags',
             fast_precision_queries=True, workspace_api='max_workspace_size', build_api='build_engine',
             calibrator=True, strict_flag='STRICT_TYPES', implicit_batch=True, dla=True, io_api='bindings',
             timing_cache=False, compute_capability_selection=False, compute_capabilities=(), evidence='docs')


def _row(base, **changes):
    row = dict(base)
    row.update(changes)
    return row


_GEN8_0 = _row(_GEN7, generation='gen8_0', build_api='build_serialized_network', timing_cache=True,
               evidence='source')
_GEN8_2 = _row(_GEN8_0, strict_flag='OBEY_PRECISION_CONSTRAINTS')
_GEN8_4 = _row(_GEN8_2, workspace_api='memory_pool_limit')
_GEN8_5 = _row(_GEN8_4, generation='gen8_5', io_api='bindings+tensors')
_GEN10 = _row(_GEN8_5, generation='gen10', explicit_batch_flag='ignored', uff_parser=False, implicit_batch=False,
              io_api='tensors', evidence='wheel')
_GEN11 = _row(_GEN10, generation='gen11', explicit_batch_flag='absent', precision='strongly_typed',
              fast_precision_queries=False, calibrator=False, strict_flag=None, dla=False)

# (flavour, first version, first version of the next row, capabilities). A bound is (major, minor) or
# (major, minor, patch); versions compare on (major, minor, patch), so 11.4.0 and 11.4.1 can differ.
TABLE = (
    ('tensorrt', (7, 0), (8, 0), _GEN7),
    ('tensorrt', (8, 0), (8, 2), _GEN8_0),
    ('tensorrt', (8, 2), (8, 4), _GEN8_2),
    ('tensorrt', (8, 4), (8, 5), _row(_GEN8_4, evidence='source')),
    ('tensorrt', (8, 5), (8, 6), _GEN8_5),
    ('tensorrt', (8, 6), (8, 7), _row(_GEN8_5, evidence='wheel')),
    # 9.x: the 8.6 API without the UFF and Caffe parsers. NVIDIA/TensorRT tags v9.1.0, v9.2.0 and v9.3.0 have no
    # python/src/parsers/pyUff.cpp (v8.6.1 has it), while build_engine, max_batch_size, num_bindings,
    # max_workspace_size, STRICT_TYPES and EXPLICIT_BATCH are still bound in python/src/infer/pyCore.cpp.
    # No 9.0 tag was read: it gets this row too, which refuses UFF rather than guessing it has a parser.
    ('tensorrt', (9, 0), (10, 0), _row(_GEN8_5, uff_parser=False, evidence='source')),
    ('tensorrt', (10, 0), (10, 8), _GEN10),
    # TensorRT 10.8 to 11.3 dropped DLA (TensorRT 11.4.1 "Working with DLA"; field-errors #21)
    ('tensorrt', (10, 8), (11, 0), _row(_GEN10, dla=False, evidence='wheel+docs')),
    # no 11.0-11.3 wheel was read: the 11.4 wheel's names and the 10.x to 11.x migration guide
    ('tensorrt', (11, 0), (11, 4), _row(_GEN11, evidence='docs')),
    # DLA by patch release (the "Working with DLA" page of each version under
    # https://docs.nvidia.com/deeplearning/tensorrt/<version>/inference-library/work-with-dla.html):
    # 11.4.0: DLA only on Windows on ARM ("Not supported: Linux SBSA, NVIDIA JetPack, and NVIDIA DriveOS");
    # 11.4.1: DLA on Jetson AGX Orin with JetPack 7.2.2 or later only (Thor has none; the SBSA build has no
    #         DLA outside JetPack): the row says yes, and the device's own answers decide (dla_cores 0 on
    #         Thor; builder.num_DLA_cores on a non-JetPack SBSA install) - JetPack 7.2.2 itself is not checked;
    # 11.5.0: "NVIDIA JetPack is not supported in TensorRT 11.5.0" (Linux DLA: none). Later 11.x: unknown, so
    #         they get the 11.5 row (no DLA) and a warning.
    ('tensorrt', (11, 4, 0), (11, 4, 1), _row(_GEN11, dla=False)),
    ('tensorrt', (11, 4, 1), (11, 5, 0), _row(_GEN11, dla=True, evidence='wheel+docs')),
    ('tensorrt', (11, 5, 0), (11, 6, 0), _row(_GEN11, dla=False, evidence='docs')),
    # RTX GPUs have no DLA (the DLA names exist in the bindings, builder.num_DLA_cores is 0); timing cache
    # calls are no-ops since TensorRT-RTX 1.2 (its own DeprecationWarning); CCs = the ComputeCapability enum
    ('tensorrt_rtx', (1, 0), (2, 0), _row(_GEN11, generation='rtx1', timing_cache=False,
                                          compute_capability_selection=True,
                                          compute_capabilities=('7.5', '8.0', '8.6', '8.9', '12.0', '12.1'))),
)

LABELS = {'tensorrt': 'TensorRT', 'tensorrt_rtx': 'TensorRT-RTX'}


def parse_version(version):
    """'8.2.1.8' -> (8, 2, 1, 8); raises ValueError on anything that is not dotted numbers."""
    parts = str(version).strip().split('.')
    numbers = tuple(int(part) for part in parts)
    if not numbers:
        raise ValueError(version)
    return numbers


def format_range(first, stop):
    return '%s <= v < %s' % ('.'.join(str(n) for n in first), '.'.join(str(n) for n in stop))


def _key(numbers):
    """(major, minor, patch) of a version or a row bound, missing parts 0."""
    return (tuple(numbers) + (0, 0, 0))[:3]


def _nearest(rows, key):
    """The row below ``key`` (the older API is the safer guess), or the oldest row when below all."""
    below = [row for row in rows if _key(row[1]) <= key]
    return below[-1] if below else rows[0]


def capabilities(version, flavour='tensorrt'):
    """Capabilities of one TensorRT version as a plain dict (every COLUMNS key, plus version facts).

    A version outside the table gets the nearest known row and a warning in ``warnings``; the caller
    shows that warning, because every answer for that version is a guess.
    """
    if flavour not in FLAVOURS:
        raise ValueError('unknown TensorRT flavour %r (known: %s)' % (flavour, ', '.join(FLAVOURS)))
    numbers = parse_version(version)
    key = _key(numbers)
    rows = [row for row in TABLE if row[0] == flavour]
    warnings = []
    matches = [row for row in rows if _key(row[1]) <= key < _key(row[2])]
    if matches:
        row = matches[0]
    else:
        row = _nearest(rows, key)
        warnings.append(
            '%s %s is not in the capability table; treating it like %s (%s). Check the build log, and '
            'add a row to plugins/module_utils/_trt/_capabilities.py once the version is checked against '
            'its bindings.' % (LABELS[flavour], version, LABELS[flavour], format_range(row[1], row[2])))
    caps = dict(row[3])
    caps.update(version=str(version), version_tuple=numbers, flavour=flavour,
                label='%s %s' % (LABELS[flavour], version), row=format_range(row[1], row[2]),
                warnings=warnings)
    return caps
