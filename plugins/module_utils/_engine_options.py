# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The options of ``tao.fleet.trt_engine``, which ``tao.fleet.engine_deploy`` takes as they are (their
documentation: plugins/doc_fragments/trt_engine.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

ENGINE_OPTION_SPEC = dict(
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
    shared_manifest=dict(type='dict'),
    shared_sha256=dict(type='str'),
    build=dict(type='bool', default=True),
    store=dict(type='path', default='/var/lib/tao_fleet'),
    sysroot=dict(type='path', default='/'),
)
