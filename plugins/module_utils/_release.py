# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""What ``tao.fleet.engine_release`` does: switch a model's ``active`` link to an engine that passed its
smoke test (or roll back to ``previous``), then remove old engines. ``tao.fleet.engine_deploy`` calls it
last, after the smoke test."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tao.fleet.plugins.module_utils._store import ACTIVE, PREVIOUS, EngineStore


def release_engine(params, seen, check_mode=False, diff=False):
    """Switch (``state: active``) or roll back, then clean up: (result, warnings). ``params``: the options
    of ``tao.fleet.engine_release``. ``seen['active_before']``: the engine active before, once read (a
    failure reports it too, so that a caller knows whether a switch it asked for had happened)."""
    store = EngineStore(params['store'])
    model = store.check_model(params['model'])
    seen['active_before'] = store.links(model)[ACTIVE]
    if params['state'] == 'active':
        transition = store.activate(model, params['fingerprint'], force=params['force'],
                                    check_mode=check_mode)
    else:
        transition = store.rollback(model, from_fingerprint=params['fingerprint'],
                                    check_mode=check_mode)
    cleanup = store.gc(model, keep=params['keep'], check_mode=check_mode,
                       links=transition['after'] if check_mode else None)

    after = transition['after']
    result = {
        'changed': transition['changed'] or bool(cleanup['removed']) or bool(cleanup['stale_removed']),
        'active': after[ACTIVE],
        'active_before': transition['before'][ACTIVE],
        'previous': after[PREVIOUS],
        'rolled_back_from': after['rolled_back_from'],
        'removed': cleanup['removed'],
        'stale_removed': cleanup['stale_removed'],
        'engine_path': store.active_engine_path(model),
        'msg': transition['message'],
    }
    if diff:
        result['diff'] = {
            'before': dict((name, transition['before'][name]) for name in (ACTIVE, PREVIOUS)),
            'after': dict((name, after[name]) for name in (ACTIVE, PREVIOUS)),
        }
    return result, list(transition['warnings'])
