#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: engine_smoke
short_description: Smoke-test a stored TensorRT engine on a test image and record the result
description:
  - Runs one engine of the engine store on a test image (a file on the host, or a generated demo
    scene), with warm-up runs and then timed runs, decodes the DetectNet_v2 outputs with the
    catalog's post-processing, and returns the detections, latency p50/p95/max, throughput, the input
    used and the backend that actually ran.
  - With O(backend=auto) the engine itself runs (TensorRT and pycuda, in a child process bounded by
    O(timeout)) when it can really execute on this host. Otherwise the same model the engine was built
    from runs with onnxruntime on the CPU, reported as "onnxruntime-cpu (engine not executed)" with
    RV(engine_not_executed_reason); that is never reported as an engine run, and RV(fallback) says so.
    A host with a real TensorRT (not the test double) and a CUDA device it runs on never falls back
    (C(smoke_fallback_refused)); whether an engine is a test double's is decided by the TensorRT module
    loaded on the host, never by the engine's bytes.
  - The result is recorded in the engine's manifest (C(smoke)), which C(tao.fleet.engine_release)
    reads; a failed smoke test (a model that yields nothing, an O(expect) unmet) fails the task and
    leaves the previous engine active.
  - Also returns the platform's power mode and, where the catalog has a published throughput for this
    device and precision, the ratio of measured to published throughput.
version_added: 0.1.0
author:
  - tao.fleet contributors (@tao-fleet)
requirements:
  - Python 3.6 or newer on the host
  - numpy on the host, for every backend (image preprocessing and output decoding)
  - TensorRT's Python bindings (C(tensorrt), or C(tensorrt_rtx) for TensorRT-RTX), pycuda and a CUDA device, to run
    the engine itself (O(backend=tensorrt), and O(backend=auto) where it can)
  - onnxruntime, for O(backend=onnxruntime) and the CPU fallback of O(backend=auto)
  - the Python C(cryptography) package or the C(openssl) command, to run a C(.etlt) model on onnxruntime (it is
    decrypted in memory)
extends_documentation_fragment:
  - tao.fleet.attributes
  - tao.fleet.attributes.store
  - tao.fleet.attributes.sysroot
  - tao.fleet.attributes.platform
  - tao.fleet.attributes.action_group
attributes:
  check_mode:
    support: full
    details:
      - Runs the test and reports whether the manifest would change; writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - The manifest is rewritten only when the verdict changes (passed, backend, detections, input,
        failures); new timings alone do not count as a change.
