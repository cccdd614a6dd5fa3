# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Platform facts of one host: what a TensorRT engine built there depends on.

``gather(sysroot, probe_interpreter, timeout)`` reads the files real Jetsons and dGPU boxes have
(``/etc/nv_tegra_release``, device-tree ``model``/``compatible``/``chosen``, dpkg status, CUDA
``version.json``/``version.txt``, ``cudnn_version.h``, ``NvInferVersion.h``, ``/dev/nvhost-nvdla*``,
``/proc/meminfo``, nvpmodel state, cpufreq) and, for dGPUs, NVML or ``nvidia-smi``. Each fact that
cannot be read is ``None`` with a reason in ``unknown``; nothing here raises for a missing or odd
file. Sources and their quirks are listed in ``docs/platform_facts.md``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import importlib.util
import json
import os
import platform
import re
import sys

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._platform_files import Sysroot, Unavailable
from ansible_collections.tao.fleet.plugins.module_utils import _platform_tables as tables

SCHEMA_VERSION = 1
DPKG_STATUS_MAX_BYTES = 64 << 20

# Interpreter-side TensorRT packages, in the order that decides which one builds:
# (import name, flavour). tensorrt_rtx_bindings is what pip's tensorrt-rtx-cuXX-bindings installs;
# ``import tensorrt_rtx`` needs the tensorrt-rtx-cuXX metapackage on top of it.
INTERPRETER_TENSORRT_PACKAGES = (
    ('tensorrt', 'tensorrt'),
    ('tensorrt_rtx', 'tensorrt_rtx'),
    ('tensorrt_rtx_bindings', 'tensorrt_rtx'),
)
TEST_DOUBLE_MARKER = '__tao_fleet_test_double__'
TRTEXEC_PATHS = ('usr/src/tensorrt/bin/trtexec', 'usr/bin/trtexec', 'usr/local/bin/trtexec',
                 'opt/tensorrt/bin/trtexec')
NVIDIA_SMI_QUERY = ('--query-gpu=index,name,driver_version,compute_cap,memory.total',
                    '--format=csv,noheader,nounits')

_TEGRA_RELEASE_RE = re.compile(r'^#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([0-9]+(?:\.[0-9]+)*)', re.M)
_EABI_RE = re.compile(r'EABI:\s*(\w+)')
_DEB_UPSTREAM_RE = re.compile(r'^(?:[0-9]+:)?([0-9]+(?:\.[0-9]+)*)')
_DEFINE_RE = re.compile(r'^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+\(?[ \t]*(\w+)[ \t]*\)?', re.M)
_PY_VERSION_RE = re.compile(r'''^__version__\s*=\s*['"]([0-9][0-9A-Za-z.+-]*)['"]\s*(?:#.*)?$''', re.M)
_TEST_DOUBLE_RE = re.compile(r'^%s\s*=\s*True\b' % TEST_DOUBLE_MARKER, re.M)
_PART_RE = re.compile(r'p?([0-9]{4})-([0-9]{4})')
_SKU_699_RE = re.compile(r'699-[0-9]([0-9]{4})-([0-9]{4})-')
_VERSION_RE = re.compile(r'^[0-9]+(?:\.[0-9]+)*$')
_CC_RE = re.compile(r'^[0-9]+\.[0-9]+$')


def gather(sysroot='/', probe_interpreter=True, timeout=10):
    """``tao_platform`` facts of the host whose root filesystem is ``sysroot``."""
    root = os.path.abspath(sysroot or '/')
    if not os.path.isdir(root):
        raise TaoFleetError(
            'sysroot %s is not a directory.' % root,
            cause='platform_facts reads the host\'s files below sysroot, and there is nothing there.',
            fix='Leave sysroot unset (/) on a real device, or point it at an unpacked root filesystem.',
            code='sysroot_missing')
    return _Gatherer(Sysroot(root, timeout), probe_interpreter).run()


def canonical_json(value):
    """Sorted keys, no spaces: the text that ``platform_key_sha256`` hashes."""
    return json.dumps(value, sort_keys=True, separators=(',', ':'), ensure_ascii=True)


def platform_key_sha256(platform_key):
    return hashlib.sha256(canonical_json(platform_key).encode('ascii')).hexdigest()


def deb_upstream_version(version):
    """``10.3.0.30-1+cuda12.5`` -> ``10.3.0.30``; ``6.2+b77`` -> ``6.2``; None if it has no digits."""
    match = _DEB_UPSTREAM_RE.match(version or '')
    return match.group(1) if match else None


def parse_dpkg_status(lines):
    """Installed packages from dpkg's status file: {name: {'version', 'architecture'}}."""
    packages = {}
    stanza = {}
    for line in list(lines) + ['']:
        if not line.strip():
            status = stanza.get('status', '').split()
            if stanza.get('package') and status[-1:] == ['installed'] and stanza['package'] not in packages:
                packages[stanza['package']] = {'version': stanza.get('version', ''),
                                               'architecture': stanza.get('architecture', '')}
            stanza = {}
            continue
        if line[0] in ' \t' or ':' not in line:
            continue
        key, _colon, value = line.partition(':')
        stanza[key.strip().lower()] = value.strip()
    return packages


def parse_defines(text):
    """``#define NAME VALUE`` pairs of a C header, with one level of aliases followed.

    TensorRT's enterprise headers write ``#define NV_TENSORRT_MAJOR TRT_MAJOR_ENTERPRISE``.
    """
    defines = dict(_DEFINE_RE.findall(text))
    resolved = {}
    for name, value in defines.items():
        for _depth in range(3):
            if value in defines and value != name:
                value = defines[value]
        resolved[name] = value
    return resolved


def parse_tegra_release(text):
    """(release 'R.rev', EABI) from /etc/nv_tegra_release; raises ValueError when unparseable."""
    match = _TEGRA_RELEASE_RE.search(text)
    if not match:
        raise ValueError('no "# R<major> (release), REVISION: <x.y>" line')
    eabi = _EABI_RE.search(text[match.start():].split('\n', 1)[0])
    return '%s.%s' % (match.group(1), match.group(2)), (eabi.group(1) if eabi else None)


def dt_text(data):
    """A device-tree property's bytes as text; stray bytes become U+FFFD."""
    return data.decode('ascii', 'replace')


