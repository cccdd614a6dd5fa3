#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: engine_deploy
short_description: Build or reuse a TensorRT engine, smoke-test it, write its consumer files and make it active, in one call
description:
  - Does in one module call on the host what M(tao.fleet.model_fetch) (with O(fetch)), M(tao.fleet.trt_engine),
    M(tao.fleet.engine_smoke), M(tao.fleet.engine_consumers) and M(tao.fleet.engine_release) do in five, with
    their code, in that order. One call costs a host about as much as a stage's own work, so a rollout over many hosts saves
    three round trips per host. Role C(tao.fleet.deploy_model) deploys with it.
  - The engine options are M(tao.fleet.trt_engine)'s, including O(engine_share) (the action plugin takes
    the engine from the share on the controller, or publishes the one built here); O(fetch) takes
    M(tao.fleet.model_fetch)'s, including O(fetch.controller_cache) (the model is downloaded once, to the
    controller, and sent to each host over its connection).
  - The smoke test runs on every engine this call built or took from the share, and on a reused engine
    whose manifest records no passed test (O(smoke.rerun) tests it again in any case).
  - The first stage that fails stops the rest, and RV(stage) names it. Nothing before the release touches
    the C(active) link, and a release that fails after switching is undone in the same call, so the engine
    that was active stays active.
version_added: 0.1.0
author:
  - tao.fleet contributors (@tao-fleet)
requirements:
  - Python 3.6 or newer on the host
  - what each stage needs, as M(tao.fleet.trt_engine) and M(tao.fleet.engine_smoke) list it - TensorRT's Python
    bindings to build an engine; the Python C(cryptography) package or the C(openssl) command for a C(.etlt)
    model; numpy for the smoke test; pycuda and a CUDA device to run the engine there, or onnxruntime for the
    CPU fallback
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
      - The action plugin runs the controller halves of O(fetch.controller_cache) and O(engine_share), as for
        M(tao.fleet.model_fetch) and M(tao.fleet.trt_engine).
  check_mode:
    support: full
    details:
      - Reports whether a download or a build would happen and stops there when one would (there is no engine to test);
        with an engine in the store, runs the smoke test and reports what the consumer files and the
        release would change, writing nothing.
  diff_mode:
    support: partial
    details:
      - The consumer files and the C(active) and C(previous) links, as M(tao.fleet.engine_consumers) and
        M(tao.fleet.engine_release) show them.
  idempotent:
    support: full
