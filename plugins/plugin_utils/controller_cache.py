# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The controller's verified copy of a model (``controller_cache``), for the action plugins of
``tao.fleet.model_fetch`` and ``tao.fleet.engine_deploy``.

The file is downloaded once to ``<cache>/models/<sha256>`` by the same code the module runs on a host
(forks wait on a file lock, so N hosts cost one origin download). The answer is kept for the rest of the
playbook run (``run_cache``) together with the cached file's stat, so later hosts neither ask the origin for
the checksum list again nor re-hash the cached file, and every host of one run gets the same file even if the
origin publishes a new one mid-rollout. Each host then gets only the file and its sha256, never a URL or the
API key.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible import constants as C
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.tao.fleet.plugins.module_utils._download import FetchSpec, fetch_model
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._fetch_options import ARGUMENT_SPEC
from ansible_collections.tao.fleet.plugins.module_utils._store_contents import store_hint
from ansible_collections.tao.fleet.plugins.plugin_utils.run_cache import read_json, run_file, write_json

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


def validated_fetch_options(args):
    """model_fetch's options with their defaults, or (None, a failed result) when they do not validate."""
    validated = ArgumentSpecValidator(ARGUMENT_SPEC).validate(args)
    if validated.error_messages:
        return None, {'failed': True, 'msg': '; '.join(validated.error_messages), 'error_code': 'invalid_argument'}
    return validated.validated_parameters, None


def controller_copy(params, check_mode):
    """Make sure the controller's cache holds the verified file ``params`` (model_fetch's validated options)
    name. Returns ``(controller, warnings, result)``: ``controller`` describes the cached file (path,
    sha256, size, source, bytes_transferred, cache_hit, run_memo); ``result``, when not None, is what the
    task returns instead of going on to the host (a failure on the controller, or check mode before the
    controller has the file: the host would get it)."""
    cache = os.path.abspath(os.path.expanduser(params['controller_cache']))
    download = dict((key, value) for key, value in params.items() if key not in HOST_ONLY)
    memo_path = run_memo_path(C.DEFAULT_LOCAL_TMP, cache, download)
    controller = read_run_memo(memo_path)
    if controller is not None:
        controller.update(source=None, bytes_transferred=0, cache_hit=True, run_memo=True)
        return controller, [], None
    try:
        cached, warnings = fetch_model(FetchSpec(cache, **download), check_mode=check_mode)
    except TaoFleetError as err:
        failed = err.to_result()
        failed.update(failed=True, msg='On the controller (controller_cache %s): %s' % (cache, failed['msg']))
        return None, [], failed
    controller = dict((key, cached.get(key))
                      for key in ('path', 'sha256', 'size', 'source', 'bytes_transferred', 'cache_hit'))
    controller['run_memo'] = False
    if cached['sha256'] is None or (check_mode and not cached['cache_hit']):
        cached.update(controller=controller, warnings=warnings)
        return controller, warnings, cached
    if not check_mode:
        write_run_memo(memo_path, controller)
    return controller, warnings, None


def controller_src(controller):
    """The ``src`` of the host's first call: a path no host has (hosts may share the controller's file
    system, as the simulated fleet does: a real path would be read without a transfer). A store that holds
    the file answers without reading it; one that does not says ``src_missing``."""
    return 'controller:%s' % controller['path']


def store_lacks(task_vars, store, sha256):
    """Whether the host's ``tao_store`` fact (platform_facts with ``store``) says its store lacks the file:
    then the file goes with the first call, and the question is skipped (the module checks it all the same)."""
    hint = store_hint(task_vars, store)
    return hint is not None and sha256 not in hint['models']


def from_controller(fetched, sent, controller):
    """The host's fetch result as the task reports it: a file that came from ``sent`` (the copy in the
    task's temp dir) is named after the controller's cache, and ``controller`` says how the controller got it."""
    if sent and fetched.get('source') == sent:
        fetched['source'] = controller_src(controller)
    fetched['controller'] = controller
    return fetched
