# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The engine store on a host: content-addressed engines, and the links applications load.

Layout (``docs/engine-store.md`` has the full story)::

    <store>/models/<sha256>
    <store>/engines/<model>/<fingerprint>/model.engine + manifest.json
    <store>/engines/<model>/active           -> <fingerprint>
    <store>/engines/<model>/previous         -> <fingerprint>
    <store>/engines/<model>/rolled_back_from -> <fingerprint>   (only after a rollback)
    <store>/engines/<model>/.tmp-*           builds in progress (builder.pid inside)
    <store>/engines/<model>/.lock            serialises link changes, publish and gc
    <store>/timing_cache/<platform_key_sha256>.cache

Guarantees:

* a fingerprint directory appears whole or not at all (built in a temp dir beside it, fsynced,
  renamed);
* each link is replaced by ``rename`` of a fresh temp link over it, so at every instant ``active``
  names a complete engine, the old one or the new one;
* writes never go through a symlink inside the store (only the store root itself may be a link);
* every failure is a TaoFleetError with a code: ``store_unwritable``, ``disk_full``,
  ``engine_corrupt``, ``engine_missing``, ``not_smoke_tested``, ``no_previous_engine``,
  ``store_link_invalid``, ``store_busy``, ``store_name_invalid``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import datetime
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
import uuid

from ansible_collections.tao.fleet.plugins.module_utils._atomic import real_dir
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._process import pid_alive, process_record, record_alive
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import (
    is_sha256,
    platform_key_sha256,
    sha256_of,
)
# the layout names the store listing (ansible_facts.tao_store) reads too, defined once there
from ansible_collections.tao.fleet.plugins.module_utils._store_contents import ACTIVE, ENGINE_FILE, PREVIOUS

MANIFEST_FILE = 'manifest.json'
BUILDER_FILE = 'builder.pid'
MANIFEST_VERSION = 1

ROLLED_BACK_FROM = 'rolled_back_from'
LINK_NAMES = (ACTIVE, PREVIOUS, ROLLED_BACK_FROM)

TEMP_PREFIX = '.tmp-'
TRASH_PREFIX = '.trash-'
LINK_TEMP_PREFIX = '.link-'
WRITE_TEMP_PREFIX = '.write-'
LOCK_FILE = '.lock'

DEFAULT_KEEP = 3
# A build on a Jetson Nano can run for most of an hour; a temp dir whose builder cannot be
# checked (no builder.pid, another host) is only taken after this long.
DEFAULT_TEMP_GRACE_SECONDS = 6 * 3600
DEFAULT_LOCK_TIMEOUT_SECONDS = 120.0

# Manifest keys fixed at build time: changing them would make the manifest lie about the engine.
PROTECTED_MANIFEST_KEYS = ('manifest_version', 'fingerprint', 'inputs', 'engine', 'model', 'created_at')

_MODEL_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$')
_CHUNK = 1 << 20


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def _parse_utc(text):
    for pattern in ('%Y-%m-%dT%H:%M:%S.%fZ', '%Y-%m-%dT%H:%M:%SZ'):
        try:
            parsed = datetime.datetime.strptime(text, pattern)
        except (TypeError, ValueError):
            continue
        return calendar.timegm(parsed.timetuple()) + parsed.microsecond / 1e6
    return None


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)


