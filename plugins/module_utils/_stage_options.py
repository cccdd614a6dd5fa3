# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The options of the smoke test and of the consumer files, as ``tao.fleet.engine_smoke`` and
``tao.fleet.engine_consumers`` take them and ``tao.fleet.engine_deploy`` takes them again as the suboptions
``smoke`` and ``consumers``: one definition, so their types and defaults cannot drift apart. Cheap to import
(the reuse path of engine_deploy never loads the smoke-test code)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

SMOKE_BACKENDS = ('auto', 'tensorrt', 'onnxruntime')

# what the test runs and expects (the engine, model and platform come from elsewhere in each module)
SMOKE_TEST_OPTIONS = dict(
    model_entry=dict(type='dict', required=True),
    postprocessing=dict(type='dict'),
    image=dict(type='path'),
    scene=dict(type='dict'),
    expect=dict(type='dict'),
    backend=dict(type='str', choices=list(SMOKE_BACKENDS), default='auto'),
    warmup=dict(type='int', default=3),
    runs=dict(type='int', default=20),
    batch=dict(type='int', default=1),
    device=dict(type='int', default=0),
    timeout=dict(type='int', default=600),
)

# which files are written, where, and what they say (the store, model and engine come from elsewhere)
CONSUMER_FILE_OPTIONS = dict(
    artifact=dict(type='dict'),
    deepstream=dict(type='bool', default=False),
    deepstream_dir=dict(type='path'),
    gpu_id=dict(type='int', default=0),
    batch_size=dict(type='int', default=1),
    gie_unique_id=dict(type='int', default=1),
    triton=dict(type='bool', default=False),
    triton_repository=dict(type='path'),
    triton_model_name=dict(type='str'),
    triton_max_batch_size=dict(type='int'),
)
