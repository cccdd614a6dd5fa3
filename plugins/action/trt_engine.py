# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Controller half of tao.fleet.trt_engine: with ``engine_share`` hosts with the same engine fingerprint
build once, fleet-wide.

Per host: (1) the module runs with ``build: false``: an intact engine in the host's store is reused at
once (one module call, the second-run case), else the module answers ``missing`` with the fingerprint.
When an earlier host with the same options and platform left its fingerprint in ``<share>/.predictions``
and this host's ``tao_store`` fact (platform_facts with ``store``) says its store lacks that engine, the
share entry goes along with this first call, which then installs it: one call instead of two;
(2) a share entry ``<share>/<fingerprint>/`` is copied to the host's temp dir and the module installs it
after checking fingerprint and sha256 on the host (``shared_engine``); hosts do this in parallel, since
entries only ever appear whole (rename); (3) with no entry, the host builds under a per-fingerprint file
lock on the controller (forks are processes: hosts of one class that arrive together wait for one build,
then import it); an engine built here (no entry, or one the host refused) is fetched back, checked and
renamed into the share (temp dir + rename, so the share never shows half an entry).
Without ``engine_share`` the module runs on the host unchanged.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time

from ansible.plugins.action import ActionBase

from ansible_collections.tao.fleet.plugins.module_utils._atomic import make_dirs, write_file
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._store_contents import store_has_engine, store_hint
from ansible_collections.tao.fleet.plugins.plugin_utils.host_copy import copy_to_task_dir

MODULE = 'tao.fleet.trt_engine'
ENGINE_FILE = 'model.engine'
MANIFEST_FILE = 'manifest.json'
# <share>/.predictions/<key>: the fingerprint the module computed for these options on this platform
PREDICTIONS = '.predictions'
# options that do not change the fingerprint, or name paths that differ from host to host; model_key and
# converter_args (which may hold -k) are secrets: a mismatch they cause only costs one wasted copy
NOT_PREDICTIVE = ('store', 'sysroot', 'engine_share', 'shared_engine', 'build', 'build_timeout',
                  'build_memory_limit', 'model_key', 'converter_args', 'keep_decrypted_model',
                  # tao.fleet.engine_deploy's stages after the engine, and its deployment record (whose id
                  # holds the host's store path)
                  'shared_manifest', 'smoke', 'consumers', 'keep', 'quick_check', 'deploy_record_id')
# the only shape of a fingerprint the controller takes from a host (or from the share's .predictions) before
# it names a directory of the share with it: re.match with \Z, since '$' also matches before a final newline
FINGERPRINT_RE = re.compile(r'[0-9a-f]{64}\Z')


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def entry_problem(directory, fingerprint):
    """None when ``directory`` is a whole share entry for ``fingerprint`` (the controller's own check
    before publishing; the host checks again before it uses one), else why not."""
    try:
        with open(os.path.join(directory, MANIFEST_FILE), 'rb') as handle:
            manifest = json.loads(handle.read().decode('utf-8'))
        digest = _sha256(os.path.join(directory, ENGINE_FILE))
    except (OSError, ValueError) as err:
        return 'unreadable: %s' % err
    if not isinstance(manifest, dict) or manifest.get('fingerprint') != fingerprint:
        return 'its manifest names another fingerprint'
    if digest != (manifest.get('engine') or {}).get('sha256'):
        return '%s does not match the sha256 in its manifest' % ENGINE_FILE
    return None


def prediction_key(args):
    """sha256 naming the fingerprint these module options give on this platform, or None when the options
    do not say the platform (the module then reads it on the host, so hosts cannot be told apart here)."""
    platform = args.get('platform')
    if not isinstance(platform, dict) or not isinstance(platform.get('platform_key'), dict):
        return None
    relevant = dict((key, value) for key, value in args.items() if key not in NOT_PREDICTIVE)
    relevant['platform'] = platform['platform_key']
    # the store path differs from host to host; the content-addressed file name does not
    for key in ('model_path', 'calibration_cache'):
        if relevant.get(key):
            relevant[key] = os.path.basename(str(relevant[key]))
    if isinstance(relevant.get('fetch'), dict):
        # engine_deploy's model: where it comes from and its sha256, not the key or the host's copy of it
        relevant['fetch'] = dict((key, value) for key, value in relevant['fetch'].items()
                                 if key not in ('api_key', 'src', 'controller_cache'))
    text = json.dumps(relevant, sort_keys=True, separators=(',', ':'), default=str)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def is_fingerprint(value):
    """Whether ``value`` has the exact shape of an engine fingerprint: 64 lower-case hex digits."""
    return isinstance(value, str) and FINGERPRINT_RE.match(value) is not None


