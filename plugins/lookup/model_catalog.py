# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: model_catalog
author:
  - tao.fleet contributors (@tao-fleet)
version_added: 0.1.0
short_description: Model entries of the tao.fleet catalog, merged with the user's own models
description:
  - Returns the catalog entry of each model id given (PeopleNet, TrafficCamNet, DashCamNet,
    LPDNet, FaceDetect...) with its classes, preprocessing, DetectNet_v2 decoding defaults and
    the artifacts a host can build from (NGC reference, file, format, key, TensorRT range, I/O
    names and shapes, calibration cache, precisions).
  - Entries from O(user_models) are merged on top. A new id adds a model; an existing id
    overrides the keys given and adds or replaces artifacts by their C(id). The result is
    checked against the catalog schema, and every problem is reported at once.
  - Each returned entry carries its model id under C(id). Pick the artifact for a host with the
    P(tao.fleet.model_artifact#filter) filter.
  - Runs on the controller and reads no host.
options:
  _terms:
    description:
      - Model ids. With none, every model of the merged catalog is returned (use C(query) for a list).
    type: list
    elements: str
    required: false
  user_models:
    description:
      - Extra or overriding models, as a mapping of model id to an entry of the catalog schema
        (docs/models.md describes every key; catalog/models.yml has complete examples).
    type: dict
    default: {}
    vars:
      - name: tao_fleet_models
  catalog:
    description:
      - Path of the catalog YAML file. Defaults to the collection's C(catalog/models.yml).
    type: path
notes:
  - A model id that is in neither the catalog nor O(user_models) is an error that lists the
    known ids.
seealso:
  - plugin: tao.fleet.model_artifact
    plugin_type: filter
'''

EXAMPLES = r'''
- name: The PeopleNet entry
  ansible.builtin.debug:
    msg: "{{ lookup('tao.fleet.model_catalog', 'peoplenet') }}"

- name: Every model id the catalog knows (including the user's)
  ansible.builtin.debug:
    msg: "{{ query('tao.fleet.model_catalog') | map(attribute='id') | list }}"

- name: Add an artifact of your own to DashCamNet (e.g. an ONNX export for TensorRT 10)
  ansible.builtin.set_fact:
    tao_model: "{{ lookup('tao.fleet.model_catalog', 'dashcamnet', user_models=my_models) }}"
  vars:
    my_models:
      dashcamnet:
        artifacts:
          - id: onnx_mine
            urls: ["https://models.example.com/dashcamnet.onnx"]
            file: dashcamnet.onnx
            format: onnx
            sha256: null
            tensorrt: {min: "8.6"}
            input: {name: "input_1:0", dims: [3, 544, 960]}
            outputs:
              - {name: "output_cov/Sigmoid:0", dims: [4, 34, 60], role: coverage}
              - {name: "output_bbox/BiasAdd:0", dims: [16, 34, 60], role: bbox}
            precisions: [fp32, fp16]
'''

RETURN = r'''
_raw:
  description:
    - One model entry per term (every model when no term is given), each a dictionary with its
      C(id) and the keys of the catalog schema.
  type: list
  elements: dict
'''

import json
import os

import yaml

from ansible import constants as C
from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.lookup import LookupBase

from ansible_collections.tao.fleet.plugins.module_utils._catalog import (
    SCHEMA_VERSION,
    merge_models,
)
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.plugin_utils.run_cache import read_json, run_file, write_json

# libyaml's loader where PyYAML has it: the lookup runs once per host and task, and the pure-Python
# loader made it a tenth of a 50-host rollout's controller time (docs/scale.md).
SAFE_LOADER = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)

DEFAULT_CATALOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'catalog',
                               'models.yml')
# Each host's lookup runs in a fresh fork of ansible-playbook, so it parsed the YAML again every time
# (about 11 ms a call on the benchmark machine). The first parse of a run is kept as JSON in the run's
# local temp dir (removed when ansible-playbook exits), keyed by the catalog file's stat.
RUN_CACHE_DIR = 'tao_fleet_catalog'


def load_catalog(path):
    """The ``models`` mapping of a catalog file, after checking its schema version."""
    try:
        with open(path) as handle:
            document = yaml.load(handle, Loader=SAFE_LOADER)  # nosec: a safe loader
    except (OSError, yaml.YAMLError) as exc:
        raise AnsibleLookupError('Cannot read the model catalog %s: %s' % (path, to_native(exc)))
    if not isinstance(document, dict) or document.get('schema_version') != SCHEMA_VERSION:
        raise AnsibleLookupError(
            'Model catalog %s has schema_version %r; this collection reads version %d.' % (
                path, document.get('schema_version') if isinstance(document, dict) else None,
                SCHEMA_VERSION))
    return document.get('models') or {}


def run_cache_path(run_dir, path):
    """Where this run keeps the parsed catalog ``path``; None if the file cannot be read."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return run_file(run_dir, RUN_CACHE_DIR, [os.path.abspath(path), info.st_size, info.st_mtime_ns,
                                             info.st_ino, info.st_dev])


def load_catalog_once(path, run_dir):
    """:func:`load_catalog`, parsed once per run: later calls read the JSON copy while the file is
    unchanged. A catalog that JSON would alter (keys that are not strings) is parsed every time."""
    cached = run_cache_path(run_dir, path)
    models = read_json(cached) if cached is not None else None
    if models is not None:
        return models
    models = load_catalog(path)
    if cached is not None and json.loads(json.dumps(models, default=str)) == models:
        write_json(cached, models)
    return models


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        path = self.get_option('catalog') or os.path.normpath(DEFAULT_CATALOG)
        try:
            models = merge_models(load_catalog_once(path, C.DEFAULT_LOCAL_TMP), self.get_option('user_models') or {})
        except TaoFleetError as error:
            raise AnsibleLookupError(str(error))
        wanted = list(terms) if terms else sorted(models)
        missing = [model_id for model_id in wanted if model_id not in models]
        if missing:
            raise AnsibleLookupError(
                'Unknown model %s. Known: %s. Add your own through user_models (variable '
                'tao_fleet_models); docs/models.md shows how.' % (
                    ', '.join(missing), ', '.join(sorted(models))))
        results = []
        for model_id in wanted:
            entry = dict(models[model_id])
            entry['id'] = model_id
            results.append(entry)
        return results
