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

from ansible.plugins.action import ActionBase

from ansible_collections.tao.fleet.plugins.plugin_utils.controller_cache import (
    controller_copy, controller_src, from_controller, store_lacks, validated_fetch_options)
from ansible_collections.tao.fleet.plugins.plugin_utils.host_copy import copy_to_task_dir

MODULE = 'tao.fleet.model_fetch'


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
        params, invalid = validated_fetch_options(args)
        if invalid:
            result.update(invalid)
            return result
        try:
            result.update(self._via_controller(params, task_vars))
        finally:
            if self._connection._shell.tmpdir:
                self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _via_controller(self, params, task_vars):
        controller, warnings, early = controller_copy(params, self._play_context.check_mode)
        if early is not None:
            return early
        # First ask with a src the host cannot have; a host whose store lacks the file gets it at once.
        host_args = {'sha256': controller['sha256'], 'store': params['store'], 'name': params['name'],
                     'src': controller_src(controller)}
        probe_skipped = store_lacks(task_vars, params['store'], controller['sha256'])
        answer = {} if probe_skipped else self._execute_module(module_name=MODULE, module_args=host_args,
                                                               task_vars=task_vars)
        sent = None
        if probe_skipped or (answer.get('failed') and answer.get('error_code') == 'src_missing'):
            _remote_dir, (sent,) = copy_to_task_dir(self, [(controller['path'], controller['sha256'])])
            host_args['src'] = sent
            answer = self._execute_module(module_name=MODULE, module_args=host_args, task_vars=task_vars)
        answer = from_controller(answer, None if answer.get('failed') else sent,
                                 dict(controller, probe_skipped=probe_skipped))
        answer['warnings'] = warnings + list(answer.get('warnings') or [])
        return answer
