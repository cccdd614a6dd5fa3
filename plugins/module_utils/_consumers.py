# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""What ``tao.fleet.engine_consumers`` writes: the DeepStream nvinfer config and labels and the Triton
model entry of one engine, beside it in the store, and the links through the store's ``active`` link that
applications read (so a release switches engine and files in one rename). ``tao.fleet.engine_deploy``
calls it between the smoke test and the release."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import stat

from ansible_collections.tao.fleet.plugins.module_utils._atomic import (
    make_dirs,
    read_bytes,
    read_link,
    remove_stale_temps,
    write_file,
    write_link,
)
from ansible_collections.tao.fleet.plugins.module_utils._deepstream import (
    DEEPSTREAM_CONFIG,
    DEEPSTREAM_LABELS,
    EngineConsumers,
    NETWORK_MODES,
    TRITON_CONFIG,
    TRITON_PLAN,
)
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._store import ACTIVE, ENGINE_FILE, PREVIOUS, EngineStore


def _path_taken(path, what):
    return TaoFleetError(
        '%s exists and is not what tao.fleet keeps there (%s).' % (path, what),
        cause='A file or directory of your own is in the way; tao.fleet never overwrites one.',
        fix='Move it away (your own config can %%include or copy the generated one), or choose another '
            'directory (deepstream_dir / triton_repository).',
        code='consumer_path_taken', details={'path': path})


def _real_dir(path, create, check_mode):
    """A directory that is not a symlink: checked, and made when missing (unless check mode)."""
    try:
        info = os.lstat(path)
    except OSError as err:
        if err.errno != errno.ENOENT:
            raise
        if create and not check_mode:
            make_dirs(path)
        return
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise _path_taken(path, 'a directory')


def plan(params, store, model):
    """(consumers, files {path: bytes}, links {path: target}, result paths)."""
    links = store.links(model)
    fingerprint = params['fingerprint'] or links[ACTIVE]
    if not fingerprint:
        raise TaoFleetError(
            'Model %s has no active engine in %s, and no fingerprint was given.' % (model, store.root),
            cause='The files describe one engine: the active one unless you name another.',
            fix='Give the fingerprint of the engine (trt_engine returns it), or release one first.',
            code='engine_missing')
    store.check_fingerprint(fingerprint)
    manifest = store.read_manifest(model, fingerprint)
    engine_dir = store.engine_dir(model, fingerprint)
    active_dir = os.path.join(store.model_dir(model), ACTIVE)
    consumers = EngineConsumers(model, params['model_entry'], manifest, active_dir, params['artifact'])
    files, link_targets, paths = {}, {}, {}
    if params['deepstream']:
        directory = params['deepstream_dir'] or os.path.join(store.root, 'deepstream')
        files[os.path.join(engine_dir, 'deepstream', DEEPSTREAM_CONFIG)] = consumers.nvinfer_config_text(
            gpu_id=params['gpu_id'], batch_size=params['batch_size'], gie_unique_id=params['gie_unique_id'])
        files[os.path.join(engine_dir, 'deepstream', DEEPSTREAM_LABELS)] = consumers.labels_text()
        config = os.path.join(directory, 'config_infer_primary_%s.txt' % model)
        labels = os.path.join(directory, 'labels_%s.txt' % model)
        link_targets[config] = os.path.join(active_dir, 'deepstream', DEEPSTREAM_CONFIG)
        link_targets[labels] = os.path.join(active_dir, 'deepstream', DEEPSTREAM_LABELS)
        paths['deepstream'] = {'config': config, 'labels': labels,
                               'engine_config': os.path.join(engine_dir, 'deepstream', DEEPSTREAM_CONFIG)}
    if params['triton']:
        name = params['triton_model_name'] or model
        store.check_model(name)
        model_dir = os.path.join(params['triton_repository'] or os.path.join(store.root, 'triton'), name)
        files[os.path.join(engine_dir, 'triton', TRITON_CONFIG)] = consumers.triton_config_text(
            name, gpu_id=params['gpu_id'], max_batch_size=params['triton_max_batch_size'])
        config = os.path.join(model_dir, TRITON_CONFIG)
        plan_path = os.path.join(model_dir, '1', TRITON_PLAN)
        link_targets[config] = os.path.join(active_dir, 'triton', TRITON_CONFIG)
        link_targets[plan_path] = os.path.join(active_dir, ENGINE_FILE)
        paths['triton'] = {'model_dir': model_dir, 'config': config, 'plan': plan_path}
    encoded = dict((path, text.encode('utf-8')) for path, text in files.items())
    return consumers, fingerprint, links, encoded, link_targets, paths


