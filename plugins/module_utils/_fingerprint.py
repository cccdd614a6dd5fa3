# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The engine fingerprint: one sha256 over everything a TensorRT plan depends on.

A plan only loads on the TensorRT version, GPU, CUDA stack and build options it was made with
(``docs/engine-store.md`` lists the sources), so the store keys engines by
``sha256(canonical_json(inputs))`` where ``inputs`` holds the model's sha256, the host's platform
key, the normalised build options and the calibration cache's sha256. Same fingerprint -> reuse the
engine; anything else changed -> rebuild.

Two rules keep the key honest:

* one meaning, one encoding: build options are normalised (defaults filled in, aliases folded,
  order-free lists sorted) so that "workspace unset" and "workspace = 1 GiB" give one fingerprint;
* no silent collisions: the canonical form refuses values whose JSON text would be ambiguous
  (non-string keys, which JSON would turn into strings so ``{3: x}`` and ``{"3": x}`` would meet;
  fractional floats, whose text is not stable; bytes, sets, objects).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import math
import re
import unicodedata

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError

# Bump when the normalisation below changes meaning: every fingerprint changes with it, so hosts
# rebuild instead of reusing an engine keyed under the old rules.
FINGERPRINT_SCHEMA = 1

# Defaults follow tao-converter's (precision fp32, workspace 1 << 30, max batch 16, no strict
# types, GPU only), so an engine keyed here means the same thing as one built from TAO's
# documented commands. trt_engine reads them from here instead of keeping its own copy.
BUILD_OPTION_DEFAULTS = {
    'precision': 'fp32',
    'workspace': 1 << 30,
    'max_batch_size': 16,
    'input_order': 'nchw',
    'input_dims': {},
    'output_names': [],
    'profiles': [],
    'dla_core': None,
    'gpu_fallback': None,
    'strict_types': False,
    'builder_flags': [],
    'plugin_sha256': [],
    'version_compatible': False,
    'hardware_compatibility': 'none',
    'compute_capabilities': [],
}

PRECISIONS = ('fp32', 'fp16', 'int8', 'strongly_typed')
_PRECISION_ALIASES = {
    'float32': 'fp32', 'float': 'fp32', 'fp32': 'fp32',
    'float16': 'fp16', 'half': 'fp16', 'fp16': 'fp16',
    'int8': 'int8',
    'strongly_typed': 'strongly_typed',
}
INPUT_ORDERS = ('nchw', 'nhwc', 'nc')
HARDWARE_COMPATIBILITY = ('none', 'ampere_plus', 'same_compute_capability')

