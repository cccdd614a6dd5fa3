# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Controller half of tao.fleet.trt_engine: with ``engine_share`` hosts with the same engine fingerprint
build once, fleet-wide.

Per host: (1) the module runs with ``build: false``: an intact engine in the host's store is reused at
once (one module call, the second-run case), else the module answers ``missing`` with the fingerprint;
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
import shutil
import tempfile
import time

from ansible.plugins.action import ActionBase

MODULE = 'tao.fleet.trt_engine'
ENGINE_FILE = 'model.engine'
MANIFEST_FILE = 'manifest.json'


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


class ShareLock(object):
    """Exclusive lock on one fingerprint of the share, held across forks (separate processes)."""

    def __init__(self, share, fingerprint):
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

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        share = args.pop('engine_share', None)
        if not share or self._play_context.check_mode:
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            return result
        share = os.path.abspath(os.path.expanduser(share))
        try:
            result.update(self._with_share(share, args, task_vars))
        finally:
            if self._connection._shell.tmpdir:
                self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _module(self, args, task_vars, **extra):
        return self._execute_module(module_name=MODULE, module_args=dict(args, **extra), task_vars=task_vars)

    def _with_share(self, share, args, task_vars):
        first = self._module(args, task_vars, build=False)
        if first.get('failed') or not first.get('missing'):
            return first
        fingerprint = first['fingerprint']
        entry = os.path.join(share, fingerprint)
        info = {'path': entry, 'found': False, 'used': False, 'published': False, 'replaced_corrupt': False,
                'waited_seconds': 0.0}
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

    @staticmethod
    def _built(answer):
        return bool(answer.get('built')) and not answer.get('failed')

    def _import(self, entry, args, task_vars, info):
        info['found'] = True
        answer = self._module(args, task_vars, shared_engine=self._copy_to_host(entry))
        info['used'] = bool(answer.get('shared'))
        return answer

    def _copy_to_host(self, entry):
        remote_dir = self._make_tmp_path()
        join = self._connection._shell.join_path
        remote = [join(remote_dir, name) for name in (ENGINE_FILE, MANIFEST_FILE)]
        for name, path in zip((ENGINE_FILE, MANIFEST_FILE), remote):
            self._transfer_file(os.path.join(entry, name), path)
        self._fixup_perms2([remote_dir] + remote, execute=False)
        return remote_dir

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
