# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""What tao.fleet knows about Jetson modules, SoCs and JetPack releases, as data.

Every row comes from ``docs/platform_facts.md`` (which cites its sources: NVIDIA's JetPack pages,
OE4T/meta-tegra recipes, jetson_stats' tables). A release or part number missing here is not an
error: ``platform_facts`` reports what it can still read and warns that the table lacks the row.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# SoC -> integrated GPU: compute capability, architecture, DLA cores on the SoC.
# tegra23x is the family name some device trees list beside tegra234.
SOCS = {
    'tegra210': {'compute_capability': '5.3', 'gpu_architecture': 'Maxwell', 'dla_cores': 0},
    'tegra186': {'compute_capability': '6.2', 'gpu_architecture': 'Pascal', 'dla_cores': 0},
    'tegra194': {'compute_capability': '7.2', 'gpu_architecture': 'Volta', 'dla_cores': 2},
    'tegra234': {'compute_capability': '8.7', 'gpu_architecture': 'Ampere', 'dla_cores': 2},
    'tegra264': {'compute_capability': '11.0', 'gpu_architecture': 'Blackwell', 'dla_cores': 0},
}
SOC_ALIASES = {'tegra23x': 'tegra234'}

# Module part number (P-number-SKU) -> normalised id, marketing name, SoC, DLA cores, RAM.
# dla_cores None: the SoC has DLAs but how many this SKU enables is unconfirmed.
MODULES = {
    'p3448-0000': {'id': 'nano_4gb', 'name': 'Jetson Nano 4GB (developer kit, SD card)',
                   'soc': 'tegra210', 'dla_cores': 0, 'memory_gb': 4},
    'p3448-0002': {'id': 'nano_4gb', 'name': 'Jetson Nano 4GB (eMMC)',
                   'soc': 'tegra210', 'dla_cores': 0, 'memory_gb': 4},
    'p3448-0003': {'id': 'nano_2gb', 'name': 'Jetson Nano 2GB',
                   'soc': 'tegra210', 'dla_cores': 0, 'memory_gb': 2},
    'p3310-1000': {'id': 'tx2', 'name': 'Jetson TX2',
                   'soc': 'tegra186', 'dla_cores': 0, 'memory_gb': 8},
    'p3489-0000': {'id': 'tx2i', 'name': 'Jetson TX2i',
                   'soc': 'tegra186', 'dla_cores': 0, 'memory_gb': 8},
    'p3489-0888': {'id': 'tx2_4gb', 'name': 'Jetson TX2 4GB',
                   'soc': 'tegra186', 'dla_cores': 0, 'memory_gb': 4},
    'p3636-0001': {'id': 'tx2_nx', 'name': 'Jetson TX2 NX',
                   'soc': 'tegra186', 'dla_cores': 0, 'memory_gb': 4},
    'p3668-0000': {'id': 'xavier_nx_8gb', 'name': 'Jetson Xavier NX 8GB (developer kit, SD card)',
                   'soc': 'tegra194', 'dla_cores': 2, 'memory_gb': 8},
    'p3668-0001': {'id': 'xavier_nx_8gb', 'name': 'Jetson Xavier NX 8GB (eMMC)',
                   'soc': 'tegra194', 'dla_cores': 2, 'memory_gb': 8},
    'p3668-0003': {'id': 'xavier_nx_16gb', 'name': 'Jetson Xavier NX 16GB',
                   'soc': 'tegra194', 'dla_cores': 2, 'memory_gb': 16},
    'p2888-0001': {'id': 'agx_xavier_16gb', 'name': 'Jetson AGX Xavier 16GB',
                   'soc': 'tegra194', 'dla_cores': 2, 'memory_gb': 16},
    'p2888-0003': {'id': 'agx_xavier_32gb', 'name': 'Jetson AGX Xavier 32GB',
                   'soc': 'tegra194', 'dla_cores': 2, 'memory_gb': 32},
    'p2888-0004': {'id': 'agx_xavier_32gb', 'name': 'Jetson AGX Xavier 32GB',
                   'soc': 'tegra194', 'dla_cores': 2, 'memory_gb': 32},
    'p2888-0005': {'id': 'agx_xavier_64gb', 'name': 'Jetson AGX Xavier 64GB',
                   'soc': 'tegra194', 'dla_cores': 2, 'memory_gb': 64},
    'p2888-0006': {'id': 'agx_xavier_8gb', 'name': 'Jetson AGX Xavier 8GB',
                   'soc': 'tegra194', 'dla_cores': 2, 'memory_gb': 8},
    'p2888-0008': {'id': 'agx_xavier_industrial', 'name': 'Jetson AGX Xavier Industrial 32GB',
                   'soc': 'tegra194', 'dla_cores': 2, 'memory_gb': 32},
    'p3767-0000': {'id': 'orin_nx_16gb', 'name': 'Jetson Orin NX 16GB',
                   'soc': 'tegra234', 'dla_cores': 2, 'memory_gb': 16},
    'p3767-0001': {'id': 'orin_nx_8gb', 'name': 'Jetson Orin NX 8GB',
                   'soc': 'tegra234', 'dla_cores': None, 'memory_gb': 8},
    'p3767-0003': {'id': 'orin_nano_8gb', 'name': 'Jetson Orin Nano 8GB',
                   'soc': 'tegra234', 'dla_cores': None, 'memory_gb': 8},
    'p3767-0004': {'id': 'orin_nano_4gb', 'name': 'Jetson Orin Nano 4GB',
                   'soc': 'tegra234', 'dla_cores': None, 'memory_gb': 4},
    'p3767-0005': {'id': 'orin_nano_8gb', 'name': 'Jetson Orin Nano 8GB (developer kit)',
                   'soc': 'tegra234', 'dla_cores': None, 'memory_gb': 8},
    'p3701-0000': {'id': 'agx_orin_32gb', 'name': 'Jetson AGX Orin (developer kit)',
                   'soc': 'tegra234', 'dla_cores': 2, 'memory_gb': 32},
    'p3701-0004': {'id': 'agx_orin_32gb', 'name': 'Jetson AGX Orin 32GB',
                   'soc': 'tegra234', 'dla_cores': 2, 'memory_gb': 32},
    'p3701-0005': {'id': 'agx_orin_64gb', 'name': 'Jetson AGX Orin 64GB',
                   'soc': 'tegra234', 'dla_cores': 2, 'memory_gb': 64},
    'p3701-0008': {'id': 'agx_orin_industrial', 'name': 'Jetson AGX Orin Industrial 64GB',
                   'soc': 'tegra234', 'dla_cores': 2, 'memory_gb': 64},
    'p3834-0008': {'id': 'agx_thor_t5000', 'name': 'Jetson AGX Thor T5000',
                   'soc': 'tegra264', 'dla_cores': 0, 'memory_gb': 128},
}

# Board ids of modules (not carriers): tells the module apart from the carrier among the
# board ids that the bootloader lists in the device tree.
MODULE_BOARD_IDS = frozenset(part.split('-')[0][1:] for part in MODULES)

# L4T release -> JetPack version. Only pairs that a cited source confirms.
L4T_TO_JETPACK = {
    '32.4.3': '4.4', '32.4.4': '4.4.1',
    '32.5.0': '4.5', '32.5.1': '4.5.1', '32.5.2': '4.5.1',
    '32.6.1': '4.6',
    '32.7.1': '4.6.1', '32.7.2': '4.6.2', '32.7.3': '4.6.3', '32.7.4': '4.6.4',
    '32.7.5': '4.6.5', '32.7.6': '4.6.6',
    '35.1.0': '5.0.2', '35.2.1': '5.1', '35.3.1': '5.1.1', '35.4.1': '5.1.2',
    '35.5.0': '5.1.3', '35.6.0': '5.1.4', '35.6.1': '5.1.5', '35.6.2': '5.1.5', '35.6.4': '5.1.6',
    '36.3.0': '6.0', '36.4.0': '6.1', '36.4.3': '6.2', '36.4.4': '6.2.1',
    '38.2.0': '7.0', '38.2.1': '7.0', '38.2.2': '7.0', '38.4.0': '7.1',
    # JetPack 7.2 = R39.2.0: OE4T/meta-tegra master README ("Jetson Linux release: R39.2.0, JetPack
    # release: 7.2") and public dumps (nvidia-jetpack 7.2-b187 beside nvidia-l4t-core 39.2.0-20260601141651).
    # JetPack 7.2.1 = R39.2.1: public notes that quote NVIDIA's r39.2 apt Packages (nvidia-jetpack 7.2.1-b49);
    # no NVIDIA page read here. Which L4T is JetPack 7.2.2 (TensorRT 11.4.1's minimum) was not found: absent.
    '39.2.0': '7.2', '39.2.1': '7.2.1',
}
NEWEST_KNOWN_L4T = '39.2.1'

# JetPack major -> the stack it ships and where its TensorRT Python bindings come from.
# JetPack installs the bindings for the system python3 only (field-errors #22).
JETPACK_STACKS = {
    '4': {'python': '3.6', 'ubuntu': '18.04', 'tensorrt_python_package': 'python3-libnvinfer',
          'tensorrt': '7.1.3 (JetPack 4.4-4.5.1), 8.0.1 (4.6), 8.2.1 (4.6.1-4.6.6)'},
    '5': {'python': '3.8', 'ubuntu': '20.04', 'tensorrt_python_package': 'python3-libnvinfer',
          'tensorrt': '8.4.1 (JetPack 5.0.2), 8.5.2 (5.1-5.1.6)'},
    '6': {'python': '3.10', 'ubuntu': '22.04', 'tensorrt_python_package': 'python3-libnvinfer',
          'tensorrt': '8.6.2 (JetPack 6.0), 10.3.0 (6.1-6.2.x)'},
    # 7.0/7.1 (R38.x) run on Thor only; 7.2 (R39.2) on Orin and Thor alike (OE4T/meta-tegra
    # docs/release-notes/JetPack-7.2-L4T-R39.2.0-Notes.md: CUDA 13.2, cuDNN 9.20.0, TensorRT 10.16.2)
    '7': {'python': '3.12', 'ubuntu': '24.04', 'tensorrt_python_package': 'python3-libnvinfer',
          'tensorrt': '10.13.3 (JetPack 7.0-7.1, Thor only), 10.16.2 (7.2, Orin and Thor)'},
}

# SoC -> TensorRT releases that cannot build for its GPU: [first, stop) on (major, minor, patch).
# Orin (sm_87): JetPack 6 ships a Jetson build of TensorRT 10.3; later 10.x came as SBSA (server Arm)
# builds without Orin, until "Support has been added in this TensorRT release for Orin iGPU while using
# the ARM SBSA build" (TensorRT 10.16.1 release notes,
# https://docs.nvidia.com/deeplearning/tensorrt/10.16.1/getting-started/release-notes-10/10.16.1.html).
# So 10.4 up to 10.16.0 (e.g. JetPack 7.0/7.1's 10.13.3) is refused on Orin rather than guessed at; 10.3
# (JetPack 6) and 10.16.1+ (JetPack 7.2's 10.16.2) build.
TENSORRT_SOC_GAPS = {
    'tegra234': (((10, 4, 0), (10, 16, 1),
                  'TensorRT 10.4 to 10.16.0 have no build for Orin\'s GPU (sm_87): JetPack 6 ships 10.3, and the '
                  'ARM SBSA builds support Orin from 10.16.1 (JetPack 7.2 ships 10.16.2)'),),
}

# Compute capability -> GPU architecture (NVIDIA's CUDA GPUs list).
ARCHITECTURES = {
    '5.3': 'Maxwell', '6.1': 'Pascal', '6.2': 'Pascal', '7.0': 'Volta', '7.2': 'Volta', '7.5': 'Turing',
    '8.0': 'Ampere', '8.6': 'Ampere', '8.7': 'Ampere', '8.9': 'Ada Lovelace', '9.0': 'Hopper',
    '10.0': 'Blackwell', '10.3': 'Blackwell', '11.0': 'Blackwell', '12.0': 'Blackwell', '12.1': 'Blackwell',
}

# TensorRT-RTX builds for these compute capabilities (its support matrix); Jetson's are not listed.
TENSORRT_RTX_COMPUTE_CAPABILITIES = ('7.5', '8.6', '8.9', '12.0')