def share_entry(share, fingerprint, source='the host'):
    """The share directory of ``fingerprint``, under the share's real path. A value of any other shape than
    a fingerprint (``../victim``, an absolute path, a newline), or one whose path resolves outside the share
    (a symlink planted in it), is refused before anything is read, locked, moved or written."""
    if not is_fingerprint(fingerprint):
        raise TaoFleetError(
            'Refusing the engine fingerprint %r that %s reported: it is not 64 lower-case hex digits, so the '
            'engine share was not touched.' % (fingerprint, source),
            cause='The controller names a directory of the engine share with the fingerprint; any other text '
                  '(a path, "..", a newline) could name a place outside the share. tao.fleet.trt_engine only '
                  'ever answers a sha256: the answer was altered on its way or on that host, or the host runs '
                  'a module that is not tao.fleet\'s.',
            fix='Treat that host as compromised until checked: compare its collection with the controller\'s '
                '(ansible-galaxy collection verify) and rerun; other hosts are not affected.',
            code='host_reply_invalid', details={'fingerprint': repr(fingerprint)[:200]})
    root = os.path.realpath(share)
    entry = os.path.join(root, fingerprint)
    if os.path.dirname(os.path.realpath(entry)) != root:
        raise TaoFleetError(
            'Refusing the engine share entry %s: it resolves to %s, outside the share %s.' % (
                entry, os.path.realpath(entry), root),
            cause='Entries are real directories that the controller renames into the share; a symlink there '
                  'was planted by someone else and would make the controller read or replace files elsewhere.',
            fix='Remove %s (check who made it); the next run builds or imports the engine again.' % entry,
            code='share_entry_invalid', details={'path': entry})
    return entry


def read_prediction(share, key):
    try:
        with open(os.path.join(share, PREDICTIONS, key)) as handle:
            fingerprint = handle.read().strip()
    except (IOError, OSError):
        return None
    return fingerprint if is_fingerprint(fingerprint) else None


def write_prediction(share, key, fingerprint):
    """Remember (temp file + rename: forks read it concurrently); a share that cannot be written only
    costs later hosts their probe call. Only a fingerprint is written (the value comes from a host)."""
    if not is_fingerprint(fingerprint):
        return
    directory = os.path.join(share, PREDICTIONS)
    try:
        make_dirs(directory)
        write_file(os.path.join(directory, key), fingerprint.encode('ascii'))
    except TaoFleetError:
        pass


def share_info(entry, predicted=None, found=False):
    """The ``share`` part of the result: what the share had for this host, and what became of it."""
    return {'path': entry, 'found': found, 'used': False, 'published': False, 'replaced_corrupt': False,
            'waited_seconds': 0.0, 'predicted': predicted}


class ShareLock(object):
    """Exclusive lock on one fingerprint of the share, held across forks (separate processes)."""

    def __init__(self, share, fingerprint):
        if not is_fingerprint(fingerprint):
            share_entry(share, fingerprint)   # raises: never a lock file named by other text
        locks = os.path.join(share, '.locks')
        os.makedirs(locks, exist_ok=True)
        self.path = os.path.join(locks, fingerprint + '.lock')
        self.handle = None
        self.waited = 0.0

    def __enter__(self):
        self.handle = open(self.path, 'a')
        started = time.monotonic()
        fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX)
        self.waited = round(time.monotonic() - started, 3)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
        self.handle.close()


