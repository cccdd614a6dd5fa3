# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""platform facts of each fixture tree (one per simulated-fleet profile), fact by fact.

The trees under tests/fixtures/sysroots/ hold real file contents (docs/platform_facts.md cites each);
``<profile>.expected.json`` holds what platform_facts must report for them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import platform
import sys

import pytest

from ansible_collections.tao.fleet.plugins.module_utils import _platform
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import (
    platform_key_sha256 as fingerprint_platform_key_sha256)

SYSROOTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'fixtures', 'sysroots')
FLEET_PROFILES = ('nano-jp46', 'xavier-nx-jp51', 'orin-nx-jp62', 'agx-orin-jp62', 'thor-jp70', 'dgpu-x86')
# fixture trees of releases that no simulated-fleet host runs (yet): JetPack 7.1 (Thor only) and 7.2 (Orin too)
NEWER_PROFILES = ('thor-jp71', 'agx-orin-jp72')
PROFILES = FLEET_PROFILES + NEWER_PROFILES

# The simulated fleet's profile table (interfaces.md), restated here so that a fixture tree and its
# expected.json cannot drift together away from the platform they stand for.
PROFILE_TABLE = {
    'nano-jp46': dict(kind='jetson', part='p3448-0000', soc='tegra210', cc='5.3', dla=0, l4t='32.7.6',
                      jetpack='4.6.6', cuda='10.2.300', cudnn='8.2.1', trt='8.2.1', python='3.6'),
    'xavier-nx-jp51': dict(kind='jetson', part='p3668-0003', soc='tegra194', cc='7.2', dla=2, l4t='35.4.1',
                           jetpack='5.1.2', cuda='11.4', cudnn='8.6.0', trt='8.5.2', python='3.8'),
    'orin-nx-jp62': dict(kind='jetson', part='p3767-0000', soc='tegra234', cc='8.7', dla=2, l4t='36.4.3',
                         jetpack='6.2', cuda='12.6.68', cudnn='9.3.0', trt='10.3.0', python='3.10'),
    'agx-orin-jp62': dict(kind='jetson', part='p3701-0005', soc='tegra234', cc='8.7', dla=2, l4t='36.4.4',
                          jetpack='6.2.1', cuda='12.6', cudnn='9.3', trt='10.3.0', python='3.10'),
    'thor-jp70': dict(kind='jetson', part='p3834-0008', soc='tegra264', cc='11.0', dla=0, l4t='38.2.0',
                      jetpack='7.0', cuda='13.0.48', cudnn='9.12.0', trt='10.13.3', python='3.12'),
    # JetPack 7.1 = R38.4.0, Thor only, same CUDA/cuDNN/TensorRT as 7.0 (OE4T/meta-tegra master-l4t-r38.4.x:
    # README, cuda-cudart_13.0.48, cudnn_9.12.0.46, tensorrt-core_10.13.3.9); JetPack 7.2 = R39.2.0 on Orin
    # (meta-tegra master: cuda-cudart_13.2.75, cudnn_9.20.0.46, tensorrt-core_10.16.2.10)
    'thor-jp71': dict(kind='jetson', part='p3834-0008', soc='tegra264', cc='11.0', dla=0, l4t='38.4.0',
                      jetpack='7.1', cuda='13.0.48', cudnn='9.12.0', trt='10.13.3', python='3.12'),
    'agx-orin-jp72': dict(kind='jetson', part='p3701-0000', soc='tegra234', cc='8.7', dla=2, l4t='39.2.0',
                          jetpack='7.2', cuda='13.2.75', cudnn='9.20.0', trt='10.16.2', python='3.12'),
    'dgpu-x86': dict(kind='dgpu', part=None, soc=None, cc='8.9', dla=0, l4t=None, jetpack=None, cuda='13.0',
                     cudnn='9', trt='10.13.3', python='3.12'),
}


def load_expected(profile):
    with open(os.path.join(SYSROOTS, profile + '.expected.json')) as handle:
        return json.load(handle)


def gather_fixture(profile):
    return _platform.gather(os.path.join(SYSROOTS, profile), probe_interpreter=False)


@pytest.mark.parametrize('profile', PROFILES)
def test_every_fact_of_the_fixture_tree(profile):
    expected = load_expected(profile)
    facts = gather_fixture(profile)
    for name in expected['excluded']:
        facts.pop(name)
    assert sorted(facts) == sorted(expected['tao_platform'])
    for name, value in expected['tao_platform'].items():
        assert facts[name] == value, name


