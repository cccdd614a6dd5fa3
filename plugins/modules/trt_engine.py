#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: trt_engine
short_description: Build a TensorRT engine for this host from a TAO model, or reuse the one already built
description:
  - Takes the fetched model (an C(.etlt) with its key, or an C(.onnx)), the host's platform facts and build
    options named after tao-converter's flags, and computes the engine fingerprint (model sha256, TensorRT,
    GPU, CUDA, cuDNN, options).
  - When an engine with that fingerprint is in the store and its manifest and sha256 are intact, returns
    C(changed=false) without importing TensorRT or decrypting the model.
  - Otherwise decrypts the C(.etlt) in memory and builds in a child process with a time limit
    (O(build_timeout)) and a memory limit (O(build_memory_limit)). The engine and its C(manifest.json) are
    written to a temp dir in the store and renamed into place, so a killed, out-of-memory or timed-out
    build never leaves a partial engine.
  - The decrypted model is never written to disk unless O(keep_decrypted_model) asks for it.
  - Does not change which engine is active; that is C(tao.fleet.engine_release).
  - With O(engine_share) the engine is built once per fingerprint for the whole fleet. The action plugin
    looks for this host's fingerprint in the share on the controller first; an entry is copied to the
    host, where its fingerprint and sha256 are checked before it goes into the store (RV(shared)). A host
    that builds publishes its engine to the share (on the controller, atomically). A share entry that
    fails the check is ignored with a warning, the engine is built, and the entry replaced. The smoke
    test and the release still run on every host.
  - On TensorRT-RTX (the simulated fleet's Orin, Thor and dGPU hosts) it builds real engines; TensorRT-RTX
    cannot target Jetson GPUs (compute capability 8.7, 11.0), and the result and manifest say so in
    RV(targets) and a warning. Other TensorRT versions ran here only through the project's test double
    (see C(docs/trt_engine.md)).
version_added: 0.1.0
author:
  - tao.fleet contributors (@tao-fleet)
requirements:
  - Python 3.6 or newer on the host
  - the Python bindings of the host's TensorRT (C(tensorrt) or C(tensorrt_bindings); for TensorRT-RTX
    C(tensorrt_rtx) or C(tensorrt_rtx_bindings)), to build an engine (reusing one does not import them)
  - the Python C(cryptography) package or the C(openssl) command, to decrypt a C(.etlt) model (AES-256-CTR,
    in memory)
extends_documentation_fragment:
  - tao.fleet.attributes
  - tao.fleet.attributes.store
  - tao.fleet.attributes.sysroot
  - tao.fleet.attributes.platform
  - tao.fleet.attributes.action_group
  - tao.fleet.trt_engine
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details:
      - The action plugin runs the controller half of O(engine_share); without that option the module
        runs on the host as it is.
  check_mode:
    support: full
    details:
      - Reports whether a build would happen (C(changed)) and refuses what the build would refuse (wrong key,
        UFF on TensorRT 10, INT8 without a calibration cache, DLA where there is none); builds nothing.
      - With O(engine_share), neither reads nor writes the share (it reports a build where one would be
        taken from the share).
  diff_mode:
    support: none
  idempotent:
    support: full
notes:
  - The result key for TensorRT's warnings is RV(build_warnings), because Ansible consumes a result key
    named C(warnings); tao.fleet's own warnings (RTX targets, ignored options) are module warnings.
  - Fingerprint, manifest and store layout are described in C(docs/engine-store.md); options, the
    tao-converter table, errors and what ran on real TensorRT-RTX in C(docs/trt_engine.md).
seealso:
  - module: tao.fleet.platform_facts
    description: The O(platform) facts, whose C(platform_key) goes into the fingerprint.
  - module: tao.fleet.model_fetch
    description: Puts the model file into the store (O(model_path)).
  - module: tao.fleet.engine_smoke
    description: Tests the built engine before it is released.
  - module: tao.fleet.engine_release
    description: Makes the engine active.
  - module: tao.fleet.engine_deploy
    description: Builds with this module's code and options, then tests and releases, in one host call.
'''

EXAMPLES = r'''
- name: Gather what the engine depends on
  tao.fleet.platform_facts:

- name: Build the PeopleNet engine for this host (or reuse it)
  tao.fleet.trt_engine:
    model_path: "{{ fetched.path }}"
    model: "{{ lookup('tao.fleet.model_catalog', 'peoplenet') | tao.fleet.model_artifact(ansible_facts.tao_platform) }}"
    platform: "{{ ansible_facts.tao_platform }}"
    precision: fp16
  register: engine

- name: The same in tao-converter's words (an INT8 UFF .etlt on JetPack 5)
  tao.fleet.trt_engine:
    model_path: /var/lib/tao_fleet/models/by-name/peoplenet_int8
    model_name: peoplenet
    platform: "{{ ansible_facts.tao_platform }}"
    converter_args: >-
      -k tlt_encode -t int8 -c /var/lib/tao_fleet/models/by-name/peoplenet_int8_cal -b 1 -d 3,544,960
      -o output_cov/Sigmoid,output_bbox/BiasAdd

- name: Orin NX, on DLA core 0, failing when less than 90% of the layers run there
  tao.fleet.trt_engine:
    model_path: "{{ fetched.path }}"
    model: "{{ peoplenet_choice }}"
    platform: "{{ ansible_facts.tao_platform }}"
    precision: fp16
    dla_core: 0
    min_dla_layers: 90%
    build_timeout: 5400
    build_memory_limit: 6G
