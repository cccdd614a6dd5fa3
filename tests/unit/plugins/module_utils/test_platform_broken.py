# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""platform facts of damaged trees: missing, empty, corrupt and unknown files never crash the probe.

Each test copies a good fixture tree into tmp_path, breaks one thing, and checks that the fact turns
into null plus a reason (or falls back to the next source) while every other fact stays right.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil

import pytest

from ansible_collections.tao.fleet.plugins.module_utils import _platform
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError

SYSROOTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'fixtures', 'sysroots')


@pytest.fixture
def tree(tmp_path):
    """tree(profile) -> a writable copy of that fixture tree."""
    def copy(profile):
        target = str(tmp_path / profile)
        shutil.copytree(os.path.join(SYSROOTS, profile), target, symlinks=True)
        return target
    return copy


def write(root, rel, data):
    path = os.path.join(root, rel)
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path))
    if os.path.lexists(path):
        os.remove(path)
    with open(path, 'wb') as handle:
        handle.write(data if isinstance(data, bytes) else data.encode('utf-8'))


def remove(root, rel):
    path = os.path.join(root, rel)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def gather(root, **kwargs):
    kwargs.setdefault('probe_interpreter', False)
    return _platform.gather(root, **kwargs)


def test_missing_release_file_falls_back_to_the_l4t_core_package(tree):
    root = tree('orin-nx-jp62')
    remove(root, 'etc/nv_tegra_release')
    facts = gather(root)
    assert facts['kind'] == 'jetson'
    assert facts['l4t']['release'] == '36.4.3' and facts['l4t']['source'] == 'dpkg nvidia-l4t-core'
    assert facts['arch'] == 'aarch64' and facts['sources']['arch'] == 'dpkg package architecture (arm64)'
    assert facts['supported'] is True


@pytest.mark.parametrize('content', [b'', b'\x00\xff garbage \x01\n', b'R36 4.3\n'])
def test_corrupt_release_file_warns_and_uses_the_package(tree, content):
    root = tree('xavier-nx-jp51')
    write(root, 'etc/nv_tegra_release', content)
    facts = gather(root)
    assert facts['l4t']['release'] == '35.4.1' and facts['l4t']['source'] == 'dpkg nvidia-l4t-core'
    assert any('/etc/nv_tegra_release is unreadable' in warning for warning in facts['warnings'])


def test_no_release_file_and_no_dpkg_leaves_l4t_and_jetpack_unknown(tree):
    root = tree('nano-jp46')
    remove(root, 'etc/nv_tegra_release')
    remove(root, 'var/lib/dpkg/status')
    facts = gather(root)
    assert facts['kind'] == 'jetson'  # the device tree still says tegra210
    assert facts['l4t'] is None and facts['jetpack'] is None
    assert '/etc/nv_tegra_release does not exist' in facts['unknown']['l4t']
    assert '/var/lib/dpkg/status does not exist' in facts['unknown']['l4t']
    assert facts['platform_key']['l4t'] == 'unknown'
    assert facts['platform_class'] == 'jetson-nano_4gb'
    # the Python bindings file still gives TensorRT, and CUDA its version.txt
    assert facts['tensorrt']['version'] == '8.2.1.8' and facts['cuda']['version'] == '10.2.300'


def test_unknown_l4t_release_warns_by_name_and_still_reports_what_it_can(tree):
    root = tree('orin-nx-jp62')
    write(root, 'etc/nv_tegra_release',
          '# R40 (release), REVISION: 1.0, GCID: 99999999, BOARD: generic, EABI: aarch64, DATE: Mon Jan  4 '
          '10:00:00 UTC 2027\n')
    dpkg = open(os.path.join(root, 'var/lib/dpkg/status')).read()
    write(root, 'var/lib/dpkg/status', dpkg.replace('Package: nvidia-jetpack\n', 'Package: other-meta\n')
          .replace('36.4.3-20250107174145', '40.1.0-20270104100000'))
    facts = gather(root)
    assert facts['l4t'] == {'release': '40.1.0', 'major': 40, 'revision': '1.0',
                            'source': '/etc/nv_tegra_release', 'in_table': False}
    assert facts['jetpack'] is None
    assert 'R40.1.0' in facts['unknown']['jetpack']
    assert any('L4T R40.1.0 is not in' in warning and 'JetPack version unknown' in warning
               for warning in facts['warnings'])
    assert facts['platform_class'] == 'l4t40.1.0-orin_nx_16gb'
    assert facts['platform_key']['l4t'] == '40.1.0'
    assert facts['compute_capability'] == '8.7' and facts['supported'] is True