@pytest.mark.parametrize('profile', PROFILES)
def test_fixture_matches_the_fleet_profile_table(profile):
    row = PROFILE_TABLE[profile]
    facts = gather_fixture(profile)
    assert facts['kind'] == row['kind']
    assert facts['compute_capability'] == row['cc']
    assert facts['dla_cores'] == row['dla']
    assert facts['cuda']['version'].startswith(row['cuda'])
    assert facts['cudnn']['version'].startswith(row['cudnn'])
    assert facts['tensorrt']['version'].startswith(row['trt'] + '.')
    assert facts['tensorrt']['python'] == row['python']
    assert facts['supported'] is True and facts['reason'] is None
    if row['kind'] == 'jetson':
        assert facts['module']['part_number'] == row['part']
        assert facts['soc'] == row['soc']
        assert facts['l4t']['release'] == row['l4t']
        assert facts['jetpack']['version'] == row['jetpack']
        assert facts['memory']['shared_with_gpu'] is True
        assert facts['power'] is not None
    else:
        assert facts['module'] is None and facts['l4t'] is None and facts['power'] is None
        assert facts['memory']['shared_with_gpu'] is False


@pytest.mark.parametrize('profile', PROFILES)
def test_interpreter_facts_describe_the_running_python(profile):
    facts = gather_fixture(profile)
    assert facts['python'] == {'version': platform.python_version(), 'executable': sys.executable,
                               'implementation': platform.python_implementation()}
    assert facts['sysroot'] == os.path.abspath(os.path.join(SYSROOTS, profile))


@pytest.mark.parametrize('profile', PROFILES)
def test_platform_key_hash_is_sha256_of_canonical_json(profile):
    facts = gather_fixture(profile)
    key = facts['platform_key']
    assert all(isinstance(value, str) for value in key.values())
    text = json.dumps(key, sort_keys=True, separators=(',', ':'))
    assert facts['platform_key_sha256'] == hashlib.sha256(text.encode('ascii')).hexdigest()
    # trt_engine names its timing cache with _fingerprint's hash: both must agree.
    assert facts['platform_key_sha256'] == fingerprint_platform_key_sha256(key)


def test_platform_keys_and_classes_differ_between_profiles():
    facts = [gather_fixture(profile) for profile in PROFILES]
    assert len(set(f['platform_key_sha256'] for f in facts)) == len(PROFILES)
    assert len(set(f['platform_class'] for f in facts)) == len(PROFILES)


def test_xavier_nx_16gb_is_told_apart_from_the_8gb_whose_device_tree_it_boots():
    # L4T boots the p3668-0001 DTB on the 16GB p3668-0003: compatible alone would mislabel the module.
    facts = gather_fixture('xavier-nx-jp51')
    assert all('p3668-0001' in entry for entry in facts['module']['compatible'][:2])
    assert facts['module']['part_number'] == 'p3668-0003'
    assert facts['module']['id'] == 'xavier_nx_16gb'
    assert facts['sources']['module.compatible_part_number'] == 'p3668-0001'


@pytest.mark.parametrize('text, expected', [
    ('# R32 (release), REVISION: 7.6, GCID: 38171779, BOARD: t210ref, EABI: aarch64, DATE: Tue Nov  5 '
     '07:46:14 UTC 2024\n', ('32.7.6', 'aarch64')),
    ('# R36 (release), REVISION: 4.4, GCID: 41062509, BOARD: generic, EABI: aarch64, DATE: Mon Jun 16 16:07:13 '
     'UTC 2025\n# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n', ('36.4.4', 'aarch64')),
    ('# R39 (release), REVISION: 2.0, GCID: 45755727, BOARD: generic, EABI: aarch64, DATE: Mon Jun  1 '
     '09:28:48 PM UTC 2026\n', ('39.2.0', 'aarch64')),
])
def test_tegra_release_lines(text, expected):
    assert _platform.parse_tegra_release(text) == expected


@pytest.mark.parametrize('text', ['', 'garbage\n', '# R36 (release)\n', '\x00\x01\x02'])
def test_tegra_release_garbage_is_an_error_not_a_guess(text):
    with pytest.raises(ValueError):
        _platform.parse_tegra_release(text)


@pytest.mark.parametrize('version, upstream', [
    ('10.3.0.30-1+cuda12.5', '10.3.0.30'), ('8.2.1-1+cuda10.2', '8.2.1'), ('6.2+b77', '6.2'),
    ('5.1.2-b104', '5.1.2'), ('32.7.6-20241104234540', '32.7.6'), ('1:2.3-4', '2.3'), ('', None), (None, None),
    ('b77', None),
])
def test_debian_upstream_version(version, upstream):
    assert _platform.deb_upstream_version(version) == upstream