options:
  fetch:
    description:
      - Fetch the model into the store first, in the same call, with the options of M(tao.fleet.model_fetch)
        (the store is this task's O(store)); the fetched file is the engine's model, so O(model_path) is
        not needed. A host fetches in one call what two module calls did, and with
        O(fetch.controller_cache) the action plugin sends the model from the controller's cache together with
        a share entry over one temp dir.
      - Unset, O(model_path) names the model file already on the host.
    type: dict
    suboptions:
      urls:
        description: URLs of the file, tried in order.
        type: list
        elements: str
      ngc:
        description: NGC model version C(org/team/name:version); needs O(fetch.file).
        type: str
      file:
        description: File name inside the NGC model version.
        type: str
      ngc_base_url:
        description: Base URL of the NGC API.
        type: str
        default: https://api.ngc.nvidia.com
      ngc_auth_url:
        description: NGC's token endpoint, used with O(fetch.api_key).
        type: str
        default: https://authn.nvidia.com/token
      mirror_url:
        description: A mirror laid out as C(<mirror_url>/<org>/<team>/<name>/<version>/<file>), tried before NGC.
        type: str
      sha256:
        description: The file's sha256; the download must match it.
        type: str
      md5:
        description: The file's md5 (NGC lists it), checked when no sha256 is known.
        type: str
      checksum_url:
        description: A C(SHA256SUMS) list to read the sha256 from.
        type: str
      api_key:
        description: NGC API key (C(nvapi-...)); never logged, never sent to a host with O(fetch.controller_cache).
        type: str
      name:
        description: A name for the file in C(<store>/models/by-name/).
        type: str
      timeout:
        description: Seconds per request.
        type: int
        default: 30
      retries:
        description: Retries per URL after a transient failure.
        type: int
        default: 3
      max_retry_wait:
        description: Longest wait between retries, in seconds.
        type: int
        default: 60
      range_ignored:
        description: What to do when a server ignores a resume request.
        type: str
        choices: [restart, fail]
        default: restart
      validate_certs:
        description: Verify TLS certificates.
        type: bool
        default: true
      ca_path:
        description: A CA bundle to verify with.
        type: path
      controller_cache:
        description: Download once to this directory on the controller and send the file to the host (see M(tao.fleet.model_fetch)).
        type: path
      src:
        description: A file already on the host to take the model from (its sha256 is checked); the action plugin sets it.
        type: path
  smoke:
    description:
      - The smoke test, with the options of M(tao.fleet.engine_smoke) that are not the engine's (store,
        model, fingerprint, model key and platform come from this task).
    type: dict
    required: true
    suboptions:
      model_entry:
        description: The model's catalog entry (P(tao.fleet.model_catalog#lookup)).
        type: dict
        required: true
      image:
        description:
          - A PNG or binary PPM/PGM image on the host. Unset, the generated scene (O(smoke.scene)) is used,
            which only the stand-in model detects anything in; a real model then needs O(smoke.expect),
            else the task fails with C(smoke_image_missing).
        type: path
      scene:
        description: The generated scene's C(seed), C(count), C(distractors), C(width), C(height).
        type: dict
      expect:
        description: What the test must find (M(tao.fleet.engine_smoke)'s O(tao.fleet.engine_smoke#module:expect)).
        type: dict
      postprocessing:
        description: Post-processing settings that override the catalog entry's.
        type: dict
      backend:
        description: V(auto), V(tensorrt) or V(onnxruntime), as for M(tao.fleet.engine_smoke).
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
        description: Images per run.
        type: int
        default: 1
      device:
        description: CUDA device ordinal for the TensorRT backend.
        type: int
        default: 0
      timeout:
        description: Seconds the TensorRT run may take before it is killed.
        type: int
        default: 600
      rerun:
        description: Test a reused engine again even when its manifest records a passed test.
        type: bool
        default: false
  consumers:
    description:
      - The DeepStream and Triton files of M(tao.fleet.engine_consumers), written after the smoke test and
        before the release (so that the release switches engine and files in one rename). Unset, or with
        neither O(consumers.deepstream) nor O(consumers.triton), none are written.
    type: dict
    suboptions:
      model_entry:
        description: The catalog entry; default O(smoke.model_entry).
        type: dict
      artifact:
        description: The catalog artifact the engine was built from.
        type: dict
      deepstream:
        description: Write the DeepStream nvinfer config and labels file.
        type: bool
        default: false
      deepstream_dir:
        description: Directory of the stable DeepStream links. Default is C(<store>/deepstream).
        type: path
      gpu_id:
        description: C(gpu-id) of the nvinfer config and the GPU of the Triton instance group.
        type: int
        default: 0
      batch_size:
        description: C(batch-size) of the nvinfer config.
        type: int
        default: 1
      gie_unique_id:
        description: C(gie-unique-id) of the nvinfer config.
        type: int
        default: 1
      triton:
        description: Write the Triton model repository entry.
        type: bool
        default: false
      triton_repository:
        description: The Triton model repository. Default is C(<store>/triton).
        type: path
      triton_model_name:
        description: Model name in the Triton repository.
        type: str
      triton_max_batch_size:
        description: C(max_batch_size) of the Triton config.
        type: int
  keep:
    description: Engines of the model to keep after the release (M(tao.fleet.engine_release)'s O(tao.fleet.engine_release#module:keep)).
    type: int
    default: 3
  quick_check:
    description:
      - On the controller (action plugin). When the host's C(ansible_facts.tao_store) (M(tao.fleet.platform_facts)
        with O(tao.fleet.platform_facts#module:store)) holds a deployment record made with the same options,
        the same model sha256 and the same platform (C(platform_key)), and the files and links it names still
        have the size, mtime and inode recorded, the host is not called. The result is then the record's, as
        a reuse would report it (RV(quick_check.used)), and a second run of a rollout costs each host only its
        facts call.
      - V(false) calls the host every time, which hashes the model and the engine again.
      - Only when the model's sha256 is known before the call (O(fetch.controller_cache) or O(fetch.sha256)),
        O(platform) is given, and neither O(smoke.rerun), O(keep_decrypted_model) nor O(converter_args) is set.
    type: bool
    default: true
  deploy_record_id:
    description:
      - Set by the action plugin, not by hand. The id of this call's options; after a deployment that
        succeeds, the module records it under this id in C(<store>/deploys/<model name>.json).
    type: str
notes:
  - C(docs/engine_deploy.md) in the collection says which stage's code does what; each stage's own module
    page has the details of its options, results and errors.
seealso:
  - module: tao.fleet.model_fetch
  - module: tao.fleet.trt_engine
  - module: tao.fleet.engine_smoke
  - module: tao.fleet.engine_consumers
  - module: tao.fleet.engine_release
  - module: tao.fleet.platform_facts
    description: With O(tao.fleet.platform_facts#module:store), the C(tao_store) fact that O(quick_check) reads.
  - name: Role tao.fleet.deploy_model
    description: Role P(tao.fleet.deploy_model#role) deploys with this module, in canary and waves (C(ansible-doc -t role
      tao.fleet.deploy_model)).
    link: https://github.com/tao-fleet/tao.fleet/tree/main/roles/deploy_model
'''

EXAMPLES = r'''
- name: Build (or reuse) the PeopleNet engine, test it on a picture, and make it active
  tao.fleet.engine_deploy:
    model_path: "{{ fetched.path }}"
    model: "{{ choice }}"
    model_name: peoplenet
    platform: "{{ ansible_facts.tao_platform }}"
    precision: fp16
    smoke:
      model_entry: "{{ lookup('tao.fleet.model_catalog', 'peoplenet') }}"
      image: /opt/test/people.png
      expect: {min_detections: 1, classes: [person]}
    consumers:
      deepstream: true
    keep: 3
  vars:
    choice: "{{ lookup('tao.fleet.model_catalog', 'peoplenet') | tao.fleet.model_artifact(ansible_facts.tao_platform) }}"
  register: deployed
'''

RETURN = r'''
stage:
  description: The last stage that ran (V(fetch), V(engine), V(smoke), V(consumers) or V(release)); on failure, the one that failed.
  returned: always
  type: str
  sample: release
fingerprint:
  description:
    - The engine's fingerprint. This and the other keys of M(tao.fleet.trt_engine)'s result (C(built), C(reused),
      C(shared), C(engine_path), C(manifest), C(share)...) are returned as that module returns them.
  returned: always
  type: str
  sample: 3f5c0e1b0b1f4c39a3d4f3cfa6a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b
fetch:
  description: M(tao.fleet.model_fetch)'s result, with C(controller) when the model came from the controller's cache; null without O(fetch).
  returned: always
  type: dict
missing:
  description: True when O(build=false) and no engine was found; no later stage ran.
  returned: always
  type: bool
  sample: false
smoke:
  description:
    - M(tao.fleet.engine_smoke)'s result (on failure too, with C(passed=false)); null when the engine was reused
      and its manifest records a passed test.
  returned: always
  type: dict
consumers:
  description: M(tao.fleet.engine_consumers)'s result; null when no files were asked for or an earlier stage stopped.
  returned: always
  type: dict
release:
  description: M(tao.fleet.engine_release)'s result (C(active), C(active_before), C(previous), C(removed)...); null when an earlier stage stopped.
  returned: always
  type: dict
quick_check:
  description:
    - Whether the host was left alone because its deployment record matched (C(used)), and when not, why
      (C(reason)). See O(quick_check).
    - When it was, the other keys are the record's short result, as a reuse would report them - C(fingerprint),
      C(engine_path), C(model), C(tensorrt), C(targets), C(manifest) (with its C(smoke) record), C(fetch),
      C(consumers), C(release) - and there is no C(fingerprint_inputs), C(share) or C(timing_cache).
  returned: when the action plugin ran
  type: dict
  contains:
    used:
      description: True when the host was not called.
      type: bool
    reason:
      description: Why the host was called (no record, other options, which files changed...); null when it was not.
      type: str
    recorded_at:
      description: When the record that answered was written (UTC); only when C(used).
      type: str
  sample: {"used": true, "reason": null, "recorded_at": "2026-12-07T08:00:00Z"}
error_code:
  description: Stable id of the failure, the failing stage's (C(model_key_rejected), C(smoke_failed), C(smoke_image_missing)...).
  returned: failure
  type: str
cause:
  description: Why it most likely failed.
  returned: failure
  type: str
fix:
  description: What to do next.
  returned: failure
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tao.fleet.plugins.module_utils._secrets import protect
from ansible_collections.tao.fleet.plugins.module_utils._deploy import DeployFailed, deploy
from ansible_collections.tao.fleet.plugins.module_utils._engine_options import ENGINE_OPTION_SPEC
from ansible_collections.tao.fleet.plugins.module_utils._fetch_options import ARGUMENT_SPEC as FETCH_OPTIONS
from ansible_collections.tao.fleet.plugins.module_utils._fetch_options import FETCH_CONSTRAINTS
from ansible_collections.tao.fleet.plugins.module_utils._stage_options import CONSUMER_FILE_OPTIONS, SMOKE_TEST_OPTIONS

# engine_smoke's and engine_consumers' own options; model_entry of the consumer files defaults to the smoke
# test's here, and a reused engine with a passed test is tested again only with rerun
SMOKE_OPTIONS = dict(SMOKE_TEST_OPTIONS, rerun=dict(type='bool', default=False))
CONSUMER_OPTIONS = dict(CONSUMER_FILE_OPTIONS, model_entry=dict(type='dict'))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ENGINE_OPTION_SPEC,
            fetch=dict(type='dict', options=dict((key, spec) for key, spec in FETCH_OPTIONS.items() if key != 'store'),
                       **FETCH_CONSTRAINTS),
            smoke=dict(type='dict', required=True, options=SMOKE_OPTIONS, mutually_exclusive=[('image', 'scene')]),
            consumers=dict(type='dict', options=CONSUMER_OPTIONS),
            keep=dict(type='int', default=3),
            quick_check=dict(type='bool', default=True),
            deploy_record_id=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    protect(module)   # secrets inside options that are not no_log (issue 16, row 6)
    params = module.params
    if (params['fetch'] or {}).get('controller_cache'):
        module.fail_json(msg='fetch.controller_cache reached the module on the host: it is handled by the '
                             'tao.fleet.engine_deploy action plugin on the controller.',
                         cause='the task was not run through the collection\'s action plugin',
                         fix='Call the module as tao.fleet.engine_deploy in a playbook, or drop fetch.controller_cache.',
                         error_code='invalid_argument', stage='fetch')
    if params['engine_share']:
        module.fail_json(msg='engine_share reached the module on the host: it is handled by the tao.fleet.engine_deploy '
                             'action plugin on the controller.',
                         cause='the task was not run through the collection\'s action plugin',
                         fix='Call the module as tao.fleet.engine_deploy in a playbook, or drop engine_share.',
                         error_code='invalid_argument', stage='engine')
    for name, low in (('build_timeout', 1), ('keep', 0)):
        if params[name] < low:
            module.fail_json(msg='%s must be %d or more, got %d.' % (name, low, params[name]),
                             error_code='invalid_argument', stage='engine')
    try:
        result, warnings = deploy(params, check_mode=module.check_mode, diff=module._diff)
    except DeployFailed as failed:
        for warning in failed.warnings:
            module.warn(warning)
        module.fail_json(**failed.to_result())
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