class ActionModule(ActionBase):

    # the temp dir is made only when a share entry is copied, so a reused engine costs one module call
    TRANSFERS_FILES = False
    # the module on the host; tao.fleet.engine_deploy's action is this class with its own module
    MODULE = MODULE

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        try:
            early = self._before_engine(args, task_vars)
            share = args.pop('engine_share', None)
            if early is not None:
                result.update(early)
            elif not share or self._play_context.check_mode:
                result.update(self._module(args, task_vars))
            else:
                result.update(self._with_share(os.path.abspath(os.path.expanduser(share)), args, task_vars))
        except TaoFleetError as err:
            # a host's reply the controller refused before touching the share (host_reply_invalid, ...)
            result.update(err.to_result(), failed=True, changed=False)
        finally:
            if self._connection._shell.tmpdir:
                self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _before_engine(self, args, task_vars):
        """For tao.fleet.engine_deploy's action: change ``args`` before the first module call, or return the
        task's result instead of calling the module."""
        return None

    def _module(self, args, task_vars, **extra):
        return self._execute_module(module_name=self.MODULE, module_args=dict(args, **extra), task_vars=task_vars)

    def _with_share(self, share, args, task_vars):
        key = prediction_key(args)
        predicted = read_prediction(share, key) if key else None
        first, info = self._first_call(share, predicted, args, task_vars)
        if first.get('fingerprint') is not None and not is_fingerprint(first['fingerprint']):
            share_entry(share, first['fingerprint'])   # raises host_reply_invalid: nothing is written
        if key and first.get('fingerprint') and first['fingerprint'] != predicted:
            write_prediction(share, key, first['fingerprint'])
        if first.get('failed') or not first.get('missing'):
            if info:
                first['share'] = info
            return first
        fingerprint = first['fingerprint']
        entry = share_entry(share, fingerprint)
        info = share_info(entry, predicted=(info or {}).get('predicted'))
        answer = None
        if os.path.isfile(os.path.join(entry, MANIFEST_FILE)):
            # Entries are only ever renamed into place whole: hosts import them in parallel, without the lock.
            answer = self._import(entry, args, task_vars, info)
        if answer is None or self._built(answer):
            with ShareLock(share, fingerprint) as lock:
                info['waited_seconds'] = lock.waited
                if answer is None and os.path.isfile(os.path.join(entry, MANIFEST_FILE)):
                    answer = self._import(entry, args, task_vars, info)   # built by another host meanwhile
                elif answer is None:
                    answer = self._module(args, task_vars)
                if self._built(answer):
                    # built here: no entry, or one this host refused (it then built in the same call)
                    info['replaced_corrupt'] = info['found']
                    problem = self._publish(share, entry, answer, fingerprint)
                    info['published'] = problem is None
                    if problem:
                        answer.setdefault('warnings', []).append(
                            'The engine built on this host was not published to the engine share: %s.' % problem)
        answer['share'] = info
        return answer

    def _first_call(self, share, predicted, args, task_vars):
        """The module with ``build: false``: it reuses an engine of the store, or says ``missing`` with its
        fingerprint. When the host's ``tao_store`` fact says it lacks the engine that hosts with the same
        options and platform got (the prediction) and the share has that entry, the entry goes along with
        this call, saving the second one; a wrong prediction only answers ``missing`` with the right
        fingerprint. Returns (answer, share info or None)."""
        hint = store_hint(task_vars, args.get('store'))
        entry = share_entry(share, predicted, 'the share\'s prediction file') if predicted else None
        if (predicted is None or hint is None or store_has_engine(hint, predicted)
                or not os.path.isfile(os.path.join(entry, MANIFEST_FILE))):
            return self._module(args, task_vars, build=False), None
        info = share_info(entry, predicted=predicted, found=True)
        copied = self._copy_to_host(entry)
        answer = self._module(args, task_vars, build=False, **copied)
        info['used'] = bool(answer.get('shared'))
        if answer.get('missing'):
            # not this host's engine after all: the module's note that it left the copy unused is about our
            # guess, not the host (the next step says what happened to the entry of its own fingerprint)
            unused = 'The shared engine in %s was not used' % copied['shared_engine']
            answer['warnings'] = [w for w in answer.get('warnings') or [] if not w.startswith(unused)]
        return answer, info

    @staticmethod
    def _built(answer):
        return bool(answer.get('built')) and not answer.get('failed')

    def _import(self, entry, args, task_vars, info):
        info['found'] = True
        answer = self._module(args, task_vars, **self._copy_to_host(entry))
        info['used'] = bool(answer.get('shared'))
        return answer

    def _copy_to_host(self, entry):
        """The module options that hand it the share entry: the engine file copied into the task's temp dir,
        and the manifest with the call (one file copy per host instead of two; a manifest that does not
        read as JSON here goes as its file, for the host to refuse with the reason)."""
        # one temp dir per task (removed at its end), also when a first call's entry was not this host's
        try:
            with open(os.path.join(entry, MANIFEST_FILE), 'rb') as handle:
                manifest = json.loads(handle.read().decode('utf-8'))
        except (OSError, ValueError):
            manifest = None
        names = [ENGINE_FILE] if isinstance(manifest, dict) else [ENGINE_FILE, MANIFEST_FILE]
        remote_dir, _remote = copy_to_task_dir(self, [(os.path.join(entry, name), name) for name in names])
        if isinstance(manifest, dict):
            return {'shared_engine': remote_dir, 'shared_manifest': manifest}
        return {'shared_engine': remote_dir}

    def _publish(self, share, entry, built, fingerprint):
        """Fetch the host's new engine and manifest into a temp dir of the share, check them, rename the
        dir into place (a refused old entry goes to the trash first). Returns None or what went wrong."""
        staging = tempfile.mkdtemp(prefix='.tmp-', dir=share)
        try:
            engine_dir = os.path.dirname(built['engine_path'])
            for name in (ENGINE_FILE, MANIFEST_FILE):
                self._connection.fetch_file(self._connection._shell.join_path(engine_dir, name),
                                            os.path.join(staging, name))
            problem = entry_problem(staging, fingerprint)
            if problem:
                return 'the copy fetched from the host is %s' % problem
            os.chmod(staging, 0o755)
            if os.path.lexists(entry):
                trash = tempfile.mkdtemp(prefix='.trash-', dir=share)
                os.rename(entry, os.path.join(trash, fingerprint))
                shutil.rmtree(trash, ignore_errors=True)
            os.rename(staging, entry)
            staging = None
            return None
        except OSError as err:
            return 'writing the share failed: %s' % err
        finally:
            if staging:
                shutil.rmtree(staging, ignore_errors=True)
