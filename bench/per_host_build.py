# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The per-host way's build command (bench/rollout.py, variant a): what `tao-converter` is on a device.

    <host python> bench/per_host_build.py MODEL_FILE STORE SYSROOT MODEL_NAME [ETLT_KEY]

Builds the engine for this host with the same TensorRT layer as tao.fleet.trt_engine (``_engine.ensure_engine``,
platform facts gathered from SYSROOT), so the per-host way and tao.fleet build the same engine (the benchmark
compares the fingerprints). Needs ``ansible_collections.tao.fleet`` on PYTHONPATH: the simulated hosts share
the controller's file system, standing in for a converter installed on every device. Prints one JSON line.
"""
from __future__ import absolute_import, division, print_function

import json
import sys

from ansible_collections.tao.fleet.plugins.module_utils._engine import ensure_engine


def main(argv):
    model_path, store, sysroot, model_name = argv[:4]
    result, _warnings = ensure_engine({'model_path': model_path, 'model_name': model_name, 'store': store,
                                       'model_key': argv[4] if len(argv) > 4 else None, 'sysroot': sysroot,
                                       'build_timeout': 3600, 'build_memory_limit': 'auto'})
    print(json.dumps({'fingerprint': result['fingerprint'], 'built': result['built'],
                      'engine_path': result['engine_path'], 'build_seconds': result['build_seconds']}))


if __name__ == '__main__':
    main(sys.argv[1:])
