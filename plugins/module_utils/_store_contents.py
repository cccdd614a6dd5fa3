# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""What a host's store holds, from directory and link names, and its deployment records: no model or engine
is opened or hashed, so it costs a few ``listdir`` and ``stat`` calls. ``tao.fleet.platform_facts`` returns it
(option ``store``) as ``ansible_facts.tao_store``, and the controller halves of ``model_fetch``,
``trt_engine`` and ``engine_deploy`` read it as a hint: a file or engine the store lacks is sent along with
the first call instead of after a probe call, and a deployment whose record matches needs no call
(``_deploy_record``). Only a hint: the modules still check everything they install (layout: ``_store.py``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.tao.fleet.plugins.module_utils._deploy_record import read_records
from ansible_collections.tao.fleet.plugins.module_utils._progress import read_progress

SHA256_RE = re.compile(r'^[0-9a-f]{64}$')
# names of the store layout (``_store.py`` takes them from here: this module stays cheap to import)
ENGINE_FILE = 'model.engine'
ACTIVE = 'active'
PREVIOUS = 'previous'
LINKS = (ACTIVE, PREVIOUS)
# listed too, so that the controller can say when a release makes a rolled-back engine active again
ROLLED_BACK_FROM = 'rolled_back_from'


def _names(directory):
    try:
        return sorted(os.listdir(directory))
    except (IOError, OSError):
        return []


def _link(directory, name):
    try:
        target = os.readlink(os.path.join(directory, name))
    except (IOError, OSError):
        return None
    return target if SHA256_RE.match(target) else None


def store_contents(store):
    """``{path, exists, models: [sha256...], engines: {model: {fingerprints: [...], active, previous,
    rolled_back_from}},
    deploys: {model: {key, intact, changed, recorded_at, result}}, progress: {model: {stage, seconds, ...}}}``
    (deploys: ``_deploy_record``, which reads one small file per model and stats the files it names; progress:
    ``_progress``, the deployments running now)."""
    models_dir = os.path.join(store, 'models')
    engines_dir = os.path.join(store, 'engines')
    models = [name for name in _names(models_dir)
              if SHA256_RE.match(name) and os.path.isfile(os.path.join(models_dir, name))]
    engines = {}
    for model in _names(engines_dir):
        model_dir = os.path.join(engines_dir, model)
        if model.startswith('.') or not os.path.isdir(model_dir):
            continue
        fingerprints = [name for name in _names(model_dir)
                        if SHA256_RE.match(name) and os.path.isfile(os.path.join(model_dir, name, ENGINE_FILE))]
        engines[model] = dict([('fingerprints', fingerprints)]
                              + [(link, _link(model_dir, link)) for link in LINKS + (ROLLED_BACK_FROM,)])
    return {'path': store, 'exists': os.path.isdir(store), 'models': models, 'engines': engines,
            'deploys': read_records(store), 'progress': read_progress(store)}


def store_hint(task_vars, store):
    """The ``tao_store`` fact of this host (see ``store_contents``) when it describes ``store``, else None.
    Used on the controller by the action plugins; a missing, stale or foreign fact only costs a probe."""
    facts = (task_vars or {}).get('ansible_facts') or {}
    contents = facts.get('tao_store') if isinstance(facts, dict) else None
    if not isinstance(contents, dict) or not store or not isinstance(contents.get('path'), str):
        return None
    if os.path.normpath(contents['path']) != os.path.normpath(store):
        return None
    if not isinstance(contents.get('models'), list) or not isinstance(contents.get('engines'), dict):
        return None
    return contents


def store_has_engine(contents, fingerprint):
    """Whether any model in ``contents`` has an engine with this fingerprint."""
    return any(fingerprint in (entry or {}).get('fingerprints', []) for entry in contents['engines'].values()
               if isinstance(entry, dict))
