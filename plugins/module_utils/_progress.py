# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""What a deployment on this host is doing right now, for an operator who waits on a long engine build.

``tao.fleet.engine_deploy`` writes ``<store>/progress/<model>.json`` when each stage starts, and the engine build
adds, every few seconds, how long it has run, its memory and the last line TensorRT logged; the file goes when
the call ends. ``tao.fleet.platform_facts`` (option ``store``) reads it back into ``ansible_facts.tao_store.progress``,
so ``ansible-playbook tao.fleet.deployed`` in a second terminal shows each host's stage while a rollout runs.
A file whose writer is gone (a killed run: its pid no longer runs, or runs another program since: ``_process``)
is reported as such, not as a running stage.

Best effort: a progress file that cannot be written never fails a deployment. Standard library only and cheap
to import: ``platform_facts`` reads it on every run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import json
import os
import re
import stat
import time

from ansible_collections.tao.fleet.plugins.module_utils._process import process_record, record_alive

PROGRESS_DIR = 'progress'
SCHEMA = 1
# between two writes of build progress: the file is for a person, who reads it every few seconds at most
MIN_INTERVAL_SECONDS = 2.0
MAX_PROGRESS_BYTES = 16 * 1024
_MODEL_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$')


def _utc(seconds):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(seconds))


class Progress(object):
    """The progress file of one model's deployment; ``None`` store makes a no-op (check mode, no store)."""

    def __init__(self, store, model, now=time.time):
        self.path = None
        if store and isinstance(model, str) and _MODEL_RE.match(model):
            self.path = os.path.join(store, PROGRESS_DIR, model + '.json')
        self.store = store
        self.model = model
        self.now = now
        self.started = now()
        self.state = dict(process_record(), schema=SCHEMA, model=model, started_at=_utc(self.started), stage=None,
                          stage_started_at=None, details={})
        self.written = 0.0

    def _write(self):
        if not self.path:
            return
        from ansible_collections.tao.fleet.plugins.module_utils._atomic import real_dir, write_file
        try:
            real_dir(self.store, os.path.dirname(self.path), create=True)
            self.state['updated_at'] = _utc(self.now())
            write_file(self.path, json.dumps(self.state, sort_keys=True).encode('utf-8'))
            self.written = time.monotonic()
        except Exception:  # noqa: BLE001 - progress is for a person; it must never fail the deployment
            self.path = None

    def stage(self, name):
        """A stage starts: always written."""
        self.state.update(stage=name, stage_started_at=_utc(self.now()), details={})
        self._write()

    def due(self):
        """Whether an update now would be written (so a caller can skip gathering it)."""
        return bool(self.path) and time.monotonic() - self.written >= MIN_INTERVAL_SECONDS

    def update(self, **details):
        """More about the running stage (build seconds, memory, TensorRT's last line); written at most every
        MIN_INTERVAL_SECONDS."""
        self.state['details'].update(details)
        if time.monotonic() - self.written >= MIN_INTERVAL_SECONDS:
            self._write()

    def finish(self):
        if not self.path:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass


_CURRENT = [None]


def current():
    """The progress of the deployment this process runs, or None (trt_engine or engine_smoke on their own)."""
    return _CURRENT[0]


def set_current(progress):
    _CURRENT[0] = progress


def _seconds_since(text, now):
    try:
        return max(0, int(now - calendar.timegm(time.strptime(text, '%Y-%m-%dT%H:%M:%SZ'))))
    except (TypeError, ValueError, OverflowError):
        return None


def read_progress(store, now=None):
    """``{model: {stage, started_at, stage_started_at, updated_at, seconds, stage_seconds, details, running}}`` of
    the progress files in ``store``; ``running`` is false for a file whose writer is gone."""
    now = time.time() if now is None else now
    directory = os.path.join(store, PROGRESS_DIR)
    try:
        if not stat.S_ISDIR(os.lstat(directory).st_mode):
            return {}
        names = sorted(name for name in os.listdir(directory) if name.endswith('.json'))
    except (IOError, OSError):
        return {}
    found = {}
    for name in names:
        try:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, 'rb') as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    continue
                state = json.loads(handle.read(MAX_PROGRESS_BYTES + 1).decode('utf-8'))
        except (IOError, OSError, ValueError):
            continue
        if not isinstance(state, dict) or state.get('schema') != SCHEMA:
            continue
        details = state.get('details') if isinstance(state.get('details'), dict) else {}
        found[name[:-len('.json')]] = {
            'stage': state.get('stage'), 'started_at': state.get('started_at'),
            'stage_started_at': state.get('stage_started_at'), 'updated_at': state.get('updated_at'),
            'seconds': _seconds_since(state.get('started_at'), now),
            'stage_seconds': _seconds_since(state.get('stage_started_at'), now), 'details': details,
            # a writer on another host (a shared store) cannot be checked from here: taken as running
            'running': record_alive(state) is not False}
    return found
