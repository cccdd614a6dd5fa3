"""Install the TensorRT test double as an importable ``tensorrt`` of one version into a site-packages.

    python tests/doubles/install.py --trt-version 8.2.1.8 --site-packages DIR [--dla-cores 2]
        [--no-fast-fp16] [--no-fast-int8]

Writes DIR/tao_fleet_trt_double/ (the behaviour, that version's name list, the simulated device) and
DIR/tensorrt/__init__.py with ``__version__`` and ``__tao_fleet_test_double__ = True``, replacing an
earlier install. Runs under Python 3.6+ with the standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = os.path.join(HERE, 'names')
PACKAGE = os.path.join(HERE, 'tao_fleet_trt_double')
# versions the double installs as (with real, source- or docs-derived name lists)
VERSIONS = ('7.1.3.0', '8.0.1.6', '8.2.1.8', '8.5.2.2', '8.6.1', '10.3.0', '10.13.3.9', '11.4.0.106')
# TensorRT-RTX runs for real here; its double exists only so tests/api_names can record the layer's names
RTX_VERSIONS = ('1.7.1.116',)

INIT_TEMPLATE = '''"""TensorRT TEST DOUBLE installed by tao.fleet tests/doubles/install.py: NOT NVIDIA TensorRT.

Its engines are not plans (they start with TAOFLEET-TRT-DOUBLE). Its names come from: %(names)s.
"""

__version__ = "%(version)s"
__tao_fleet_test_double__ = True


def _populate():
    import sys
    import tao_fleet_trt_double
    tao_fleet_trt_double.populate(globals(), __version__, sys.modules[__name__])


_populate()
del _populate
'''


def _replace_dir(staging, target):
    """Swap ``staging`` in at ``target`` by renames, so no half-written package is ever importable."""
    old = None
    if os.path.exists(target):
        old = tempfile.mkdtemp(prefix='.old-', dir=os.path.dirname(target))
        os.rename(target, os.path.join(old, 'x'))
    os.rename(staging, target)
    if old:
        shutil.rmtree(old)


def _write(path, text):
    with open(path, 'w') as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def install(version, site_packages, platform, module='tensorrt'):
    known = VERSIONS if module == 'tensorrt' else RTX_VERSIONS
    names_file = os.path.join(NAMES, '%s-%s.txt' % (module, version))
    if version not in known or not os.path.exists(names_file):
        raise SystemExit('no test double for %s %s; versions: %s' % (module, version, ', '.join(known)))
    with open(names_file) as handle:
        origin = [line.split(':', 1)[1].strip() for line in handle if line.startswith('# derived-from:')]
    if not os.path.isdir(site_packages):
        os.makedirs(site_packages)
    staging = tempfile.mkdtemp(prefix='.tao_fleet_trt_double-', dir=site_packages)
    for name in ('__init__.py', 'api.py', 'onnx_reader.py'):
        shutil.copyfile(os.path.join(PACKAGE, name), os.path.join(staging, name))
    shutil.copyfile(names_file, os.path.join(staging, 'names.txt'))
    _write(os.path.join(staging, 'platform.json'), json.dumps(platform, sort_keys=True))
    _replace_dir(staging, os.path.join(site_packages, 'tao_fleet_trt_double'))
    staging = tempfile.mkdtemp(prefix='.tensorrt-', dir=site_packages)
    _write(os.path.join(staging, '__init__.py'),
           INIT_TEMPLATE % {'version': version, 'names': origin[0] if origin else 'unknown'})
    _replace_dir(staging, os.path.join(site_packages, module))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--trt-version', required=True, choices=VERSIONS)
    parser.add_argument('--site-packages', required=True)
    parser.add_argument('--dla-cores', type=int, default=0)
    parser.add_argument('--no-fast-fp16', action='store_true', help='like a GPU without native FP16')
    parser.add_argument('--no-fast-int8', action='store_true', help='like Jetson Nano / TX2')
    args = parser.parse_args(argv)
    platform = {'dla_cores': args.dla_cores, 'fast_fp16': not args.no_fast_fp16, 'fast_int8': not args.no_fast_int8}
    install(args.trt_version, os.path.abspath(args.site_packages), platform)
    print('installed TensorRT test double %s into %s' % (args.trt_version, args.site_packages))


if __name__ == '__main__':
    sys.exit(main())
