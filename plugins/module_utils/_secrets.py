# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Secrets in module arguments (issue 16, row 6): private model keys that come inside a catalog entry
(``key:`` of an artifact) and ``user:password@`` in URLs.

``model_key`` and ``api_key`` are ``no_log`` options, so Ansible masks them in ``invocation`` and the host's
journal. A key inside ``model``, ``smoke.model_entry`` or ``consumers.artifact``, and a password inside a URL,
are parts of options that are not: ``hide_model_keys`` (the action plugins, before the module is called) moves
private keys out of those dicts into ``model_key``, so that they reach the host only as a ``no_log`` option;
``protect`` (each module, right after ``AnsibleModule``) adds what is left to the module's ``no_log_values``,
which masks them in ``invocation``, results and errors. NVIDIA's published keys (``tlt_encode``,
``nvidia_tlt``) are not secrets and stay, so error messages can still name them.

Standard library only, Python 3.6+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
from urllib.parse import unquote, urlsplit

# the keys NVIDIA publishes on its model cards (_etlt.PUBLIC_MODEL_KEYS; not imported: _etlt is heavy)
PUBLIC_MODEL_KEYS = ('tlt_encode', 'nvidia_tlt')
# the options whose dicts may carry catalog artifacts, and where
KEY_PLACES = (('model',), ('smoke', 'model_entry'), ('consumers', 'artifact'), ('model_entry',), ('artifact',))


def _walk(value, found, strip):
    """Collect (and with ``strip`` remove) private ``key`` values of every dict below ``value``."""
    if isinstance(value, dict):
        key = value.get('key')
        if isinstance(key, str) and key and key not in PUBLIC_MODEL_KEYS:
            found.append(key)
            if strip:
                del value['key']
        for item in value.values():
            _walk(item, found, strip)
    elif isinstance(value, list):
        for item in value:
            _walk(item, found, strip)


def _place(args, path):
    value = args
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def private_model_keys(args):
    """Every private model key inside the catalog dicts of ``args``."""
    found = []
    for path in KEY_PLACES:
        _walk(_place(args, path), found, strip=False)
    return found


def _chosen_key(args):
    """The private key of the artifact ``model`` selects (the model_artifact filter's selection, or one
    artifact), else None."""
    model = args.get('model')
    artifact = model.get('artifact') if isinstance(model, dict) and isinstance(model.get('artifact'), dict) else model
    key = artifact.get('key') if isinstance(artifact, dict) else None
    return key if isinstance(key, str) and key and key not in PUBLIC_MODEL_KEYS else None


def hide_model_keys(args):
    """A copy of module arguments ``args`` without private model keys in its catalog dicts; the key moves to
    ``model_key`` (a ``no_log`` option) unless that is given. When the dicts hold several different private
    keys and none can be told to be the model's, nothing is moved (``protect`` still masks them)."""
    found = private_model_keys(args)
    if not found:
        return args
    given = args.get('model_key')
    chosen = given or _chosen_key(args) or (found[0] if len(set(found)) == 1 else None)
    if chosen is None:
        return args
    hidden = copy.deepcopy(args)
    for path in KEY_PLACES:
        _walk(_place(hidden, path), [], strip=True)
    hidden['model_key'] = chosen
    return hidden


def url_passwords(value):
    """The passwords (and user names given with one) in every ``scheme://user:password@`` URL below ``value``."""
    found = []
    if isinstance(value, dict):
        for item in value.values():
            found.extend(url_passwords(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(url_passwords(item))
    elif isinstance(value, str) and '@' in value and '://' in value:
        try:
            parts = urlsplit(value)
            password = parts.password
        except ValueError:
            return found
        if password:
            found.extend([password, unquote(password)])
    return found


def protect(module):
    """Mask the secrets inside ``module.params`` in everything the module returns (``invocation``, results,
    errors): private model keys of catalog dicts and URL passwords. Call right after ``AnsibleModule``."""
    secrets = private_model_keys(module.params) + url_passwords(module.params)
    module.no_log_values.update(secret for secret in secrets if len(secret) >= 3)
    return module
