#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: platform_facts
short_description: Read what a TensorRT engine built on this Jetson or dGPU host depends on
version_added: 0.1.0
description:
  - Sets C(ansible_facts.tao_platform) from the files real Jetsons and dGPU boxes have
    (C(/etc/nv_tegra_release), device-tree C(model), C(compatible) and bootloader board ids, dpkg status,
    CUDA C(version.json) or C(version.txt), C(cudnn_version.h), C(NvInferVersion.h), C(/dev/nvhost-nvdla*),
    C(/proc/meminfo), nvpmodel state, cpufreq) and, on dGPU hosts, NVML or C(nvidia-smi).
  - Jetson modules are identified by the part number the bootloader copies from the module EEPROM
    into the device tree, then by device-tree C(compatible); never by the C(model) string nor the
    C(BOARD:) field of C(/etc/nv_tegra_release), which are unreliable across releases.
  - TensorRT is looked for first in the Python interpreter running the module (C(tensorrt),
    C(tensorrt_rtx), C(tensorrt_rtx_bindings)), read from the package files without importing it,
    then in the system (Python bindings under C(/usr/lib/python3*/dist-packages), C(NvInferVersion.h),
    dpkg). The interpreter's one is reported as C(tensorrt) because it is the one that builds; when it
    differs from the system's the module warns and says how to build with the system one.
  - A fact that cannot be read is C(null) and named in C(unknown) with the reason; a missing or odd
    file never fails the module. A JetPack or L4T release missing from the collection's tables gives
    a warning that names it.
  - Every probe is bounded in time (O(timeout)) and in size; the module changes nothing.
author:
  - tao.fleet contributors (@tao-fleet)
requirements:
  - Python 3.6 or newer on the host (standard library only)
  - on dGPU hosts, NVML (C(libnvidia-ml.so.1), part of the NVIDIA driver) or C(nvidia-smi) for the GPU facts;
    without either they are reported unknown
options:
  probe_interpreter:
    description:
      - Look for TensorRT in the Python interpreter running the module, as well as in the system.
      - Set to C(false) to describe only the files under O(sysroot), for example an offline image.
    type: bool
    default: true
  store:
    description:
      - Also list what the tao.fleet store at this path holds, as C(ansible_facts.tao_store) - the model files
        and the engines by model, from directory and link names (no model or engine is opened or hashed),
        and the deployment records of M(tao.fleet.engine_deploy), with a C(stat) of the files they name.
      - Role C(tao.fleet.deploy_model) sets it. The controller halves of M(tao.fleet.model_fetch) and
        M(tao.fleet.trt_engine) read C(tao_store) as a hint, to send a model file or a shared engine the host
        lacks along with their first call instead of after a probe call; M(tao.fleet.engine_deploy) leaves a
        host whose record matches alone (docs/scale.md).
    type: path
  warn:
    description:
      - Emit the platform's warnings (an interpreter whose TensorRT is not the system's, a TensorRT that cannot
        target this GPU) as Ansible warnings. They are in C(ansible_facts.tao_platform.warnings) either way.
      - Role C(tao.fleet.deploy_model) sets it to C(deploy_model_platform_warnings) (default C(false)) and shows them
        in the fleet report instead, so that a run over a fleet does not repeat them for every host every time.
    type: bool
    default: true
  timeout:
    description:
      - Seconds that each command this module runs (C(nvidia-smi), the NVML query, a fallback
        C(import) of a TensorRT package in a child process) may take before it is killed and its
        fact reported as unknown.
    type: int
    default: 10
extends_documentation_fragment:
  - tao.fleet.attributes
  - tao.fleet.attributes.facts
  - tao.fleet.attributes.sysroot
  - tao.fleet.attributes.platform
  - tao.fleet.attributes.action_group
attributes:
  check_mode:
    support: full
    details: The module only reads; check mode runs every probe.
  diff_mode:
    support: none
  facts:
    support: full
  idempotent:
    support: full
