#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: engine_consumers
short_description: Write the DeepStream nvinfer config and the Triton model entry of an engine
description:
  - For one engine of a model in the tao.fleet store, writes what applications need to use it,
    each only when asked. O(deepstream=true) writes a DeepStream C(nvinfer) config and a labels
    file; O(triton=true) writes a Triton model repository entry (C(config.pbtxt) and
    C(1/model.plan)).
  - Every value comes from the engine's manifest (tensor names and shapes, precision, batch) and
    the model's catalog entry (classes, scaling, colour format, DetectNet_v2 clustering), so the
    C(output-blob-names) match the engine (C(output_cov/Sigmoid) for an engine built from an
    C(.etlt), C(output_cov/Sigmoid:0) from the ONNX release), C(network-mode) matches its
    precision and the class count and thresholds match the model.
  - The files of each engine live with it, in C(<store>/engines/<model>/<fingerprint>/deepstream/)
    and C(.../triton/). Applications reach them through links that go through the store's
    C(active) link (C(<deepstream_dir>/config_infer_primary_<model>.txt),
    C(<triton_repository>/<name>/config.pbtxt), C(<triton_repository>/<name>/1/model.plan)), so
    a release or a rollback by M(tao.fleet.engine_release) switches engine, config and labels in
    the same rename, without rewriting any file. Run this module on the new engine before
    releasing it.
  - Files are written to a temporary file, fsynced and renamed; links are replaced by rename. A
    second run with the same inputs changes nothing.
  - Targets DeepStream 6.0 to 8.0 (C(infer-dims)) and Triton's TensorRT backend.
version_added: 0.1.0
author:
  - tao.fleet contributors (@tao-fleet)
requirements:
  - Python 3.6 or newer on the host (standard library only)
extends_documentation_fragment:
  - tao.fleet.attributes
  - tao.fleet.attributes.store
  - tao.fleet.attributes.platform
  - tao.fleet.attributes.action_group
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Shows each file's text and each link's target before and after.
  idempotent:
    support: full
options:
  model:
    description: Store name of the model (the directory under C(<store>/engines/)), for example C(peoplenet).
    type: str
    required: true
  fingerprint:
    description:
      - The engine to write the files for. Default is the engine C(active) points at.
      - Give the fingerprint of a new engine before releasing it, so that the release switches to
        an engine whose files already exist.
    type: str
  model_entry:
    description:
      - The model's catalog entry, as the P(tao.fleet.model_catalog#lookup) lookup returns it.
        Its C(classes), C(preprocessing) and C(postprocessing) are used.
    type: dict
    required: true
  artifact:
    description:
      - The catalog artifact the engine was built from (C(tao_choice.artifact) of
        P(tao.fleet.model_artifact#filter)).
      - Needed when the engine's manifest records no tensors; otherwise it is checked against the
        engine (a mismatch fails) and gives the outputs' roles.
    type: dict
  deepstream:
    description: Write the DeepStream nvinfer config and labels file.
    type: bool
    default: false
  deepstream_dir:
    description:
      - Directory for the stable links C(config_infer_primary_<model>.txt) and C(labels_<model>.txt)
        that DeepStream applications name. Default is C(<store>/deepstream).
    type: path
  gpu_id:
    description: C(gpu-id) of the nvinfer config and the GPU of the Triton instance group.
    type: int
    default: 0
  batch_size:
    description:
      - C(batch-size) of the nvinfer config. At most the engine's maximum batch (its profile's
        max, or the implicit batch it was built with).
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
    description: Model name in the Triton repository (its directory name). Default is O(model).
    type: str
  triton_max_batch_size:
    description:
      - C(max_batch_size) of the Triton config. Default is the engine's maximum batch (0 for an
        engine with a fixed batch dimension).
    type: int
notes:
  - DeepStream resolves C(model-engine-file) when the pipeline starts; a running pipeline keeps
    the engine it loaded until it restarts. Triton loads the plan when it loads the model; reload
    the model (or restart Triton) after a release.
  - The engines tao.fleet builds with TensorRT-RTX or with its test double are not plans that
    DeepStream or Triton can load; the module writes the files and warns.
