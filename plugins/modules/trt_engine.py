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
extends_documentation_fragment:
  - tao.fleet.attributes
  - tao.fleet.attributes.store
  - tao.fleet.attributes.sysroot
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
options:
  model_path:
    description:
      - The model file on the host, as C(tao.fleet.model_fetch) returned it - a TAO C(.etlt) (ONNX or UFF
        inside) or a plain C(.onnx)/C(.uff).
      - May instead be the one positional argument of O(converter_args).
    type: path
  model_name:
    description:
      - Store name of the model (C(<store>/engines/<model_name>/)). Default the catalog id from O(model),
        else the file name without its extension.
    type: str
  model_key:
    description:
      - Key of the C(.etlt) (tao-converter C(-k)); NGC's TAO models use C(tlt_encode) (LPDNet, FaceDetect
        C(nvidia_tlt)). Default the key of the O(model) catalog entry.
    type: str
  model:
    description:
      - The catalog entry, as the C(tao.fleet.model_artifact) filter returns it (or one artifact). Supplies
        the key, the UFF input name and dims, the output names and the store name.
    type: dict
  platform:
    description:
      - The host's C(ansible_facts.tao_platform) from C(tao.fleet.platform_facts). Its C(platform_key) goes
        into the fingerprint, its C(tensorrt) must be the TensorRT the build imports (else the task fails,
        because the facts are stale).
      - When omitted the module gathers the facts itself (reading below O(sysroot)).
    type: dict
  converter_args:
    description:
      - A tao-converter argument string, translated one to one, for example
        C(-k tlt_encode -t fp16 -d 3,544,960 -p input_1,1x3x544x960,8x3x544x960,16x3x544x960).
      - Flags C(-k -t -d -o -c -b -m -w -i -p -s -u -e) (C(docs/trt_engine.md) has the table); C(-e) is
        ignored with a warning (the engine goes to the store). An option also given explicitly with another
        value is an error.
    type: str
  precision:
    description:
      - Engine precision (C(-t)). Unset means tao-converter's default, C(fp32).
      - On strongly typed TensorRT (11.x, TensorRT-RTX) the model's own types decide; C(fp32) and
        C(strongly_typed) are then the same engine, C(fp16) and C(int8) are refused.
    type: str
    choices: [fp32, fp16, int8, strongly_typed]
  input_name:
    description:
      - UFF input node name. Default from the C(.etlt) header or O(model). ONNX models carry their own.
    type: str
  input_dims:
    description:
      - UFF input dimensions C(C,H,W) (C(-d)), as a list or text C(3,544,960). ONNX models carry their own.
    type: raw
  output_names:
    description:
      - UFF output node names (C(-o)). ONNX models carry their own.
    type: list
    elements: str
  input_order:
    description:
      - UFF input order (C(-i)). Unset means C(nchw).
    type: str
    choices: [nchw, nhwc, nc]
  calibration_cache:
    description:
      - INT8 calibration cache file on the host (C(-c)); needed for O(precision=int8) (PeopleNet ships
        C(resnet34_peoplenet_int8.txt)). Its sha256 is part of the fingerprint of INT8 engines.
    type: path
  calibration_batch_size:
    description:
      - tao-converter C(-b). Accepted for one-to-one translation; it has no effect (the cache is used, no
        images are calibrated on the host).
    type: int
  max_batch_size:
    description:
      - C(-m). Implicit batch of UFF networks, and the batch of the profile derived for an ONNX input whose
        batch is dynamic (min 1, opt and max this). Unset means C(16).
    type: int
  workspace:
    description:
      - Builder workspace (C(-w)), bytes or a size such as C(1G) or C(512M). Unset means C(1G).
    type: str
  profiles:
    description:
      - Optimization profile (C(-p)), a list of C(name,min,opt,max) strings (shapes C(NxCxHxW)) or a dict
        mapping each dynamic input to its C(min), C(opt) and C(max) shapes.
    type: raw
  strict_types:
    description:
      - Keep layer precisions as asked (C(-s)).
    type: bool
  dla_core:
    description:
      - Build for this DLA core (C(-u)); Xavier and Orin have cores 0 and 1. Refused where there is no DLA.
    type: int
  gpu_fallback:
    description:
      - Let layers DLA cannot run fall back to the GPU (tao-converter always does). Unset means C(true).
    type: bool
  min_dla_layers:
    description:
      - With O(dla_core), fail (and store nothing) when fewer layers than this run on the DLA - a count
        (C(40)) or a percentage (C(90%)). TensorRT moves layers to the GPU silently; RV(dla) reports the
        counts.
    type: str
  compute_capabilities:
    description:
      - TensorRT-RTX only - build ahead of time for these GPUs (C(8.9), C(12.0)). Unset means TensorRT-RTX's
        default targets.
    type: list
    elements: str
  build_timeout:
    description:
      - Seconds the build may take; then its process group is killed and the task fails with
        C(build_timeout).
    type: int
    default: 3600
  build_memory_limit:
    description:
      - Heap limit of the build process (C(RLIMIT_DATA)), as a size (C(6G)), C(auto) (75% of the host's
        RAM as the platform facts report it) or C(none). Beyond it the build fails with
        C(build_out_of_memory) instead of waking the kernel's OOM killer.
      - Not C(RLIMIT_AS) (C(ulimit -v)) - CUDA reserves far more address space than memory at init and
        fails under any useful address-space limit.
    type: str
    default: auto
  keep_decrypted_model:
    description:
      - Write the decrypted model (ONNX/UFF bytes) to this path on the host (mode 0600, atomically). Unset,
        the decrypted model exists only in memory.
    type: path
  engine_share:
    description:
      - Directory on the controller holding engines by fingerprint
        (C(<engine_share>/<fingerprint>/model.engine) and C(manifest.json)). When this host's engine is
        not in its store, an entry for its fingerprint is taken from here (checked on the host); an engine
        built here is published here. Hosts with the same fingerprint wait for one build (a file lock on
        the controller).
      - Handled by the action plugin on the controller. Unset, every host builds its own engine.
    type: path
  shared_engine:
    description:
      - A directory on the host with C(model.engine) and C(manifest.json) of an engine built elsewhere, used
        when the store has no intact engine with this fingerprint - only when the manifest names this
        host's fingerprint, its inputs hash to it and the engine's sha256 is the manifest's; otherwise a
        warning, and the engine is built.
      - The action plugin sets it for O(engine_share).
    type: path
  build:
    description:
      - When false and no intact engine with this fingerprint is in the store (or in O(shared_engine)),
        return RV(missing=true) instead of building. The action plugin uses it to look in the share first.
    type: bool
    default: true