def dt_strings(data):
    """Device-tree string-list property (NUL-separated bytes) -> list of text."""
    return [part.decode('ascii', 'replace').strip() for part in data.split(b'\0') if part.strip()]


def board_ids(tokens):
    """'pNNNN-SSSS' of every board id among tokens like '3767-0000-303' (module and carrier mixed)."""
    parts = []
    for token in tokens:
        match = _PART_RE.match(token.strip())
        if match:
            parts.append('p%s-%s' % match.groups())
    return parts


def module_part_from_ids(tokens):
    """The module among board ids: the one whose board number is a module's, not a carrier's."""
    for part in board_ids(tokens):
        if part[1:5] in tables.MODULE_BOARD_IDS:
            return part
    return None


def carrier_part_from_ids(tokens):
    for part in board_ids(tokens):
        if part[1:5] not in tables.MODULE_BOARD_IDS:
            return part
    return None


def parts_from_compatible(compatible):
    """(module part, carrier part) from compatible entries like 'nvidia,p3768-0000+p3767-0000'.

    L4T lists several carriers for one module (Xavier NX: p3449 and p3509); then the carrier is
    ambiguous and None.
    """
    modules, carriers = [], []
    for entry in compatible:
        name = entry.split(',', 1)[-1]
        if '+' in name:
            carrier, _plus, module = name.partition('+')
            module_match = _PART_RE.match(module)
            carrier_match = _PART_RE.match(carrier)
            if module_match:
                modules.append('p%s-%s' % module_match.groups())
                if carrier_match:
                    carriers.append('p%s-%s' % carrier_match.groups())
    if not modules:
        for entry in compatible:
            match = _PART_RE.match(entry.split(',', 1)[-1])
            if match and match.group(1) in tables.MODULE_BOARD_IDS:
                modules.append('p%s-%s' % match.groups())
    carrier = carriers[0] if len(set(carriers)) == 1 else None
    return (modules[0] if modules else None), carrier


def soc_from_compatible(compatible):
    for entry in compatible:
        name = entry.split(',', 1)[-1]
        if name in tables.SOCS:
            return name
    for entry in compatible:
        name = entry.split(',', 1)[-1]
        if name in tables.SOC_ALIASES:
            return tables.SOC_ALIASES[name]
    return None


def merge_versions(readings):
    """One version from several (source, version) readings, most trusted first: (version, source).

    A less trusted reading only refines the answer when it extends it (``10.3.0`` from the Python
    bindings + ``10.3.0.30`` from the header -> ``10.3.0.30``); one that contradicts it is kept as
    evidence, not used (JetPack 4's ``tensorrt`` metapackage says 8.2.1.9 for library 8.2.1.8).
    """
    best, source, refined = None, None, None
    for name, version in readings:
        if not version:
            continue
        if best is None:
            best, source = version, name
        elif version.startswith(best + '.'):
            best, refined = version, name
    if refined:
        source = '%s (build number from %s)' % (source, refined)
    return best, source


def slug(text):
    text = re.sub(r'^nvidia\s+', '', (text or '').strip(), flags=re.I)
    return re.sub(r'[^a-z0-9]+', '_', text.lower()).strip('_') or 'unknown'