seealso:
  - module: tao.fleet.engine_release
    description: Makes the engine active; the stable links follow it.
  - module: tao.fleet.engine_smoke
    description: Tests the engine before its files are written and it is released.
  - module: tao.fleet.engine_deploy
    description: Writes these files in the same host call as the build, smoke test and release
      (O(tao.fleet.engine_deploy#module:consumers)).
'''

EXAMPLES = r'''
- name: Configure DeepStream and Triton for the new engine, then release it
  block:
    - name: Write the consumer files of the new engine
      tao.fleet.engine_consumers:
        model: peoplenet
        fingerprint: "{{ engine.fingerprint }}"
        model_entry: "{{ lookup('tao.fleet.model_catalog', 'peoplenet') }}"
        artifact: "{{ tao_choice.artifact }}"
        deepstream: true
        deepstream_dir: /opt/nvidia/deepstream/configs/tao_fleet
        triton: true
        triton_repository: /srv/triton/models

    - name: Release it (engine, nvinfer config, labels and Triton entry switch together)
      tao.fleet.engine_release:
        model: peoplenet
        fingerprint: "{{ engine.fingerprint }}"
'''

RETURN = r'''
fingerprint:
  description: The engine the files were written for.
  returned: success
  type: str
  sample: 3f5c0e1b0b1f4c39a3d4f3cfa6a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b
engine_path:
  description: The engine path the files name (through C(active)).
  returned: success
  type: str
  sample: /var/lib/tao_fleet/engines/peoplenet/active/model.engine
deepstream:
  description: With O(deepstream=true), the paths of the nvinfer config and labels file.
  returned: success
  type: dict
  contains:
    config:
      description: The stable link DeepStream applications name (C(config-file-path)).
      type: str
    labels:
      description: The stable link to the labels file.
      type: str
    engine_config:
      description: The config file of this engine, in its fingerprint directory.
      type: str
  sample:
    config: /var/lib/tao_fleet/deepstream/config_infer_primary_peoplenet.txt
    labels: /var/lib/tao_fleet/deepstream/labels_peoplenet.txt
    engine_config: /var/lib/tao_fleet/engines/peoplenet/3f5c0e1b0b1f4c39a3d4f3cfa6a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b/deepstream/config_infer_primary.txt
triton:
  description: With O(triton=true), the paths of the Triton entry.
  returned: success
  type: dict
  contains:
    model_dir:
      description: C(<triton_repository>/<name>).
      type: str
    config:
      description: C(<model_dir>/config.pbtxt) (a link through C(active)).
      type: str
    plan:
      description: C(<model_dir>/1/model.plan) (a link to C(active/model.engine)).
      type: str
  sample:
    model_dir: /var/lib/tao_fleet/triton/peoplenet
    config: /var/lib/tao_fleet/triton/peoplenet/config.pbtxt
    plan: /var/lib/tao_fleet/triton/peoplenet/1/model.plan
output_blob_names:
  description: Coverage and bbox output names, as the engine has them.
  returned: success
  type: list
  elements: str
  sample: ["output_cov/Sigmoid:0", "output_bbox/BiasAdd:0"]
network_mode:
  description: DeepStream C(network-mode) (0 fp32, 1 int8, 2 fp16), from the engine's precision.
  returned: success
  type: int
  sample: 2
tensors_from:
  description: Where tensor names and shapes came from, C(manifest) or C(artifact).
  returned: success
  type: str
  sample: manifest
written:
  description: Files and links written (or that would be written in check mode).
  returned: success
  type: list
  elements: str
  sample:
    - /var/lib/tao_fleet/engines/peoplenet/3f5c0e1b0b1f4c39a3d4f3cfa6a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b/deepstream/config_infer_primary.txt
    - /var/lib/tao_fleet/engines/peoplenet/3f5c0e1b0b1f4c39a3d4f3cfa6a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b/deepstream/labels.txt
    - /var/lib/tao_fleet/deepstream/config_infer_primary_peoplenet.txt
    - /var/lib/tao_fleet/deepstream/labels_peoplenet.txt
msg:
  description: What the task did.
  returned: always
  type: str
error_code:
  description: Stable id of the failure (C(engine_missing), C(engine_io_unknown), C(engine_artifact_mismatch),
    C(deepstream_parser_mismatch), C(consumer_path_taken), C(invalid_argument), C(not_writable)).
  returned: failure
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tao.fleet.plugins.module_utils._secrets import protect
from ansible_collections.tao.fleet.plugins.module_utils._consumers import write_consumers
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._stage_options import CONSUMER_FILE_OPTIONS


def main():
    module = AnsibleModule(
        argument_spec=dict(
            store=dict(type='path', default='/var/lib/tao_fleet'),
            model=dict(type='str', required=True),
            fingerprint=dict(type='str'),
            model_entry=dict(type='dict', required=True),
            **CONSUMER_FILE_OPTIONS
        ),
        supports_check_mode=True,
    )
    protect(module)   # secrets inside options that are not no_log (issue 16, row 6)
    try:
        result, warnings = write_consumers(module.params, check_mode=module.check_mode, diff=module._diff)
    except TaoFleetError as err:
        module.fail_json(**err.to_result())
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
