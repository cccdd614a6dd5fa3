# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Reading a host's files (and, rarely, running its tools) under a sysroot, bounded in size and time.

A sysroot is a copied or mounted root filesystem: an offline image, or a fixture tree in the tests.
Its absolute symlinks (``/usr/local/cuda -> /etc/alternatives/cuda``) must resolve inside it, not
on the machine that reads it, so paths are resolved here one component at a time, chroot-style.

Every failure becomes ``Unavailable(reason)``: the caller turns it into ``null`` plus a reason,
never into a crash. Only regular files are read (a FIFO or a device node would block), and only
up to a size limit; a command runs only through ``run``, with a timeout and an output limit.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import select
import signal
import stat
import subprocess
import time

MAX_FILE_BYTES = 1 << 20
MAX_OUTPUT_BYTES = 1 << 20
_MAX_SYMLINK_HOPS = 40


class Unavailable(Exception):
    """A fact cannot be read; ``reason`` says why in words an operator can act on."""

    def __init__(self, reason):
        super(Unavailable, self).__init__(reason)
        self.reason = reason


class Sysroot(object):
    """A root directory whose paths are given relative to it, like ``etc/nv_tegra_release``."""

    def __init__(self, root='/', timeout=10):
        self.root = os.path.abspath(root)
        self.timeout = timeout

    @property
    def is_live(self):
        """True when the sysroot is the running system: its tools may run, its NVML may load."""
        return self.root == '/'

    def display(self, rel):
        """The path as the host sees it, for messages: ``/etc/nv_tegra_release``."""
        return '/' + rel.strip('/')

    def resolve(self, rel):
        """Host path of ``rel`` with every symlink resolved inside the sysroot."""
        pending = [part for part in rel.split('/') if part]
        done = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == '.':
                continue
            if part == '..':
                if done:
                    done.pop()
                continue
            candidate = os.path.join(self.root, *(done + [part]))
            if os.path.islink(candidate):
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    raise Unavailable('%s: too many levels of symbolic links' % self.display(rel))
                target = os.readlink(candidate)
                target_parts = [p for p in target.split('/') if p]
                if target.startswith('/'):
                    done = []
                pending = target_parts + pending
                continue
            done.append(part)
        return os.path.join(self.root, *done) if done else self.root

    def exists(self, rel):
        try:
            return os.path.lexists(self.resolve(rel))
        except Unavailable:
            return False

    def is_file(self, rel):
        try:
            return os.path.isfile(self.resolve(rel))
        except Unavailable:
            return False

    def is_dir(self, rel):
        try:
            return os.path.isdir(self.resolve(rel))
        except Unavailable:
            return False

    def listdir(self, rel):
        """Names in a directory, sorted; [] when it is absent or unreadable."""
        try:
            return sorted(os.listdir(self.resolve(rel)))
        except (OSError, Unavailable):
            return []

    def glob(self, directory, match):
        """Paths ``directory/<name>`` whose name satisfies ``match(name)``, sorted."""
        return ['%s/%s' % (directory.rstrip('/'), name) for name in self.listdir(directory) if match(name)]

    def read_bytes(self, rel, limit=MAX_FILE_BYTES):
        """Contents of a regular file, at most ``limit`` bytes (more is an error, not a truncation)."""
        shown = self.display(rel)
        path = self.resolve(rel)
        try:
            info = os.stat(path)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                raise Unavailable('%s does not exist' % shown)
            raise Unavailable('%s cannot be read: %s' % (shown, exc.strerror or exc))
        if not stat.S_ISREG(info.st_mode):
            raise Unavailable('%s is not a regular file' % shown)
        try:
            with open(path, 'rb') as handle:
                data = handle.read(limit + 1)
        except (IOError, OSError) as exc:
            raise Unavailable('%s cannot be read: %s' % (shown, getattr(exc, 'strerror', None) or exc))
        if len(data) > limit:
            raise Unavailable('%s is larger than %d bytes; refusing to parse it' % (shown, limit))
        return data

    def read_text(self, rel, limit=MAX_FILE_BYTES):
        """A text file decoded as UTF-8; undecodable bytes become U+FFFD rather than an error."""
        return self.read_bytes(rel, limit).decode('utf-8', 'replace')

    def read_lines(self, rel, limit=MAX_FILE_BYTES):
        """Lines of a text file, for files too large to hold whole (dpkg status: many MB)."""
        shown = self.display(rel)
        data = self.read_bytes(rel, limit)
        if b'\0' in data:
            raise Unavailable('%s holds NUL bytes: it is not a text file' % shown)
        return data.decode('utf-8', 'replace').splitlines()

    def executable(self, rel):
        """Host path of an executable regular file under the sysroot, or None."""
        try:
            path = self.resolve(rel)
        except Unavailable:
            return None
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        return None

    def run(self, argv, timeout=None):
        """Run a command, bounded in time and output: (returncode, stdout text, stderr text).

        ``argv[0]`` must be a host path that ``executable`` or ``which`` returned, so that a
        sysroot's tools are the only ones run when the sysroot is not the live system.
        """
        limit = self.timeout if timeout is None else timeout
        env = dict(os.environ, LC_ALL='C', LANG='C')
        try:
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       stdin=subprocess.DEVNULL, env=env, close_fds=True,
                                       start_new_session=True)
        except (OSError, ValueError) as exc:
            raise Unavailable('%s could not start: %s' % (argv[0], getattr(exc, 'strerror', None) or exc))
        try:
            out, err = _collect(process, time.monotonic() + limit)
        except Unavailable as exc:
            # The whole session: a shell script's own children would otherwise hold the pipes open.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                pass
            process.wait()
            raise Unavailable('%s %s' % (' '.join(argv[:2]), exc.reason % {'limit': limit}))
        return (process.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace'))

    def which(self, name, candidates):
        """Host path of a tool: under the sysroot from ``candidates``; on a live system also PATH."""
        for rel in candidates:
            path = self.executable(rel)
            if path:
                return path
        if self.is_live:
            for directory in os.environ.get('PATH', '').split(os.pathsep):
                path = os.path.join(directory, name)
                if directory and os.path.isfile(path) and os.access(path, os.X_OK):
                    return path
        return None


def _collect(process, deadline):
    """stdout and stderr of ``process`` until it exits; Unavailable past ``deadline`` or the size limit.

    Reads as the output arrives, so a tool that floods its output is stopped at the limit instead of
    filling memory, and one that hangs is stopped at the deadline.
    """
    chunks = {process.stdout: [], process.stderr: []}
    streams = [process.stdout, process.stderr]
    size = 0
    while streams:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Unavailable('did not finish within %(limit)s s')
        ready = select.select(streams, [], [], remaining)[0]
        for stream in ready:
            data = os.read(stream.fileno(), 65536)
            if not data:
                streams.remove(stream)
                continue
            chunks[stream].append(data)
            size += len(data)
            if size > MAX_OUTPUT_BYTES:
                raise Unavailable('printed more than %d bytes' % MAX_OUTPUT_BYTES)
    try:
        process.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise Unavailable('did not finish within %(limit)s s')
    for stream in (process.stdout, process.stderr):
        stream.close()
    return b''.join(chunks[process.stdout]), b''.join(chunks[process.stderr])