def test_unknown_l4t_with_the_jetpack_package_takes_the_package_version(tree):
    # a release newer than the table (R39.4.0 / JetPack 7.4 are made up: no such release is known)
    root = tree('agx-orin-jp72')
    write(root, 'etc/nv_tegra_release',
          '# R39 (release), REVISION: 4.0, GCID: 45755727, BOARD: generic, EABI: aarch64, DATE: Mon Jun  1 '
          '09:28:48 PM UTC 2026\n')
    dpkg = open(os.path.join(root, 'var/lib/dpkg/status')).read()
    write(root, 'var/lib/dpkg/status', dpkg.replace('7.2-b187', '7.4-b12').replace('39.2.0-20260601141651',
                                                                                   '39.4.0-20270101000000'))
    facts = gather(root)
    assert facts['jetpack'] == {'version': '7.4', 'source': 'nvidia-jetpack package', 'package_version': '7.4-b12',
                                'table_version': None}
    assert any('L4T R39.4.0 is not in' in w and 'JetPack 7.4 comes from the nvidia-jetpack package' in w
               for w in facts['warnings'])
    assert facts['platform_class'] == 'jetpack7.4-agx_orin_32gb'


@pytest.mark.parametrize('release, jetpack', [('39.2.0', '7.2'), ('39.2.1', '7.2.1')])
def test_jetpack_7_2_releases_are_in_the_l4t_table_without_the_jetpack_package(tree, release, jetpack):
    # BSP-only install (no nvidia-jetpack): JetPack comes from the L4T table alone
    root = tree('agx-orin-jp72')
    major, revision = release.split('.', 1)
    write(root, 'etc/nv_tegra_release',
          '# R%s (release), REVISION: %s, GCID: 45755727, BOARD: generic, EABI: aarch64, DATE: Mon Jun  1 '
          '09:28:48 PM UTC 2026\n' % (major, revision))
    dpkg = open(os.path.join(root, 'var/lib/dpkg/status')).read()
    dpkg = re.sub(r'Package: nvidia-jetpack\n(?:.+\n)*\n', '', dpkg)
    write(root, 'var/lib/dpkg/status', dpkg.replace('39.2.0-20260601141651', release + '-20260601141651'))
    facts = gather(root)
    assert facts['l4t']['release'] == release and facts['l4t']['in_table'] is True
    assert facts['jetpack'] == {'version': jetpack, 'source': 'L4T table', 'package_version': None,
                                'table_version': jetpack}
    assert facts['warnings'] == []
    assert facts['platform_class'] == 'jetpack%s-agx_orin_32gb' % jetpack


@pytest.mark.parametrize('version, supported', [
    ('10.13.3.9', False),   # JetPack 7.0/7.1's TensorRT (SBSA, Thor only) installed on an Orin
    ('10.16.0.72', False),  # the last 10.16 before Orin support (10.16.1 release notes)
    ('10.16.1.11', True),
    ('10.16.2.10', True),   # JetPack 7.2's own
])
def test_orin_with_a_tensorrt_that_has_no_sm87_build_is_unsupported(tree, version, supported):
    root = tree('agx-orin-jp72')
    write(root, 'usr/lib/python3.12/dist-packages/tensorrt/__init__.py',
          'from .tensorrt import *  # noqa: F401,F403\n\n__version__ = "%s"\n' % version)
    facts = gather(root)
    assert facts['tensorrt']['version'] == version
    assert facts['supported'] is supported
    if supported:
        assert facts['reason'] is None
    else:
        assert 'TensorRT %s cannot build engines for this tegra234' % version in facts['reason']
        assert 'sm_87' in facts['reason'] and '10.16.1' in facts['reason'] and 'Fix:' in facts['reason']


