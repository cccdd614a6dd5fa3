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
(2) a share entry ``<share>/<fingerprint>/`` that the controller's share index records
(``<share>/.index/<fingerprint>.json``: the sha256 and size the controller computed itself when it fetched
the engine from its builder, the builder, the time) is copied to the host's temp dir, and the module
installs it with ``build: false`` after checking fingerprint, the manifest's sha256 and the index's
(``shared_engine``, ``shared_sha256``); hosts do this in parallel, since entries only ever appear whole
(rename); (3) otherwise, and when a host refuses an entry, the rest runs under a per-fingerprint file lock
on the controller (forks are processes: hosts of one class that arrive together wait for one build, then
import it). Under the lock the controller checks the entry against its index itself: an intact entry a host
refused fails that host (``share_entry_refused``) and stays; only when there is no intact entry does the
host build (it is that fingerprint's builder), and its engine is fetched back (size bounded), hashed,
checked and renamed into the share (temp dir + rename, so the share never shows half an entry) with its
index record. Hosts never write the share: the controller does. A failure to publish after the host built
(and, with engine_deploy, switched) keeps the host's result and says why in a warning and ``share``.
Without ``engine_share`` the module runs on the host unchanged.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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

from ansible.plugins.action import ActionBase

from ansible_collections.tao.fleet.plugins.module_utils._atomic import make_dirs, read_bytes, write_file
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import normalise_platform_key, sha256_of
from ansible_collections.tao.fleet.plugins.module_utils._secrets import hide_model_keys
from ansible_collections.tao.fleet.plugins.module_utils._store_contents import store_has_engine, store_hint
from ansible_collections.tao.fleet.plugins.plugin_utils.host_copy import copy_to_task_dir

MODULE = 'tao.fleet.trt_engine'
ENGINE_FILE = 'model.engine'
MANIFEST_FILE = 'manifest.json'
# <share>/.predictions/<key>: the fingerprint the module computed for these options on this platform
PREDICTIONS = '.predictions'
# <share>/.index/<fingerprint>.json: the controller's own record of each entry (hosts never write the share)
INDEX = '.index'
INDEX_VERSION = 1
# the largest engine the controller fetches back from a builder (a TensorRT plan of a TAO model is tens to a
# few hundred MB): a lying host cannot fill the controller's disk with one "engine"
MAX_ENGINE_BYTES = 8 << 30
# how long a host waits for the share lock beyond its own build_timeout (another host is building)
LOCK_MARGIN_SECONDS = 900
# options that do not change the fingerprint, or name paths that differ from host to host; model_key and
# converter_args (which may hold -k) are secrets: a mismatch they cause only costs one wasted copy
NOT_PREDICTIVE = ('store', 'sysroot', 'engine_share', 'shared_engine', 'shared_sha256', 'build', 'build_timeout',
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


def entry_problem(directory, fingerprint, platform_key=None):
    """None when ``directory`` is a whole share entry for ``fingerprint`` (the controller's own check
    before publishing; the host checks again before it uses one), else why not: the manifest names this
    fingerprint, its inputs hash to it (and, with ``platform_key``, name that platform: the builder's own
    class), and the engine's sha256 is the manifest's."""
    try:
        with open(os.path.join(directory, MANIFEST_FILE), 'rb') as handle:
            manifest = json.loads(handle.read().decode('utf-8'))
        digest = _sha256(os.path.join(directory, ENGINE_FILE))
    except (OSError, ValueError) as err:
        return 'unreadable: %s' % err
    if not isinstance(manifest, dict) or manifest.get('fingerprint') != fingerprint:
        return 'its manifest names another fingerprint'
    inputs = manifest.get('inputs')
    try:
        inputs_hash = sha256_of(inputs)
    except TaoFleetError:
        inputs_hash = None
    if inputs_hash != fingerprint:
        return 'its manifest inputs do not hash to its fingerprint'
    if platform_key is not None:
        try:
            expected = normalise_platform_key(platform_key)
        except TaoFleetError:
            expected = None
        if inputs.get('platform') != expected:
            return 'its manifest inputs name another platform than the builder\'s own platform_key'
    if digest != (manifest.get('engine') or {}).get('sha256'):
        return '%s does not match the sha256 in its manifest' % ENGINE_FILE
    return None


def index_path(share, fingerprint):
    return os.path.join(share, INDEX, fingerprint + '.json')


def read_record(share, fingerprint):
    """The controller's index record of ``fingerprint``'s entry, or None (none, unreadable, another shape)."""
    try:
        data = read_bytes(index_path(share, fingerprint))
        record = json.loads(data.decode('utf-8')) if data is not None else None
    except (TaoFleetError, ValueError):
        return None
    if not (isinstance(record, dict) and record.get('fingerprint') == fingerprint
            and is_fingerprint(record.get('sha256')) and is_fingerprint(record.get('manifest_sha256'))
            and isinstance(record.get('size'), int) and not isinstance(record.get('size'), bool)):
        return None
    return record


def _regular_file(path):
    """``path``'s lstat when it is a regular file (a symlink is not), else None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def usable_entry(entry, record):
    """The entry's manifest (a dict) when the index records it and the manifest file is the one recorded,
    else None. The engine's sha256 is checked by the importing host (``shared_sha256``) and, when a host
    refuses the entry, by ``record_problem``."""
    if record is None:
        return None
    try:
        data = read_bytes(os.path.join(entry, MANIFEST_FILE))
        if data is None or hashlib.sha256(data).hexdigest() != record['manifest_sha256']:
            return None
        manifest = json.loads(data.decode('utf-8'))
    except (TaoFleetError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def record_problem(entry, record):
    """None when ``entry`` is exactly what the controller recorded (the controller hashes it itself), else why not."""
    if record is None:
        return 'the share index has no record of it (made before tao.fleet kept one, or by hand)'
    if usable_entry(entry, record) is None:
        return 'its manifest.json is missing or not the one the controller recorded'
    path = os.path.join(entry, ENGINE_FILE)
    info = _regular_file(path)
    if info is None or info.st_size != record['size']:
        return '%s is missing or not %d bytes as recorded' % (ENGINE_FILE, record['size'])
    try:
        digest = _sha256(path)
    except OSError as err:
        return '%s is unreadable: %s' % (ENGINE_FILE, err)
    if digest != record['sha256']:
        return '%s has sha256 %s, the controller recorded %s' % (ENGINE_FILE, digest, record['sha256'])
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
    """Exclusive lock on one fingerprint of the share, held across forks (separate processes). Waits at most
    ``timeout`` seconds (None: for ever), then raises ``share_busy``."""

    def __init__(self, share, fingerprint, timeout=None):
        if not is_fingerprint(fingerprint):
            share_entry(share, fingerprint)   # raises: never a lock file named by other text
        locks = os.path.join(share, '.locks')
        os.makedirs(locks, exist_ok=True)
        self.path = os.path.join(locks, fingerprint + '.lock')
        self.timeout = timeout
        self.handle = open(self.path, 'a')   # OSError here (read-only, full) before anything is built
        self.waited = 0.0

    def __enter__(self):
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if self.timeout is not None and time.monotonic() - started >= self.timeout:
                    self.handle.close()
                    raise TaoFleetError(
                        'Gave up waiting for the engine share lock %s after %d s.' % (self.path, self.timeout),
                        cause='Another host of this platform class has held it that long: it is building this '
                              'engine (beyond its build_timeout) or its controller process hangs.',
                        fix='Check the other run (ps on the controller); when none runs, rerun: the kernel '
                            'drops the lock of a process that died.',
                        code='share_busy', details={'path': self.path, 'timeout': self.timeout})
                time.sleep(0.2)
        self.waited = round(time.monotonic() - started, 3)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
        self.handle.close()


def lock_timeout(args):
    """The host's own build time limit plus a margin: the lock is held for one build."""
    try:
        build_timeout = int(args.get('build_timeout') or 3600)
    except (TypeError, ValueError):
        build_timeout = 3600
    return max(build_timeout, 0) + LOCK_MARGIN_SECONDS


def share_unwritable(share, err):
    return TaoFleetError(
        'The engine share %s cannot be used: %s.' % (share, err),
        cause='The controller writes its lock files, index and entries there; the directory is read-only, '
              'full or not writable by the controller user.',
        fix='Make %s writable for the controller user (df -h, mount), or turn the share off '
            '(deploy_model_engine_share: false); nothing was built or switched on this host.' % share,
        code='share_unwritable', details={'path': share})


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
        # a private model key inside the catalog dicts goes to the host as model_key (no_log), never inside them
        return self._execute_module(module_name=self.MODULE, module_args=hide_model_keys(dict(args, **extra)),
                                    task_vars=task_vars)

    def _with_share(self, share, args, task_vars):
        key = prediction_key(args)
        predicted = read_prediction(share, key) if key else None
        self._refused = {}
        first, info = self._first_call(share, predicted, args, task_vars)
        if first.get('fingerprint') is not None and not is_fingerprint(first['fingerprint']):
            share_entry(share, first['fingerprint'])   # raises host_reply_invalid: nothing is written
        if key and first.get('fingerprint') and first['fingerprint'] != predicted:
            write_prediction(share, key, first['fingerprint'])
        if self._built(first):
            # asked with build: false, it says it built: a claim, never published
            return self._claim_without_build(share, first, info, task_vars)
        if first.get('failed') or not first.get('missing'):
            if info:
                first['share'] = info
            return first
        fingerprint = first['fingerprint']
        entry = share_entry(share, fingerprint)
        info = share_info(entry, predicted=(info or {}).get('predicted'), found=fingerprint in self._refused)
        warnings = list(self._refused.get(fingerprint, {}).get('warnings') or [])
        if fingerprint not in self._refused:
            # Entries are only ever renamed into place whole: hosts import them in parallel, without the lock.
            record = read_record(share, fingerprint)
            manifest = usable_entry(entry, record)
            if manifest is not None:
                answer = self._import(entry, record, manifest, args, task_vars, info)
                if not answer.get('missing'):
                    answer['share'] = info
                    return answer
                warnings = list(answer.get('warnings') or [])
        try:
            lock = ShareLock(share, fingerprint, lock_timeout(args))
        except OSError as err:
            raise share_unwritable(share, err)
        with lock:
            info['waited_seconds'] = lock.waited
            answer = self._locked(share, entry, fingerprint, args, task_vars, info)
        if answer.get('built'):
            # the refusal's "stays missing" was about that call: the controller checked the entry and let it build
            warnings = [w.split(' The engine stays missing (build is false)')[0] for w in warnings]
        if info.get('replaced_reason') and answer.get('built'):
            published = ' and published it in its place' if info['published'] else ''
            warnings.append('The engine share entry %s was not intact (%s): the controller removed it, this host '
                            'built the engine%s.' % (entry, info['replaced_reason'], published))
        if warnings:
            answer['warnings'] = warnings + [w for w in answer.get('warnings') or [] if w not in warnings]
        answer['share'] = info
        return answer

    def _locked(self, share, entry, fingerprint, args, task_vars, info):
        """Under the fingerprint's lock: import an intact entry (built by another host meanwhile), fail a host
        that refused the intact entry it was sent, or let this host build (the designated builder: no intact
        entry) and publish what it built."""
        record = read_record(share, fingerprint)
        exists = os.path.lexists(entry)
        problem = record_problem(entry, record) if exists else None
        if exists and problem is None:
            info['found'] = True
            refused = self._refused.get(fingerprint)
            if refused is not None and refused['sha256'] == record['sha256']:
                return self._refusal(entry, record, refused['answer'], task_vars)
            # built by another host meanwhile, or replaced since this host refused it
            answer = self._import(entry, record, usable_entry(entry, record), args, task_vars, info)
            if answer.get('missing'):
                return self._refusal(entry, record, answer, task_vars)
            return answer
        if exists or record is not None:
            # the controller's own check: the entry is not what it recorded, so this host builds it anew
            if exists:
                info.update(found=True, replaced_corrupt=True, replaced_reason=problem)
            try:
                discard_entry(share, entry, fingerprint)
            except OSError as err:
                raise share_unwritable(share, err)
        answer = self._module(args, task_vars)
        if self._built(answer):
            problem = self._publish(share, entry, answer, fingerprint, args, task_vars)
            info['published'] = problem is None
            if problem:
                # the host built (with engine_deploy: tested and switched to) its engine: its result is kept,
                # only the share lacks the entry; later hosts of the class build their own
                info['publish_problem'] = problem
                answer.setdefault('warnings', []).append(
                    'The engine built on this host was not published to the engine share: %s. The host keeps '
                    'it; later hosts of its class build their own until the share is fixed.' % problem)
        return answer

    def _refusal(self, entry, record, answer, task_vars):
        """This host refused an entry that the controller checked itself (its bytes are the ones it recorded
        from the builder): the entry stays, and the host fails with the host's own answer kept."""
        host = (task_vars or {}).get('inventory_hostname', 'this host')
        reasons = [w for w in answer.get('warnings') or [] if 'was not used' in w]
        failed = dict(answer)
        failed.update(TaoFleetError(
            '%s refused the engine share entry %s, which is intact: its engine has the sha256 %s that the '
            'controller recorded when it took it from its builder %s (%s). The entry was kept; this host did '
            'not switch to it.%s' % (host, entry, record['sha256'], record.get('builder'), record.get('published_at'),
                                     (' The host said: %s' % reasons[0]) if reasons else ''),
            cause='The copy sent to this host changed on its way or on the host (disk, memory), or the host '
                  'runs other code than this collection\'s and answers with a claim of its own.',
            fix='Check that host (ansible-galaxy collection verify, dmesg, free disk) and rerun it: it imports '
                'the entry. Other hosts of its class are not affected.',
            code='share_entry_refused', details={'entry': entry, 'sha256': record['sha256']}).to_result())
        failed.update(failed=True, changed=bool(answer.get('changed')))
        return failed

    def _claim_without_build(self, share, first, info, task_vars):
        """The first call (``build: false``) answered ``built``: refused, whether or not an entry went along."""
        fingerprint = first.get('fingerprint')
        record = read_record(share, fingerprint) if is_fingerprint(fingerprint) else None
        if info and record is not None and info.get('predicted') == fingerprint:
            failed = self._refusal(share_entry(share, fingerprint), record, first, task_vars)
        else:
            failed = dict(first)
            failed.update(TaoFleetError(
                '%s answered that it built engine %s in a call that asked it not to build; nothing was published.'
                % ((task_vars or {}).get('inventory_hostname', 'The host'), fingerprint),
                cause='tao.fleet.trt_engine never builds with build: false: the answer was altered on its way or on '
                      'that host, or the host runs a module that is not tao.fleet\'s.',
                fix='Treat that host as compromised until checked (ansible-galaxy collection verify) and rerun; '
                    'other hosts are not affected.',
                code='host_reply_invalid').to_result())
            failed.update(failed=True)
        if info:
            failed['share'] = info
        return failed

    def _first_call(self, share, predicted, args, task_vars):
        """The module with ``build: false``: it reuses an engine of the store, or says ``missing`` with its
        fingerprint. When the host's ``tao_store`` fact says it lacks the engine that hosts with the same
        options and platform got (the prediction) and the share has that entry, the entry goes along with
        this call, saving the second one; a wrong prediction only answers ``missing`` with the right
        fingerprint. Returns (answer, share info or None)."""
        hint = store_hint(task_vars, args.get('store'))
        entry = share_entry(share, predicted, 'the share\'s prediction file') if predicted else None
        if predicted is None or hint is None or store_has_engine(hint, predicted):
            return self._module(args, task_vars, build=False), None
        record = read_record(share, predicted)
        manifest = usable_entry(entry, record)
        if manifest is None:
            return self._module(args, task_vars, build=False), None
        info = share_info(entry, predicted=predicted, found=True)
        copied = self._copy_to_host(entry, record, manifest)
        answer = self._module(args, task_vars, build=False, **copied)
        info['used'] = bool(answer.get('shared'))
        if answer.get('missing'):
            unused = 'The shared engine in %s was not used' % copied['shared_engine']
            if answer.get('fingerprint') == predicted:
                # its own fingerprint's entry, refused: the lock decides (no second copy of the same entry)
                self._refused[predicted] = {'sha256': record['sha256'], 'answer': dict(answer),
                                            'warnings': list(answer.get('warnings') or [])}
            else:
                # not this host's engine after all: the module's note that it left the copy unused is about
                # our guess, not the host (the next step says what happened to the entry of its own fingerprint)
                answer['warnings'] = [w for w in answer.get('warnings') or [] if not w.startswith(unused)]
        return answer, info

    @staticmethod
    def _built(answer):
        return bool(answer.get('built')) and not answer.get('failed')

    def _import(self, entry, record, manifest, args, task_vars, info):
        """The module with the entry and ``build: false``: a host that refuses it answers ``missing``, and the
        lock decides what happens (it never builds over an entry without the controller's check)."""
        info['found'] = True
        answer = self._module(args, task_vars, build=False, **self._copy_to_host(entry, record, manifest))
        info['used'] = bool(answer.get('shared'))
        if answer.get('missing'):
            self._refused[entry_fingerprint(entry)] = {'sha256': record['sha256'], 'answer': dict(answer),
                                                       'warnings': list(answer.get('warnings') or [])}
        elif answer.get('built') and not answer.get('failed'):
            # asked not to build, it says it built: a claim, never published
            return self._refusal(entry, record, answer, task_vars)
        return answer

    def _copy_to_host(self, entry, record, manifest):
        """The module options that hand it the share entry: the engine file copied into the task's temp dir,
        the manifest with the call (one file copy per host instead of two), and the sha256 the controller
        recorded for the engine."""
        # one temp dir per task (removed at its end), also when a first call's entry was not this host's
        remote_dir, _remote = copy_to_task_dir(self, [(os.path.join(entry, ENGINE_FILE), ENGINE_FILE)])
        return {'shared_engine': remote_dir, 'shared_manifest': manifest, 'shared_sha256': record['sha256']}

    def _publish(self, share, entry, built, fingerprint, args, task_vars):
        """Fetch the host's new engine and manifest into a temp dir of the share, check them (size bounded,
        fingerprint, inputs, platform, sha256), record them in the index and rename the dir into place.
        Returns None or what went wrong; never raises (the host already built, maybe switched)."""
        staging = None
        try:
            claimed = ((built.get('manifest') or {}).get('engine') or {}).get('size')
            if not isinstance(claimed, int) or isinstance(claimed, bool) or not 0 < claimed <= MAX_ENGINE_BYTES:
                return ('the host reported an engine size of %r; the controller fetches engines of 1 byte to %d '
                        'bytes only' % (claimed, MAX_ENGINE_BYTES))
            engine_dir = os.path.dirname(str(built.get('engine_path')))
            staging = tempfile.mkdtemp(prefix='.tmp-', dir=share)
            fetched = os.path.join(staging, ENGINE_FILE)
            self._connection.fetch_file(self._connection._shell.join_path(engine_dir, ENGINE_FILE), fetched)
            info = _regular_file(fetched)
            if info is None or info.st_size != claimed:
                return 'the engine fetched from the host is not the %d bytes it reported' % claimed
            self._connection.fetch_file(self._connection._shell.join_path(engine_dir, MANIFEST_FILE),
                                        os.path.join(staging, MANIFEST_FILE))
            manifest_info = _regular_file(os.path.join(staging, MANIFEST_FILE))
            if manifest_info is None or manifest_info.st_size > 16 << 20:
                return 'the manifest fetched from the host is missing or larger than 16 MiB'
            platform = args.get('platform')
            platform_key = platform.get('platform_key') if isinstance(platform, dict) else None
            problem = entry_problem(staging, fingerprint, platform_key if isinstance(platform_key, dict) else None)
            if problem:
                return 'the copy fetched from the host is %s' % problem
            with open(os.path.join(staging, MANIFEST_FILE), 'rb') as handle:
                manifest_sha256 = hashlib.sha256(handle.read()).hexdigest()
            record = {'record_version': INDEX_VERSION, 'fingerprint': fingerprint, 'sha256': _sha256(fetched),
                      'size': claimed, 'manifest_sha256': manifest_sha256,
                      'builder': (task_vars or {}).get('inventory_hostname'),
                      'published_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}
            os.chmod(staging, 0o755)
            discard_entry(share, entry, fingerprint)
            make_dirs(os.path.join(share, INDEX))
            # the record first: an entry never shows without its record (a kill in between leaves a record
            # without an entry, which the next host's build replaces)
            write_file(index_path(share, fingerprint), json.dumps(record, sort_keys=True).encode('utf-8'))
            os.rename(staging, entry)
            staging = None
            return None
        except TaoFleetError as err:
            return 'writing the share failed: %s' % err.msg
        except Exception as err:  # pylint: disable=broad-except
            # OSError (full, read-only), the connection's AnsibleError while fetching: the host's result stays
            return 'writing the share failed: %s' % err
        finally:
            if staging:
                shutil.rmtree(staging, ignore_errors=True)


def entry_fingerprint(entry):
    return os.path.basename(entry)


def discard_entry(share, entry, fingerprint):
    """Move an entry the controller found not intact out of sight (then delete it), and its index record."""
    try:
        os.unlink(index_path(share, fingerprint))
    except OSError as err:
        if err.errno != errno.ENOENT:
            raise
    if os.path.lexists(entry):
        trash = tempfile.mkdtemp(prefix='.trash-', dir=share)
        os.rename(entry, os.path.join(trash, fingerprint))
        shutil.rmtree(trash, ignore_errors=True)
