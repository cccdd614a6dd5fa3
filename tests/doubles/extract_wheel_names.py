"""Read the API names of a real TensorRT bindings wheel by importing it on a machine without TensorRT.

The bindings (``tensorrt.so``, ``tensorrt_rtx.so``) are pybind11 modules that link libnvinfer and the
ONNX parser, but call into them only when a builder, runtime or parser is created. So this script gives
them stub libraries under the sonames they need (each exported function aborts if ever called), imports
the package with ``dir()``, and writes every public name as ``Name`` and ``Class.attr`` (one nested
level more for enums inside classes, e.g. ``ILogger.Severity.WARNING``). The names are the module's own
registry, not strings guessed from the binary.

Run it with the Python the wheel was built for (cp311 -> 3.11, cp312 -> 3.12); it needs gcc and nm.

    python extract_wheel_names.py WHEEL OUT
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import ctypes
import hashlib
import importlib
import inspect
import os
import re
import subprocess
import sys
import tempfile
import zipfile

STUB_TEMPLATE = '#include <stdlib.h>\n%s'


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def needed_sonames(shared_object):
    out = subprocess.check_output(['readelf', '-d', shared_object], universal_newlines=True)
    return re.findall(r'\(NEEDED\)\s+Shared library: \[(.+?)\]', out)


def unresolved_symbols(shared_object):
    """Undefined, unversioned symbols that nothing in this process provides (libnvinfer's C entry points)."""
    out = subprocess.check_output(['nm', '-D', '--undefined-only', shared_object], universal_newlines=True)
    process = ctypes.CDLL(None)
    symbols = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 2 or parts[0] != 'U' or '@' in parts[1]:
            continue
        if not hasattr(process, parts[1]):
            symbols.append(parts[1])
    return symbols


def load_stub_libraries(shared_object, workdir):
    """Build one stub per NEEDED TensorRT soname and load it globally, so the import finds it by soname."""
    symbols = unresolved_symbols(shared_object)
    source = os.path.join(workdir, 'stub.c')
    with open(source, 'w') as handle:
        handle.write(STUB_TEMPLATE % ''.join('void %s(void) { abort(); }\n' % name for name in symbols))
    for soname in needed_sonames(shared_object):
        if not re.match(r'lib(nvinfer|nvonnxparser|nvparsers|tensorrt)', soname):
            continue
        target = os.path.join(workdir, soname)
        # Every stub carries all symbols: the linker searches all loaded objects, and duplicates are harmless.
        subprocess.check_call(['gcc', '-shared', '-fPIC', '-Wl,-soname,%s' % soname, '-o', target, source])
        ctypes.CDLL(target, mode=ctypes.RTLD_GLOBAL)
    return symbols


def public_names(module):
    names = set()
    for name in dir(module):
        if name.startswith('_'):
            continue
        names.add(name)
        value = getattr(module, name)
        if not inspect.isclass(value):
            continue
        for attr in dir(value):
            if attr.startswith('_'):
                continue
            names.add('%s.%s' % (name, attr))
            nested = getattr(value, attr, None)
            if inspect.isclass(nested) and nested.__module__ != 'builtins':
                names.update('%s.%s.%s' % (name, attr, inner) for inner in dir(nested) if not inner.startswith('_'))
    return sorted(names)


def extract(wheel, out):
    workdir = tempfile.mkdtemp(prefix='trt_names_')
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(workdir)
    extensions = [os.path.join(root, f) for root, _unused, files in os.walk(workdir) for f in files
                  if f.endswith('.so') and f.startswith('tensorrt')]
    if len(extensions) != 1:
        raise SystemExit('expected one tensorrt*.so in %s, found %r' % (wheel, extensions))
    extension = extensions[0]
    stubbed = load_stub_libraries(extension, workdir)
    package = os.path.basename(os.path.dirname(extension))
    sys.path.insert(0, os.path.dirname(os.path.dirname(extension)))
    module = importlib.import_module(package)
    names = public_names(module)
    header = [
        '# API names of the real TensorRT Python bindings, read by tests/doubles/extract_wheel_names.py.',
        '# derived-from: wheel',
        '# wheel: %s' % os.path.basename(wheel),
        '# sha256: %s' % sha256_of(wheel),
        '# version: %s' % module.__version__,
        '# module: %s (imported on a CPU machine against stub %s)' % (
            package, ', '.join(n for n in needed_sonames(extension) if n.startswith('lib') and
                               re.match(r'lib(nvinfer|nvonnxparser|nvparsers|tensorrt)', n))),
        '# stubbed-symbols: %s' % ' '.join(stubbed),
    ]
    tmp = out + '.tmp'
    with open(tmp, 'w') as handle:
        handle.write('\n'.join(header + names) + '\n')
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(tmp, out)
    return len(names)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('wheel')
    parser.add_argument('out')
    args = parser.parse_args()
    print('%s: %d names' % (args.out, extract(args.wheel, args.out)))


if __name__ == '__main__':
    main()
