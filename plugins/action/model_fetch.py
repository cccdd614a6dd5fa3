# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Controller half of tao.fleet.model_fetch: with ``controller_cache`` the file is downloaded once to the
controller (by the same code the module runs on a host) and reaches each host over its Ansible connection.

Per host: (1) the controller makes sure its cache holds the verified file (forks wait on a file lock, so N
hosts cost one origin download); (2) the module on the host is asked for that sha256 with ``src`` naming
a file it cannot have (``controller:<path>``): a store that holds the file answers at once (no bytes
move), unless the host's ``tao_store`` fact says its store lacks the file: then this probe is skipped;
(3) otherwise
(``src_missing``) the file is copied into the host's Ansible temp dir and the module verifies its sha256
while copying it into the store. The API key and the origin URLs never reach the host.
Without ``controller_cache`` the module runs on the host unchanged.

Step (1) is done once per playbook run and download: its answer is kept in the run's local temp dir
(removed when ansible-playbook exits, like Ansible's own AnsiballZ cache) together with the cached file's
stat, so later hosts neither ask the origin for the checksum list again nor re-hash the cached file, and
every host of one run gets the same file even if the origin publishes a new one mid-rollout.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible import constants as C
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.tao.fleet.plugins.module_utils._download import FetchSpec, fetch_model
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._store_contents import store_hint
from ansible_collections.tao.fleet.plugins.modules.model_fetch import ARGUMENT_SPEC
from ansible_collections.tao.fleet.plugins.plugin_utils.run_cache import read_json, run_file, write_json

MODULE = 'tao.fleet.model_fetch'
# options that describe the host's side only; every other option describes the controller's download
HOST_ONLY = ('name', 'store', 'src', 'controller_cache')
# what the controller's cached download is kept with in the run memo: a changed file is fetched again
MEMO_STAT = ('st_size', 'st_mtime_ns', 'st_ino', 'st_dev')


def run_memo_path(run_dir, cache, download):
    """Where this run keeps the controller's answer for one download: keyed by the cache and every source
    option except the API key (which names no other file and is never written down)."""
    options = dict((key, value) for key, value in download.items() if key != 'api_key')
    return run_file(run_dir, 'tao_fleet_model_fetch', [cache, options])


def _stat_of(path):
    info = os.stat(path)
    return [getattr(info, name) for name in MEMO_STAT]


def read_run_memo(path):
    """The controller's earlier answer in this run, if its file is still the one it verified."""
    memo = read_json(path)
    try:
        if _stat_of(memo['controller']['path']) == memo['stat']:
            return memo['controller']
    except (OSError, KeyError, TypeError):
        pass
    return None


def write_run_memo(path, controller):
    """Keep the answer, with its file's stat, for the next hosts of this run; a memo that cannot be written
    only costs the next host a checksum request and a hash."""
    try:
        write_json(path, {'controller': controller, 'stat': _stat_of(controller['path'])})
    except OSError:
        pass


class ActionModule(ActionBase):

    # the temp dir is made only when a file has to be copied, so a cache hit costs one module call
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        if not args.get('controller_cache'):
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            return result
        validated = ArgumentSpecValidator(ARGUMENT_SPEC).validate(args)
        if validated.error_messages:
            result.update(failed=True, msg='; '.join(validated.error_messages), error_code='invalid_argument')
            return result
        params = validated.validated_parameters
        try:
            result.update(self._via_controller(params, task_vars))
        finally:
            if self._connection._shell.tmpdir:
                self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _via_controller(self, params, task_vars):
        cache = os.path.abspath(os.path.expanduser(params['controller_cache']))
        download = dict((key, value) for key, value in params.items() if key not in HOST_ONLY)
        memo_path = run_memo_path(C.DEFAULT_LOCAL_TMP, cache, download)
        controller, warnings = read_run_memo(memo_path), []
        if controller is not None:
            controller.update(source=None, bytes_transferred=0, cache_hit=True, run_memo=True)
        else:
            try:
                spec = FetchSpec(cache, **download)
                cached, warnings = fetch_model(spec, check_mode=self._play_context.check_mode)
            except TaoFleetError as err:
                failed = err.to_result()
                failed.update(failed=True,
                              msg='On the controller (controller_cache %s): %s' % (cache, failed['msg']))
                return failed
            controller = dict((key, cached.get(key))
                              for key in ('path', 'sha256', 'size', 'source', 'bytes_transferred', 'cache_hit'))
            controller['run_memo'] = False
            if cached['sha256'] is None or (self._play_context.check_mode and not cached['cache_hit']):
                # check mode, and the controller has not downloaded it yet: the host would get it
                cached.update(controller=controller, warnings=warnings)
                return cached
            if not self._play_context.check_mode:
                write_run_memo(memo_path, controller)
        # First ask with a src the host cannot have (hosts may share the controller's file system, as
        # the simulated fleet does: a real path would be read without a transfer): a store that holds
        # the file answers without reading src; otherwise src_missing, and the file is copied over.
        host_args = {'sha256': controller['sha256'], 'store': params['store'], 'name': params['name'],
                     'src': 'controller:%s' % controller['path']}
        # The host's tao_store fact (platform_facts with store) says whether the probe can be skipped: a host
        # whose store lacks the file gets it with the first call (the module checks it all the same).
        hint = store_hint(task_vars, params['store'])
        probe_skipped = hint is not None and controller['sha256'] not in hint['models']
        answer = {} if probe_skipped else self._execute_module(module_name=MODULE, module_args=host_args,
                                                               task_vars=task_vars)
        if probe_skipped or (answer.get('failed') and answer.get('error_code') == 'src_missing'):
            remote_dir = self._make_tmp_path()
            remote = self._connection._shell.join_path(remote_dir, controller['sha256'])
            self._transfer_file(controller['path'], remote)
            self._fixup_perms2((remote_dir, remote), execute=False)
            host_args['src'] = remote
            answer = self._execute_module(module_name=MODULE, module_args=host_args, task_vars=task_vars)
            if not answer.get('failed') and answer.get('source') == remote:
                answer['source'] = 'controller:%s' % controller['path']
        answer['controller'] = dict(controller, probe_skipped=probe_skipped)
        answer['warnings'] = warnings + list(answer.get('warnings') or [])
        return answer