notes:
  - The result key for TensorRT's warnings is RV(build_warnings), because Ansible consumes a result key
    named C(warnings); tao.fleet's own warnings (RTX targets, ignored options) are module warnings.
  - Fingerprint, manifest and store layout are described in C(docs/engine-store.md); options, the
    tao-converter table, errors and what ran on real TensorRT-RTX in C(docs/trt_engine.md).
seealso:
  - module: tao.fleet.platform_facts
  - module: tao.fleet.model_fetch
  - module: tao.fleet.engine_release
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
fingerprint_inputs:
  description: What the fingerprint covers - C(model_sha256), C(platform) (the platform key), C(build) (the
    normalised options), C(calibration_sha256), C(schema).
  returned: success
  type: dict
model_name:
  description: Store name of the model.
  returned: success
  type: str
built:
  description: Whether this run built an engine.
  returned: success
  type: bool
reused:
  description: Whether an intact engine with this fingerprint was already in the store (nothing built), or a
    parallel build published it first.
  returned: success
  type: bool
shared:
  description: Whether the engine came from the engine share (O(engine_share) or O(shared_engine)) in this
    run, checked and installed into the store; nothing was built.
  returned: success
  type: bool
missing:
  description: With O(build=false), true when the engine is neither in the store nor in O(shared_engine).
  returned: success
  type: bool
share:
  description: With O(engine_share), what the controller did - C(path) (the share entry), C(found) (an entry
    was there), C(used) (the host installed it), C(published) (this host built and published it),
    C(replaced_corrupt) (the entry it published replaced one that failed the check), C(waited_seconds)
    (time spent waiting for another host's build of the same fingerprint).
  returned: when O(engine_share) is set
  type: dict
build_seconds:
  description: Seconds the TensorRT build took (the one recorded in the manifest when reused); null in check
    mode.
  returned: success
  type: float
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
    C(platform_facts_stale), C(tensorrt_missing), C(invalid_argument).
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

from ansible_collections.tao.fleet.plugins.module_utils._engine import ensure_engine
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            model_path=dict(type='path'),
            model_name=dict(type='str'),
            model_key=dict(type='str', no_log=True),
            model=dict(type='dict'),
            platform=dict(type='dict'),
            converter_args=dict(type='str', no_log=True),
            precision=dict(type='str', choices=['fp32', 'fp16', 'int8', 'strongly_typed']),
            input_name=dict(type='str'),
            input_dims=dict(type='raw'),
            output_names=dict(type='list', elements='str'),
            input_order=dict(type='str', choices=['nchw', 'nhwc', 'nc']),
            calibration_cache=dict(type='path'),
            calibration_batch_size=dict(type='int'),
            max_batch_size=dict(type='int'),
            workspace=dict(type='str'),
            profiles=dict(type='raw'),
            strict_types=dict(type='bool'),
            dla_core=dict(type='int'),
            gpu_fallback=dict(type='bool'),
            min_dla_layers=dict(type='str'),
            compute_capabilities=dict(type='list', elements='str'),
            build_timeout=dict(type='int', default=3600),
            build_memory_limit=dict(type='str', default='auto'),
            keep_decrypted_model=dict(type='path'),
            engine_share=dict(type='path'),
            shared_engine=dict(type='path'),
            build=dict(type='bool', default=True),
            store=dict(type='path', default='/var/lib/tao_fleet'),
            sysroot=dict(type='path', default='/'),
        ),
        supports_check_mode=True,
    )
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
