# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Pruning: what ``tao.fleet.store_prune`` removes from a host's store and ``tao.fleet.cache_prune`` from the
controller's cache, and why everything else stays.

A host keeps, per model, every engine a link names (``active``, ``previous``, ``rolled_back_from``) and the
newest ``keep`` others (``EngineStore.gc``, the same cleanup a release runs); every model file that a kept
engine was built from (its manifest's ``model_sha256`` and ``calibration_sha256``), that a ``by-name`` link
or a deployment record names, or that is younger than ``min_age`` (a deployment running now may have just
fetched it); and partial downloads younger than ``partial_max_age`` (they resume). A model named in
``retire`` goes whole: its engines (``active`` too), its deployment record and its ``by-name`` link.

The controller keeps the model files and share entries that some host keeps (the hosts' prune results
say which), and any younger than ``min_age``. Nothing is followed through a link; directories are renamed
out of sight first and deleted afterwards, so a kill leaves only ``.trash-*`` names that the next prune or
release removes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import stat
import time

from ansible_collections.tao.fleet.plugins.module_utils._atomic import read_json, real_dir
from ansible_collections.tao.fleet.plugins.module_utils._deploy_record import DEPLOYS_DIR, read_records
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import is_sha256
from ansible_collections.tao.fleet.plugins.module_utils._store import (
    MANIFEST_FILE,
    TRASH_PREFIX,
    EngineStore,
    _remove_tree,
    move_to_trash,
    os_error,
)

DEFAULT_MIN_AGE_SECONDS = 3600
DEFAULT_PARTIAL_MAX_AGE_SECONDS = 7 * 86400
# what a partial download leaves beside its data: kept while the data is kept
LOCK_SUFFIX = '.lock'


def _tree_size(path):
    """Bytes of the regular files below ``path`` (links are not followed, and not counted)."""
    total = 0
    for directory, _dirs, files in os.walk(path):
        for name in files:
            try:
                info = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total


def _entries(directory):
    """(name, lstat) of each entry; [] where the directory is absent."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as err:
        if err.errno == errno.ENOENT:
            return []
        raise os_error(err, 'listing', directory)
    found = []
    for name in names:
        try:
            found.append((name, os.lstat(os.path.join(directory, name))))
        except OSError:
            continue
    return found


def _unlink(path):
    try:
        os.unlink(path)
    except OSError as err:
        if err.errno != errno.ENOENT:
            raise os_error(err, 'removing', path)


def _manifest_sha256s(directory):
    """The model and calibration sha256 that the engine in ``directory`` was built from."""
    manifest = read_json(os.path.join(directory, MANIFEST_FILE))
    inputs = manifest.get('inputs') if isinstance(manifest, dict) else None
    if not isinstance(inputs, dict):
        return set()
    return set(value for value in (inputs.get('model_sha256'), inputs.get('calibration_sha256')) if is_sha256(value))


def _check_age(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TaoFleetError('%s must be a whole number of seconds >= 0, got %r.' % (name, value),
                            fix='Set %s to a number of seconds, such as 3600.' % name, code='invalid_argument')
    return value


def prune_models_dir(root, models_dir, protected, min_age, partial_max_age, check_mode=False, now=None):
    """Remove ``<models_dir>/<sha256>`` files not in ``protected`` and older than ``min_age`` seconds, the
    ``.refs`` that name them, and partial downloads older than ``partial_max_age``. Returns
    ``{'removed': [sha256...], 'kept': [sha256...], 'partial_removed': [name...], 'freed_bytes': N}``."""
    now = time.time() if now is None else now
    result = {'removed': [], 'kept': [], 'partial_removed': [], 'freed_bytes': 0}
    if not real_dir(root, models_dir, create=False, error=os_error):
        return result
    for name, info in _entries(models_dir):
        if not is_sha256(name) or not stat.S_ISREG(info.st_mode):
            continue
        if name in protected or now - info.st_mtime < min_age:
            result['kept'].append(name)
            continue
        result['removed'].append(name)
        result['freed_bytes'] += info.st_size
        if not check_mode:
            _unlink(os.path.join(models_dir, name))
    removed = set(result['removed'])
    refs_dir = os.path.join(models_dir, '.refs')
    if removed and real_dir(root, refs_dir, create=False, error=os_error):
        for name, info in _entries(refs_dir):
            ref = read_json(os.path.join(refs_dir, name)) if stat.S_ISREG(info.st_mode) else None
            # a ref remembers which file a source gave; one naming a removed file would send the next fetch to it
            if isinstance(ref, dict) and ref.get('sha256') in removed and not check_mode:
                _unlink(os.path.join(refs_dir, name))
    partial_dir = os.path.join(models_dir, '.partial')
    if real_dir(root, partial_dir, create=False, error=os_error):
        for name, info in _entries(partial_dir):
            if name.endswith(LOCK_SUFFIX) or not stat.S_ISREG(info.st_mode) or now - info.st_mtime < partial_max_age:
                continue
            result['partial_removed'].append(name)
            result['freed_bytes'] += info.st_size
            if not check_mode:
                _unlink(os.path.join(partial_dir, name))
    return result


def _retire_model(store, model, check_mode):
    """Remove a model's engines (``active`` too), deployment record and ``by-name`` link. Returns bytes."""
    model_dir = store._existing_model_dir(model)
    freed = _tree_size(model_dir) if model_dir else 0
    if check_mode:
        return freed
    trash = None
    if model_dir:
        # under the model's lock, so that no release or publish is half-way through it
        with store._lock(model):
            trash = move_to_trash(os.path.dirname(model_dir), model_dir)
    for path in (os.path.join(store.root, DEPLOYS_DIR, model + '.json'),
                 os.path.join(store.root, 'models', 'by-name', model)):
        try:
            is_link_or_file = not stat.S_ISDIR(os.lstat(path).st_mode)
        except OSError:
            continue
        if is_link_or_file:
            _unlink(path)
    if trash:
        _remove_tree(trash)
    return freed


def _model_names(store):
    engines_dir = os.path.join(store.root, 'engines')
    if not real_dir(store.root, engines_dir, create=False, error=os_error):
        return []
    return [name for name, info in _entries(engines_dir)
            if not name.startswith('.') and stat.S_ISDIR(info.st_mode)]


def _retired_leftovers(store, check_mode):
    """Bytes of the ``engines/.trash-*`` dirs a killed retire left (removed unless ``check_mode``)."""
    engines_dir = os.path.join(store.root, 'engines')
    if not real_dir(store.root, engines_dir, create=False, error=os_error):
        return 0
    freed = 0
    for name, info in _entries(engines_dir):
        if name.startswith(TRASH_PREFIX) and stat.S_ISDIR(info.st_mode):
            freed += _tree_size(os.path.join(engines_dir, name))
            if not check_mode:
                _remove_tree(os.path.join(engines_dir, name))
    return freed


def _by_name_targets(store, skip):
    by_name = os.path.join(store.root, 'models', 'by-name')
    targets = set()
    for name, info in _entries(by_name):
        if name in skip or not stat.S_ISLNK(info.st_mode):
            continue
        target = os.path.basename(os.readlink(os.path.join(by_name, name)))
        if is_sha256(target):
            targets.add(target)
    return targets


def _record_sha256s(store, skip):
    """The model files the deployment records of models not in ``skip`` rest on."""
    found = set()
    for model, record in (read_records(store.root) or {}).items():
        if model in skip or not isinstance(record, dict):
            continue
        result = record.get('result') or {}
        for part in ('model', 'fetch'):
            value = (result.get(part) or {}).get('sha256') if isinstance(result.get(part), dict) else None
            if is_sha256(value):
                found.add(value)
    return found


def _prune_engines(store, model, keep, check_mode):
    """One model's engines beyond the newest ``keep`` that no link names, through the release's own gc.
    Returns ``(removed, kept, freed_bytes, model_sha256s_of_kept)``."""
    sizes = dict((fingerprint, _tree_size(store.engine_dir(model, fingerprint)))
                 for fingerprint in store.fingerprints(model))
    gone = store.gc(model, keep=keep, check_mode=check_mode)
    removed = gone['removed']
    kept = [fingerprint for fingerprint in store.fingerprints(model) if fingerprint not in removed]
    needs = set()
    for fingerprint in kept:
        needs |= _manifest_sha256s(store.engine_dir(model, fingerprint))
    freed = sum(sizes.get(fingerprint, 0) for fingerprint in removed)
    return removed, kept, freed, needs, gone['stale_removed']


def prune_store(path, keep=0, retire=(), min_age=DEFAULT_MIN_AGE_SECONDS,
                partial_max_age=DEFAULT_PARTIAL_MAX_AGE_SECONDS, check_mode=False, now=None):
    """Prune one host's store (see the module docstring). Returns the module's result (less ``changed``'s
    bookkeeping): ``engines: {model: {removed, kept, stale_removed}}``, ``retired``, ``models: {removed,
    kept}``, ``partial_removed``, ``freed_bytes``, ``kept: {models, engines}``."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise TaoFleetError('keep must be a whole number >= 0, got %r.' % (keep,),
                            fix='Set keep to how many engines to keep per model beside those a link names '
                                '(0 keeps only active, previous and rolled_back_from).', code='invalid_argument')
    _check_age('min_age', min_age)
    _check_age('partial_max_age', partial_max_age)
    store = EngineStore(path)
    retire = sorted(set(EngineStore.check_model(model) for model in retire))
    leftovers = _retired_leftovers(store, check_mode)
    result = {'engines': {}, 'retired': [], 'freed_bytes': leftovers}
    present = _model_names(store)
    for model in retire:
        if model in present or os.path.lexists(os.path.join(store.root, DEPLOYS_DIR, model + '.json')):
            result['freed_bytes'] += _retire_model(store, model, check_mode)
            result['retired'].append(model)
    protected = set()
    for model in present:
        if model in retire:
            continue
        removed, kept, freed, needs, stale = _prune_engines(store, model, keep, check_mode)
        result['engines'][model] = {'removed': removed, 'kept': kept, 'stale_removed': stale}
        result['freed_bytes'] += freed
        protected |= needs
    protected |= _by_name_targets(store, retire) | _record_sha256s(store, retire)
    models = prune_models_dir(store.root, os.path.join(store.root, 'models'), protected, min_age,
                              partial_max_age, check_mode=check_mode, now=now)
    result['freed_bytes'] += models.pop('freed_bytes')
    result['partial_removed'] = models.pop('partial_removed')
    result['models'] = models
    result['kept'] = {'models': sorted(models['kept']),
                      'engines': sorted(set(fp for part in result['engines'].values() for fp in part['kept']))}
    result['changed'] = bool(leftovers or result['retired'] or models['removed'] or result['partial_removed'] or any(
        part['removed'] or part['stale_removed'] for part in result['engines'].values()))
    return result


def _share_entry_in_use(share, fingerprint):
    """True while a fork of the controller holds the share lock of ``fingerprint`` (publishing or
    importing it)."""
    path = os.path.join(share, '.locks', fingerprint + '.lock')
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except (IOError, OSError):
        return True
    finally:
        os.close(fd)


def prune_share(share, keep_fingerprints, min_age, check_mode=False, now=None):
    """Remove share entries ``<share>/<fingerprint>/`` not in ``keep_fingerprints``, older than ``min_age``
    and not locked, the controller's index records of them (and old records whose entry is gone), and the
    predictions that name them. Returns ``{removed, kept, freed_bytes}``."""
    now = time.time() if now is None else now
    result = {'removed': [], 'kept': [], 'freed_bytes': 0}
    if not os.path.isdir(share):
        return result
    root = os.path.realpath(share)
    trash = []
    for name, info in _entries(root):
        if name.startswith(TRASH_PREFIX) and stat.S_ISDIR(info.st_mode) and not check_mode:
            trash.append(os.path.join(root, name))   # left by a killed prune
        if not is_sha256(name) or not stat.S_ISDIR(info.st_mode):
            continue
        if name in keep_fingerprints or now - info.st_mtime < min_age or _share_entry_in_use(root, name):
            result['kept'].append(name)
            continue
        result['removed'].append(name)
        result['freed_bytes'] += _tree_size(os.path.join(root, name))
        if not check_mode:
            trash.append(move_to_trash(root, os.path.join(root, name)))
    removed = set(result['removed'])
    # the controller's own record of each entry (plugins/action/trt_engine.py, INDEX): one without its entry only
    # makes the next host of that class build and publish again
    index = os.path.join(root, '.index')
    entries = set(result['kept'])
    for name, info in _entries(index) if not check_mode else ():
        fingerprint = name[:-len('.json')] if name.endswith('.json') else None
        if (stat.S_ISREG(info.st_mode) and is_sha256(fingerprint) and fingerprint not in entries
                and (fingerprint in removed or now - info.st_mtime >= min_age)):
            _unlink(os.path.join(index, name))
    predictions = os.path.join(root, '.predictions')
    for name, info in _entries(predictions) if removed and not check_mode else ():
        try:
            with open(os.path.join(predictions, name)) as handle:
                named = handle.read().strip()
        except (IOError, OSError):
            continue
        if stat.S_ISREG(info.st_mode) and named in removed:
            _unlink(os.path.join(predictions, name))
    for path in trash:
        _remove_tree(path)
    return result


def prune_controller_cache(cache, engine_share=None, keep_models=(), keep_fingerprints=(),
                           min_age=DEFAULT_MIN_AGE_SECONDS, partial_max_age=DEFAULT_PARTIAL_MAX_AGE_SECONDS,
                           check_mode=False, now=None):
    """Prune the controller's model cache (``<cache>/models``) and engine share (``engine_share``, default
    ``<cache>/engines``) down to what the hosts keep."""
    _check_age('min_age', min_age)
    _check_age('partial_max_age', partial_max_age)
    for value in list(keep_models) + list(keep_fingerprints):
        if not is_sha256(value):
            raise TaoFleetError('keep_models and keep_fingerprints take 64 lower-case hex digits, got %r.' % (value,),
                                fix="Pass the hosts' store_prune results (kept.models, kept.engines).",
                                code='invalid_argument')
    if not os.path.isabs(cache):
        raise TaoFleetError('The controller cache path must be absolute, got %r.' % (cache,),
                            fix='Set path to an absolute directory such as ~/.cache/tao_fleet (expanded).',
                            code='invalid_argument')
    root = os.path.realpath(cache)
    models = prune_models_dir(root, os.path.join(root, 'models'), set(keep_models), min_age, partial_max_age,
                              check_mode=check_mode, now=now)
    share = prune_share(engine_share or os.path.join(root, 'engines'), set(keep_fingerprints), min_age,
                        check_mode=check_mode, now=now)
    return {'models': {'removed': models['removed'], 'kept': models['kept']},
            'partial_removed': models['partial_removed'],
            'share': {'removed': share['removed'], 'kept': share['kept']},
            'freed_bytes': models['freed_bytes'] + share['freed_bytes'],
            'changed': bool(models['removed'] or models['partial_removed'] or share['removed'])}


def _size_text(count):
    if count < 1024:
        return '%d B' % count
    for unit in ('KiB', 'MiB', 'GiB'):
        count /= 1024.0
        if count < 1024 or unit == 'GiB':
            break
    return '%.1f %s' % (count, unit)


def summary(result, check_mode):
    """One line for the task's msg: what went, or would go, and how much."""
    verb = 'Would remove' if check_mode else 'Removed'
    parts = []
    engines = sum(len(part['removed']) for part in (result.get('engines') or {}).values())
    engines += len((result.get('share') or {}).get('removed') or [])
    for count, noun in ((engines, 'engine'), (len(result['models']['removed']), 'model file'),
                        (len(result.get('retired') or []), 'retired model'),
                        (len(result['partial_removed']), 'unfinished download')):
        if count:
            parts.append('%d %s%s' % (count, noun, '' if count == 1 else 's'))
    if not parts and not result.get('changed'):
        return 'Nothing to remove.'
    return '%s %s (%s).' % (verb, ', '.join(parts) or 'leftovers of killed work', _size_text(result['freed_bytes']))