class _Gatherer(object):
    """One run of the probes over one sysroot; collects facts, ``unknown`` reasons and warnings."""

    def __init__(self, files, probe_interpreter):
        self.files = files
        self.probe_interpreter = probe_interpreter
        self.unknown = {}
        self.warnings = []
        self.sources = {}
        self._dpkg = None
        self._dpkg_problem = None

    def attempt(self, name, probe, *args):
        """Run one probe; an ``Unavailable`` becomes ``unknown[name]`` and a ``None`` value."""
        try:
            return probe(*args)
        except Unavailable as exc:
            self.unknown[name] = exc.reason
            return None

    # ---- shared readings -------------------------------------------------------------------
    @property
    def dpkg(self):
        if self._dpkg is None:
            try:
                lines = self.files.read_lines('var/lib/dpkg/status', DPKG_STATUS_MAX_BYTES)
                self._dpkg = parse_dpkg_status(lines)
                if not self._dpkg and any(line.strip() for line in lines):
                    self._dpkg_problem = '/var/lib/dpkg/status holds no installed-package stanza'
            except Unavailable as exc:
                self._dpkg = {}
                self._dpkg_problem = exc.reason
        return self._dpkg

    def dpkg_version(self, name):
        entry = self.dpkg.get(name)
        return entry['version'] if entry else None

    def dpkg_reason(self, what, package):
        """``what`` went wrong, and the dpkg fallback (a ``package``) did not help either."""
        if self._dpkg_problem:
            return '%s; dpkg status unusable too (%s)' % (what, self._dpkg_problem)
        return '%s, and dpkg lists no %s package' % (what, package)

    # ---- probes --------------------------------------------------------------------------
    def tegra_release(self):
        try:
            text = self.files.read_text('etc/nv_tegra_release', 64 << 10)
        except Unavailable as exc:
            core = deb_upstream_version(self.dpkg_version('nvidia-l4t-core'))
            if core:
                return {'release': core, 'eabi': None, 'source': 'dpkg nvidia-l4t-core'}
            raise Unavailable(self.dpkg_reason(exc.reason, 'nvidia-l4t-core'))
        try:
            release, eabi = parse_tegra_release(text)
        except ValueError as exc:
            core = deb_upstream_version(self.dpkg_version('nvidia-l4t-core'))
            if core:
                self.warnings.append('/etc/nv_tegra_release is unreadable (%s); L4T %s taken from the '
                                     'nvidia-l4t-core package instead.' % (exc, core))
                return {'release': core, 'eabi': None, 'source': 'dpkg nvidia-l4t-core'}
            raise Unavailable('/etc/nv_tegra_release has %s' % exc)
        core = deb_upstream_version(self.dpkg_version('nvidia-l4t-core'))
        if core and core != release:
            self.warnings.append(
                '/etc/nv_tegra_release says L4T %s but the nvidia-l4t-core package is %s: a partial '
                'upgrade? Using %s (the release file); finish the upgrade with apt and reboot.'
                % (release, core, release))
        return {'release': release, 'eabi': eabi, 'source': '/etc/nv_tegra_release'}

    def device_tree(self):
        """model, compatible and the bootloader's board ids, each None when absent."""
        tree = {}
        for prop in ('model', 'compatible', 'chosen/nvidia,sku', 'chosen/ids'):
            try:
                tree[prop] = self.files.read_bytes('proc/device-tree/' + prop, 64 << 10)
            except Unavailable as exc:
                tree[prop] = None
                tree[prop + ':reason'] = exc.reason
        tree['plugin-manager/ids'] = self.files.listdir('proc/device-tree/chosen/plugin-manager/ids')
        return tree

    def module(self, tree):
        compatible = dt_strings(tree['compatible']) if tree['compatible'] is not None else []
        model = dt_strings(tree['model'])[0] if tree['model'] and dt_strings(tree['model']) else None
        if model is None:
            self.unknown['module.name'] = tree.get('model:reason') or '/proc/device-tree/model is empty'
        compat_part, carrier = parts_from_compatible(compatible)
        part, source = None, None
        if tree['chosen/nvidia,sku']:
            match = _SKU_699_RE.search(dt_text(tree['chosen/nvidia,sku']))
            if match:
                part, source = 'p%s-%s' % match.groups(), 'device-tree chosen/nvidia,sku'
        ids = re.split(r'[\s\0]+', dt_text(tree['chosen/ids'])) if tree['chosen/ids'] else []
        ids += tree['plugin-manager/ids']
        carrier = carrier_part_from_ids(ids) or carrier
        if part is None and tree['chosen/ids']:
            part = module_part_from_ids(ids)
            source = 'device-tree chosen/ids' if part else None
        if part is None and tree['plugin-manager/ids']:
            part = module_part_from_ids(tree['plugin-manager/ids'])
            source = 'device-tree chosen/plugin-manager/ids' if part else None
        if part is None and compat_part:
            part, source = compat_part, 'device-tree compatible'
        if part is None:
            self.unknown['module.part_number'] = (
                'no module part number in /proc/device-tree (chosen/nvidia,sku, chosen/ids, '
                'chosen/plugin-manager/ids, compatible%s)'
                % ('' if tree['compatible'] is not None else ': ' + tree['compatible:reason']))
        if part and compat_part and part != compat_part:
            # The bootloader reads the module EEPROM; the kernel's compatible comes from the DTB,
            # which L4T shares between SKUs (Xavier NX 16GB boots the p3668-0001 DTB).
            self.sources['module.compatible_part_number'] = compat_part
        entry = tables.MODULES.get(part) if part else None
        if part and entry is None:
            self.unknown['module.id'] = 'part number %s is not in tao.fleet\'s module table' % part
            self.warnings.append(
                'Jetson module %s is not in tao.fleet\'s module table: its id is unknown; engines are '
                'keyed by the part number itself. Add it to plugins/module_utils/_platform_tables.py.'
                % part)
        elif part is None:
            self.unknown.setdefault('module.id', 'module part number unknown')
        return {
            'name': model,
            'id': entry['id'] if entry else None,
            'description': entry['name'] if entry else None,
            'part_number': part,
            'part_number_source': source,
            'carrier': carrier,
            'compatible': compatible,
        }, entry

    def soc(self, compatible, module_entry):
        soc = soc_from_compatible(compatible)
        if soc:
            self.sources['soc'] = 'device-tree compatible'
            return soc
        if module_entry:
            self.sources['soc'] = 'module table'
            return module_entry['soc']
        raise Unavailable('no nvidia,tegraNNN entry in /proc/device-tree/compatible and the module is '
                          'unknown')

    def jetpack(self, l4t):
        package = self.dpkg_version('nvidia-jetpack')
        from_package = deb_upstream_version(package)
        from_table = tables.L4T_TO_JETPACK.get(l4t['release']) if l4t else None
        if l4t and not from_table:
            self.warnings.append(
                'L4T R%s is not in tao.fleet\'s L4T -> JetPack table (newest known: R%s). %s The other '
                'facts are read from the files themselves; update the collection to get this '
                'release\'s row.' % (l4t['release'], tables.NEWEST_KNOWN_L4T,
                                     'JetPack %s comes from the nvidia-jetpack package.' % from_package
                                     if from_package else 'JetPack version unknown.'))
        if from_package and from_table and from_package != from_table:
            self.warnings.append(
                'nvidia-jetpack package says JetPack %s but L4T R%s belongs to JetPack %s: the BSP was '
                'upgraded without the JetPack packages (or the reverse). Reporting the package\'s %s.'
                % (from_package, l4t['release'], from_table, from_package))
        if from_package:
            return {'version': from_package, 'source': 'nvidia-jetpack package',
                    'package_version': package, 'table_version': from_table}
        if from_table:
            return {'version': from_table, 'source': 'L4T table', 'package_version': None,
                    'table_version': from_table}
        if not l4t:
            raise Unavailable('L4T release unknown and no nvidia-jetpack package')
        raise Unavailable('L4T R%s is not in tao.fleet\'s table and the nvidia-jetpack package is not '
                          'installed' % l4t['release'])

    def ubuntu(self):
        fields = {}
        for line in self.files.read_text('etc/os-release', 64 << 10).splitlines():
            key, sep, value = line.partition('=')
            if sep:
                fields[key.strip()] = value.strip().strip('"\'')
        if fields.get('ID') != 'ubuntu':
            raise Unavailable('/etc/os-release names %s, not Ubuntu' % (fields.get('ID') or 'no distribution'))
        if not fields.get('VERSION_ID'):
            raise Unavailable('/etc/os-release has no VERSION_ID')
        return {'release': fields['VERSION_ID'], 'codename': fields.get('VERSION_CODENAME'),
                'description': fields.get('PRETTY_NAME')}

    def arch(self, tegra):
        if self.files.is_live:
            self.sources['arch'] = 'running kernel (uname -m)'
            return platform.machine()
        if tegra and tegra.get('eabi'):
            self.sources['arch'] = '/etc/nv_tegra_release EABI'
            return tegra['eabi']
        counts = {}
        for entry in self.dpkg.values():
            if entry['architecture'] not in ('', 'all'):
                counts[entry['architecture']] = counts.get(entry['architecture'], 0) + 1
        if counts:
            deb_arch = max(sorted(counts), key=lambda name: counts[name])
            self.sources['arch'] = 'dpkg package architecture (%s)' % deb_arch
            return {'arm64': 'aarch64', 'amd64': 'x86_64'}.get(deb_arch, deb_arch)
        raise Unavailable('no EABI in /etc/nv_tegra_release and no architecture in dpkg status')

    def cuda(self):
        reasons = []
        try:
            text = self.files.read_text('usr/local/cuda/version.json')
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise Unavailable('/usr/local/cuda/version.json is not valid JSON (%s)' % exc)
            for key in ('cuda_cudart', 'cuda_nvcc', 'cuda'):
                version = (data.get(key) or {}).get('version') if isinstance(data, dict) else None
                if isinstance(version, str) and _VERSION_RE.match(version):
                    return {'version': version, 'source': '/usr/local/cuda/version.json %s' % key}
            reasons.append('/usr/local/cuda/version.json has no cuda_cudart/cuda_nvcc/cuda version')
        except Unavailable as exc:
            reasons.append(exc.reason)
        try:
            text = self.files.read_text('usr/local/cuda/version.txt', 64 << 10)
            match = re.search(r'CUDA Version\s+([0-9]+(?:\.[0-9]+)+)', text)
            if match:
                return {'version': match.group(1), 'source': '/usr/local/cuda/version.txt'}
            reasons.append('/usr/local/cuda/version.txt has no "CUDA Version x.y.z" line')
        except Unavailable as exc:
            reasons.append(exc.reason)
        for name in sorted(self.dpkg, reverse=True):
            if re.match(r'^cuda-cudart-[0-9]+-[0-9]+$', name):
                version = deb_upstream_version(self.dpkg[name]['version'])
                if version:
                    return {'version': version, 'source': 'dpkg %s' % name}
        raise Unavailable(self.dpkg_reason('; '.join(reasons), 'cuda-cudart-X-Y'))

    def cudnn(self):
        headers = ['usr/include/cudnn_version.h']
        for triplet in self.files.glob('usr/include', lambda n: n.endswith('-linux-gnu')):
            headers.extend(sorted(self.files.glob(triplet, lambda n: re.match(r'^cudnn_version.*\.h$', n)),
                                  reverse=True))
        headers += ['usr/local/cuda/include/cudnn_version.h', 'usr/include/cudnn.h']
        reasons = []
        for header in headers:
            try:
                defines = parse_defines(self.files.read_text(header))
            except Unavailable as exc:
                if header == headers[0]:
                    reasons.append(exc.reason)
                continue
            parts = [defines.get(name) for name in ('CUDNN_MAJOR', 'CUDNN_MINOR', 'CUDNN_PATCHLEVEL')]
            if all(part and part.isdigit() for part in parts):
                return {'version': '.'.join(parts), 'source': self.files.display(header)}
            reasons.append('%s lacks numeric CUDNN_MAJOR/MINOR/PATCHLEVEL' % self.files.display(header))
        for name in sorted(self.dpkg, reverse=True):
            if re.match(r'^libcudnn[0-9]+(-cuda-[0-9]+)?$', name):
                version = deb_upstream_version(self.dpkg[name]['version'])
                if version:
                    return {'version': '.'.join(version.split('.')[:3]), 'source': 'dpkg %s' % name}
        raise Unavailable(self.dpkg_reason('no cuDNN header (%s)' % '; '.join(reasons), 'libcudnnN'))

    def system_tensorrt(self):
        """The system's TensorRT from its Python bindings, NvInferVersion.h and dpkg, merged."""
        readings = []
        bindings = None
        for libdir in ['usr/lib/python3'] + self.files.glob('usr/lib', lambda n: re.match(r'^python3\.[0-9]+$', n)) \
                + self.files.glob('usr/local/lib', lambda n: re.match(r'^python3\.[0-9]+$', n)):
            init = '%s/dist-packages/tensorrt/__init__.py' % libdir
            try:
                text = self.files.read_text(init)
            except Unavailable:
                continue
            match = _PY_VERSION_RE.search(text)
            if match:
                python = libdir.rsplit('python', 1)[-1] if re.search(r'python3\.[0-9]+$', libdir) else None
                bindings = {'path': self.files.display(init.rsplit('/', 1)[0]), 'python': python}
                readings.append(('python-bindings', match.group(1)))
                break
        header = None
        for candidate in [h + '/NvInferVersion.h' for h in
                          self.files.glob('usr/include', lambda n: n.endswith('-linux-gnu'))] \
                + ['usr/include/NvInferVersion.h']:
            try:
                defines = parse_defines(self.files.read_text(candidate))
            except Unavailable:
                continue
            parts = [defines.get('NV_TENSORRT_' + name) for name in ('MAJOR', 'MINOR', 'PATCH', 'BUILD')]
            if all(part and part.isdigit() for part in parts[:3]):
                numbers = parts if parts[3] and parts[3].isdigit() else parts[:3]
                header = self.files.display(candidate)
                readings.append(('header', '.'.join(numbers)))
                break
            self.warnings.append('%s has no numeric NV_TENSORRT_MAJOR/MINOR/PATCH; ignored.'
                                 % self.files.display(candidate))
        library = sorted(name for name in self.dpkg if re.match(r'^libnvinfer[0-9]+$', name))
        for name in reversed(library):
            readings.append(('dpkg %s' % name, deb_upstream_version(self.dpkg[name]['version'])))
        for name in ('tensorrt', 'python3-libnvinfer'):
            if name in self.dpkg:
                readings.append(('dpkg %s' % name, deb_upstream_version(self.dpkg[name]['version'])))
        version, source = merge_versions(readings)
        if version is None:
            return None
        return {
            'scope': 'system',
            'version': version,
            'flavour': 'tensorrt',
            'source': source,
            'test_double': False,
            'evidence': dict((name, value) for name, value in readings if value),
            'python_bindings': bindings is not None or 'python3-libnvinfer' in self.dpkg,
            'python': bindings['python'] if bindings else None,
            'path': bindings['path'] if bindings else header,
        }

    def interpreter_tensorrt(self):
        """TensorRT packages the running interpreter can import, read without importing them."""
        found = []
        for package, flavour in INTERPRETER_TENSORRT_PACKAGES:
            try:
                spec = importlib.util.find_spec(package)
            except (ImportError, ValueError, AttributeError) as exc:
                self.warnings.append('Looking up Python package %s failed: %s' % (package, exc))
                continue
            if spec is None:
                continue
            locations = [location for location in (spec.submodule_search_locations or []) if os.path.isdir(location)]
            if not (spec.origin and os.path.isfile(spec.origin)) and not locations:
                # no files here: mitogen's finder offers every missing package, to fetch it from the controller
                continue
            if spec.origin and spec.origin.endswith('.py'):
                init = spec.origin
            elif locations:
                init = os.path.join(locations[0], '__init__.py')
            else:
                init = None
            text = ''
            if init and os.path.isfile(init) and os.path.getsize(init) <= (1 << 20):
                with open(init, 'rb') as handle:
                    text = handle.read().decode('utf-8', 'replace')
            match = _PY_VERSION_RE.search(text)
            version = match.group(1) if match else None
            how = 'read from %s' % init if version else None
            if version is None:
                version, how = self._imported_version(package)
            if version is None:
                self.warnings.append('Python package %s is present (%s) but its version cannot be read: %s'
                                     % (package, init or spec.origin, how))
                continue
            double = bool(_TEST_DOUBLE_RE.search(text))
            found.append({
                'scope': 'interpreter',
                'version': version,
                'flavour': 'tensorrt' if double else flavour,
                'source': 'python-bindings',
                'test_double': double,
                'package': package,
                'path': os.path.dirname(init) if init else spec.origin,
                'python': '%d.%d' % sys.version_info[:2],
                'interpreter': sys.executable,
                'version_source': how,
            })
        return found

    def _imported_version(self, package):
        """Import in a child process, bounded in time: a crashing import cannot take us down."""
        code = 'import %s as m; print(getattr(m, "__version__", ""))' % package
        try:
            returncode, out, err = self.files.run([sys.executable, '-c', code])
        except Unavailable as exc:
            return None, exc.reason
        version = out.strip().splitlines()[-1] if out.strip() else ''
        if returncode == 0 and _VERSION_RE.match(version):
            return version, 'imported in a child process'
        last = (err.strip().splitlines() or ['exit status %d' % returncode])[-1]
        return None, 'import %s failed: %s' % (package, last)

    def trtexec(self):
        for rel in TRTEXEC_PATHS:
            if self.files.is_file(rel):
                return {'present': True, 'path': self.files.display(rel)}
        if self.files.is_live:
            path = self.files.which('trtexec', ())
            if path:
                return {'present': True, 'path': path}
        return {'present': False, 'path': None}

    def dgpu(self):
        """GPU facts from NVML (live systems) or nvidia-smi; raises Unavailable with both reasons."""
        reasons = []
        if self.files.is_live:
            try:
                return self._nvml()
            except Unavailable as exc:
                reasons.append(exc.reason)
        smi = self.files.which('nvidia-smi', ('usr/bin/nvidia-smi',))
        if smi:
            try:
                return self._nvidia_smi(smi)
            except Unavailable as exc:
                reasons.append(exc.reason)
        else:
            reasons.append('no nvidia-smi under %s' % ('PATH' if self.files.is_live else '/usr/bin'))
        raise Unavailable('; '.join(reasons))

    def _nvml(self):
        returncode, out, err = self.files.run([sys.executable, '-c', _NVML_PROBE])
        try:
            data = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise Unavailable('NVML probe printed no result (exit %d: %s)' % (returncode, err.strip()[-200:]))
        if data.get('error'):
            raise Unavailable('NVML: %s' % data['error'])
        if not data.get('gpus'):
            raise Unavailable('NVML sees no GPU')
        data['source'] = 'NVML (libnvidia-ml.so.1)'
        return data

    def _nvidia_smi(self, path):
        returncode, out, err = self.files.run([path] + list(NVIDIA_SMI_QUERY))
        if returncode != 0:
            raise Unavailable('%s exited %d: %s' % (path, returncode, (err or out).strip()[-300:]))
        gpus = []
        driver = None
        for line in out.splitlines():
            cells = [cell.strip() for cell in line.split(',')]
            if len(cells) != 5 or not cells[0].isdigit():
                continue
            driver = driver or cells[2]
            gpus.append({'name': cells[1], 'compute_capability': cells[3] if _CC_RE.match(cells[3]) else None,
                         'memory_total_mb': int(cells[4]) if cells[4].isdigit() else None})
        if not gpus:
            raise Unavailable('%s printed no GPU line: %r' % (path, out.strip()[:200]))
        shown = path[len(self.files.root):] if not self.files.is_live else path
        return {'driver_version': driver, 'gpus': gpus, 'source': 'nvidia-smi (%s)' % shown}

    def nvidia_driver_file(self):
        text = self.files.read_text('proc/driver/nvidia/version', 64 << 10)
        match = re.search(r'Kernel Module(?:\s+for\s+\S+)?\s+([0-9]+(?:\.[0-9]+)+)', text)
        if not match:
            raise Unavailable('/proc/driver/nvidia/version has no driver version')
        return match.group(1)

    def dla_cores(self, soc, module_entry):
        nodes = [name for name in self.files.listdir('dev') if re.match(r'^nvhost-nvdla[0-9]+$', name)]
        if nodes:
            self.sources['dla_cores'] = ', '.join('/dev/' + name for name in nodes)
            return len(nodes)
        if module_entry and module_entry['dla_cores'] is not None:
            self.sources['dla_cores'] = 'module table (no /dev/nvhost-nvdla* nodes found)'
            return module_entry['dla_cores']
        if soc in tables.SOCS and tables.SOCS[soc]['dla_cores'] == 0:
            self.sources['dla_cores'] = 'SoC table (%s has no DLA)' % soc
            return 0
        raise Unavailable('no /dev/nvhost-nvdla* nodes and the module\'s DLA count is not in the table')

    def memory(self, shared):
        values = {}
        for line in self.files.read_text('proc/meminfo', 256 << 10).splitlines():
            match = re.match(r'^(\w+):\s+([0-9]+)\s*kB', line)
            if match:
                values[match.group(1)] = int(match.group(2))
        if 'MemTotal' not in values:
            raise Unavailable('/proc/meminfo has no "MemTotal: <n> kB" line')
        return {
            'total_mb': values['MemTotal'] // 1024,
            'available_mb': values['MemAvailable'] // 1024 if 'MemAvailable' in values else None,
            'shared_with_gpu': shared,
            'source': '/proc/meminfo',
        }

    def nvpmodel(self):
        conf = self.files.read_text('etc/nvpmodel.conf', 1 << 20)
        names = dict((int(i), n) for i, n in
                     re.findall(r'^<\s*POWER_MODEL\s+ID=([0-9]+)\s+NAME=(\S+?)\s*>', conf, re.M))
        default = re.search(r'^<\s*PM_CONFIG\s+DEFAULT=([0-9]+)\s*>', conf, re.M)
        default_id = int(default.group(1)) if default else None
        try:
            status = self.files.read_text('var/lib/nvpmodel/status', 4096)
        except Unavailable as exc:
            raise Unavailable('%s (nvpmodel has not set a mode yet; boot default is ID=%s %s)'
                              % (exc.reason, default_id, names.get(default_id)))
        match = re.search(r'pmode:\s*([0-9]+)', status)
        if not match:
            raise Unavailable('/var/lib/nvpmodel/status has no "pmode:NNNN" (%r)' % status.strip()[:40])
        mode = int(match.group(1))
        if mode not in names:
            self.warnings.append('nvpmodel mode %d is not defined in /etc/nvpmodel.conf.' % mode)
        return {'id': mode, 'name': names.get(mode), 'default_id': default_id,
                'default_name': names.get(default_id)}

    def jetson_clocks(self):
        """On when every CPU policy and the GPU run pinned at their maximum (what jetson_clocks does)."""
        base = 'sys/devices/system/cpu/cpufreq'
        policies = self.files.glob(base, lambda n: re.match(r'^policy[0-9]+$', n))
        if not policies:
            raise Unavailable('no cpufreq policies under /%s' % base)
        pinned = []
        for policy in policies:
            low = self.files.read_text(policy + '/scaling_min_freq', 64).strip()
            high = self.files.read_text(policy + '/scaling_max_freq', 64).strip()
            pinned.append(low == high)
        for device in self.files.glob('sys/class/devfreq', lambda n: re.search(r'gpu|gv11b|ga10b|gp10b', n)):
            low = self.files.read_text(device + '/min_freq', 64).strip()
            high = self.files.read_text(device + '/max_freq', 64).strip()
            pinned.append(low == high)
        return all(pinned)

    # ---- assembly ------------------------------------------------------------------------
    def run(self):
        tegra = self.attempt('l4t', self.tegra_release)
        tree = self.device_tree()
        compatible = dt_strings(tree['compatible']) if tree['compatible'] is not None else []
        is_jetson = tegra is not None or 'nvidia-l4t-core' in self.dpkg or bool(soc_from_compatible(compatible))
        gpu_query = None
        kind = 'jetson' if is_jetson else None
        if not is_jetson:
            self.unknown.pop('l4t', None)
            try:
                gpu_query = self.dgpu()
                kind = 'dgpu'
            except Unavailable as exc:
                if self.files.exists('proc/driver/nvidia/version'):
                    kind = 'dgpu'
                    self.unknown['gpu'] = exc.reason
                else:
                    self.unknown['kind'] = (
                        'neither a Jetson (no /etc/nv_tegra_release, no nvidia-l4t-core package, no '
                        'nvidia,tegra device tree) nor an NVIDIA dGPU host (%s; no '
                        '/proc/driver/nvidia/version)' % exc.reason)
        if kind:
            self.sources['kind'] = ('/etc/nv_tegra_release or Jetson device tree' if kind == 'jetson'
                                    else 'NVIDIA driver')

        facts = {'schema_version': SCHEMA_VERSION, 'sysroot': self.files.root, 'kind': kind}
        facts['arch'] = self.attempt('arch', self.arch, tegra)
        module_entry = None
        if kind == 'jetson':
            facts['module'], module_entry = self.module(tree)
            facts['soc'] = self.attempt('soc', self.soc, compatible, module_entry)
            facts['l4t'] = self._l4t(tegra)
            facts['jetpack'] = self.attempt('jetpack', self.jetpack, facts['l4t'])
        else:
            facts['module'] = facts['soc'] = facts['l4t'] = facts['jetpack'] = None
        facts['ubuntu'] = self.attempt('ubuntu', self.ubuntu)
        facts['cuda'] = self.attempt('cuda', self.cuda)
        facts['cudnn'] = self.attempt('cudnn', self.cudnn)
        self._tensorrt(facts, kind)
        facts['trtexec'] = self.trtexec()
        facts['gpu'] = self._gpu(kind, facts.get('soc'), gpu_query)
        facts['compute_capability'] = facts['gpu']['compute_capability'] if facts['gpu'] else None
        if facts['compute_capability'] is None and kind is not None:
            self.unknown.setdefault('compute_capability', self.unknown.get('soc') or self.unknown.get('gpu')
                                    or 'the GPU did not report one')
        if kind == 'jetson':
            facts['dla_cores'] = self.attempt('dla_cores', self.dla_cores, facts['soc'], module_entry)
        else:
            facts['dla_cores'] = 0 if kind == 'dgpu' else None
            if kind == 'dgpu':
                self.sources['dla_cores'] = 'dGPU (DLA exists on Jetson only)'
        facts['memory'] = self.attempt('memory', self.memory, kind == 'jetson')
        if facts['memory'] is not None and facts['gpu'] and not facts['gpu']['integrated']:
            facts['memory']['gpu_total_mb'] = facts['gpu'].get('memory_total_mb')
        facts['python'] = {'version': platform.python_version(), 'executable': sys.executable,
                           'implementation': platform.python_implementation()}
        if kind == 'jetson':
            facts['power'] = {'nvpmodel': self.attempt('power.nvpmodel', self.nvpmodel),
                              'jetson_clocks': self.attempt('power.jetson_clocks', self.jetson_clocks)}
        else:
            facts['power'] = None
        self._compatibility_warnings(facts)
        facts['platform_key'] = self._platform_key(facts)
        facts['platform_key_sha256'] = platform_key_sha256(facts['platform_key'])
        facts['platform_class'] = self._platform_class(facts)
        facts['supported'], facts['reason'] = self._supported(facts)
        facts['sources'] = self.sources
        facts['unknown'] = self.unknown
        facts['warnings'] = self.warnings
        return facts

    def _l4t(self, tegra):
        if tegra is None:
            return None
        release = tegra['release']
        major, _dot, revision = release.partition('.')
        return {'release': release, 'major': int(major), 'revision': revision, 'source': tegra['source'],
                'in_table': release in tables.L4T_TO_JETPACK}

    def _tensorrt(self, facts, kind):
        system = self.system_tensorrt()
        interpreter = self.interpreter_tensorrt() if self.probe_interpreter else []
        candidates = interpreter + ([system] if system else [])
        facts['tensorrt'] = candidates[0] if candidates else None
        facts['tensorrt_others'] = candidates[1:]
        if not candidates:
            self.unknown['tensorrt'] = (
                'no TensorRT found: %sno tensorrt/__init__.py under /usr/lib/python3*/dist-packages, no '
                'NvInferVersion.h under /usr/include, no libnvinfer/tensorrt package in dpkg status' % (
                    'the interpreter %s imports none of %s; ' % (
                        sys.executable, ', '.join(p for p, _flavour in INTERPRETER_TENSORRT_PACKAGES))
                    if self.probe_interpreter else ''))
        if interpreter and system:
            chosen = interpreter[0]
            if (chosen['version'], chosen['flavour']) != (system['version'], system['flavour']) \
                    or chosen['test_double']:
                self.warnings.append(
                    'The interpreter running this module (%s, Python %s) imports %s %s%s from %s; the '
                    'system TensorRT is %s (%s%s). Engines are built with the interpreter\'s. To build with '
                    'the system one, set ansible_python_interpreter: /usr/bin/python3 for this host (or '
                    'create the venv with --system-site-packages).' % (
                        chosen['interpreter'], chosen['python'], chosen['package'], chosen['version'],
                        ' (the tao.fleet TEST DOUBLE, not TensorRT)' if chosen['test_double'] else '',
                        chosen['path'], system['version'], system['source'],
                        ', Python bindings for Python %s' % system['python'] if system['python'] else ''))

    def _gpu(self, kind, soc, query):
        if kind == 'jetson':
            if soc not in tables.SOCS:
                return None
            self.sources['compute_capability'] = 'SoC table (%s)' % soc
            info = tables.SOCS[soc]
            return {'name': 'integrated %s GPU (%s)' % (info['gpu_architecture'], soc),
                    'architecture': info['gpu_architecture'], 'integrated': True,
                    'compute_capability': info['compute_capability'], 'count': 1,
                    'driver_version': None, 'driver_branch': None, 'memory_total_mb': None}
        if kind != 'dgpu':
            return None
        if query is None:
            driver = self.attempt('gpu.driver_version', self.nvidia_driver_file)
            return {'name': None, 'architecture': None, 'integrated': False, 'compute_capability': None,
                    'count': None, 'driver_version': driver,
                    'driver_branch': driver.split('.')[0] if driver else None, 'memory_total_mb': None}
        first = query['gpus'][0]
        if len(set(gpu['name'] for gpu in query['gpus'])) > 1:
            self.warnings.append('This host has different GPUs (%s); facts and the platform key describe '
                                 'GPU 0 only.' % ', '.join(gpu['name'] for gpu in query['gpus']))
        self.sources['gpu'] = query['source']
        self.sources['compute_capability'] = query['source']
        if first['compute_capability'] is None:
            self.unknown['compute_capability'] = '%s reported no compute capability' % query['source']
        driver = query.get('driver_version')
        return {'name': first['name'], 'architecture': tables.ARCHITECTURES.get(first['compute_capability']),
                'integrated': False,
                'compute_capability': first['compute_capability'], 'count': len(query['gpus']),
                'driver_version': driver, 'driver_branch': driver.split('.')[0] if driver else None,
                'memory_total_mb': first['memory_total_mb']}

    def _compatibility_warnings(self, facts):
        trt, cc = facts['tensorrt'], facts['compute_capability']
        if trt and trt['flavour'] == 'tensorrt_rtx' and cc and cc not in tables.TENSORRT_RTX_COMPUTE_CAPABILITIES:
            self.warnings.append(
                'TensorRT-RTX %s builds for RTX GPUs (compute capability %s per its support matrix); '
                'this %s GPU has compute capability %s, so its engines target a GPU TensorRT-RTX does '
                'not list.' % (trt['version'], ', '.join(tables.TENSORRT_RTX_COMPUTE_CAPABILITIES),
                               facts['kind'] or 'unknown', cc))

    def _platform_key(self, facts):
        def text(value):
            return 'unknown' if value is None else str(value)

        trt = facts['tensorrt'] or {}
        key = {'kind': text(facts['kind']), 'arch': text(facts['arch']),
               'compute_capability': text(facts['compute_capability']),
               'cuda': text((facts['cuda'] or {}).get('version')),
               'cudnn': text((facts['cudnn'] or {}).get('version')),
               'tensorrt': text(trt.get('version')), 'tensorrt_flavour': text(trt.get('flavour'))}
        if trt.get('test_double'):
            key['test_double'] = 'true'
        if facts['kind'] == 'jetson':
            key['soc'] = text(facts['soc'])
            key['module'] = text(facts['module']['part_number'])
            key['l4t'] = text((facts['l4t'] or {}).get('release'))
        else:
            gpu = facts['gpu'] or {}
            key['gpu'] = text(gpu.get('name'))
            key['driver_branch'] = text(gpu.get('driver_branch'))
        return key

    def _platform_class(self, facts):
        if facts['kind'] == 'jetson':
            module = facts['module']['id'] or facts['module']['part_number'] or 'unknown_module'
            if facts['jetpack']:
                return 'jetpack%s-%s' % (facts['jetpack']['version'], module)
            if facts['l4t']:
                return 'l4t%s-%s' % (facts['l4t']['release'], module)
            return 'jetson-%s' % module
        if facts['kind'] == 'dgpu':
            gpu = facts['gpu'] or {}
            return 'dgpu-%s-%s' % (slug(gpu.get('name')), gpu.get('driver_branch') or 'unknown')
        return 'unknown'

    def _supported(self, facts):
        problems = []
        if facts['kind'] is None:
            problems.append('No NVIDIA platform found: %s. Fix: run on a Jetson or on a host with the NVIDIA '
                            'driver installed, or point sysroot at such an image.' % self.unknown['kind'])
        elif facts['compute_capability'] is None:
            problems.append('GPU compute capability unknown (%s). Fix: %s' % (
                self.unknown.get('compute_capability'),
                'check that /proc/device-tree/compatible is readable.' if facts['kind'] == 'jetson'
                else 'install a driver whose nvidia-smi supports --query-gpu=compute_cap, or NVML.'))
        missing = self._tensorrt_problem(facts)
        if missing:
            problems.append(missing)
        gap = self._tensorrt_soc_problem(facts)
        if gap:
            problems.append(gap)
        if not problems:
            return True, None
        return False, ' '.join(problems)

    def _tensorrt_soc_problem(self, facts):
        """Why this TensorRT cannot build for this Jetson's GPU (tables.TENSORRT_SOC_GAPS), or None."""
        trt = facts['tensorrt']
        if facts['kind'] != 'jetson' or not trt or trt['flavour'] != 'tensorrt' or not trt.get('version'):
            return None
        try:
            version = tuple(int(part) for part in trt['version'].split('.')[:3])
        except ValueError:
            return None
        version = (version + (0, 0))[:3]
        for first, stop, why in tables.TENSORRT_SOC_GAPS.get(facts['soc'], ()):
            if first <= version < stop:
                return ('TensorRT %s cannot build engines for this %s (%s): %s. Fix: install the TensorRT '
                        'of this JetPack release (sudo apt-get install tensorrt python3-libnvinfer from the '
                        'JetPack apt repository), or move to JetPack 7.2 (TensorRT 10.16.2).'
                        % (trt['version'], facts['soc'], (facts['module'] or {}).get('name') or 'Jetson', why))
        return None

    def _tensorrt_problem(self, facts):
        """Why no TensorRT can build here, and which package fixes it; None when one can."""
        trt = facts['tensorrt']
        if self.probe_interpreter:
            if trt and trt['scope'] == 'interpreter':
                return None
            where = 'the interpreter running this module (%s, Python %d.%d)' % (
                sys.executable, sys.version_info[0], sys.version_info[1])
        else:
            if trt and trt['python_bindings']:
                return None
            where = 'the system python3'
        if facts['kind'] == 'jetson':
            jetpack = (facts['jetpack'] or {}).get('version')
            stack = tables.JETPACK_STACKS.get(jetpack.split('.')[0]) if jetpack else None
            if trt and trt['scope'] == 'system' and trt['python_bindings'] and self.probe_interpreter:
                return ('TensorRT Python bindings are not importable by %s. JetPack installs them for '
                        '/usr/bin/python3 (Python %s) only (TensorRT %s at %s). Fix: set '
                        'ansible_python_interpreter: /usr/bin/python3 for this host, or recreate the venv '
                        'with --system-site-packages.' % (where, trt['python'] or '?', trt['version'],
                                                          trt['path']))
            if stack:
                return ('TensorRT Python bindings are missing for %s. Fix: sudo apt-get install %s '
                        '(JetPack %s ships TensorRT %s with bindings for /usr/bin/python3, Python %s).'
                        % (where, stack['tensorrt_python_package'], jetpack, stack['tensorrt'],
                           stack['python']))
            return ('TensorRT Python bindings are missing for %s and the JetPack release is unknown. Fix: '
                    'sudo apt-get install python3-libnvinfer (from the JetPack apt repository matching '
                    'this L4T).' % where)
        cuda = (facts['cuda'] or {}).get('version')
        cuda_major = cuda.split('.')[0] if cuda else 'XX'
        return ('No TensorRT importable by %s. Fix: pip install tensorrt-cu%s (TensorRT) or '
                'tensorrt-rtx-cu%s (TensorRT-RTX, RTX GPUs) into that interpreter, or apt-get install '
                'python3-libnvinfer from NVIDIA\'s CUDA repository.' % (where, cuda_major, cuda_major))