def _rollback_warning(store, model, links, fingerprint, files):
    """Warn when the engine a rollback would return to has no such files (its links would dangle)."""
    other = links[PREVIOUS] if links[ACTIVE] == fingerprint else links[ACTIVE]
    if not other or other == fingerprint:
        return None
    engine_dir = store.engine_dir(model, fingerprint)
    other_dir = store.engine_dir(model, other)
    missing = [os.path.relpath(path, engine_dir) for path in sorted(files)
               if not os.path.exists(os.path.join(other_dir, os.path.relpath(path, engine_dir)))]
    if not missing:
        return None
    return ('Engine %s, the one a rollback returns to, has no %s: after a rollback the links would point at '
            'nothing. Run engine_consumers with fingerprint=%s too.' % (other, ', '.join(missing), other))


def write_consumers(params, check_mode=False, diff=False):
    """Write the files and links ``params`` (engine_consumers' options) ask for.
    Returns (result, warnings); raises TaoFleetError."""
    if not params['deepstream'] and not params['triton']:
        raise TaoFleetError('Nothing to write: set deepstream: true, triton: true, or both.',
                            fix='Ask for the consumer files you need.', code='invalid_argument')
    store = EngineStore(params['store'])
    model = store.check_model(params['model'])
    consumers, fingerprint, links, files, link_targets, paths = plan(params, store, model)

    engine_dir = store.engine_dir(model, fingerprint)
    _real_dir(engine_dir, create=False, check_mode=check_mode)
    for directory in sorted(set(os.path.dirname(path) for path in list(files) + list(link_targets))):
        _real_dir(directory, create=True, check_mode=check_mode)
    written, changes = [], []
    for path in sorted(files):
        before = read_bytes(path)
        if before is None and os.path.lexists(path):
            raise _path_taken(path, 'a regular file')
        if before != files[path]:
            written.append(path)
            changes.append({'before_header': path, 'after_header': path,
                            'before': (before or b'').decode('utf-8', 'replace'),
                            'after': files[path].decode('utf-8')})
    for path in sorted(link_targets):
        current = read_link(path)
        if current is False:
            raise _path_taken(path, 'a symlink through the store\'s active link')
        if current != link_targets[path]:
            written.append(path)
            changes.append({'before_header': path, 'after_header': path,
                            'before': '' if current is None else '-> %s\n' % current,
                            'after': '-> %s\n' % link_targets[path]})
    if written and not check_mode:
        for directory in sorted(set(os.path.dirname(path) for path in written)):
            remove_stale_temps(directory)
        # Files first: a link never points at a file that is not there yet.
        for path in written:
            if path in files:
                write_file(path, files[path])
        for path in written:
            if path in link_targets:
                write_link(path, link_targets[path])

    warnings = [warning for warning in consumers.warnings + [_rollback_warning(store, model, links, fingerprint, files)]
                if warning]
    result = {
        'changed': bool(written),
        'fingerprint': fingerprint,
        'engine_path': os.path.join(store.model_dir(model), ACTIVE, ENGINE_FILE),
        'output_blob_names': [consumers.roles['coverage'].name, consumers.roles['bbox'].name],
        'network_mode': NETWORK_MODES[consumers.precision],
        'tensors_from': consumers.io_source,
        'written': written,
        'msg': ('%s %d file(s) and link(s) for engine %s of %s' % (
            'Would write' if check_mode else 'Wrote', len(written), fingerprint, model) if written else
            'Consumer files of engine %s of %s are up to date' % (fingerprint, model)),
    }
    result.update(paths)
    if diff:
        result['diff'] = changes
    return result, warnings