options:
  model:
    description:
      - Store name of the model (the directory under C(<store>/engines/)), for example C(peoplenet).
    type: str
    required: true
  fingerprint:
    description:
      - The engine to test, as returned by C(tao.fleet.trt_engine). Defaults to the active engine.
    type: str
  model_entry:
    description:
      - The model's catalog entry, from C(lookup('tao.fleet.model_catalog', '<model id>')), with its classes,
        preprocessing, post-processing, input size, output names and published figures.
    type: dict
    required: true
  postprocessing:
    description:
      - Post-processing settings that override the catalog entry's (same keys, for example
        C(pre_cluster_threshold) or C(cluster_mode)).
    type: dict
  image:
    description:
      - A PNG or binary PPM/PGM image on the host. Resized to the network size.
      - When unset, a demo scene is generated (see O(scene)).
    type: path
  scene:
    description:
      - The generated demo scene used when O(image) is unset, bright rectangles (which the PeopleNet
        stand-in reports as C(person)) and dim distractors on a dark background, on the model's grid.
      - Keys C(seed) (default 3), C(count) (3), C(distractors) (2), C(width) and C(height) (the network
        size; multiples of it keep the rectangles exact). The defaults give the scene the demo mirror
        publishes as C(images/peoplenet_standin/scene-s3-k3-960x544.png).
    type: dict
  backend:
    description:
      - V(auto) runs the engine when it can execute here, else onnxruntime on the CPU.
      - V(tensorrt) fails when the engine cannot execute here.
      - V(onnxruntime) always runs the model on the CPU (the engine is not executed).
    type: str
    choices: [auto, tensorrt, onnxruntime]
    default: auto
  warmup:
    description: Untimed runs before the timed ones.
    type: int
    default: 3
  runs:
    description: Timed runs.
    type: int
    default: 20
  batch:
    description: Images per run (the test image repeated); must fit the engine's profile.
    type: int
    default: 1
  expect:
    description:
      - What the test must find; any unmet expectation fails the task and records C(smoke.passed=false).
      - C(min_detections) (default 1, so a model that yields nothing fails), C(max_detections),
        C(classes) (labels that must each be detected), C(max_latency_ms) (limit on the p95 latency).
      - C(boxes), golden boxes C({label, left, top, right, bottom, confidence}) in image pixels, or the
        word C(scene) for the rectangles of the generated scene; each must be matched by a detection of
        its label with IoU >= C(iou) (default 0.9) and, when it gives a confidence, within
        C(score_tolerance) (default 0.05). C(allow_extra_detections) (default true) false fails on
        detections that match no golden box.
    type: dict
  model_path:
    description:
      - The model file the engine was built from (for the onnxruntime backend). Defaults to the
        store's copy, C(<store>/models/<sha256>) with the sha256 from the engine's manifest.
    type: path
  model_key:
    description:
      - The C(.etlt) model key. Defaults to the key the catalog entry lists (NGC's published keys).
    type: str
  platform:
    description:
      - The host's C(tao_platform) facts (from C(tao.fleet.platform_facts)). Gathered from O(sysroot)
        when unset.
    type: dict
  device:
    description: CUDA device ordinal for the TensorRT backend.
    type: int
    default: 0
  timeout:
    description: Seconds the TensorRT run (in its child process) may take before it is killed.
    type: int
    default: 600
notes:
  - The simulated fleet has no GPU, so there the engine never executes and every result says
    "onnxruntime-cpu (engine not executed)" with the reason. C(docs/engine_smoke.md) in the
    collection shows the pycuda path run on a real GPU.
seealso:
  - module: tao.fleet.engine_release
    description: Switches to an engine only after this test passed.
  - module: tao.fleet.trt_engine
    description: Builds the engine this module tests.
  - module: tao.fleet.platform_facts
    description: The O(platform) facts.
  - module: tao.fleet.engine_deploy
    description: Runs this test in the same host call as the build and the release (O(tao.fleet.engine_deploy#module:smoke)).
'''

EXAMPLES = r'''
- name: Smoke-test the engine that was just built, on the demo scene, and insist on its rectangles
  tao.fleet.engine_smoke:
    model: peoplenet_standin
    fingerprint: "{{ engine.fingerprint }}"
    model_entry: "{{ lookup('tao.fleet.model_catalog', 'peoplenet_standin') }}"
    store: "{{ tao_fleet_store | default('/var/lib/tao_fleet') }}"
    sysroot: "{{ tao_fleet_sysroot | default('/') }}"
    expect:
      boxes: scene
      allow_extra_detections: false
  register: smoke

- name: Real PeopleNet on a photo of the site, at least two persons, p95 under 40 ms
  tao.fleet.engine_smoke:
    model: peoplenet
    model_entry: "{{ lookup('tao.fleet.model_catalog', 'peoplenet') }}"
    image: /opt/site/entrance.png
    backend: tensorrt
    runs: 100
    expect:
      min_detections: 2
      classes: [person]
      max_latency_ms: 40
'''

RETURN = r'''
backend:
  description: What actually ran. C(tensorrt) only when the engine itself executed.
  returned: success
  type: str
  sample: onnxruntime-cpu (engine not executed)
engine_executed:
  description: Whether the engine itself ran.
  returned: success
  type: bool
  sample: false
fallback:
  description: Whether the result came from O(backend=auto)'s fallback to onnxruntime on the CPU (the engine
    itself did not run).
  returned: success
  type: bool
  sample: true
engine_not_executed_reason:
  description: Why the engine did not run (null when it did).
  returned: success
  type: str
  sample: "TensorRT-RTX cannot run on compute capability 8.7 (Jetson): it runs on 7.5, 8.0, 8.6, 8.9, 12.0, 12.1"
passed:
  description: Whether every expectation was met.
  returned: when the test ran (also when it failed, with RV(error_code=smoke_failed))
  type: bool
  sample: true
failures:
  description: Each unmet expectation.
  returned: when the test ran (also when it failed)
  type: list
  elements: str
  sample: []
detections:
  description: Detections on the image (pixels of the image), C(class_id), C(label), C(confidence),
    C(left), C(top), C(right), C(bottom); the first image of the batch.
  returned: success
  type: list
  elements: dict
  sample: [{"class_id": 0, "label": "person", "confidence": 0.91, "left": 96, "top": 80, "right": 224, "bottom": 368}]
detection_count:
  description: Number of detections.
  returned: success
  type: int
  sample: 3
latency_ms:
  description: Wall-clock latency of one run (copy in, execute, copy out) over the timed runs,
    C(p50), C(p95), C(max), C(min), C(mean), C(runs).
  returned: success
  type: dict
  sample: {"p50": 23.981, "p95": 25.412, "max": 27.006, "min": 23.517, "mean": 24.203, "runs": 20}
gpu_latency_ms:
  description: The same from CUDA events on the stream (TensorRT backend only, else null).
  returned: success
  type: dict
throughput_fps:
  description: Images per second over the timed runs.
  returned: success
  type: float
  sample: 41.7
input:
  description: The input used; C(source) is C(file) (C(path), C(sha256)) or C(generated) (C(seed),
    C(count), C(distractors), C(rects), C(sha256) of the pixels).
  returned: success
  type: dict
power_mode:
  description: The Jetson's nvpmodel mode (C(nvpmodel_id), C(nvpmodel_name)) and C(jetson_clocks); null on
    dGPU hosts or when unknown (see RV(power_mode_reason)).
  returned: success
  type: dict
published:
  description: The catalog's published figure for this device and precision, when one exists.
  returned: success
  type: dict
throughput_ratio:
  description: Measured / published throughput; null (with RV(throughput_ratio_reason)) for a CPU fallback
    or where the catalog has no figure.
  returned: success
  type: float
power_mode_reason:
  description: Why RV(power_mode) is null.
  returned: success
  type: str
throughput_ratio_reason:
  description: Why RV(throughput_ratio) is null.
  returned: success
  type: str
  sample: "not compared: the engine did not execute (CPU fallback); published figures are TensorRT on the GPU"
precision:
  description: The engine's build precision, from its manifest.
  returned: success
  type: str
  sample: fp16
tensorrt:
  description: The TensorRT the child process found (C(version), C(flavour), C(test_double)); null when none
    was importable, or with O(backend=onnxruntime) (not looked for).
  returned: success
  type: dict
gpu:
  description: The GPU the engine ran on (C(name), C(compute_capability)); null when it did not run.
  returned: success
  type: dict
engine_path:
  description: The engine file tested.
  returned: success
  type: str
  sample: /var/lib/tao_fleet/engines/peoplenet/3f5c0e1b0b1f4c39a3d4f3cfa6a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b/model.engine
manifest_smoke:
  description: The C(smoke) record in the engine's manifest after the task.
  returned: success
  type: dict
fingerprint:
  description: The engine tested.
  returned: success
  type: str
  sample: 3f5c0e1b0b1f4c39a3d4f3cfa6a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b
error_code:
  description: Stable id of a failure (C(smoke_failed), C(engine_not_executable), C(engine_deserialize_failed),
    C(engine_io_mismatch), C(model_missing), C(model_mismatch), C(engine_missing), C(engine_corrupt), ...).
  returned: failure
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tao.fleet.plugins.module_utils._secrets import protect
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._platform import gather
from ansible_collections.tao.fleet.plugins.module_utils._smoke import smoke, smoke_failure, smoke_outcome
from ansible_collections.tao.fleet.plugins.module_utils._stage_options import SMOKE_TEST_OPTIONS


def main():
    module = AnsibleModule(
        argument_spec=dict(
            store=dict(type='path', default='/var/lib/tao_fleet'),
            sysroot=dict(type='path', default='/'),
            model=dict(type='str', required=True),
            fingerprint=dict(type='str'),
            model_path=dict(type='path'),
            model_key=dict(type='str', no_log=True),
            platform=dict(type='dict'),
            **SMOKE_TEST_OPTIONS
        ),
        mutually_exclusive=[('image', 'scene')],
        supports_check_mode=True,
    )
    protect(module)   # secrets inside options that are not no_log (issue 16, row 6)
    params = module.params
    try:
        platform = params['platform'] or gather(params['sysroot'], probe_interpreter=False)
        result, changed = smoke(
            params['store'], params['model'], params['model_entry'], fingerprint=params['fingerprint'],
            image=params['image'], scene=params['scene'], backend=params['backend'], warmup=params['warmup'],
            runs=params['runs'], batch=params['batch'], expect=params['expect'],
            postprocessing=params['postprocessing'], model_path=params['model_path'], model_key=params['model_key'],
            platform=platform, device=params['device'], timeout=params['timeout'], check_mode=module.check_mode)
    except TaoFleetError as err:
        failure, warnings = smoke_failure(err)
        for warning in warnings:
            module.warn(warning)
        module.fail_json(**failure)
    result, warnings = smoke_outcome(result, changed)
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
