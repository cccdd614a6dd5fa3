"""Read the API names of a TensorRT release that has no wheel (8.0-8.5) from its pybind11 binding source.

NVIDIA/TensorRT publishes the Python bindings' C++ source (``python/src/**/*.cpp``) and the package's
``__init__.py`` per release tag. This script reads, from a git checkout of that repository:
``py::class_<...>(m, "Name")`` / ``py::enum_<...>(parent, "Name")`` and their ``.def("x")``,
``.def_property*("x")``, ``.def_read*("x")``, ``.def_static("x")``, ``.value("X")``; ``m.def("f")``;
base classes given as template arguments (so inherited names appear as ``dir()`` would show them); and
the top-level functions and ``Class.attr = ...`` assignments of the package's ``__init__.py``.

It is a reading of source text, not an import: ``tests/api_names`` runs it on the 8.6 branch and compares
with the names imported from the real 8.6.1 wheel, which is how far it can be trusted.

    python extract_source_names.py REPO_GIT_DIR REF OUT [--version X]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import ast
import os
import re
import subprocess

CLASS_START = re.compile(r'py::(class_|enum_)\s*<')
MEMBER = re.compile(r'\.(def|def_property|def_property_readonly|def_readwrite|def_readonly|def_static|'
                    r'def_property_readonly_static|def_property_static|value)\s*\(\s*"([A-Za-z_][A-Za-z0-9_]*)"')
VAR_MEMBER = re.compile(r'\b([A-Za-z_][A-Za-z0-9_]*)\s*\.\s*(def|def_property|def_property_readonly|def_readwrite|'
                        r'def_readonly|def_static|value)\s*\(')
MODULE_DEF = re.compile(r'\bm\s*\.\s*def\s*\(\s*"([A-Za-z_][A-Za-z0-9_]*)"')
MODULE_ATTR = re.compile(r'\bm\s*\.\s*attr\s*\(\s*"([A-Za-z_][A-Za-z0-9_]*)"\s*\)\s*=\s*(?:m\s*\.\s*attr\s*\(\s*"([A-Za-z_0-9]+)"\s*\))?')
BOUND_VECTOR = re.compile(r'py::bind_vector\s*<.*?>\s*\(\s*m\s*,\s*"([A-Za-z_][A-Za-z0-9_]*)"')
# what pybind11's bind_vector gives every bound list type
VECTOR_METHODS = ('append', 'clear', 'extend', 'insert', 'pop')


def git_show(git_dir, ref, path):
    return subprocess.check_output(['git', '--git-dir', git_dir, 'show', '%s:%s' % (ref, path)],
                                   universal_newlines=True)


def git_files(git_dir, ref, prefix):
    out = subprocess.check_output(['git', '--git-dir', git_dir, 'ls-tree', '-r', '--name-only', ref, '--', prefix],
                                  universal_newlines=True)
    return out.split()


def strip_comments(text):
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    return re.sub(r'//[^\n]*', ' ', text)


def matching(text, start, opening, closing):
    """Index just past the bracket that closes the one at ``start`` (template arguments hold no strings)."""
    depth = 0
    index = start
    while index < len(text):
        char = text[index]
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(text)


def split_template_args(args):
    parts, depth, current = [], 0, ''
    for char in args:
        if char == '<':
            depth += 1
        elif char == '>':
            depth -= 1
        if char == ',' and depth == 0:
            parts.append(current.strip())
            current = ''
        else:
            current += char
    parts.append(current.strip())
    return parts


def short_type(cxx):
    return cxx.replace('nvinfer1::', '').replace('nvonnxparser::', '').replace('nvuffparser::', '') \
        .replace('nvcaffeparser1::', '').strip()


def read_bindings(sources):
    """Python class -> set of member names, C++ type -> Python class, Python class -> C++ bases."""
    members, cxx_to_py, bases, variables, module_names = {}, {}, {}, {}, set()
    aliases = []
    for text in sources:
        text = strip_comments(text)
        module_names.update(MODULE_DEF.findall(text))
        for name, aliased in MODULE_ATTR.findall(text):
            module_names.add(name)
            if aliased:
                aliases.append((name, aliased))
        for name in BOUND_VECTOR.findall(text):
            members.setdefault(name, set()).update(VECTOR_METHODS)
        for found in CLASS_START.finditer(text):
            kind = found.group(1)
            template_end = matching(text, found.end() - 1, '<', '>')
            template = split_template_args(text[found.end():template_end - 1])
            rest = text[template_end:]
            head = re.match(r'\s*([A-Za-z_][A-Za-z0-9_]*)?\s*[({]\s*([A-Za-z_][A-Za-z0-9_:]*)\s*,\s*"([A-Za-z_0-9]+)"',
                            rest)
            if not head:
                continue
            variable, parent, name = head.groups()
            qualified = name if parent == 'm' else '%s.%s' % (variables.get(parent, parent), name)
            cxx_to_py[short_type(template[0])] = qualified
            if variable:
                variables[variable] = qualified
            # a chained statement may contain ';' inside lambdas: extend to the ';' at bracket depth 0
            index, depth = template_end, 0
            while index < len(text):
                char = text[index]
                if char in '({[':
                    depth += 1
                elif char in ')}]':
                    depth -= 1
                elif char == ';' and depth <= 0:
                    break
                elif char == '"':
                    index += 1
                    while text[index] != '"' or text[index - 1] == '\\':
                        index += 1
                index += 1
            statement = text[template_end:index]
            names = members.setdefault(qualified, set())
            names.update(name for _unused, name in MEMBER.findall(statement) if not name.startswith('_'))
            if kind == 'enum_':
                names.update(('name', 'value'))
                # export_values() copies an enum's members into the enclosing scope (class or module)
                if re.search(r'\.export_values\s*\(', statement):
                    values = set(n for n in names if n not in ('name', 'value'))
                    if parent == 'm':
                        module_names.update(values)
                    else:
                        members.setdefault(variables.get(parent, parent), set()).update(values)
            bases[qualified] = [short_type(arg) for arg in template[1:]]
        for found in VAR_MEMBER.finditer(text):
            if found.group(1) in variables:
                chain = text[found.start(2) - 1:text.find(';', found.end())]
                members.setdefault(variables[found.group(1)], set()).update(
                    name for _unused, name in MEMBER.findall(chain) if not name.startswith('_'))
    for name, aliased in aliases:
        if aliased in members:
            members[name] = members[aliased]
    return members, cxx_to_py, bases, module_names


def resolve_inheritance(members, cxx_to_py, bases):
    def all_members(qualified, seen):
        names = set(members.get(qualified, ()))
        for base in bases.get(qualified, ()):
            parent = cxx_to_py.get(base)
            if parent and parent not in seen:
                names |= all_members(parent, seen | {parent})
        return names
    return dict((qualified, all_members(qualified, {qualified})) for qualified in members)


def read_python_init(text):
    """Top-level defs/classes/imports-as and ``X.y = ...`` assignments of the package ``__init__.py``."""
    top, attributes = set(), set()
    # packaging templates carry placeholders such as ##TENSORRT_MODULE##
    for node in ast.parse(re.sub(r'##[A-Z_]+##', 'tensorrt', text)).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    top.add(target.id)
                elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                    attributes.add('%s.%s' % (target.value.id, target.attr))
    return set(n for n in top if not n.startswith('_')), set(a for a in attributes if '._' not in a)


def extract(git_dir, ref, version):
    cpp = [path for path in git_files(git_dir, ref, 'python/src') if path.endswith('.cpp')]
    members, cxx_to_py, bases, module_names = read_bindings([git_show(git_dir, ref, p) for p in cpp])
    members = resolve_inheritance(members, cxx_to_py, bases)
    names = set(n for n in module_names if not n.startswith('_'))
    for qualified, attrs in members.items():
        names.add(qualified)
        names.update('%s.%s' % (qualified, attr) for attr in attrs)
    inits = [p for p in git_files(git_dir, ref, 'python/packaging') if p.endswith('tensorrt/__init__.py')
             and 'frontend_sdist' not in p]
    for init in inits:
        top, attributes = read_python_init(git_show(git_dir, ref, init))
        names |= top | attributes
    # Python-side aliases (``Logger.Severity = ILogger.Severity``) expose the aliased class's members too
    for alias in [a for a in names if a.count('.') == 1 and a.split('.')[1] in
                  set(q.split('.')[-1] for q in members if '.' in q)]:
        for qualified in members:
            if qualified.count('.') == 1 and qualified.split('.')[1] == alias.split('.')[1]:
                names.update('%s.%s' % (alias, attr) for attr in members[qualified])
    commit = subprocess.check_output(['git', '--git-dir', git_dir, 'rev-parse', ref + '^{commit}'],
                                     universal_newlines=True).strip()
    return sorted(names), commit, cpp + inits


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('git_dir')
    parser.add_argument('ref')
    parser.add_argument('out')
    parser.add_argument('--version', required=True)
    args = parser.parse_args()
    names, commit, files = extract(args.git_dir, args.ref, args.version)
    header = [
        '# API names of TensorRT %s read from its pybind11 binding source by tests/doubles/extract_source_names.py.'
        % args.version,
        '# derived-from: source (no wheel of this version exists on PyPI)',
        '# repository: https://github.com/NVIDIA/TensorRT ref %s commit %s' % (args.ref, commit),
        '# files: %s' % ' '.join(files),
        '# version: %s' % args.version,
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
