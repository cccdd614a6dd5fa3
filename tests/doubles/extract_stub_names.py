"""Read the API names that ``tensorrt-stubs`` declares (``tensorrt_bindings/tensorrt.pyi``) into a name list.

Top-level classes, functions and assignments become ``Name``; a class's methods, properties and
attributes become ``Class.attr``; one nested class level more gives ``ILogger.Severity.WARNING``.

    python extract_stub_names.py WHEEL OUT
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import ast
import hashlib
import os
import re
import zipfile


def class_members(node):
    names = set()
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            names.add(item.target.id)
        elif isinstance(item, ast.Assign):
            names.update(t.id for t in item.targets if isinstance(t, ast.Name))
    return set(n for n in names if not n.startswith('_'))


def stub_names(text):
    names = set()
    # the stub has signatures Python rejects (a non-default argument after a default one): names are all
    # this needs, so every signature becomes (*args) before parsing
    text = re.sub(r'^(\s*def \w+)\(.*?\)(\s*->[^:]*)?:', r'\1(*args):', text, flags=re.M | re.S)
    classes, bases = {}, {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef):
            classes[node.name] = node
            bases[node.name] = [b.id for b in node.bases if isinstance(b, ast.Name)]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))

    def inherited(name, seen):
        """The class's own members and its bases' (``dir()`` shows both on the real module)."""
        found = set()
        for base in bases.get(name, ()):
            if base in classes and base not in seen:
                found |= class_members(classes[base]) | inherited(base, seen | {base})
        return found

    for name, node in classes.items():
        names.add(name)
        names.update('%s.%s' % (name, member) for member in class_members(node) | inherited(name, {name}))
        for inner in node.body:
            if isinstance(inner, ast.ClassDef):
                names.update('%s.%s.%s' % (name, inner.name, m) for m in class_members(inner))
    return sorted(n for n in names if not n.split('.')[-1].startswith('_'))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('wheel')
    parser.add_argument('out')
    args = parser.parse_args()
    with zipfile.ZipFile(args.wheel) as archive:
        text = archive.read('tensorrt_bindings/tensorrt.pyi').decode('utf-8')
    with open(args.wheel, 'rb') as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    version = re.search(r'tensorrt_stubs-([0-9.]+)-', os.path.basename(args.wheel)).group(1)
    names = stub_names(text)
    header = [
        '# API names declared by tensorrt-stubs, read by tests/doubles/extract_stub_names.py.',
        '# derived-from: stubs (tensorrt_bindings/tensorrt.pyi, written by a third party from TensorRT %s)'
        % '.'.join(version.split('.')[:4]),
        '# wheel: %s' % os.path.basename(args.wheel),
        '# sha256: %s' % digest,
        '# version: %s' % version,
    ]
    tmp = args.out + '.tmp'
    with open(tmp, 'w') as handle:
        handle.write('\n'.join(header + names) + '\n')
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(tmp, args.out)
    print('%s: %d names' % (args.out, len(names)))


if __name__ == '__main__':
    main()