notes:
  - On a Jetson the GPU shares system memory; C(memory.shared_with_gpu) is C(true) there.
  - Engines are keyed by C(platform_key); C(platform_class) groups hosts for canary rollouts.
seealso:
  - name: Platform facts reference (sources of every fact)
    description: docs/platform_facts.md in the collection.
    link: https://github.com/tao-fleet/tao.fleet/blob/main/docs/platform_facts.md
  - module: tao.fleet.trt_engine
    description: Builds for these facts (its O(tao.fleet.trt_engine#module:platform)).
  - module: tao.fleet.engine_smoke
    description: Takes these facts as its O(tao.fleet.engine_smoke#module:platform).
  - module: tao.fleet.engine_deploy
    description: Its O(tao.fleet.engine_deploy#module:quick_check) reads C(tao_store) (O(store)) to leave a host whose
      deployment record matches alone.
  - name: Role tao.fleet.deploy_model
    description: Role P(tao.fleet.deploy_model#role) gathers these facts first and groups hosts by C(platform_class)
      (C(ansible-doc -t role tao.fleet.deploy_model)).
    link: https://github.com/tao-fleet/tao.fleet/tree/main/roles/deploy_model
'''

EXAMPLES = r'''
- name: Read the platform of every host
  tao.fleet.platform_facts:

- name: Stop early on hosts that cannot build engines
  ansible.builtin.assert:
    that: ansible_facts.tao_platform.supported
    fail_msg: "{{ ansible_facts.tao_platform.reason }}"

- name: Describe an unpacked JetPack image without running anything from it
  tao.fleet.platform_facts:
    sysroot: /srv/images/jetpack-6.2-orin-nx/rootfs
    probe_interpreter: false

- name: Also list the models and engines in the store (ansible_facts.tao_store)
  tao.fleet.platform_facts:
    store: /var/lib/tao_fleet

- name: Group hosts by platform class for a canary-first rollout
  ansible.builtin.group_by:
    key: "platform_{{ ansible_facts.tao_platform.platform_class | replace('.', '_') }}"
'''

RETURN = r'''
ansible_facts:
  description: Facts to add to C(ansible_facts).
  returned: always
  type: dict
  contains:
    tao_platform:
      description:
        - The platform facts. Every fact below is C(null) when it cannot be read, and then named in
          C(unknown). C(module), C(soc), C(l4t), C(jetpack) and C(power) are C(null) on dGPU hosts.
      returned: always
      type: dict
      contains:
        schema_version:
          description: Version of this layout.
          type: int
          sample: 1
        sysroot:
          description: The root directory the files were read from.
          type: str
          sample: /
        kind:
          description: C(jetson), C(dgpu), or C(null) when no NVIDIA platform was found.
          type: str
          sample: jetson
        arch:
          description: CPU architecture of the host (C(uname -m) spelling).
          type: str
          sample: aarch64
        module:
          description:
            - Jetson module. C(name) is the device-tree C(model) as the device reports it; C(id) the
              normalised id (C(orin_nx_16gb)); C(part_number) the module P-number and SKU
              (C(p3767-0000)) and C(part_number_source) where it was read; C(carrier) the carrier
              board; C(compatible) the device-tree list.
          type: dict
          sample: {"name": "NVIDIA Jetson Orin NX Engineering Reference Developer Kit", "id": "orin_nx_16gb",
                   "description": "Jetson Orin NX 16GB", "part_number": "p3767-0000",
                   "part_number_source": "device-tree chosen/nvidia,sku", "carrier": "p3768-0000",
                   "compatible": ["nvidia,p3768-0000+p3767-0000", "nvidia,p3767-0000", "nvidia,tegra234"]}
        soc:
          description: Jetson SoC.
          type: str
          sample: tegra234
        l4t:
          description: L4T release (C(release), C(major), C(revision)), where it was read, and whether
            the collection's L4T to JetPack table has it (C(in_table)).
          type: dict
          sample: {"release": "36.4.3", "major": 36, "revision": "4.3", "source": "/etc/nv_tegra_release",
                   "in_table": true}
        jetpack:
          description: JetPack version and which source gave it (C(nvidia-jetpack package) or
            C(L4T table)), with both readings.
          type: dict
          sample: {"version": "6.2", "source": "nvidia-jetpack package", "package_version": "6.2+b77",
                   "table_version": "6.2"}
        ubuntu:
          description: Ubuntu release from C(/etc/os-release).
          type: dict
          sample: {"release": "22.04", "codename": "jammy", "description": "Ubuntu 22.04.5 LTS"}
        cuda:
          description: CUDA runtime version and where it was read.
          type: dict
          sample: {"version": "12.6.68", "source": "/usr/local/cuda/version.json cuda_cudart"}
        cudnn:
          description: cuDNN version and where it was read.
          type: dict
          sample: {"version": "9.3.0", "source": "/usr/include/cudnn_version.h"}
        tensorrt:
          description:
            - The TensorRT that builds engines here (the interpreter's when it has one), with its full
              version, C(flavour) (C(tensorrt) or C(tensorrt_rtx)), C(source) (C(python-bindings), C(header),
              C(dpkg ...)), C(scope) (C(interpreter) or C(system)), C(test_double) (true for the
              collection's TensorRT test double, which is not TensorRT).
          type: dict
          sample: {"scope": "system", "version": "10.3.0.30", "flavour": "tensorrt",
                   "source": "python-bindings (build number from header)", "test_double": false,
                   "python_bindings": true, "python": "3.10",
                   "path": "/usr/lib/python3.10/dist-packages/tensorrt"}
        tensorrt_others:
          description: The other TensorRT installations found (for example the system one when the
            interpreter has its own).
          type: list
          elements: dict
        trtexec:
          description: Whether C(trtexec) exists, and where.
          type: dict
          sample: {"present": true, "path": "/usr/src/tensorrt/bin/trtexec"}
        gpu:
          description: GPU name, architecture, compute capability, driver (dGPU) and memory (dGPU).
          type: dict
        compute_capability:
          description: GPU compute capability.
          type: str
          sample: "8.7"
        dla_cores:
          description: Number of DLA cores (0 on dGPU hosts and on Jetsons without DLA).
          type: int
          sample: 2
        memory:
          description: Total and available memory in MiB; C(shared_with_gpu) is true on Jetson, where
            the GPU uses system memory; C(gpu_total_mb) on dGPU hosts.
          type: dict
          sample: {"total_mb": 15288, "available_mb": 13392, "shared_with_gpu": true,
                   "source": "/proc/meminfo"}
        python:
          description: The interpreter running the module.
          type: dict
          sample: {"version": "3.10.12", "executable": "/usr/bin/python3", "implementation": "CPython"}
        power:
          description: Jetson power mode (nvpmodel mode id and name, boot default) and whether
            jetson_clocks pins the clocks at their maximum.
          type: dict
          sample: {"nvpmodel": {"id": 0, "name": "MAXN", "default_id": 2, "default_name": "MODE_30W"},
                   "jetson_clocks": true}
        platform_key:
          description: The host's part of the engine fingerprint, a flat dict of strings (C(unknown)
            where a fact could not be read).
          type: dict
          sample: {"kind": "jetson", "arch": "aarch64", "soc": "tegra234", "module": "p3767-0000",
                   "compute_capability": "8.7", "l4t": "36.4.3", "cuda": "12.6.68", "cudnn": "9.3.0",
                   "tensorrt": "10.3.0.30", "tensorrt_flavour": "tensorrt"}
        platform_key_sha256:
          description: sha256 of C(platform_key) as canonical JSON (sorted keys, no spaces).
          type: str
          sample: 7d2c9e4a1f6b3d8e0a5c2f7b9d4e1a6c3f8b0d5e2a7c4f9b1d6e3a8c5f0b2d7e
        platform_class:
          description: Short id for rollout grouping (JetPack and module on Jetson; GPU and driver
            branch on dGPU).
          type: str
          sample: jetpack6.2-orin_nx_16gb
        supported:
          description: Whether this host can build engines (platform known, compute capability known,
            TensorRT Python bindings importable).
          type: bool
          sample: true
        reason:
          description: When C(supported) is false, what is missing and how to fix it.
          type: str
        sources:
          description: Where scalar facts (C(kind), C(arch), C(soc), C(compute_capability),
            C(dla_cores)...) were read.
          type: dict
        unknown:
          description: Fact name to the reason it could not be read.
          type: dict
        warnings:
          description: The warnings the module also emitted.
          type: list
          elements: str
    tao_store:
      description:
        - What the store named by O(store) holds, from directory and link names, and its deployment records.
          A hint for the controller halves of M(tao.fleet.model_fetch), M(tao.fleet.trt_engine) and
          M(tao.fleet.engine_deploy); only the records' files are checked here, with C(stat).
      returned: when O(store) is set
      type: dict
      contains:
        path:
          description: The store path.
          type: str
          sample: /var/lib/tao_fleet
        exists:
          description: Whether the store directory exists.
          type: bool
          sample: true
        models:
          description: sha256 of every model file in C(<store>/models).
          type: list
          elements: str
          sample: [3f0c1e6f4d9a2b5c8e7d6a1b0c9f8e7d6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d]
        engines:
          description: By model name, the fingerprints that have a C(model.engine), and the C(active),
            C(previous) and C(rolled_back_from) fingerprints (C(null) when unset).
          type: dict
          sample: {"peoplenet": {"fingerprints": ["2a6f...70a"], "active": "2a6f...70a", "previous": null,
                                 "rolled_back_from": null}}
        deploys:
          description:
            - By model name, the deployment record M(tao.fleet.engine_deploy) wrote after its last successful
              deployment - C(key) (the id of its options), C(intact) (the files and links it names still have
              the size, mtime, inode and target recorded; C(changed) lists those that do not), C(recorded_at),
              and C(result), the short result the next run reports without calling the host (only when
              intact). See O(tao.fleet.engine_deploy#module:quick_check).
          type: dict
        progress:
          description:
            - By model name, what a M(tao.fleet.engine_deploy) call on this host is doing right now - C(stage)
              (C(fetch), C(engine), C(smoke), C(consumers), C(release)), C(seconds) since the call started,
              C(stage_seconds), and C(details) of a running build (C(build_seconds), C(build_memory_mb),
              C(tensorrt_said), the last line TensorRT logged).
            - C(running) is V(false) when the call that wrote it is gone (killed); empty when nothing runs.
          type: dict
          sample: {"peoplenet": {"stage": "engine", "seconds": 312, "stage_seconds": 305, "running": true,
                                 "details": {"build_seconds": 303, "build_memory_mb": 1870}}}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._platform import gather
from ansible_collections.tao.fleet.plugins.module_utils._store_contents import store_contents


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sysroot=dict(type='path', default='/'),
            probe_interpreter=dict(type='bool', default=True),
            timeout=dict(type='int', default=10),
            store=dict(type='path'),
            warn=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    if module.params['timeout'] < 1:
        module.fail_json(msg='timeout must be at least 1 second, not %d.' % module.params['timeout'],
                         error_code='invalid_argument')
    try:
        facts = gather(module.params['sysroot'], module.params['probe_interpreter'], module.params['timeout'])
    except TaoFleetError as err:
        module.fail_json(**err.to_result())
    for warning in facts['warnings'] if module.params['warn'] else ():
        module.warn(warning)
    found = {'tao_platform': facts}
    if module.params['store']:
        found['tao_store'] = store_contents(module.params['store'])
    module.exit_json(changed=False, ansible_facts=found)


if __name__ == '__main__':
    main()