'''

RETURN = r'''
engine_path:
  description: The engine, C(<store>/engines/<model>/<fingerprint>/model.engine) (in check mode, where it would be).
  returned: success
  type: str
  sample: /var/lib/tao_fleet/engines/peoplenet/3f5c0e1b0b1f4c39a3d4f3cfa6a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b/model.engine
fingerprint:
  description: sha256 of RV(fingerprint_inputs) in canonical JSON; pass it to C(tao.fleet.engine_release).
  returned: success
  type: str
  sample: 3f5c0e1b0b1f4c39a3d4f3cfa6a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b
fingerprint_inputs:
  description: What the fingerprint covers - C(model_sha256), C(platform) (the platform key), C(build) (the
    normalised options), C(calibration_sha256), C(schema).
  returned: success
  type: dict
model_name:
  description: Store name of the model.
  returned: success
  type: str
  sample: peoplenet
built:
  description: Whether this run built an engine.
  returned: success
  type: bool
  sample: true
reused:
  description: Whether an intact engine with this fingerprint was already in the store (nothing built), or a
    parallel build published it first.
  returned: success
  type: bool
  sample: false
shared:
  description: Whether the engine came from the engine share (O(engine_share) or O(shared_engine)) in this
    run, checked and installed into the store; nothing was built.
  returned: success
  type: bool
  sample: false
missing:
  description: With O(build=false), true when the engine is neither in the store nor in O(shared_engine).
  returned: success
  type: bool
  sample: false
share:
  description: With O(engine_share), what the controller did - C(path) (the share entry), C(found) (an entry
    was there), C(used) (the host installed it), C(published) (this host built and published it),
    C(replaced_corrupt) (the entry it published replaced one that failed the controller's check against its
    share index; C(replaced_reason) says why), C(publish_problem) (why an engine this host built was not
    published; the host keeps it), C(waited_seconds) (time spent waiting for another host's build of the
    same fingerprint).
  returned: when O(engine_share) is set
  type: dict
build_seconds:
  description: Seconds the TensorRT build took (the one recorded in the manifest when reused); null in check
    mode.
  returned: success
  type: float
  sample: 412.6
tensorrt:
  description: The TensorRT the facts name and the build used - C(version), C(flavour) (C(tensorrt) or
    C(tensorrt_rtx)), C(test_double), C(label), C(generation).
  returned: success
  type: dict
targets:
  description: GPUs the engine is for - C(compute_capabilities), C(chosen_by), C(device_compute_capability),
    C(device_supported) (false when TensorRT-RTX built for other GPUs than this device's, as on Jetson).
  returned: success
  type: dict
build_warnings:
  description: TensorRT's warnings and the layer's notes for this build (from the manifest when reused).
  returned: success
  type: list
  elements: str
dla:
  description: With O(dla_core), the layer counts - C(core), C(gpu_fallback), C(layers), C(layers_on_dla),
    C(layers_on_gpu), C(counted_by); null otherwise.
  returned: success
  type: dict
manifest:
  description: Summary of the engine's C(manifest.json) - C(path), C(created_at), C(engine) (file, sha256,
    size), C(tensorrt), C(seconds), C(precision), C(smoke).
  returned: success
  type: dict
model:
  description: The model file - C(path), C(sha256), C(size), C(format) (C(onnx) or C(uff)), C(encrypted).
  returned: success
  type: dict
timing_cache:
  description: The platform's timing cache - C(path), C(platform_key_sha256), C(used) (this TensorRT uses
    one), C(read), C(written). Null when the engine was reused.
  returned: success
  type: dict
decrypted_model_path:
  description: Where the decrypted model was written (O(keep_decrypted_model)); null otherwise.
  returned: success
  type: str
msg:
  description: What the task did.
  returned: always
  type: str
error_code:
  description: Stable id of the failure, e.g. C(model_key_rejected), C(onnx_parse_failed), C(uff_unsupported),
    C(uff_input_required), C(int8_needs_calibration), C(dla_unavailable), C(dla_below_threshold),
    C(build_killed), C(build_out_of_memory), C(build_timeout), C(build_failed), C(disk_full),
    C(platform_facts_stale), C(tensorrt_missing), C(invalid_argument); with O(engine_share), the controller's
    C(host_reply_invalid), C(share_entry_invalid), C(share_entry_refused), C(share_unwritable), C(share_busy).
  returned: failure
  type: str
cause:
  description: Most likely reason for the failure.
  returned: failure
  type: str
fix:
  description: What to do next.
  returned: failure
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tao.fleet.plugins.module_utils._secrets import protect
from ansible_collections.tao.fleet.plugins.module_utils._engine import ensure_engine
from ansible_collections.tao.fleet.plugins.module_utils._engine_options import ENGINE_OPTION_SPEC
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError


def main():
    module = AnsibleModule(
        argument_spec=ENGINE_OPTION_SPEC,
        supports_check_mode=True,
    )
    protect(module)   # secrets inside options that are not no_log (issue 16, row 6)
    if module.params['engine_share']:
        module.fail_json(msg='engine_share reached the module on the host: it is handled by the tao.fleet.trt_engine '
                             'action plugin on the controller.',
                         cause='the task was not run through the collection\'s action plugin',
                         fix='Call the module as tao.fleet.trt_engine in a playbook, or drop engine_share.',
                         error_code='invalid_argument')
    if module.params['build_timeout'] <= 0:
        module.fail_json(msg='build_timeout must be more than 0 seconds, got %d.' % module.params['build_timeout'],
                         error_code='invalid_argument')
    try:
        params = dict((key, value) for key, value in module.params.items() if key != 'engine_share')
        result, warnings = ensure_engine(params, check_mode=module.check_mode)
    except TaoFleetError as err:
        module.fail_json(**err.to_result())
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
