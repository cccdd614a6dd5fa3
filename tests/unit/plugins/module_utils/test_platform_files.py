# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Sysroot: chroot-style path resolution, bounded reads and confined, bounded commands."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

import pytest

from ansible_collections.tao.fleet.plugins.module_utils._platform_files import Sysroot, Unavailable


@pytest.fixture
def root(tmp_path):
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'etc' / 'hostname').write_text('jetson\n')
    return tmp_path


def test_parent_references_cannot_leave_the_sysroot(root, tmp_path):
    outside = tmp_path.parent / 'outside-secret'
    outside.write_text('not yours')
    os.symlink('../../../../outside-secret', str(root / 'etc' / 'escape'))
    files = Sysroot(str(root))
    assert files.resolve('etc/escape') == str(root / 'outside-secret')
    with pytest.raises(Unavailable) as raised:
        files.read_text('etc/escape')
    assert raised.value.reason == '/etc/escape does not exist'
    assert files.read_text('../../etc/hostname') == 'jetson\n'


def test_absolute_link_is_rerooted(root):
    os.symlink('/etc/hostname', str(root / 'name'))
    assert Sysroot(str(root)).read_text('name') == 'jetson\n'


def test_reads_are_bounded_in_size(root):
    (root / 'big').write_bytes(b'x' * 101)
    files = Sysroot(str(root))
    assert files.read_bytes('big', 101) == b'x' * 101
    with pytest.raises(Unavailable) as raised:
        files.read_bytes('big', 100)
    assert 'larger than 100 bytes' in raised.value.reason


def test_directory_is_not_a_file(root):
    with pytest.raises(Unavailable) as raised:
        Sysroot(str(root)).read_bytes('etc')
    assert raised.value.reason == '/etc is not a regular file'


def test_unreadable_file_gives_the_os_reason(root):
    if os.geteuid() == 0:
        # root reads anything: use a path through a file instead
        with pytest.raises(Unavailable) as raised:
            Sysroot(str(root)).read_bytes('etc/hostname/child')
        assert raised.value.reason == '/etc/hostname/child does not exist'
    else:
        (root / 'secret').write_text('x')
        os.chmod(str(root / 'secret'), 0)
        with pytest.raises(Unavailable) as raised:
            Sysroot(str(root)).read_bytes('secret')
        assert 'cannot be read' in raised.value.reason


def test_tools_of_a_sysroot_never_come_from_path(root, monkeypatch):
    monkeypatch.setenv('PATH', '/usr/bin:/bin')
    files = Sysroot(str(root))
    assert not files.is_live
    assert files.which('sh', ('usr/bin/sh',)) is None
    tool = root / 'usr' / 'bin' / 'tool'
    tool.parent.mkdir(parents=True)
    tool.write_text('#!/bin/sh\necho "$@"\n')
    os.chmod(str(tool), 0o755)
    path = files.which('tool', ('usr/bin/tool',))
    assert path == str(tool)
    assert files.run([path, 'a', 'b']) == (0, 'a b\n', '')


def test_live_system_finds_tools_on_path():
    assert Sysroot('/').which('sh', ()) is not None


def test_command_output_is_bounded(root):
    tool = root / 'flood'
    tool.write_text('#!/bin/sh\nhead -c 2000000 /dev/zero\n')
    os.chmod(str(tool), 0o755)
    with pytest.raises(Unavailable) as raised:
        Sysroot(str(root)).run([str(tool)])
    assert 'printed more than' in raised.value.reason


def test_command_that_cannot_start(root):
    with pytest.raises(Unavailable) as raised:
        Sysroot(str(root)).run([str(root / 'missing')])
    assert 'could not start' in raised.value.reason


def _alive(pid):
    """True while pid runs (a zombie, killed but not yet reaped by init, is not alive)."""
    try:
        with open('/proc/%d/stat' % pid) as stat:
            return stat.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except (IOError, OSError):
        return False


def test_timeout_kills_the_commands_own_children_too(root):
    tool = root / 'spawner'
    pidfile = root / 'child.pid'
    tool.write_text('#!/bin/sh\nsleep 60 &\necho $! > %s\nwait\n' % pidfile)
    os.chmod(str(tool), 0o755)
    with pytest.raises(Unavailable) as raised:
        Sysroot(str(root), timeout=1).run([str(tool)])
    assert raised.value.reason == '%s did not finish within 1 s' % tool
    child = int(pidfile.read_text())
    for _attempt in range(100):
        if not _alive(child):
            break
        time.sleep(0.05)
    assert not _alive(child)
