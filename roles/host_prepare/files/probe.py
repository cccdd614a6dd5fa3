# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""What the interpreter that runs tao.fleet's modules can import, for role tao.fleet.host_prepare.

    python probe.py CUDA_HOME        prints one JSON object

Runs on the host under that interpreter (Python 3.6+, standard library only). find_spec only locates a
package: nothing is imported, so a pycuda without a GPU or a TensorRT without libnvinfer still counts as
installed (the smoke test and platform_facts say whether it works).
"""
import importlib.util
import json
import os
import sys

MODULES = ('tensorrt', 'tensorrt_rtx', 'numpy', 'pycuda', 'pip')


def found(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def pip_version():
    """pip's version text, or None: wheels tagged manylinux2014 (numpy's for aarch64, say) need pip 19.3+, and
    JetPack 4's python3-pip is pip 9."""
    try:
        import pip
        return pip.__version__
    except Exception:  # noqa: BLE001 - any failure means no usable pip
        return None


def system_site_packages(prefix):
    try:
        with open(os.path.join(prefix, 'pyvenv.cfg')) as handle:
            for line in handle:
                key, _sep, value = line.partition('=')
                if key.strip() == 'include-system-site-packages':
                    return value.strip().lower() == 'true'
    except (IOError, OSError):
        pass
    return False


def main():
    cuda_home = sys.argv[1] if len(sys.argv) > 1 else '/usr/local/cuda'
    modules = dict((name, found(name)) for name in MODULES)
    # the TensorRT the modules use: NVIDIA's, or TensorRT-RTX on a dGPU
    modules['tensorrt'] = modules['tensorrt'] or modules.pop('tensorrt_rtx')
    modules.pop('tensorrt_rtx', None)
    has_pip = modules.pop('pip')
    venv = sys.prefix != getattr(sys, 'base_prefix', sys.prefix)
    print(json.dumps({
        'python': '%d.%d' % sys.version_info[:2],
        'executable': sys.executable,
        'prefix': sys.prefix,
        'venv': venv,
        'system_site_packages': venv and system_site_packages(sys.prefix),
        'pip': has_pip,
        'pip_version': pip_version() if has_pip else None,
        'nvcc': os.access(os.path.join(cuda_home, 'bin', 'nvcc'), os.X_OK),
        'modules': modules,
    }, sort_keys=True))


if __name__ == '__main__':
    main()