def _fsync_path(path, directory=False):
    flags = os.O_RDONLY | (os.O_DIRECTORY if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _free_bytes(path):
    try:
        info = os.statvfs(path)
    except OSError:
        return None
    return info.f_bavail * info.f_frsize


def os_error(err, action, path):
    """Turn an OSError from a store write into a TaoFleetError with cause and fix."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        existing = os.path.dirname(path) or path
        free = _free_bytes(existing)
        return TaoFleetError(
            'No space left while %s %s.' % (action, path),
            cause='The filesystem holding the store is full (%s bytes free).' % free,
            fix='Free space on that filesystem (df -h %s), or lower keep so engine_release removes '
                'old engines; nothing half-written was left at a final path.' % existing,
            code='disk_full',
            details={'path': path, 'free_bytes': free, 'errno': err.errno},
        )
    return TaoFleetError(
        'Cannot write the engine store while %s %s: %s.' % (action, path, err.strerror or err),
        cause='The store directory is not writable by this user, is on a read-only filesystem, '
              'or a path in it is not what the store expects (errno %s).' % errno.errorcode.get(err.errno, err.errno),
        fix='Run the task with become: true, or point store at a writable directory; check that '
            'nothing inside the store is a symlink or a file where a directory belongs.',
        code='store_unwritable',
        details={'path': path, 'errno': err.errno},
    )


def smoke_status(manifest):
    """(passed, reason) from a manifest's ``smoke`` record."""
    smoke = manifest.get('smoke') if isinstance(manifest, dict) else None
    if not isinstance(smoke, dict):
        return False, 'no smoke test has been recorded for it'
    if smoke.get('passed') is True:
        return True, 'smoke test passed at %s' % smoke.get('at')
    reason = smoke.get('reason') or smoke.get('error') or 'no reason recorded'
    return False, 'its smoke test failed at %s (%s)' % (smoke.get('at'), reason)


class EngineStatus(object):
    """Result of ``EngineStore.verify``: ``code`` is ``ok``, ``engine_missing`` or ``engine_corrupt``."""

    def __init__(self, model, fingerprint, path, code, reason, manifest=None):
        self.model = model
        self.fingerprint = fingerprint
        self.path = path
        self.code = code
        self.reason = reason
        self.manifest = manifest

    @property
    def intact(self):
        return self.code == 'ok'

    def to_dict(self):
        return {'fingerprint': self.fingerprint, 'path': self.path, 'intact': self.intact,
                'code': self.code, 'reason': self.reason}

    def error(self):
        if self.code == 'engine_missing':
            return TaoFleetError(
                'Engine %s of model %s is not in the store (%s).' % (self.fingerprint, self.model, self.path),
                cause=self.reason,
                fix='Build it first (tao.fleet.trt_engine returns the fingerprint to release), or '
                    'check the model name and fingerprint.',
                code='engine_missing',
                details=self.to_dict(),
            )
        return TaoFleetError(
            'Engine %s of model %s is corrupt: %s.' % (self.fingerprint, self.model, self.reason),
            cause='The engine file or its manifest changed after the build (disk error, manual '
                  'edit, or a copy that did not finish).',
            fix='Rebuild it with tao.fleet.trt_engine (a rebuild replaces a corrupt directory); '
                'a corrupt engine is never made active, even with force.',
            code='engine_corrupt',
            details=self.to_dict(),
        )


class _NoLock(object):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _ModelLock(object):
    """flock on ``<model dir>/.lock``; the kernel drops it when the holder dies, even by kill -9."""

    def __init__(self, path, timeout):
        self.path = path
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as err:
            raise os_error(err, 'opening the lock', self.path)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except (IOError, OSError) as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise os_error(err, 'locking', self.path)
            if time.monotonic() >= deadline:
                os.close(self.fd)
                self.fd = None
                raise TaoFleetError(
                    'The engine store is busy: %s stayed locked for %.0f s.' % (self.path, self.timeout),
                    cause='Another tao.fleet task (build publish, release or cleanup) on this host '
                          'holds the lock.',
                    fix='Let the other task finish (ps -ef | grep tao_fleet), then run this one again.',
                    code='store_busy',
                    details={'path': self.path},
                )
            time.sleep(0.05)

    def __exit__(self, *exc):
        os.close(self.fd)
        self.fd = None
        return False


def _builder_info():
    return dict(process_record(), created_at=utc_now())


# the name the store's callers and tests know
builder_alive = record_alive


def _temp_dir_builder_alive(path):
    """builder_alive for a build dir; without builder.pid, a dead pid in its name still counts."""
    try:
        with open(os.path.join(path, BUILDER_FILE)) as handle:
            return builder_alive(json.loads(handle.read()))
    except (IOError, OSError, ValueError):
        pass
    match = re.match(r'^%s([0-9]+)-' % re.escape(TEMP_PREFIX), os.path.basename(path))
    if match and not pid_alive(int(match.group(1))):
        return False
    return None


class EngineStore(object):
    """One host's store. ``root`` may itself be a symlink (the operator's choice); nothing below
    it is followed."""

    def __init__(self, root, lock_timeout=DEFAULT_LOCK_TIMEOUT_SECONDS):
        if not isinstance(root, str) or not os.path.isabs(root):
            raise TaoFleetError(
                'The engine store path must be absolute, got %r.' % (root,),
                cause='A relative store path would depend on the directory the module runs in.',
                fix='Set store to an absolute path such as /var/lib/tao_fleet.',
                code='store_name_invalid',
            )
        self.root = os.path.realpath(root)
        self.lock_timeout = lock_timeout

    # ---- names and paths -------------------------------------------------------------------

    @staticmethod
    def check_model(model):
        if not isinstance(model, str) or not _MODEL_RE.match(model):
            raise TaoFleetError(
                'Invalid model name for the engine store: %r.' % (model,),
                cause='Model names become directory names in the store.',
                fix='Use letters, digits, ".", "_", "+" and "-", starting with a letter or digit '
                    '(at most 128 characters), e.g. peoplenet.',
                code='store_name_invalid',
            )
        return model

    @staticmethod
    def check_fingerprint(fingerprint):
        if not is_sha256(fingerprint):
            raise TaoFleetError(
                'Invalid engine fingerprint: %r.' % (fingerprint,),
                cause='Fingerprints are the 64 lower-case hex digits that tao.fleet.trt_engine returns.',
                fix='Pass the fingerprint from the trt_engine result (register it and use '
                    '"{{ result.fingerprint }}").',
                code='store_name_invalid',
            )
        return fingerprint

    def model_file_path(self, sha256):
        if not is_sha256(sha256):
            raise TaoFleetError('Invalid model sha256: %r.' % (sha256,), code='store_name_invalid',
                                fix='Give the 64 lower-case hex digits of the model file.')
        return os.path.join(self.root, 'models', sha256)

    def timing_cache_path(self, platform_key):
        return os.path.join(self.root, 'timing_cache', '%s.cache' % platform_key_sha256(platform_key))

    def model_dir(self, model):
        return os.path.join(self.root, 'engines', self.check_model(model))

    def engine_dir(self, model, fingerprint):
        return os.path.join(self.model_dir(model), self.check_fingerprint(fingerprint))

    def engine_path(self, model, fingerprint):
        return os.path.join(self.engine_dir(model, fingerprint), ENGINE_FILE)

    def manifest_path(self, model, fingerprint):
        return os.path.join(self.engine_dir(model, fingerprint), MANIFEST_FILE)

    def active_engine_path(self, model):
        """The stable path applications load (DeepStream ``model-engine-file``)."""
        return os.path.join(self.model_dir(model), ACTIVE, ENGINE_FILE)

    # ---- directories that are never symlinks -----------------------------------------------

    def _real_dir(self, path, create):
        """Check (and with ``create`` make) every directory from the root down to ``path``;
        True if it exists. A symlink or a file on the way is refused, never followed."""
        return real_dir(self.root, path, create, error=os_error)

    def _existing_model_dir(self, model):
        path = self.model_dir(model)
        return path if self._real_dir(path, create=False) else None

    def _lock(self, model, check_mode=False):
        if check_mode:
            return _NoLock()
        return _ModelLock(os.path.join(self.model_dir(model), LOCK_FILE), self.lock_timeout)

    # ---- writing files ---------------------------------------------------------------------

    @staticmethod
    def _write_atomic(directory, name, data, mode=0o644):
        """``directory/name`` holds ``data`` whole or keeps what it held: temp file, fsync, rename."""
        final = os.path.join(directory, name)
        try:
            fd, temp = tempfile.mkstemp(prefix=WRITE_TEMP_PREFIX, dir=directory)
        except OSError as err:
            raise os_error(err, 'writing', final)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temp, final)
            _fsync_path(directory, directory=True)
        except OSError as err:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise os_error(err, 'writing', final)
        return final

    def write_timing_cache(self, platform_key, data):
        path = self.timing_cache_path(platform_key)
        self._real_dir(os.path.dirname(path), create=True)
        return self._write_atomic(os.path.dirname(path), os.path.basename(path), data)

    def read_timing_cache(self, platform_key):
        path = self.timing_cache_path(platform_key)
        if not self._real_dir(os.path.dirname(path), create=False):
            return None
        try:
            with open(path, 'rb') as handle:
                return handle.read()
        except (IOError, OSError) as err:
            if err.errno == errno.ENOENT:
                return None
            raise os_error(err, 'reading', path)

    # ---- building: temp dir -> publish -----------------------------------------------------

    def temp_dir(self, model):
        """A fresh ``.tmp-*`` build directory beside the engines, with ``builder.pid`` so that gc
        can tell a live build from one a kill left behind."""
        parent = self.model_dir(model)
        self._real_dir(parent, create=True)
        try:
            # The pid in the name lets gc judge a dir that a kill left before builder.pid existed.
            path = tempfile.mkdtemp(prefix='%s%d-' % (TEMP_PREFIX, os.getpid()), dir=parent)
        except OSError as err:
            raise os_error(err, 'creating a build directory in', parent)
        try:
            self._write_atomic(path, BUILDER_FILE, json.dumps(_builder_info()).encode('ascii'))
        except TaoFleetError as error:
            # a full disk must not also leave an empty build dir for gc to puzzle over; the fix then
            # names the model dir, which still exists
            shutil.rmtree(path, ignore_errors=True)
            error.fix = (error.fix or '').replace(path, parent)
            raise
        return path

    def _check_build_dir(self, model, build_dir):
        parent = self.model_dir(model)
        build_dir = os.path.realpath(build_dir)
        name = os.path.basename(build_dir)
        if os.path.dirname(build_dir) != parent or not name.startswith(TEMP_PREFIX):
            raise TaoFleetError(
                'Not a build directory of model %s: %s.' % (model, build_dir),
                cause='Engines are published only from a temp dir that EngineStore.temp_dir made '
                      'inside %s (same filesystem, so the rename is atomic).' % parent,
                fix='Create the build directory with EngineStore.temp_dir(model).',
                code='store_name_invalid',
            )
        self._real_dir(build_dir, create=False)
        return build_dir

    def write_engine(self, build_dir, data):
        """Write engine bytes as ``model.engine`` of a build directory."""
        return self._write_atomic(build_dir, ENGINE_FILE, data)

    def write_manifest(self, build_dir, fingerprint, inputs, model=None, build=None, created_at=None):
        """Write ``manifest.json`` of a build directory: fingerprint, its inputs, the engine's
        sha256 and size, and what the builder wants kept (``build``: TensorRT version, seconds,
        warnings...). Refuses inputs that do not hash to the fingerprint."""
        self.check_fingerprint(fingerprint)
        if sha256_of(inputs) != fingerprint:
            raise TaoFleetError(
                'The fingerprint inputs do not hash to %s.' % fingerprint,
                cause='The manifest would not match its engine key (inputs changed after '
                      'engine_fingerprint computed it).',
                fix='Pass the (fingerprint, inputs) pair that engine_fingerprint returned, unchanged.',
                code='engine_corrupt',
            )
        engine = os.path.join(build_dir, ENGINE_FILE)
        try:
            info = os.lstat(engine)
            digest = file_sha256(engine)
        except (IOError, OSError) as err:
            raise TaoFleetError(
                'The build directory %s has no readable %s: %s.' % (build_dir, ENGINE_FILE, err),
                cause='The build did not write its engine before the manifest.',
                fix='Write the engine bytes first (EngineStore.write_engine).',
                code='engine_corrupt',
            )
        manifest = {
            'manifest_version': MANIFEST_VERSION,
            'model': model if model is not None else os.path.basename(os.path.dirname(os.path.realpath(build_dir))),
            'fingerprint': fingerprint,
            'inputs': inputs,
            'engine': {'file': ENGINE_FILE, 'sha256': digest, 'size': info.st_size},
            'created_at': created_at or utc_now(),
            'build': build or {},
        }
        self._write_atomic(build_dir, MANIFEST_FILE, _manifest_bytes(manifest))
        return manifest

    def publish(self, model, build_dir):
        """Move a finished build directory to ``<fingerprint>``, atomically.

        Returns ``{'fingerprint', 'path', 'reused', 'replaced_corrupt'}``. If an intact engine
        with that fingerprint is there already (another build won the race), it is kept and the
        build directory dropped; a corrupt one is replaced.
        """
        build_dir = self._check_build_dir(model, build_dir)
        status = self._verify_dir(model, build_dir, None)
        if not status.intact:
            raise status.error()
        fingerprint = status.manifest['fingerprint']
        target = self.engine_dir(model, fingerprint)
        model_dir = self.model_dir(model)
        try:
            for name in (ENGINE_FILE, MANIFEST_FILE):
                _fsync_path(os.path.join(build_dir, name))
            try:
                os.unlink(os.path.join(build_dir, BUILDER_FILE))
            except OSError as err:
                if err.errno != errno.ENOENT:
                    raise
            # mkdtemp makes 0700; applications running as other users load the engine.
            os.chmod(build_dir, 0o755)
            _fsync_path(build_dir, directory=True)
        except OSError as err:
            raise os_error(err, 'syncing', build_dir)

        result = {'fingerprint': fingerprint, 'path': target, 'reused': False, 'replaced_corrupt': False}
        trash = None
        with self._lock(model):
            try:
                os.rename(build_dir, target)
            except OSError as err:
                if err.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                    raise os_error(err, 'publishing', target)
                if self.verify(model, fingerprint).intact:
                    result['reused'] = True
                else:
                    trash = move_to_trash(model_dir, target)
                    try:
                        os.rename(build_dir, target)
                    except OSError as err:
                        raise os_error(err, 'publishing', target)
                    result['replaced_corrupt'] = True
            try:
                _fsync_path(model_dir, directory=True)
            except OSError as err:
                raise os_error(err, 'syncing', model_dir)
        if result['reused']:
            trash = move_to_trash(model_dir, build_dir)
        if trash:
            _remove_tree(trash)
        return result

    # ---- reading and checking --------------------------------------------------------------

    def _read_manifest_at(self, directory):
        path = os.path.join(directory, MANIFEST_FILE)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, 'rb') as handle:
            manifest = json.loads(handle.read().decode('utf-8'))
        if not isinstance(manifest, dict):
            raise ValueError('manifest is not a JSON object')
        return manifest

    def _verify_dir(self, model, directory, fingerprint):
        def status(code, reason, manifest=None):
            return EngineStatus(model, fingerprint, directory, code, reason, manifest)

        try:
            info = os.lstat(directory)
        except OSError as err:
            if err.errno == errno.ENOENT:
                return status('engine_missing', 'no directory %s' % directory)
            return status('engine_corrupt', 'cannot read %s: %s' % (directory, err.strerror))
        if not stat.S_ISDIR(info.st_mode):
            return status('engine_corrupt', '%s is not a directory' % directory)
        try:
            manifest = self._read_manifest_at(directory)
        except (IOError, OSError, ValueError) as err:
            return status('engine_corrupt', 'manifest.json is missing or unreadable (%s)' % err)
        if fingerprint is None:
            fingerprint = manifest.get('fingerprint')
        if manifest.get('fingerprint') != fingerprint or not is_sha256(fingerprint):
            return status('engine_corrupt', 'manifest names fingerprint %r' % (manifest.get('fingerprint'),), manifest)
        try:
            inputs_hash = sha256_of(manifest.get('inputs'))
        except TaoFleetError:
            inputs_hash = None
        if inputs_hash != fingerprint:
            return status('engine_corrupt', 'manifest inputs do not hash to the fingerprint', manifest)
        engine = manifest.get('engine')
        if not isinstance(engine, dict):
            return status('engine_corrupt', 'manifest has no engine record', manifest)
        path = os.path.join(directory, ENGINE_FILE)
        try:
            engine_info = os.lstat(path)
            if not stat.S_ISREG(engine_info.st_mode):
                return status('engine_corrupt', '%s is not a regular file' % ENGINE_FILE, manifest)
            if engine_info.st_size != engine.get('size'):
                return status('engine_corrupt', '%s is %d bytes, manifest says %s'
                              % (ENGINE_FILE, engine_info.st_size, engine.get('size')), manifest)
            digest = file_sha256(path)
        except (IOError, OSError) as err:
            return status('engine_corrupt', '%s is missing or unreadable (%s)' % (ENGINE_FILE, err), manifest)
        if digest != engine.get('sha256'):
            return status('engine_corrupt', '%s has sha256 %s, manifest says %s'
                          % (ENGINE_FILE, digest, engine.get('sha256')), manifest)
        return status('ok', 'intact', manifest)

    def verify(self, model, fingerprint):
        """Manifest readable, its fingerprint and inputs match, engine size and sha256 match."""
        directory = self.engine_dir(model, fingerprint)
        if not self._real_dir(self.model_dir(model), create=False):
            return EngineStatus(model, fingerprint, directory, 'engine_missing',
                                'no engines of model %s in %s' % (model, self.root))
        return self._verify_dir(model, directory, fingerprint)

    def read_manifest(self, model, fingerprint):
        directory = self.engine_dir(model, fingerprint)
        if not self._real_dir(self.model_dir(model), create=False) or not os.path.isdir(directory):
            raise EngineStatus(model, fingerprint, directory, 'engine_missing', 'no directory %s' % directory).error()
        try:
            return self._read_manifest_at(directory)
        except (IOError, OSError, ValueError) as err:
            raise EngineStatus(model, fingerprint, directory, 'engine_corrupt',
                               'manifest.json is missing or unreadable (%s)' % err).error()

    def update_manifest(self, model, fingerprint, changes):
        """Merge ``changes`` into the top level of an engine's manifest (atomic rewrite)."""
        protected = sorted(set(changes) & set(PROTECTED_MANIFEST_KEYS))
        if protected:
            raise TaoFleetError(
                'Refusing to change %s in the manifest of engine %s.' % (', '.join(protected), fingerprint),
                cause='These keys describe the engine as built; changing them would make the '
                      'manifest disagree with the engine.',
                fix='Record results under other keys (e.g. smoke).',
                code='store_name_invalid',
            )
        self.read_manifest(model, fingerprint)
        with self._lock(model):
            manifest = self.read_manifest(model, fingerprint)
            manifest.update(changes)
            self._write_atomic(self.engine_dir(model, fingerprint), MANIFEST_FILE, _manifest_bytes(manifest))
        return manifest

    def record_smoke(self, model, fingerprint, passed, **details):
        """Store a smoke test result: ``smoke: {passed, at, backend, detections, latency_ms...}``."""
        smoke = dict(details)
        smoke['passed'] = bool(passed)
        smoke['at'] = smoke.get('at') or utc_now()
        return self.update_manifest(model, fingerprint, {'smoke': smoke})

    def fingerprints(self, model):
        """Fingerprint directories of a model, newest first (manifest created_at, else mtime)."""
        model_dir = self._existing_model_dir(model)
        if model_dir is None:
            return []
        found = []
        for name in os.listdir(model_dir):
            if not is_sha256(name):
                continue
            path = os.path.join(model_dir, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISDIR(info.st_mode):
                continue
            try:
                created = _parse_utc(self._read_manifest_at(path).get('created_at'))
            except (IOError, OSError, ValueError):
                created = None
            found.append((created if created is not None else info.st_mtime, name))
        found.sort(reverse=True)
        return [name for _created, name in found]

    # ---- links -----------------------------------------------------------------------------

    def links(self, model):
        """{active, previous, rolled_back_from}: fingerprints, or None where a link is absent."""
        model_dir = self._existing_model_dir(model)
        result = dict((name, None) for name in LINK_NAMES)
        if model_dir is None:
            return result
        for name in LINK_NAMES:
            path = os.path.join(model_dir, name)
            try:
                target = os.readlink(path)
            except OSError as err:
                if err.errno == errno.ENOENT:
                    continue
                raise TaoFleetError(
                    '%s is not a symlink to an engine.' % path,
                    cause='Something other than tao.fleet created %s (%s).' % (name, err.strerror),
                    fix='Move it away; engine_release recreates the link.',
                    code='store_link_invalid',
                    details={'path': path},
                )
            if not is_sha256(target):
                raise TaoFleetError(
                    '%s points at %r, not at an engine of this store.' % (path, target),
                    cause='tao.fleet links only ever name a fingerprint directory beside them; this '
                          'one was changed by hand or by another tool.',
                    fix='Remove the link (rm %s) or point it at a fingerprint directory '
                        '(ln -sfn <fingerprint> %s), then run engine_release again.' % (path, path),
                    code='store_link_invalid',
                    details={'path': path, 'target': target},
                )
            result[name] = target
        return result

    def _set_link(self, model_dir, name, fingerprint):
        temp = os.path.join(model_dir, '%s%s' % (LINK_TEMP_PREFIX, uuid.uuid4().hex))
        final = os.path.join(model_dir, name)
        try:
            os.symlink(fingerprint, temp)
            os.rename(temp, final)
        except OSError as err:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise os_error(err, 'switching link', final)

    def _remove_link(self, model_dir, name):
        path = os.path.join(model_dir, name)
        try:
            os.unlink(path)
        except OSError as err:
            if err.errno != errno.ENOENT:
                raise os_error(err, 'removing link', path)

    def _transition(self, model, plan, check_mode):
        """Run ``plan(links) -> (steps, message, warnings)`` under the model lock and apply its
        steps in order: ('set', link, fingerprint) or ('remove', link). Each step is one rename
        or unlink, so a kill between steps leaves a state the next run completes."""
        if self._existing_model_dir(model) is None:
            raise TaoFleetError(
                'No engines of model %s in the store %s.' % (model, self.root),
                cause='Nothing was built or published for this model on this host.',
                fix='Build the engine with tao.fleet.trt_engine first (and check the model name).',
                code='engine_missing',
                details={'model': model, 'store': self.root},
            )
        model_dir = self.model_dir(model)
        with self._lock(model, check_mode):
            before = self.links(model)
            steps, message, warnings = plan(before)
            after = dict(before)
            effective = []
            for step in steps:
                value = step[2] if step[0] == 'set' else None
                if after[step[1]] != value:
                    after[step[1]] = value
                    effective.append(step)
            if not check_mode and effective:
                for step in effective:
                    if step[0] == 'set':
                        self._set_link(model_dir, step[1], step[2])
                    else:
                        self._remove_link(model_dir, step[1])
                try:
                    _fsync_path(model_dir, directory=True)
                except OSError as err:
                    raise os_error(err, 'syncing', model_dir)
        return {'changed': bool(effective), 'before': before, 'after': after,
                'message': message, 'warnings': warnings}

    def activate(self, model, fingerprint, force=False, check_mode=False):
        """Point ``active`` at ``fingerprint`` and ``previous`` at the engine it replaces.

        Refuses an engine that is not intact (always) or has no passed smoke test (unless
        ``force``). Order: drop ``rolled_back_from``, then ``previous``, then ``active``; a kill
        after any step leaves the old or the new engine active, and a rerun finishes the job.
        """
        self.check_fingerprint(fingerprint)

        def plan(links):
            status = self.verify(model, fingerprint)
            if not status.intact:
                raise status.error()
            warnings = []
            passed, reason = smoke_status(status.manifest)
            if not passed:
                if not force:
                    raise TaoFleetError(
                        'Refusing to make engine %s of model %s active: %s.' % (fingerprint, model, reason),
                        cause='engine_release only switches to an engine whose smoke test passed, so '
                              'a bad build never replaces a working one.',
                        fix='Run tao.fleet.engine_smoke on %s and fix what fails; or set force: true '
                            'to activate it without a passed smoke test.' % self.engine_path(model, fingerprint),
                        code='not_smoke_tested',
                        details={'fingerprint': fingerprint, 'smoke': status.manifest.get('smoke')},
                    )
                warnings.append('Engine %s of model %s made active without a passed smoke test (force): %s.'
                                % (fingerprint, model, reason))
            if links[ACTIVE] == fingerprint:
                return [], 'engine %s is already active' % fingerprint, warnings
            steps = [('remove', ROLLED_BACK_FROM)]
            old = links[ACTIVE]
            if old is not None and self.verify(model, old).code != 'engine_missing':
                steps.append(('set', PREVIOUS, old))
            elif old is not None:
                warnings.append('The engine that was active (%s) is gone from the store; previous '
                                'keeps %s.' % (old, links[PREVIOUS]))
            steps.append(('set', ACTIVE, fingerprint))
            return steps, 'engine %s made active' % fingerprint, warnings

        return self._transition(model, plan, check_mode)

    def rollback(self, model, from_fingerprint=None, check_mode=False):
        """Make ``previous`` active again, recording the engine left in ``rolled_back_from``.

        Idempotent: once rolled back from X, another rollback (from X, or with no fingerprint)
        changes nothing; to go forward again, activate X. With ``from_fingerprint``, roll back
        only if that engine is the active one (a rollout's rescue undoes only its own release).
        """
        if from_fingerprint is not None:
            self.check_fingerprint(from_fingerprint)

        def plan(links):
            active, previous, rolled_from = links[ACTIVE], links[PREVIOUS], links[ROLLED_BACK_FROM]
            if rolled_from is not None and rolled_from != active and from_fingerprint in (None, rolled_from):
                # Done before (a kill may have cut it before previous was set: finish that).
                return ([('set', PREVIOUS, rolled_from)],
                        'already rolled back from %s to %s' % (rolled_from, active), [])
            if from_fingerprint is not None and from_fingerprint != active:
                return [], 'engine %s is not active (active: %s): nothing to roll back' % (from_fingerprint, active), []
            if active is None or previous is None or previous == active:
                raise TaoFleetError(
                    'Cannot roll back model %s: no previous engine to return to.' % model,
                    cause='active is %s and previous is %s: rollback needs a previous engine '
                          'other than the active one.' % (active, previous),
                    fix='Activate a known good engine by fingerprint (engine_release state=active '
                        'fingerprint=...); the store lists them under %s.' % self.model_dir(model),
                    code='no_previous_engine',
                    details={'active': active, 'previous': previous},
                )
            status = self.verify(model, previous)
            if not status.intact:
                raise status.error()
            steps = [('set', ROLLED_BACK_FROM, active), ('set', ACTIVE, previous), ('set', PREVIOUS, active)]
            return steps, 'rolled back from %s to %s' % (active, previous), []

        return self._transition(model, plan, check_mode)

    # ---- cleanup ---------------------------------------------------------------------------

    def _stale_entries(self, model_dir, grace_seconds, now):
        """Names left by killed work: build dirs whose builder is dead (or unknown and older
        than the grace period), trash dirs, temp links and temp files."""
        stale_dirs, stale_files = [], []
        for name in os.listdir(model_dir):
            path = os.path.join(model_dir, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if name.startswith(TRASH_PREFIX):
                stale_dirs.append(name)
            elif name.startswith(LINK_TEMP_PREFIX) or name.startswith(WRITE_TEMP_PREFIX):
                stale_files.append(name)
            elif name.startswith(TEMP_PREFIX) and stat.S_ISDIR(info.st_mode):
                alive = _temp_dir_builder_alive(path)
                if alive is False or (alive is None and now - info.st_mtime > grace_seconds):
                    stale_dirs.append(name)
            elif is_sha256(name) and stat.S_ISDIR(info.st_mode):
                for inner in os.listdir(path):
                    if inner.startswith(WRITE_TEMP_PREFIX):
                        stale_files.append(os.path.join(name, inner))
        return sorted(stale_dirs), sorted(stale_files)

    def gc(self, model, keep=DEFAULT_KEEP, check_mode=False, links=None,
           grace_seconds=DEFAULT_TEMP_GRACE_SECONDS, now=None):
        """Remove fingerprint dirs beyond the newest ``keep`` that no link points at, and what
        killed builds left. ``links`` overrides the current links (check mode passes the links a
        pending release would leave). Returns ``{'removed': [fp...], 'stale_removed': [name...]}``."""
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            raise TaoFleetError('keep must be a whole number >= 0, got %r.' % (keep,),
                                fix='Set keep to how many recent engines to keep (default %d).' % DEFAULT_KEEP,
                                code='store_name_invalid')
        model_dir = self._existing_model_dir(model)
        if model_dir is None:
            return {'removed': [], 'stale_removed': []}
        now = time.time() if now is None else now
        trash = []
        with self._lock(model, check_mode):
            current = self.links(model) if links is None else links
            protected = set(value for value in current.values() if value)
            removed = [fp for fp in self.fingerprints(model)[keep:] if fp not in protected]
            stale_dirs, stale_files = self._stale_entries(model_dir, grace_seconds, now)
            if not check_mode:
                for fingerprint in removed:
                    trash.append(move_to_trash(model_dir, os.path.join(model_dir, fingerprint)))
                for name in stale_dirs:
                    trash.append(move_to_trash(model_dir, os.path.join(model_dir, name)))
                for name in stale_files:
                    try:
                        os.unlink(os.path.join(model_dir, name))
                    except OSError as err:
                        if err.errno != errno.ENOENT:
                            raise os_error(err, 'removing', os.path.join(model_dir, name))
                if removed or stale_dirs or stale_files:
                    try:
                        _fsync_path(model_dir, directory=True)
                    except OSError as err:
                        raise os_error(err, 'syncing', model_dir)
        # Outside the lock: a big tree takes a while to delete and is already out of sight.
        for path in trash:
            _remove_tree(path)
        return {'removed': removed, 'stale_removed': stale_dirs + stale_files}


def move_to_trash(parent, path):
    """Rename ``path`` to ``parent/.trash-*``: out of sight at once, deleted later (``_remove_tree``) outside any
    lock; a kill in between leaves only a name that the next cleanup removes."""
    trash = os.path.join(parent, '%s%s' % (TRASH_PREFIX, uuid.uuid4().hex))
    try:
        os.rename(path, trash)
    except OSError as err:
        raise os_error(err, 'removing', path)
    return trash


def _manifest_bytes(manifest):
    return (json.dumps(manifest, sort_keys=True, indent=2) + '\n').encode('utf-8')


def _remove_tree(path):
    try:
        shutil.rmtree(path)
    except OSError as err:
        # ENOENT: a concurrent gc took this trash over; it finishes the removal.
        if err.errno != errno.ENOENT:
            raise os_error(err, 'removing', path)