def test_jetpack_6_tensorrt_on_orin_stays_supported():
    facts = gather(os.path.join(SYSROOTS, 'agx-orin-jp62'))
    assert facts['tensorrt']['version'].startswith('10.3.0') and facts['supported'] is True


def test_release_file_and_l4t_core_package_disagreeing_is_a_warning(tree):
    root = tree('agx-orin-jp62')
    dpkg = open(os.path.join(root, 'var/lib/dpkg/status')).read()
    write(root, 'var/lib/dpkg/status', dpkg.replace('36.4.4-20250616085344', '36.4.3-20250107174145'))
    facts = gather(root)
    assert facts['l4t']['release'] == '36.4.4'
    assert any('partial upgrade' in warning for warning in facts['warnings'])


@pytest.mark.parametrize('profile, package, version, release, table', [
    ('xavier-nx-jp51', '5.1.1-b56', '5.1.1', '35.4.1', '5.1.2'),
    ('agx-orin-jp62', '6.2+b77', '6.2', '36.4.4', '6.2.1'),
])
def test_jetpack_package_contradicting_the_l4t_table_is_a_warning(tree, profile, package, version, release, table):
    root = tree(profile)
    dpkg = open(os.path.join(root, 'var/lib/dpkg/status')).read()
    write(root, 'var/lib/dpkg/status', re.sub(r'(Package: nvidia-jetpack\n(?:.+\n)*?Version: ).*', r'\g<1>' + package, dpkg))
    facts = gather(root)
    assert facts['jetpack']['version'] == version and facts['jetpack']['table_version'] == table
    assert any('JetPack %s but L4T R%s belongs to JetPack %s' % (version, release, table) in w
               for w in facts['warnings'])


def test_unknown_module_part_number_is_reported_as_read_with_a_warning(tree):
    root = tree('thor-jp70')
    write(root, 'proc/device-tree/compatible', b'nvidia,p4071-0000+p3834-0042\x00nvidia,p3834-0042\x00nvidia,tegra264\x00')
    facts = gather(root)
    assert facts['module']['part_number'] == 'p3834-0042'
    assert facts['module']['id'] is None
    assert 'p3834-0042' in facts['unknown']['module.id']
    assert any('module p3834-0042 is not in' in warning for warning in facts['warnings'])
    assert facts['platform_key']['module'] == 'p3834-0042'
    assert facts['platform_class'] == 'jetpack7.0-p3834-0042'
    assert facts['soc'] == 'tegra264' and facts['compute_capability'] == '11.0' and facts['supported'] is True


def test_no_compatible_and_no_board_ids_leaves_the_gpu_unknown_and_unsupported(tree):
    root = tree('agx-orin-jp62')
    remove(root, 'proc/device-tree/compatible')
    facts = gather(root)
    assert facts['kind'] == 'jetson'
    assert facts['module']['part_number'] is None and facts['soc'] is None
    assert 'module.part_number' in facts['unknown'] and 'soc' in facts['unknown']
    assert facts['compute_capability'] is None and facts['gpu'] is None
    assert facts['supported'] is False
    assert 'GPU compute capability unknown' in facts['reason']
    assert '/proc/device-tree/compatible' in facts['reason']


@pytest.mark.parametrize('content', [b'', b'\xff\xfe\xfd', b'nvidia', b'\x00\x00\x00'])
def test_garbage_compatible_does_not_crash(tree, content):
    root = tree('nano-jp46')
    write(root, 'proc/device-tree/compatible', content)
    facts = gather(root)
    # the bootloader's board ids still name the module, and the module table its SoC
    assert facts['module']['part_number'] == 'p3448-0000'
    assert facts['soc'] == 'tegra210' and facts['sources']['soc'] == 'module table'


def test_missing_model_is_unknown_but_the_module_is_still_identified(tree):
    root = tree('orin-nx-jp62')
    remove(root, 'proc/device-tree/model')
    facts = gather(root)
    assert facts['module']['name'] is None
    assert facts['unknown']['module.name'] == '/proc/device-tree/model does not exist'
    assert facts['module']['id'] == 'orin_nx_16gb'


