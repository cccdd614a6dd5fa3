# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The store listing behind ansible_facts.tao_store (platform_facts with store), and how the controller halves
read it as a hint. Runs on every JetPack Python (module code)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.tao.fleet.plugins.module_utils._store_contents import (
    store_contents, store_has_engine, store_hint)

MODEL_SHA = 'a' * 64
OLD, NEW = 'b' * 64, 'c' * 64


def make_store(root):
    store = os.path.join(str(root), 'store')
    os.makedirs(os.path.join(store, 'models', '.partial'))
    os.makedirs(os.path.join(store, 'models', 'by-name'))
    with open(os.path.join(store, 'models', MODEL_SHA), 'wb') as handle:
        handle.write(b'model')
    with open(os.path.join(store, 'models', '.partial', 'd' * 64), 'wb') as handle:
        handle.write(b'half a model')
    model_dir = os.path.join(store, 'engines', 'peoplenet')
    for fingerprint in (OLD, NEW):
        os.makedirs(os.path.join(model_dir, fingerprint))
        with open(os.path.join(model_dir, fingerprint, 'model.engine'), 'wb') as handle:
            handle.write(b'engine')
    os.makedirs(os.path.join(model_dir, 'e' * 64))           # an engine dir without its engine
    os.makedirs(os.path.join(model_dir, '.tmp-build'))       # a build in progress
    os.symlink(NEW, os.path.join(model_dir, 'active'))
    os.symlink(OLD, os.path.join(model_dir, 'previous'))
    return store


def test_the_listing_names_whole_models_and_engines_and_the_links(tmp_path):
    store = make_store(tmp_path)
    assert store_contents(store) == {
        'path': store, 'exists': True, 'models': [MODEL_SHA],
        'engines': {'peoplenet': {'fingerprints': [OLD, NEW], 'active': NEW, 'previous': OLD,
                                  'rolled_back_from': None}},
        # no deployment record in this store (modules/test_deploy_record.py has stores with one)
        'deploys': {},
        # no deployment running (test_progress.py has stores with one)
        'progress': {}}


def test_a_store_that_does_not_exist_yet_is_empty(tmp_path):
    missing = str(tmp_path / 'nothing')
    assert store_contents(missing) == {'path': missing, 'exists': False, 'models': [], 'engines': {},
                                       'deploys': {}, 'progress': {}}


def test_the_hint_is_the_fact_of_this_store_only(tmp_path):
    store = make_store(tmp_path)
    task_vars = {'ansible_facts': {'tao_store': store_contents(store)}}
    assert store_hint(task_vars, store + '/')['models'] == [MODEL_SHA]
    assert store_hint(task_vars, str(tmp_path / 'other')) is None
    assert store_hint({'ansible_facts': {}}, store) is None
    assert store_hint({'ansible_facts': {'tao_store': {'path': store, 'models': 'x'}}}, store) is None
    assert store_hint(None, store) is None


def test_an_engine_is_found_under_any_model(tmp_path):
    contents = store_contents(make_store(tmp_path))
    assert store_has_engine(contents, OLD) and not store_has_engine(contents, 'e' * 64)
