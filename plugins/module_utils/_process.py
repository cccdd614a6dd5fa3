# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Which process wrote a file, and whether it still runs: a build dir's ``builder.pid`` (``_store``) and a
deployment's progress file (``_progress``) record ``{pid, start, host}``, and ``record_alive`` tells a live
writer from a killed one, also after its pid was reused (the start time in ``/proc/<pid>/stat`` differs).

Standard library only and cheap to import: ``platform_facts`` reads progress files on every run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import socket


def process_state(pid):
    """(state letter, start time in clock ticks) from /proc, or (None, None) where unreadable."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            text = handle.read()
    except (IOError, OSError):
        return None, None
    fields = text[text.rfind(')') + 2:].split()
    if len(fields) < 20:
        return None, None
    return fields[0], fields[19]


def process_record():
    """``{pid, start, host}`` of this process."""
    return {'pid': os.getpid(), 'start': process_state(os.getpid())[1], 'host': socket.gethostname()}


def pid_alive(pid):
    """False if no such process (or only its zombie), else True."""
    try:
        os.kill(pid, 0)
    except OSError as err:
        if err.errno == errno.ESRCH:
            return False
    return process_state(pid)[0] not in ('Z', 'X')


def record_alive(info):
    """True / False where it can be told, None where not (no record, another host)."""
    if not isinstance(info, dict) or isinstance(info.get('pid'), bool) or not isinstance(info.get('pid'), int):
        return None
    if info.get('host') != socket.gethostname():
        return None
    if not pid_alive(info['pid']):
        return False
    start = process_state(info['pid'])[1]
    if start is not None and info.get('start') is not None and start != info['start']:
        # The pid has been reused by another process since the record was written.
        return False
    return True