def test_invalid_version_json_falls_back_to_dpkg(tree):
    root = tree('orin-nx-jp62')
    write(root, 'usr/local/cuda/version.json', '{"cuda" : {"name" : "CUDA SDK", "version" :')
    facts = gather(root)
    assert facts['cuda'] == {'version': '12.6.68', 'source': 'dpkg cuda-cudart-12-6'}


def test_cuda_without_any_source_is_unknown_with_every_reason(tree):
    root = tree('thor-jp70')
    remove(root, 'usr/local/cuda')
    dpkg = open(os.path.join(root, 'var/lib/dpkg/status')).read()
    write(root, 'var/lib/dpkg/status', dpkg.replace('cuda-cudart-13-0', 'cuda-cudart-doc'))
    facts = gather(root)
    assert facts['cuda'] is None
    reason = facts['unknown']['cuda']
    assert '/usr/local/cuda/version.json does not exist' in reason and 'version.txt does not exist' in reason
    assert facts['platform_key']['cuda'] == 'unknown'


def test_version_txt_without_a_version_line(tree):
    root = tree('nano-jp46')
    write(root, 'usr/local/cuda/version.txt', 'CUDA\n')
    facts = gather(root)
    assert facts['cuda'] == {'version': '10.2.300', 'source': 'dpkg cuda-cudart-10-2'}


def test_cudnn_header_without_defines_falls_back_to_dpkg(tree):
    root = tree('xavier-nx-jp51')
    write(root, 'usr/include/aarch64-linux-gnu/cudnn_version_v8.h', '/* truncated */\n')
    facts = gather(root)
    assert facts['cudnn'] == {'version': '8.6.0', 'source': 'dpkg libcudnn8'}


def test_binary_dpkg_status_is_refused_and_named_in_reasons(tree):
    root = tree('dgpu-x86')
    write(root, 'var/lib/dpkg/status', b'Package: x\x00\x01\x02\n')
    facts = gather(root)
    assert facts['cuda'] is None and 'holds NUL bytes' in facts['unknown']['cuda']
    assert facts['cudnn'] is None
    # the TensorRT Python bindings and header need no dpkg
    assert facts['tensorrt']['version'] == '10.13.3.9'
    assert facts['arch'] is None and 'arch' in facts['unknown']


def test_dpkg_status_with_no_installed_stanza(tree):
    root = tree('dgpu-x86')
    write(root, 'var/lib/dpkg/status', 'Package: tensorrt\nStatus: purge ok not-installed\n\n')
    facts = gather(root)
    assert facts['cuda'] is None


def test_fifo_in_place_of_a_file_is_not_read(tree):
    root = tree('nano-jp46')
    remove(root, 'proc/meminfo')
    os.mkfifo(os.path.join(root, 'proc/meminfo'))
    facts = gather(root)
    assert facts['memory'] is None
    assert facts['unknown']['memory'] == '/proc/meminfo is not a regular file'


def test_meminfo_without_memtotal(tree):
    root = tree('agx-orin-jp62')
    write(root, 'proc/meminfo', 'MemFree: 12 kB\n')
    facts = gather(root)
    assert facts['memory'] is None and 'MemTotal' in facts['unknown']['memory']


def test_nvpmodel_status_missing_names_the_boot_default(tree):
    root = tree('agx-orin-jp62')
    remove(root, 'var/lib/nvpmodel/status')
    facts = gather(root)
    assert facts['power']['nvpmodel'] is None
    assert 'boot default is ID=2 MODE_30W' in facts['unknown']['power.nvpmodel']
    assert facts['power']['jetson_clocks'] is True


def test_nvpmodel_status_garbage(tree):
    root = tree('nano-jp46')
    write(root, 'var/lib/nvpmodel/status', 'mode?\n')
    facts = gather(root)
    assert facts['power']['nvpmodel'] is None and 'pmode' in facts['unknown']['power.nvpmodel']


def test_nvpmodel_mode_missing_from_the_conf_warns(tree):
    root = tree('nano-jp46')
    write(root, 'var/lib/nvpmodel/status', 'pmode:0007\n')
    facts = gather(root)
    assert facts['power']['nvpmodel']['id'] == 7 and facts['power']['nvpmodel']['name'] is None
    assert any('mode 7 is not defined' in warning for warning in facts['warnings'])