# Ansible's human_to_bytes convention: K, KB and KiB all mean 1024.
_SIZE_UNITS = {'': 1, 'B': 1, 'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}
_SIZE_RE = re.compile(r'^\s*([0-9]+)\s*([KMGT]?)(?:I?B)?\s*$', re.IGNORECASE)
_SHA256_RE = re.compile(r'^[0-9a-f]{64}$')
_CC_RE = re.compile(r'^([0-9]+)\.([0-9]+)$')


def _invalid(what, value, fix, path=None):
    where = ' at %s' % path if path else ''
    return TaoFleetError(
        'Cannot fingerprint %s%s: %r.' % (what, where, value),
        cause='The engine fingerprint only takes values with one unambiguous JSON encoding.',
        fix=fix,
        code='fingerprint_input_invalid',
    )


def canonical(value, path='$'):
    """``value`` as plain JSON data with one encoding per meaning (see the module docstring)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise _invalid('a fractional or non-finite number', value,
                       'Pass it as a string ("8.7") or an integer.', path)
    if isinstance(value, str):
        return unicodedata.normalize('NFC', value)
    if isinstance(value, (list, tuple)):
        return [canonical(item, '%s[%d]' % (path, index)) for index, item in enumerate(value)]
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _invalid('a non-string key', key,
                               'Use string keys: JSON would turn %r into a string and collide '
                               'with the string key.' % (key,), path)
            result[unicodedata.normalize('NFC', key)] = canonical(item, '%s.%s' % (path, key))
        return result
    raise _invalid('a value of type %s' % type(value).__name__, value,
                   'Pass strings, integers, booleans, lists or dicts.', path)


def canonical_json(value):
    """Canonical JSON text: sorted keys, no spaces, ASCII only, after ``canonical``."""
    return json.dumps(canonical(value), sort_keys=True, separators=(',', ':'),
                      ensure_ascii=True, allow_nan=False)


def sha256_of(value):
    """sha256 hex of ``canonical_json(value)``."""
    return hashlib.sha256(canonical_json(value).encode('ascii')).hexdigest()


def is_sha256(text):
    return isinstance(text, str) and bool(_SHA256_RE.match(text))


def _sha256_hex(value, what):
    text = value.strip().lower() if isinstance(value, str) else value
    if not is_sha256(text):
        raise _invalid(what, value, 'Give the 64 hex digits of a sha256.')
    return text


def normalise_platform_key(platform_key):
    """A flat dict of strings: integers become their decimal text, None means absent."""
    if not isinstance(platform_key, dict):
        raise _invalid('a platform key that is not a dict', platform_key,
                       'Pass the flat dict of strings that platform_facts returns.')
    result = {}
    for key, value in platform_key.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise _invalid('a platform key value that is not a string', value,
                           'Platform key values are strings such as "8.2.1.8" or "tegra210".',
                           'platform.%s' % key)
        result[key] = str(value).strip()
    return canonical(result, 'platform')


def platform_key_sha256(platform_key):
    """sha256 of the normalised platform key: names the host class's timing cache."""
    return sha256_of(normalise_platform_key(platform_key))


def parse_size(value, what='workspace'):
    """Bytes from an int or a text size ("1G", "512MiB", "1073741824")."""
    if isinstance(value, bool):
        raise _invalid(what, value, 'Give a byte count or a size such as "1G".')
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]
    raise _invalid(what, value, 'Give a byte count or a size such as "1G", "512M" or "1GiB".')


def _positive_int(value, what):
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid(what, value, 'Give a positive integer.')
    return value


def _shape(value, what):
    if isinstance(value, str):
        value = [part for part in re.split(r'[x,\s]+', value.strip()) if part]
    if not isinstance(value, (list, tuple)) or not value:
        raise _invalid(what, value, 'Give a shape as a list of integers or text like "1x3x544x960".')
    return [_positive_int(dim, what) for dim in value]


def _bool(value, what):
    if isinstance(value, bool):
        return value
    raise _invalid(what, value, 'Give true or false.')


def _profiles(value):
    """Each profile maps input name -> {min, opt, max}; a bare shape means a static input."""
    if not isinstance(value, (list, tuple)):
        raise _invalid('profiles', value, 'Give a list of {input name: {min, opt, max}} dicts.')
    result = []
    for index, profile in enumerate(value):
        if not isinstance(profile, dict) or not profile:
            raise _invalid('profile %d' % index, profile,
                           'Give {input name: {min: shape, opt: shape, max: shape}}.')
        normalised = {}
        for name, shapes in profile.items():
            what = 'profile %d input %s' % (index, name)
            if isinstance(shapes, dict):
                if sorted(shapes) != ['max', 'min', 'opt']:
                    raise _invalid(what, shapes, 'Give exactly min, opt and max shapes.')
                normalised[name] = dict((key, _shape(shapes[key], what)) for key in shapes)
            else:
                static = _shape(shapes, what)
                normalised[name] = {'min': static, 'opt': static, 'max': static}
        result.append(normalised)
    return result


def _compute_capability(value):
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    match = _CC_RE.match(text or '')
    if not match:
        raise _invalid('compute capability', value, 'Give it as text "major.minor", e.g. "8.7".')
    return '%d.%d' % (int(match.group(1)), int(match.group(2)))


def _choice(value, choices, what, aliases=None):
    text = value.strip().lower().replace('-', '_') if isinstance(value, str) else value
    if aliases is not None:
        text = aliases.get(text, text)
    if text not in choices:
        raise _invalid(what, value, 'Use one of: %s.' % ', '.join(choices))
    return text