# Runs in a child process (``python -c``) so that a wedged driver cannot hang the module: the
# parent kills it at the probe timeout. Standard library ctypes only.
_NVML_PROBE = r'''
import ctypes, json
result = {}
try:
    nvml = ctypes.CDLL("libnvidia-ml.so.1")
except OSError as exc:
    print(json.dumps({"error": "libnvidia-ml.so.1 cannot be loaded (%s)" % exc}))
    raise SystemExit(0)


class Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


def check(code, call):
    if code != 0:
        nvml.nvmlErrorString.restype = ctypes.c_char_p
        raise RuntimeError("%s failed: %s" % (call, nvml.nvmlErrorString(code).decode()))


try:
    check(nvml.nvmlInit_v2(), "nvmlInit_v2")
    text = ctypes.create_string_buffer(96)
    check(nvml.nvmlSystemGetDriverVersion(text, 96), "nvmlSystemGetDriverVersion")
    result["driver_version"] = text.value.decode()
    count = ctypes.c_uint()
    check(nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)), "nvmlDeviceGetCount_v2")
    gpus = []
    for index in range(count.value):
        handle = ctypes.c_void_p()
        check(nvml.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle)), "nvmlDeviceGetHandleByIndex_v2")
        check(nvml.nvmlDeviceGetName(handle, text, 96), "nvmlDeviceGetName")
        major, minor = ctypes.c_int(), ctypes.c_int()
        check(nvml.nvmlDeviceGetCudaComputeCapability(handle, ctypes.byref(major), ctypes.byref(minor)),
              "nvmlDeviceGetCudaComputeCapability")
        memory = Memory()
        check(nvml.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory)), "nvmlDeviceGetMemoryInfo")
        gpus.append({"name": text.value.decode(), "compute_capability": "%d.%d" % (major.value, minor.value),
                     "memory_total_mb": memory.total // (1024 * 1024)})
    result["gpus"] = gpus
    nvml.nvmlShutdown()
except Exception as exc:
    result["error"] = str(exc)
print(json.dumps(result))
'''