def test_jetson_clocks_off_when_one_cluster_floats(tree):
    root = tree('agx-orin-jp62')
    write(root, 'sys/devices/system/cpu/cpufreq/policy4/scaling_min_freq', '115200\n')
    assert gather(root)['power']['jetson_clocks'] is False


def test_jetson_clocks_unreadable_policy(tree):
    root = tree('agx-orin-jp62')
    remove(root, 'sys/devices/system/cpu/cpufreq/policy8/scaling_max_freq')
    facts = gather(root)
    assert facts['power']['jetson_clocks'] is None
    assert 'policy8/scaling_max_freq does not exist' in facts['unknown']['power.jetson_clocks']


def test_no_python_bindings_means_unsupported_with_the_apt_package_for_that_jetpack(tree):
    root = tree('orin-nx-jp62')
    remove(root, 'usr/lib/python3.10/dist-packages/tensorrt')
    dpkg = open(os.path.join(root, 'var/lib/dpkg/status')).read()
    write(root, 'var/lib/dpkg/status', dpkg.replace('Package: python3-libnvinfer\n', 'Package: python3-other\n'))
    facts = gather(root)
    assert facts['tensorrt']['version'] == '10.3.0.30' and facts['tensorrt']['python_bindings'] is False
    assert facts['tensorrt']['source'] == 'header'
    assert facts['supported'] is False
    assert 'sudo apt-get install python3-libnvinfer' in facts['reason']
    assert 'JetPack 6.2 ships TensorRT' in facts['reason'] and 'Python 3.10' in facts['reason']


def test_no_tensorrt_at_all_on_a_dgpu_names_the_pip_package_for_its_cuda(tree):
    root = tree('dgpu-x86')
    remove(root, 'usr/lib/python3.12/dist-packages/tensorrt')
    remove(root, 'usr/include/x86_64-linux-gnu/NvInferVersion.h')
    dpkg = open(os.path.join(root, 'var/lib/dpkg/status')).read()
    dpkg = dpkg.replace('libnvinfer', 'libother').replace('Package: tensorrt\n', 'Package: other\n')
    write(root, 'var/lib/dpkg/status', dpkg)
    facts = gather(root)
    assert facts['tensorrt'] is None and 'no TensorRT found' in facts['unknown']['tensorrt']
    assert facts['supported'] is False
    assert 'pip install tensorrt-cu13' in facts['reason'] and 'tensorrt-rtx-cu13' in facts['reason']


def test_header_without_version_defines_warns_and_is_ignored(tree):
    root = tree('thor-jp70')
    write(root, 'usr/include/aarch64-linux-gnu/NvInferVersion.h', '#define NV_TENSORRT_MAJOR TRT_GONE\n')
    facts = gather(root)
    assert 'header' not in facts['tensorrt']['evidence']
    assert facts['tensorrt']['version'] == '10.13.3.9'
    assert any('NvInferVersion.h has no numeric' in warning for warning in facts['warnings'])


def test_dgpu_whose_nvidia_smi_fails_uses_the_driver_file(tree):
    root = tree('dgpu-x86')
    write(root, 'usr/bin/nvidia-smi', '#!/bin/sh\necho "Failed to initialize NVML: Driver/library version mismatch"\n'
                                      'exit 18\n')
    os.chmod(os.path.join(root, 'usr/bin/nvidia-smi'), 0o755)
    facts = gather(root)
    assert facts['kind'] == 'dgpu'
    assert facts['gpu']['driver_version'] == '580.159.04' and facts['gpu']['driver_branch'] == '580'
    assert facts['compute_capability'] is None
    assert 'exited 18' in facts['unknown']['gpu'] and 'version mismatch' in facts['unknown']['gpu']
    assert facts['supported'] is False and 'compute capability unknown' in facts['reason']


