# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The deployment record: what lets a second run of the rollout leave a host alone.

After a deployment succeeds, ``tao.fleet.engine_deploy`` writes ``<store>/deploys/<model>.json``: a key of
the options it ran with (``deploy_key``, computed on the controller), the size, mtime and inode of every
file the deployment rests on (model, engine, manifest, consumer files, calibration cache), the targets of
its links (``active``, the model's name link), and a short result. ``tao.fleet.platform_facts`` with
``store`` reads it back into ``ansible_facts.tao_store.deploys`` and says whether those files are still the
ones recorded (``intact``: a few ``stat`` calls, no hashing). On the next run, engine_deploy's action plugin
compares the key of its options with the record's; when they match and the record is intact, the host is
not called at all: its result is the record's, as a reuse would report it (``quick_result``).

What the key covers: every option that decides what the host ends up with (the model's sha256, the
platform's ``platform_key``, build options, smoke-test and consumer options, store and sysroot, ``keep``).
What it leaves out: secrets (``model_key``, the NGC API key: the record is a file on the host, and a reused
engine never reads the key either), where the model comes from (only its sha256 counts), and the controller's
own paths. A changed JetPack, TensorRT or GPU changes ``platform_key``, so the key, so the host is called.
The stat check trusts what make and rsync trust: a file rewritten in place with the same size, mtime and
inode is not noticed (``quick_check: false`` hashes everything, as every run did before).

Standard library only, cheap to import: platform_facts reads records on every run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import json
import os
import stat
import time

RECORD_SCHEMA = 1
DEPLOYS_DIR = 'deploys'
# a record bigger than this is not a record of ours: never read into the facts
MAX_RECORD_BYTES = 64 * 1024
# options that do not decide what the host ends up with, or that are secrets, or controller paths
KEY_SKIPS = ('engine_share', 'model_key', 'quick_check', 'deploy_record_id', 'shared_engine', 'shared_manifest',
             'shared_sha256', 'build')
# of ``fetch``: the model is named by its sha256 and its name link; where it comes from does not count
FETCH_KEY_KEEPS = ('name',)


def is_true(value):
    """A flag that may still be text ('false' from a template): Ansible's truthy words, standard library only."""
    # Not ansible's boolean(): this file is imported through _store outside Ansible too (the build child,
    # scripts), and by _report.
    if isinstance(value, str):
        return value.strip().lower() in ('1', 'true', 'yes', 'on', 'y', 't')
    return bool(value)


def deploy_key(args, model_sha256, fingerprint_schema):
    """``(key, None)``: sha256 of the options of one engine_deploy task (as the task gives them); or
    ``(None, why)`` when the controller cannot tell that a call would change nothing: no model sha256 known
    before the call, no ``platform_key`` in ``platform``, a smoke test asked for every run, a decrypted
    copy to keep, or ``converter_args`` (which may hold the key next to build options)."""
    platform = args.get('platform')
    if not model_sha256:
        return None, 'the model\'s sha256 is not known before the call (no fetch.controller_cache or fetch.sha256)'
    if not isinstance(platform, dict) or not isinstance(platform.get('platform_key'), dict):
        return None, 'no platform facts in platform'
    for name, value in (('smoke.rerun', is_true((args.get('smoke') or {}).get('rerun'))),
                        ('keep_decrypted_model', args.get('keep_decrypted_model')),
                        ('converter_args', args.get('converter_args'))):
        if value:
            return None, '%s is set' % name
    relevant = dict((key, value) for key, value in args.items() if key not in KEY_SKIPS)
    relevant['platform'] = platform['platform_key']
    if isinstance(relevant.get('fetch'), dict):
        relevant['fetch'] = dict((key, value) for key, value in relevant['fetch'].items() if key in FETCH_KEY_KEEPS)
    relevant['model_sha256'] = model_sha256
    relevant['schema'] = [RECORD_SCHEMA, fingerprint_schema]
    text = json.dumps(relevant, sort_keys=True, separators=(',', ':'), default=str)
    return hashlib.sha256(text.encode('utf-8')).hexdigest(), None


def record_path(store, name):
    return os.path.join(store, DEPLOYS_DIR, name + '.json')


def _stat(path):
    info = os.stat(path)
    return [info.st_size, info.st_mtime_ns, info.st_ino]


def _pick(value, keys):
    value = value if isinstance(value, dict) else {}
    return dict((key, value.get(key)) for key in keys if key in value)


def _files_of(result, calibration_cache):
    """The files a deployment rests on, from engine_deploy's result."""
    fetch = result.get('fetch') or {}
    model = result.get('model') or {}
    manifest = result.get('manifest') or {}
    consumers = result.get('consumers') or {}
    paths = [fetch.get('path') or model.get('path'), result.get('engine_path'), manifest.get('path'),
             calibration_cache]
    for part, keys in (('deepstream', ('config', 'labels', 'engine_config')), ('triton', ('config', 'plan'))):
        paths.extend((consumers.get(part) or {}).get(key) for key in keys)
    return sorted(set(path for path in paths if path))


def _links_of(result):
    release = result.get('release') or {}
    links = []
    if release.get('engine_path'):
        # <store>/engines/<model>/active/model.engine: the link is its directory
        links.append(os.path.dirname(release['engine_path']))
    if (result.get('fetch') or {}).get('link'):
        links.append(result['fetch']['link'])
    return links


def _manifest_smoke(path):
    """The manifest's record of the passed smoke test (written by the smoke stage after the result's
    ``manifest`` part was taken)."""
    try:
        with open(path, 'rb') as handle:
            manifest = json.loads(handle.read().decode('utf-8'))
    except (IOError, OSError, ValueError):
        return None
    return manifest.get('smoke') if isinstance(manifest, dict) else None


def record_summary(result):
    """What the record keeps of a successful engine_deploy result: what the role's result and the fleet
    report read (deploy_model_result), nothing that repeats the options."""
    manifest = result.get('manifest') or {}
    summary = _pick(result, ('model_name', 'engine_path', 'fingerprint', 'build_seconds', 'dla', 'targets'))
    summary['tensorrt'] = _pick(result.get('tensorrt'), ('version', 'flavour', 'test_double', 'label', 'generation'))
    summary['model'] = _pick(result.get('model'), ('path', 'sha256', 'size', 'format', 'encrypted'))
    summary['manifest'] = dict(_pick(manifest, ('path', 'created_at', 'engine', 'precision')),
                               smoke=_manifest_smoke(manifest.get('path')) if manifest.get('path') else None)
    fetch = result.get('fetch')
    summary['fetch'] = _pick(fetch, ('path', 'sha256', 'md5', 'size', 'link')) if fetch else None
    consumers = result.get('consumers')
    summary['consumers'] = _pick(consumers, ('fingerprint', 'engine_path', 'output_blob_names', 'network_mode',
                                             'tensors_from', 'deepstream', 'triton')) if consumers else None
    summary['release'] = _pick(result.get('release'), ('active', 'previous', 'engine_path'))
    return summary


def write_record(store, key, result, calibration_cache=None):
    """Record a successful deployment (``result``: engine_deploy's) under ``key``, its ``deploy_record_id``.
    Returns None, or why it could not be written: a missing record only costs the next run its host call.

    Under the model's store lock (the one every release takes), and only while ``active`` is still this
    deployment's engine: two runs at once on one host must not pair one run's options with the other run's
    ``active`` link (a later quick_check would then leave the host alone on the wrong engine)."""
    from ansible_collections.tao.fleet.plugins.module_utils._atomic import real_dir, write_file
    from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
    from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore
    try:
        engines = EngineStore(store)
        with engines._lock(result['model_name']):  # pylint: disable=protected-access
            active = (result.get('release') or {}).get('engine_path')
            now = os.readlink(os.path.dirname(active)) if active else None
            if now != result['fingerprint']:
                return ('another run switched %s to %s after this one released %s; its record stays that run\'s '
                        'to write' % (os.path.dirname(active) if active else 'the active link', now,
                                      result['fingerprint']))
            files = [[path] + _stat(path) for path in _files_of(result, calibration_cache)]
            links = [[path, os.readlink(path)] for path in _links_of(result)]
            record = {'schema': RECORD_SCHEMA, 'key': key, 'files': files, 'links': links,
                      'recorded_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                      'result': record_summary(result)}
            path = record_path(store, result['model_name'])
            # deploys/ is never a symlink a local user planted (write_file replaces a link at the record's name)
            real_dir(store, os.path.dirname(path), create=True)
            write_file(path, json.dumps(record, sort_keys=True).encode('utf-8'))
    except (OSError, TaoFleetError, KeyError, TypeError, ValueError) as err:
        return str(err)
    return None


def _changed(record):
    """The recorded files and links that are no longer what the record says."""
    changed = []
    for entry in record.get('files') or []:
        try:
            if _stat(entry[0]) != list(entry[1:]):
                changed.append(entry[0])
        except (OSError, IndexError, TypeError):
            changed.append(str(entry[0]) if entry else '?')
    for entry in record.get('links') or []:
        try:
            if os.readlink(entry[0]) != entry[1]:
                changed.append(entry[0])
        except (OSError, IndexError, TypeError):
            changed.append(str(entry[0]) if entry else '?')
    return changed


def _record_problem(record):
    """Why a parsed record is not of the shape write_record writes, or None. Such a record (written by hand,
    another tool or a local user) is flagged in the facts and never used, instead of failing platform_facts."""
    if not isinstance(record.get('key'), str):
        return 'its key is not a text'
    for part, width in (('files', 4), ('links', 2)):
        entries = record.get(part)
        if entries is None:
            continue
        if not isinstance(entries, list):
            return '%s is not a list' % part
        for entry in entries:
            if not isinstance(entry, list) or len(entry) != width or not isinstance(entry[0], str):
                return '%s holds %r, not [path, ...] of %d items' % (part, entry, width)
    if not isinstance(record.get('recorded_at'), (str, type(None))):
        return 'recorded_at is not a text'
    if not isinstance(record.get('result'), (dict, type(None))):
        return 'its result is not a mapping'
    return None


def _flagged(path, problem):
    """The facts' entry for a record that is never used, with the reason."""
    return {'key': None, 'intact': False, 'changed': [], 'recorded_at': None, 'result': None,
            'invalid': 'The deployment record %s is malformed (%s): it is ignored, and the next deployment of this '
                       'model rewrites it (remove it to be sure).' % (path, problem)}


def read_records(store):
    """``{model name: {key, intact, changed, recorded_at, result}}`` for ``tao_store.deploys``; ``result``
    only when intact (the facts stay small when it cannot be used)."""
    directory = os.path.join(store, DEPLOYS_DIR)
    try:
        if not stat.S_ISDIR(os.lstat(directory).st_mode):
            return {}       # a symlink (or a file) planted as deploys/ is never read: no record is used
        names = sorted(name for name in os.listdir(directory) if name.endswith('.json'))
    except (IOError, OSError):
        return {}
    records = {}
    for name in names:
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except (IOError, OSError) as err:
            if err.errno == errno.ELOOP:
                records[name[:-len('.json')]] = _flagged(path, 'it is a symlink, which is never followed')
            continue
        try:
            with os.fdopen(fd, 'rb') as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RECORD_BYTES:
                    continue
                record = json.loads(handle.read(MAX_RECORD_BYTES + 1).decode('utf-8'))
        except (IOError, OSError, ValueError, RecursionError):
            continue
        if not isinstance(record, dict) or record.get('schema') != RECORD_SCHEMA or not record.get('key'):
            continue
        problem = _record_problem(record)
        if problem:
            records[name[:-len('.json')]] = _flagged(path, problem)
            continue
        changed = _changed(record)
        records[name[:-len('.json')]] = {
            'key': record['key'], 'intact': not changed, 'changed': changed,
            'recorded_at': record.get('recorded_at'), 'result': None if changed else record.get('result')}
    return records


def find_record(contents, key):
    """The intact record with ``key`` in a ``tao_store`` fact, and why there is none when there is none."""
    deploys = (contents or {}).get('deploys')
    if not isinstance(deploys, dict):
        return None, 'the host\'s tao_store fact has no deployment records'
    same_key = [record for record in deploys.values() if isinstance(record, dict) and record.get('key') == key]
    if not same_key:
        return None, 'no deployment record with these options'
    record = same_key[0]
    if not record.get('intact') or not isinstance(record.get('result'), dict):
        return None, 'files changed since the deployment record: %s' % ', '.join(record.get('changed') or ['?'])
    return record, None


def quick_result(record):
    """engine_deploy's result for a host whose record matches: what a call would have answered (the engine
    reused, nothing changed), without the call."""
    summary = record['result']
    fingerprint = summary.get('fingerprint')
    name = summary.get('model_name')
    result = dict(summary, changed=False, built=False, reused=True, shared=False, missing=False, stage='release',
                  smoke=None, build_warnings=[])
    if summary.get('fetch'):
        result['fetch'] = dict(summary['fetch'], changed=False, cache_hit=True, source=None, checksum_from='sha256',
                               bytes_transferred=0, resumed_from=0, attempts=[])
    if summary.get('consumers'):
        result['consumers'] = dict(summary['consumers'], changed=False, written=[],
                                   msg='Consumer files of engine %s of %s are up to date' % (fingerprint, name))
    active = (summary.get('release') or {}).get('active')
    result['release'] = dict(summary.get('release') or {}, changed=False, active_before=active,
                             rolled_back_from=None, removed=[], stale_removed=[],
                             msg='engine %s is already active' % active)
    result['msg'] = ('engine %s of %s is active and its files are as recorded at %s: the host was not called '
                     '(quick_check)' % (fingerprint, name, record.get('recorded_at')))
    return result
