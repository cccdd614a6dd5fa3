# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Files and symlinks that appear whole or not at all.

A file is written to a temp file in the same directory, fsynced, renamed over the final name, and
the directory fsynced; a symlink is created under a temp name and renamed over the final name. A
reader (DeepStream starting, an operator opening a report, CI reading JUnit) sees the old content
or the new, never a part. Failures raise TaoFleetError with cause and fix.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import shutil
import stat
import tempfile
import time
import uuid

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError

TEMP_PREFIX = '.tao-fleet-tmp-'


def write_error(err, action, path):
    """TaoFleetError for an OSError while ``action`` (e.g. 'writing') ``path``."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return TaoFleetError(
            'No space left while %s %s.' % (action, path),
            cause='The filesystem that holds %s is full.' % os.path.dirname(path),
            fix='Free space there (df -h %s); nothing half-written was left at %s.' % (
                os.path.dirname(path), path),
            code='disk_full', details={'path': path, 'errno': err.errno})
    return TaoFleetError(
        'Failed %s %s: %s.' % (action, path, err.strerror or err),
        cause='The directory is not writable by this user, is on a read-only filesystem, or a '
              'path on the way is not a directory (errno %s).' % errno.errorcode.get(err.errno, err.errno),
        fix='Run the task with become: true, or choose a writable directory.',
        code='not_writable', details={'path': path, 'errno': err.errno})


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(directory, mode=0o755):
    try:
        os.makedirs(directory, mode)
    except OSError as err:
        if err.errno != errno.EEXIST or not os.path.isdir(directory):
            raise write_error(err, 'creating', directory)


def symlink_refused(path, root):
    """TaoFleetError for a symlink found at ``path`` below ``root``, where the collection never follows one."""
    return TaoFleetError(
        'Refusing to use %s: it is a symlink inside the store %s.' % (path, root),
        cause='The store never reads or writes through links below its root, so a link planted there (by a '
              'local user, or another tool) cannot redirect writes, removals or mode changes to files elsewhere.',
        fix='Check who made it and remove it (the next run recreates what belongs there), or point the store '
            'option at the link target instead.',
        code='store_unwritable', details={'path': path})


def open_no_follow(path, flags, mode=0o644, root=None):
    """``os.open`` that never follows a symlink at ``path`` (O_NOFOLLOW): a link there is refused with
    ``symlink_refused``; other OSErrors propagate."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise symlink_refused(path, root or os.path.dirname(path))
        raise


def real_dir(root, path, create, error=write_error, mode=0o755):
    """Check (and with ``create`` make) every directory from ``root`` down to ``path``; True if it exists.
    ``root`` itself may be a symlink (the operator's choice); below it a symlink is refused
    (``symlink_refused``) and never followed, a file on the way is ENOTDIR. OSErrors become
    ``error(err, action, path)``."""
    relative = os.path.relpath(path, root)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        raise error(OSError(errno.EXDEV, 'outside the store'), 'resolving', path)
    if create:
        try:
            os.makedirs(root, mode)
        except OSError as err:
            if err.errno != errno.EEXIST:
                raise error(err, 'creating', root)
    current = root
    for part in [] if relative == os.curdir else relative.split(os.sep):
        current = os.path.join(current, part)
        try:
            info = os.lstat(current)
        except OSError as err:
            if err.errno != errno.ENOENT:
                raise error(err, 'checking', current)
            if not create:
                return False
            try:
                os.mkdir(current, mode)
            except OSError as mkdir_err:
                if mkdir_err.errno != errno.EEXIST:
                    raise error(mkdir_err, 'creating', current)
            info = os.lstat(current)
        if stat.S_ISLNK(info.st_mode):
            raise symlink_refused(current, root)
        if not stat.S_ISDIR(info.st_mode):
            raise error(OSError(errno.ENOTDIR, 'not a directory'), 'checking', current)
    return True


def read_bytes(path):
    """Content of a regular file (not followed if it is a symlink), or None when absent."""
    try:
        info = os.lstat(path)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise write_error(err, 'reading', path)
    if not stat.S_ISREG(info.st_mode):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ELOOP):
            return None      # removed, or replaced by a link, since the lstat
        raise write_error(err, 'reading', path)
    with os.fdopen(fd, 'rb') as handle:
        return handle.read()


def read_json(path):
    """A small JSON object of the store (a partial's validators, a ref, a manifest), never read through a symlink;
    None when absent, unreadable or not an object."""
    try:
        data = read_bytes(path)
        value = json.loads(data.decode('utf-8')) if data is not None else None
    except (OSError, TaoFleetError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def write_file(path, data, mode=0o644):
    """Write ``data`` (bytes) to ``path`` whole: temp file beside it, fsync, rename, fsync dir."""
    directory = os.path.dirname(path)
    try:
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    except OSError as err:
        raise write_error(err, 'writing', path)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, path)
        _fsync_dir(directory)
    except OSError as err:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise write_error(err, 'writing', path)


def read_link(path):
    """Target of the symlink at ``path``; None when nothing is there; False when it is not a link."""
    try:
        return os.readlink(path)
    except OSError as err:
        if err.errno == errno.ENOENT:
            return None
        if err.errno == errno.EINVAL:
            return False
        raise write_error(err, 'reading', path)


def write_link(path, target):
    """Point the symlink ``path`` at ``target``, replacing an older link by rename."""
    directory = os.path.dirname(path)
    temp = os.path.join(directory, '%s%s' % (TEMP_PREFIX, uuid.uuid4().hex))
    try:
        os.symlink(target, temp)
        os.rename(temp, path)
        _fsync_dir(directory)
    except OSError as err:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise write_error(err, 'linking', path)


def remove_stale_temps(directory, min_age_seconds=600, now=None):
    """Remove temp files, links and directories that a killed writer left in ``directory``;
    returns their names.

    Only those older than ``min_age_seconds``, so that a writer running now keeps its temp file.
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    now = time.time() if now is None else now
    removed = []
    for name in sorted(names):
        if not name.startswith(TEMP_PREFIX):
            continue
        path = os.path.join(directory, name)
        try:
            info = os.lstat(path)
            if now - info.st_mtime >= min_age_seconds:
                if stat.S_ISDIR(info.st_mode):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
                removed.append(name)
        except OSError as err:
            if err.errno != errno.ENOENT:
                raise write_error(err, 'removing', path)
    return removed