def test_dpkg_status_keeps_installed_packages_only():
    lines = '''Package: libnvinfer10
Status: install ok installed
Architecture: arm64
Version: 10.3.0.30-1+cuda12.5
Description: TensorRT runtime libraries
 continuation line: Version: 99

Package: libcudnn9-cuda-13
Status: hold ok installed
Architecture: amd64
Version: 9.14.0.64-1

Package: tensorrt
Status: deinstall ok config-files
Version: 8.5.2.2-1+cuda11.4

garbage line without a colon
Package: half
'''.splitlines()
    packages = _platform.parse_dpkg_status(lines)
    assert packages == {
        'libnvinfer10': {'version': '10.3.0.30-1+cuda12.5', 'architecture': 'arm64'},
        'libcudnn9-cuda-13': {'version': '9.14.0.64-1', 'architecture': 'amd64'},
    }


def test_header_defines_follow_enterprise_aliases():
    text = ('#define TRT_MAJOR_ENTERPRISE 10\n#define TRT_MINOR_ENTERPRISE 13\n'
            '#define NV_TENSORRT_MAJOR TRT_MAJOR_ENTERPRISE //!< TensorRT major version.\n'
            '#define NV_TENSORRT_MINOR (TRT_MINOR_ENTERPRISE)\n#  define NV_TENSORRT_PATCH 3\n')
    defines = _platform.parse_defines(text)
    assert (defines['NV_TENSORRT_MAJOR'], defines['NV_TENSORRT_MINOR'], defines['NV_TENSORRT_PATCH']) == \
        ('10', '13', '3')


@pytest.mark.parametrize('readings, expected', [
    ([('python-bindings', '10.3.0'), ('header', '10.3.0.30'), ('dpkg tensorrt', '10.3.0.30')],
     ('10.3.0.30', 'python-bindings (build number from header)')),
    ([('python-bindings', '8.2.1.8'), ('dpkg libnvinfer8', '8.2.1'), ('dpkg tensorrt', '8.2.1.9')],
     ('8.2.1.8', 'python-bindings')),
    ([('python-bindings', None), ('dpkg libnvinfer8', '8.5.2'), ('dpkg tensorrt', '8.5.2.2')],
     ('8.5.2.2', 'dpkg libnvinfer8 (build number from dpkg tensorrt)')),
    ([('header', '10.13.3'), ('dpkg tensorrt', '10.1.0.1')], ('10.13.3', 'header')),
    ([], (None, None)),
])
def test_versions_merge_by_trust_and_refinement(readings, expected):
    assert _platform.merge_versions(readings) == expected


@pytest.mark.parametrize('tokens, module, carrier', [
    (['3509-0000-300', '3668-0003-301'], 'p3668-0003', 'p3509-0000'),
    (['3668-0003-301', '3509-0000-300'], 'p3668-0003', 'p3509-0000'),
    (['p2822-0000-600', 'p2888-0001-400'], 'p2888-0001', 'p2822-0000'),
    (['3737-0000-500', '3701-0000-500'], 'p3701-0000', 'p3737-0000'),
    (['2822-0000-600'], None, 'p2822-0000'),
    (['', 'junk'], None, None),
])
def test_module_is_picked_among_board_ids(tokens, module, carrier):
    assert _platform.module_part_from_ids(tokens) == module
    assert _platform.carrier_part_from_ids(tokens) == carrier


@pytest.mark.parametrize('compatible, expected', [
    (['nvidia,p3768-0000+p3767-0005', 'nvidia,p3767-0005', 'nvidia,tegra234', 'nvidia,tegra23x'],
     ('p3767-0005', 'p3768-0000')),
    (['nvidia,p3449-0000-b00+p3448-0000-b00', 'nvidia,jetson-nano', 'nvidia,tegra210'],
     ('p3448-0000', 'p3449-0000')),
    (['nvidia,p3449-0000+p3668-0001', 'nvidia,p3509-0000+p3668-0001', 'nvidia,tegra194'], ('p3668-0001', None)),
    (['lenovo,thinkedge-se70', 'nvidia,p3668-0001', 'nvidia,tegra194'], ('p3668-0001', None)),
    (['nvidia,jetson-cv', 'nvidia,tegra210'], (None, None)),
])
def test_parts_from_compatible(compatible, expected):
    assert _platform.parts_from_compatible(compatible) == expected


def test_soc_prefers_the_exact_name_and_maps_the_family_alias():
    assert _platform.soc_from_compatible(['nvidia,tegra23x', 'nvidia,tegra234']) == 'tegra234'
    assert _platform.soc_from_compatible(['nvidia,tegra23x']) == 'tegra234'
    assert _platform.soc_from_compatible(['nvidia,tegra999']) is None


def test_device_tree_strings_split_on_nul():
    assert _platform.dt_strings(b'nvidia,p3834-0008\x00nvidia,tegra264\x00') == ['nvidia,p3834-0008', 'nvidia,tegra264']
    assert _platform.dt_strings(b'\xff\xfe\x00') == [u'\ufffd\ufffd']