def test_hanging_nvidia_smi_is_killed_at_the_timeout(tree):
    root = tree('dgpu-x86')
    write(root, 'usr/bin/nvidia-smi', '#!/bin/sh\nexec sleep 60\n')
    os.chmod(os.path.join(root, 'usr/bin/nvidia-smi'), 0o755)
    facts = gather(root, timeout=1)
    assert 'did not finish within 1 s' in facts['unknown']['gpu']


def test_non_executable_nvidia_smi_is_not_run(tree):
    root = tree('dgpu-x86')
    os.chmod(os.path.join(root, 'usr/bin/nvidia-smi'), 0o644)
    facts = gather(root)
    assert 'no nvidia-smi under /usr/bin' in facts['unknown']['gpu']


def test_nvidia_smi_output_that_is_not_a_gpu_line(tree):
    root = tree('dgpu-x86')
    write(root, 'usr/bin/nvidia-smi', '#!/bin/sh\necho "No devices were found"\n')
    os.chmod(os.path.join(root, 'usr/bin/nvidia-smi'), 0o755)
    facts = gather(root)
    assert 'printed no GPU line' in facts['unknown']['gpu']


def test_dgpu_without_driver_nor_tools_is_not_a_platform(tree):
    root = tree('dgpu-x86')
    remove(root, 'usr/bin/nvidia-smi')
    remove(root, 'proc/driver')
    facts = gather(root)
    assert facts['kind'] is None
    assert facts['supported'] is False and 'No NVIDIA platform found' in facts['reason']


def test_empty_sysroot(tmp_path):
    facts = gather(str(tmp_path))
    assert facts['kind'] is None and facts['arch'] is None
    assert facts['supported'] is False
    assert set(facts['unknown']) >= {'kind', 'arch', 'ubuntu', 'cuda', 'cudnn', 'tensorrt', 'memory'}


def test_missing_sysroot_is_an_error_that_names_it(tmp_path):
    with pytest.raises(TaoFleetError) as raised:
        _platform.gather(str(tmp_path / 'absent'))
    assert raised.value.code == 'sysroot_missing' and str(tmp_path / 'absent') in raised.value.msg


def test_not_ubuntu(tree):
    root = tree('dgpu-x86')
    write(root, 'etc/os-release', 'ID=debian\nVERSION_ID="12"\n')
    facts = gather(root)
    assert facts['ubuntu'] is None and facts['unknown']['ubuntu'] == '/etc/os-release names debian, not Ubuntu'


def test_absolute_symlinks_resolve_inside_the_sysroot(tree):
    root = tree('orin-nx-jp62')
    # as on a real JetPack: /usr/local/cuda -> /etc/alternatives/cuda -> /usr/local/cuda-12.6
    os.rename(os.path.join(root, 'usr/local/cuda'), os.path.join(root, 'usr/local/cuda-12.6'))
    os.symlink('/etc/alternatives/cuda', os.path.join(root, 'usr/local/cuda'))
    os.makedirs(os.path.join(root, 'etc/alternatives'))
    os.symlink('/usr/local/cuda-12.6', os.path.join(root, 'etc/alternatives/cuda'))
    remove(root, 'usr/include/cudnn_version.h')
    os.symlink('/etc/alternatives/cudnn_version_h', os.path.join(root, 'usr/include/cudnn_version.h'))
    os.symlink('/usr/include/aarch64-linux-gnu/cudnn_version_v9.h',
               os.path.join(root, 'etc/alternatives/cudnn_version_h'))
    facts = gather(root)
    assert facts['cuda'] == {'version': '12.6.68', 'source': '/usr/local/cuda/version.json cuda_cudart'}
    assert facts['cudnn'] == {'version': '9.3.0', 'source': '/usr/include/cudnn_version.h'}


def test_symlink_loop_is_unknown_not_a_hang(tree):
    root = tree('thor-jp70')
    remove(root, 'usr/local/cuda')
    os.symlink('cuda', os.path.join(root, 'usr/local/cuda'))
    remove(root, 'proc/meminfo')
    os.symlink('../proc/meminfo', os.path.join(root, 'proc/meminfo'))
    facts = gather(root)
    assert 'too many levels of symbolic links' in facts['unknown']['memory']
    assert facts['cuda'] == {'version': '13.0.48', 'source': 'dpkg cuda-cudart-13-0'}