def normalise_build_options(build_options):
    """Build options with defaults filled in and one spelling per meaning.

    Keys this function does not know are kept as given (after ``canonical``): they still change
    the fingerprint, but "unset" and "set to the default" differ for them until they get a rule.
    """
    options = dict(build_options or {})
    result = {}
    for key, default in BUILD_OPTION_DEFAULTS.items():
        value = options.pop(key, None)
        result[key] = default if value is None else value

    result['precision'] = _choice(result['precision'], PRECISIONS, 'precision', _PRECISION_ALIASES)
    result['workspace'] = parse_size(result['workspace'])
    result['max_batch_size'] = _positive_int(result['max_batch_size'], 'max_batch_size')
    result['input_order'] = _choice(result['input_order'], INPUT_ORDERS, 'input_order')
    if not isinstance(result['input_dims'], dict):
        raise _invalid('input_dims', result['input_dims'], 'Give {input name: [C, H, W]}.')
    result['input_dims'] = dict((name, _shape(dims, 'input_dims.%s' % name))
                                for name, dims in result['input_dims'].items())
    if not isinstance(result['output_names'], (list, tuple)):
        raise _invalid('output_names', result['output_names'], 'Give a list of output names.')
    # Output order is kept: UFF marks outputs in this order and the engine's bindings follow it.
    result['output_names'] = [str(name) for name in result['output_names']]
    result['profiles'] = _profiles(result['profiles'])

    if result['dla_core'] is None:
        # Without DLA, GPU fallback has no effect on the plan.
        result['gpu_fallback'] = None
    else:
        dla_core = result['dla_core']
        if isinstance(dla_core, str) and dla_core.strip().isdigit():
            dla_core = int(dla_core.strip())
        if isinstance(dla_core, bool) or not isinstance(dla_core, int) or dla_core < 0:
            raise _invalid('dla_core', result['dla_core'], 'Give a DLA core index (0 or 1), or leave it unset.')
        result['dla_core'] = dla_core
        result['gpu_fallback'] = True if result['gpu_fallback'] is None else _bool(result['gpu_fallback'], 'gpu_fallback')

    result['strict_types'] = _bool(result['strict_types'], 'strict_types')
    result['version_compatible'] = _bool(result['version_compatible'], 'version_compatible')
    result['hardware_compatibility'] = _choice(result['hardware_compatibility'], HARDWARE_COMPATIBILITY,
                                               'hardware_compatibility')
    if not isinstance(result['builder_flags'], (list, tuple)):
        raise _invalid('builder_flags', result['builder_flags'], 'Give a list of BuilderFlag names.')
    # Builder flags are a set: their order never reaches the plan.
    result['builder_flags'] = sorted(set(str(flag).strip().upper() for flag in result['builder_flags']))
    if not isinstance(result['plugin_sha256'], (list, tuple)):
        raise _invalid('plugin_sha256', result['plugin_sha256'], 'Give a list of sha256 digests.')
    result['plugin_sha256'] = sorted(set(_sha256_hex(digest, 'plugin library sha256')
                                         for digest in result['plugin_sha256']))
    if not isinstance(result['compute_capabilities'], (list, tuple)):
        raise _invalid('compute_capabilities', result['compute_capabilities'], 'Give a list such as ["8.7"].')
    result['compute_capabilities'] = sorted(set(_compute_capability(cc) for cc in result['compute_capabilities']),
                                            key=lambda cc: tuple(int(part) for part in cc.split('.')))

    for key, value in options.items():
        result[key] = value
    return canonical(result, 'build')


def engine_fingerprint(model_sha256, platform_key, build_options, calibration_sha256=None):
    """(fingerprint, inputs): ``inputs`` goes into the engine's manifest as-is, and
    ``fingerprint == sha256_of(inputs)`` holds for it, so the store can re-check a manifest."""
    build = normalise_build_options(build_options)
    calibration = None
    # TensorRT reads a calibration cache only for INT8 builds.
    if build['precision'] == 'int8' and calibration_sha256 is not None:
        calibration = _sha256_hex(calibration_sha256, 'calibration cache sha256')
    inputs = {
        'schema': FINGERPRINT_SCHEMA,
        'model_sha256': _sha256_hex(model_sha256, 'model sha256'),
        'platform': normalise_platform_key(platform_key),
        'build': build,
        'calibration_sha256': calibration,
    }
    return sha256_of(inputs), inputs
