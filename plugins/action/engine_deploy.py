# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Controller half of tao.fleet.engine_deploy: the model from the controller's cache (``fetch.controller_cache``,
as tao.fleet.model_fetch's action plugin does it) and the engine share (tao.fleet.trt_engine's action plugin,
which this class is, with another module). Both go to the host through one temp dir, with the one module call
that fetches, builds or imports, tests and releases.

Per host: the controller makes sure its cache holds the verified model (``plugin_utils.controller_cache``).
When the host's ``tao_store`` fact says its store lacks the model, the file is sent before the first call;
otherwise the first call names it ``controller:<path>``, a path no host has, so that a store that holds the
file answers at once and one that does not says ``src_missing``: the file is sent and the call made again.
The later stages (smoke test, consumer files, release) run in the same call as the engine stage; an engine
that fails its smoke test on the host that built it is not published to the share.

Before any of that (``quick_check``): when the host's ``tao_store`` fact holds an intact deployment record
made with the same options, model and platform, the host is not called at all (``_deploy_record``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.tao.fleet.plugins.action.trt_engine import ActionModule as EngineShareAction
from ansible_collections.tao.fleet.plugins.module_utils._deploy_record import deploy_key, find_record, quick_result
from ansible_collections.tao.fleet.plugins.module_utils._engine_options import ENGINE_OPTION_SPEC
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import FINGERPRINT_SCHEMA
from ansible_collections.tao.fleet.plugins.module_utils._store_contents import store_hint
from ansible_collections.tao.fleet.plugins.plugin_utils.controller_cache import (
    controller_copy, controller_src, from_controller, store_lacks, validated_fetch_options)
from ansible_collections.tao.fleet.plugins.plugin_utils.host_copy import copy_to_task_dir

LATER_STAGES = {'smoke': None, 'consumers': None, 'release': None}


def unfit_choice(model):
    """The task's failure when ``model`` is the answer of the model_artifact filter (strict=false) that no
    artifact of the model fits this host, else None. The host is not asked: there is nothing to fetch."""
    if not (isinstance(model, dict) and 'artifact' in model and model['artifact'] is None
            and isinstance(model.get('error'), dict)):
        return None
    error = model['error']
    failure = {'failed': True, 'changed': False, 'stage': 'fetch', 'fetch': None, 'msg': error.get('msg'),
               'error_code': error.get('error_code') or 'no_artifact_fits'}
    failure.update((key, error[key]) for key in ('cause', 'fix') if error.get(key))
    failure.update(LATER_STAGES)
    return failure


class ActionModule(EngineShareAction):

    MODULE = 'tao.fleet.engine_deploy'

    _model = None
    _quick = None

    def _before_engine(self, args, task_vars):
        unfit = unfit_choice(args.get('model'))
        if unfit is not None:
            return unfit
        fetch = args.get('fetch')
        fetch = fetch if isinstance(fetch, dict) else {}
        if not fetch.get('controller_cache'):
            return self._quick_check(args, task_vars, fetch.get('sha256'))
        store = args.get('store') or ENGINE_OPTION_SPEC['store']['default']
        params, invalid = validated_fetch_options(dict(fetch, store=store))
        if invalid:
            return dict(invalid, stage='fetch', fetch=dict(invalid), **LATER_STAGES)
        controller, warnings, early = controller_copy(params, self._play_context.check_mode)
        if early is not None:
            # a failure on the controller, or check mode before the controller has the file
            return dict(early, stage='fetch', fetch=dict(early), **LATER_STAGES)
        probe_skipped = store_lacks(task_vars, store, controller['sha256'])
        self._model = {'path': controller['path'], 'sha256': controller['sha256'], 'warnings': warnings,
                       'controller': dict(controller, probe_skipped=probe_skipped)}
        quick = self._quick_check(args, task_vars, controller['sha256'])
        if quick is not None:
            quick['fetch'] = from_controller(quick['fetch'] or {}, None, self._model['controller'])
            quick['warnings'] = list(warnings)
            return quick
        # The host gets the file and its sha256, never the origin's URLs or the API key.
        args['fetch'] = {'sha256': controller['sha256'], 'name': params['name'], 'src': controller_src(controller)}
        if probe_skipped:
            args['fetch']['src'] = self._send_model()
        return None

    def _quick_check(self, args, task_vars, model_sha256):
        """The task's result when the host's deployment record says a call would change nothing (the host
        is then not called), else None; the call then carries the id to record its deployment under."""
        if not boolean(args.get('quick_check', True), strict=False):
            self._quick = {'used': False, 'reason': 'quick_check is off'}
            return None
        key, reason = deploy_key(args, model_sha256, FINGERPRINT_SCHEMA)
        record = None
        if key is not None:
            args['deploy_record_id'] = key
            hint = store_hint(task_vars, args.get('store') or ENGINE_OPTION_SPEC['store']['default'])
            if hint is None:
                reason = 'no tao_store fact of this store (tao.fleet.platform_facts with store)'
            else:
                record, reason = find_record(hint, key)
        if record is None:
            self._quick = {'used': False, 'reason': reason}
            return None
        result = quick_result(record)
        result['quick_check'] = {'used': True, 'reason': None, 'recorded_at': record.get('recorded_at')}
        return result

    def _send_model(self):
        # the share entry, if one goes too, lands in the same temp dir (removed at the end of the task)
        _remote_dir, (remote,) = copy_to_task_dir(self, [(self._model['path'], self._model['sha256'])])
        return remote

    def _module(self, args, task_vars, **extra):
        answer = super(ActionModule, self)._module(args, task_vars, **extra)
        model = self._model
        if model is not None and args['fetch']['src'] == controller_src(model) and answer.get('failed') \
                and answer.get('stage') == 'fetch' and answer.get('error_code') == 'src_missing':
            args['fetch']['src'] = self._send_model()
            answer = super(ActionModule, self)._module(args, task_vars, **extra)
        if self._quick is not None:
            answer['quick_check'] = dict(self._quick)
        if model is None:
            return answer
        if isinstance(answer.get('fetch'), dict):
            from_controller(answer['fetch'], args['fetch']['src'], model['controller'])
        answer['warnings'] = model['warnings'] + list(answer.get('warnings') or [])
        return answer
