# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Whole-or-nothing files and links on a real filesystem."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.tao.fleet.plugins.module_utils import _atomic
from ansible_collections.tao.fleet.plugins.module_utils._atomic import (
    make_dirs,
    read_bytes,
    read_link,
    remove_stale_temps,
    TEMP_PREFIX,
    write_file,
    write_link,
)
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError


def test_write_file_replaces_whole_and_leaves_no_temp(tmp_path):
    path = str(tmp_path / 'report.json')
    write_file(path, b'old', mode=0o600)
    write_file(path, b'new content')
    assert read_bytes(path) == b'new content'
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert os.listdir(str(tmp_path)) == ['report.json']


def test_failed_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / 'config.txt')
    write_file(path, b'old')

    def broken_rename(source, target):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(_atomic.os, 'rename', broken_rename)
    with pytest.raises(TaoFleetError) as caught:
        write_file(path, b'new')
    assert caught.value.code == 'disk_full' and 'df -h' in caught.value.fix
    monkeypatch.undo()
    assert read_bytes(path) == b'old' and os.listdir(str(tmp_path)) == ['config.txt']


def test_unwritable_directory_is_explained(tmp_path):
    with pytest.raises(TaoFleetError) as caught:
        write_file(str(tmp_path / 'missing' / 'x'), b'x')
    assert caught.value.code == 'not_writable' and caught.value.fix


def test_links_are_replaced_and_read(tmp_path):
    path = str(tmp_path / 'latest')
    assert read_link(path) is None
    write_link(path, 'a')
    write_link(path, 'b')
    assert read_link(path) == 'b' and os.listdir(str(tmp_path)) == ['latest']
    (tmp_path / 'file').write_text(u'x')
    assert read_link(str(tmp_path / 'file')) is False
    assert read_bytes(path) is None  # a link is never read as a file


def test_make_dirs_refuses_a_file_in_the_way(tmp_path):
    make_dirs(str(tmp_path / 'a' / 'b'))
    make_dirs(str(tmp_path / 'a' / 'b'))
    (tmp_path / 'f').write_text(u'x')
    with pytest.raises(TaoFleetError):
        make_dirs(str(tmp_path / 'f'))


def test_stale_temps_go_only_when_old(tmp_path):
    old_file = tmp_path / (TEMP_PREFIX + 'old')
    old_file.write_text(u'x')
    old_dir = tmp_path / (TEMP_PREFIX + 'olddir')
    old_dir.mkdir()
    (old_dir / 'report.html').write_text(u'x')
    young = tmp_path / (TEMP_PREFIX + 'young')
    young.write_text(u'x')
    (tmp_path / 'keep').write_text(u'x')
    for path in (old_file, old_dir):
        os.utime(str(path), (1000, 1000))
    removed = remove_stale_temps(str(tmp_path))
    assert removed == sorted([TEMP_PREFIX + 'old', TEMP_PREFIX + 'olddir'])
    assert sorted(os.listdir(str(tmp_path))) == sorted(['keep', TEMP_PREFIX + 'young'])
    assert remove_stale_temps(str(tmp_path / 'absent')) == []


# ---- the no-follow primitives the stores share (issue 16, row 8) ------------------------------------------

def test_real_dir_creates_real_directories_and_refuses_a_planted_link(tmp_path):
    root = str(tmp_path / 'store')
    assert _atomic.real_dir(root, os.path.join(root, 'models', '.partial'), create=False) is False
    assert _atomic.real_dir(root, os.path.join(root, 'models', '.partial'), create=True) is True
    assert os.path.isdir(os.path.join(root, 'models', '.partial'))
    outside = tmp_path / 'outside'
    outside.mkdir()
    os.symlink(str(outside), os.path.join(root, 'deploys'))
    for create in (False, True):
        with pytest.raises(TaoFleetError) as caught:
            _atomic.real_dir(root, os.path.join(root, 'deploys', 'x'), create=create)
        assert caught.value.code == 'store_unwritable' and 'symlink' in caught.value.msg and caught.value.fix
    assert os.listdir(str(outside)) == []
    with pytest.raises(TaoFleetError):
        _atomic.real_dir(root, str(tmp_path / 'elsewhere'), create=True)     # outside the root: never
    assert not (tmp_path / 'elsewhere').exists()


def test_the_root_itself_may_be_a_link(tmp_path):
    real = tmp_path / 'real'
    real.mkdir()
    os.symlink(str(real), str(tmp_path / 'root'))
    assert _atomic.real_dir(str(tmp_path / 'root'), str(tmp_path / 'root' / 'models'), create=True)
    assert (real / 'models').is_dir()


def test_open_no_follow_refuses_a_link_and_read_bytes_does_not_read_through_one(tmp_path):
    secret = tmp_path / 'secret'
    secret.write_bytes(b'secret')
    os.symlink(str(secret), str(tmp_path / 'link'))
    with pytest.raises(TaoFleetError) as caught:
        _atomic.open_no_follow(str(tmp_path / 'link'), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    assert caught.value.code == 'store_unwritable'
    assert read_bytes(str(tmp_path / 'link')) is None and secret.read_bytes() == b'secret'
    fd = _atomic.open_no_follow(str(tmp_path / 'plain'), os.O_WRONLY | os.O_CREAT)
    os.close(fd)
    assert read_bytes(str(tmp_path / 'plain')) == b''
