# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The tao.fleet.model_catalog lookup's per-run cache: every host's lookup runs in a fresh fork, so the
catalog is parsed once per playbook run and read back as JSON while its file is unchanged."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

import pytest

from ansible.errors import AnsibleLookupError

from ansible_collections.tao.fleet.plugins.lookup import model_catalog
from ansible_collections.tao.fleet.plugins.lookup.model_catalog import DEFAULT_CATALOG, load_catalog_once

CATALOG = """schema_version: 1
models:
  standin:
    description: %s
"""


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / 'models.yml'
    path.write_text(CATALOG % 'first')
    return str(path)


@pytest.fixture
def parses(monkeypatch):
    """Counts the YAML parses."""
    seen = []
    real = model_catalog.load_catalog

    def counting(path):
        seen.append(path)
        return real(path)
    monkeypatch.setattr(model_catalog, 'load_catalog', counting)
    return seen


def test_the_shipped_catalog_reads_back_the_same_from_the_run_cache(tmp_path, parses):
    first = load_catalog_once(os.path.normpath(DEFAULT_CATALOG), str(tmp_path / 'run'))
    again = load_catalog_once(os.path.normpath(DEFAULT_CATALOG), str(tmp_path / 'run'))
    assert again == first == model_catalog.load_catalog(os.path.normpath(DEFAULT_CATALOG))
    assert len(parses) == 2   # the first call and the direct one above, not the second call


def test_an_edited_catalog_is_parsed_again(catalog, tmp_path, parses):
    run = str(tmp_path / 'run')
    assert load_catalog_once(catalog, run)['standin']['description'] == 'first'
    time.sleep(0.01)
    with open(catalog, 'w') as handle:
        handle.write(CATALOG % 'second, longer')
    assert load_catalog_once(catalog, run)['standin']['description'] == 'second, longer'
    assert len(parses) == 2


def test_a_catalog_json_would_alter_is_not_cached(tmp_path, parses):
    path = tmp_path / 'models.yml'
    path.write_text('schema_version: 1\nmodels:\n  standin:\n    sizes: {1: small}\n')
    for _attempt in range(2):
        assert load_catalog_once(str(path), str(tmp_path / 'run'))['standin']['sizes'] == {1: 'small'}
    assert len(parses) == 2


def test_an_unwritable_run_dir_only_costs_the_cache(catalog, tmp_path, parses):
    blocker = tmp_path / 'run'
    blocker.write_text('a file where the run dir should be')
    for _attempt in range(2):
        assert load_catalog_once(catalog, str(blocker))['standin']['description'] == 'first'
    assert len(parses) == 2


def test_a_missing_catalog_still_says_so(tmp_path):
    with pytest.raises(AnsibleLookupError, match='Cannot read the model catalog'):
        load_catalog_once(str(tmp_path / 'missing.yml'), str(tmp_path / 'run'))
