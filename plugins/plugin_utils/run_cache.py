# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Small JSON files kept for the rest of one ansible-playbook run (controller only).

Every host's task runs in a fresh fork of ansible-playbook, so what one host's task learned is lost to the
next unless it is written down. These files live in Ansible's local temp dir of the run
(``C.DEFAULT_LOCAL_TMP``, ``ansible-local-*``), which AnsiballZ's own cache uses and which is removed when
ansible-playbook exits. They are only a cache: a file that cannot be read or written costs the next host the
work again, never an error.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os

from ansible_collections.tao.fleet.plugins.module_utils._atomic import make_dirs, write_file
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError


def run_file(run_dir, namespace, key):
    """The path for ``key`` (any JSON-able value; never put a secret in it) under ``namespace`` of ``run_dir``
    (callers pass ``C.DEFAULT_LOCAL_TMP``; tests a directory of their own)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode('utf-8')).hexdigest()
    return os.path.join(run_dir, namespace, digest + '.json')


def read_json(path):
    """What an earlier host of this run kept at ``path``, or None."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


def write_json(path, value):
    """Keep ``value`` for the next hosts (written whole: forks read it concurrently); best effort."""
    try:
        text = json.dumps(value)
        make_dirs(os.path.dirname(path))
        write_file(path, text.encode('utf-8'))
    except (TaoFleetError, TypeError, ValueError):
        pass
