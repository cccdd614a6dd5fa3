# -*- coding: utf-8 -*-
"""The capability table: which generation and which features each TensorRT version gets."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

import pytest

from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import capabilities


@pytest.mark.parametrize('version, flavour, expected', [
    ('7.1.3.0', 'tensorrt', dict(generation='gen7', build_api='build_engine', timing_cache=False,
                                 workspace_api='max_workspace_size', strict_flag='STRICT_TYPES', evidence='docs')),
    ('8.0.1.6', 'tensorrt', dict(generation='gen8_0', build_api='build_serialized_network', timing_cache=True,
                                 strict_flag='STRICT_TYPES', workspace_api='max_workspace_size')),
    ('8.2.1.8', 'tensorrt', dict(generation='gen8_0', strict_flag='OBEY_PRECISION_CONSTRAINTS', uff_parser=True)),
    ('8.4.1', 'tensorrt', dict(generation='gen8_0', workspace_api='memory_pool_limit')),
    ('8.5.2.2', 'tensorrt', dict(generation='gen8_5', io_api='bindings+tensors', evidence='source')),
    ('8.6.1', 'tensorrt', dict(generation='gen8_5', explicit_batch_flag='needed', evidence='wheel')),
    ('10.3.0', 'tensorrt', dict(generation='gen10', explicit_batch_flag='ignored', uff_parser=False, dla=True,
                                implicit_batch=False, io_api='tensors')),
    ('10.13.3.9', 'tensorrt', dict(generation='gen10', dla=False, precision='flags')),
    ('11.1.0', 'tensorrt', dict(generation='gen11', dla=False, precision='strongly_typed', calibrator=False)),
    # 9.x: tags v9.1.0-v9.3.0 bind no UFF parser (python/src/parsers has no pyUff.cpp), the rest is 8.6's API
    ('9.3.0', 'tensorrt', dict(generation='gen8_5', uff_parser=False, implicit_batch=True, build_api='build_serialized_network',
                               io_api='bindings+tensors', evidence='source')),
    ('9.1.0', 'tensorrt', dict(generation='gen8_5', uff_parser=False)),
    # DLA by patch release: 11.4.0 none on Linux/JetPack, 11.4.1 on AGX Orin (JetPack 7.2.2+), 11.5.0 no JetPack
    ('11.4.0.106', 'tensorrt', dict(generation='gen11', dla=False, explicit_batch_flag='absent',
                                    fast_precision_queries=False)),
    ('11.4.1', 'tensorrt', dict(generation='gen11', dla=True, precision='strongly_typed')),
    ('11.5.0', 'tensorrt', dict(generation='gen11', dla=False, precision='strongly_typed')),
    ('1.7.1.116', 'tensorrt_rtx', dict(generation='rtx1', dla=False, compute_capability_selection=True,
                                       timing_cache=False, precision='strongly_typed')),
])
def test_version_rows(version, flavour, expected):
    caps = capabilities(version, flavour)
    assert dict((key, caps[key]) for key in expected) == expected
    assert caps['warnings'] == []
    assert caps['version'] == version


def test_labels_name_flavour_and_version():
    assert capabilities('10.3.0')['label'] == 'TensorRT 10.3.0'
    assert capabilities('1.7.1.116', 'tensorrt_rtx')['label'] == 'TensorRT-RTX 1.7.1.116'


@pytest.mark.parametrize('version, flavour, generation, row', [
    ('12.0.1', 'tensorrt', 'gen11', '11.5.0 <= v < 11.6.0'),
    ('11.7.0', 'tensorrt', 'gen11', '11.5.0 <= v < 11.6.0'),
    ('8.8.0', 'tensorrt', 'gen8_5', '8.6 <= v < 8.7'),
    ('6.0.1', 'tensorrt', 'gen7', '7.0 <= v < 8.0'),
    ('2.0.0', 'tensorrt_rtx', 'rtx1', '1.0 <= v < 2.0'),
])
def test_unknown_version_gets_nearest_row_and_a_warning(version, flavour, generation, row):
    caps = capabilities(version, flavour)
    assert caps['generation'] == generation
    assert caps['row'] == row
    assert len(caps['warnings']) == 1
    assert version in caps['warnings'][0] and 'not in the capability table' in caps['warnings'][0]


def test_unknown_11x_after_11_5_gets_no_dla():
    # releases after 11.5.0 dropped JetPack (11.5.0 Working with DLA): an unknown later one must not claim DLA
    assert capabilities('11.6.0')['dla'] is False


def test_uff_on_tensorrt_9_is_refused_before_the_build():
    from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
    from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import check_request
    request = {'format': 'uff', 'model': b'uff', 'input_name': 'input_1', 'input_dims': [3, 544, 960],
               'output_names': ['output_cov/Sigmoid']}
    with pytest.raises(TaoFleetError) as caught:
        check_request(capabilities('9.3.0'), request)
    assert caught.value.code == 'uff_unsupported'
    assert 'TensorRT 9.3.0' in str(caught.value)
    assert check_request(capabilities('8.6.1'), request) == []


def test_dla_request_on_tensorrt_11_4_0_is_refused_and_on_11_4_1_passes_to_the_device_checks():
    from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
    from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import check_request
    request = {'model': b'onnx', 'dla_core': 0, 'precision': 'model'}
    with pytest.raises(TaoFleetError) as caught:
        check_request(capabilities('11.4.0.106'), request, {'dla_cores': 2})
    assert caught.value.code == 'dla_unavailable' and 'TensorRT 11.4.0.106' in str(caught.value)
    check_request(capabilities('11.4.1'), request, {'dla_cores': 2})
    with pytest.raises(TaoFleetError) as caught:   # Thor: no DLA on the device
        check_request(capabilities('11.4.1'), request, {'dla_cores': 0, 'name': 'Jetson AGX Thor'})
    assert caught.value.code == 'dla_unavailable' and 'Jetson AGX Thor has no DLA' in str(caught.value)


def test_bad_flavour_and_version_are_refused():
    with pytest.raises(ValueError):
        capabilities('8.6.1', 'tensorrt_lean')
    with pytest.raises(ValueError):
        capabilities('eight')


def test_table_and_checks_do_not_import_tensorrt():
    code = ('import sys\n'
            'from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import capabilities, check_request\n'
            'check_request(capabilities("8.2.1.8"), {"model": b"x"}, {"compute_capability": "5.3"})\n'
            'print(sorted(m for m in sys.modules if m.startswith("tensorrt") or "_gen" in m or "_base" in m))\n')
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in sys.path if p)
    out = subprocess.check_output([sys.executable, '-c', code], env=env, universal_newlines=True)
    assert out.strip() == '[]'


def _row_label(flavour, first, stop):
    if len(first) == 3:
        # patch-level rows: one patch (11.4.0), the rest of a minor (11.4.1+), or a whole minor (11.5)
        if stop[:2] == first[:2]:
            label = '%d.%d.%d' % first
        elif first[2]:
            label = '%d.%d.%d+' % first
        else:
            label = '%d.%d' % first[:2]
        return ('RTX ' if flavour == 'tensorrt_rtx' else '') + label
    if stop == (first[0], first[1] + 1):
        label = '%d.%d' % first
    elif stop[0] > first[0] and first[1] == 0:
        label = '%d.x' % first[0]
    elif stop[0] > first[0]:
        label = '%d.%d+' % first
    else:
        label = '%d.%d-%d.%d' % (first + (stop[0], stop[1] - 1))
    return ('RTX ' if flavour == 'tensorrt_rtx' else '') + label


def _cell(value):
    if value is True:
        return 'yes'
    if value is False:
        return 'no'
    if value is None or value == ():
        return '-'
    if isinstance(value, tuple):
        return ', '.join(value)
    return str(value)


def render_table():
    from ansible_collections.tao.fleet.plugins.module_utils._trt._capabilities import COLUMNS, TABLE
    lines = ['| | %s |' % ' | '.join(_row_label(f, a, b) for f, a, b, _unused in TABLE),
             '|---|%s' % ('---|' * len(TABLE))]
    for column in COLUMNS:
        lines.append('| `%s` | %s |' % (column, ' | '.join(_cell(row[column]) for _unused1, _unused2, _unused3, row in TABLE)))
    return '\n'.join(lines)


def test_docs_show_the_table_the_code_has():
    docs = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'docs', 'tensorrt.md')
    with open(docs) as handle:
        text = handle.read()
    start = text.index('<!-- capability-table:start -->\n') + len('<!-- capability-table:start -->\n')
    end = text.index('\n<!-- capability-table:end -->')
    assert text[start:end] == render_table()
