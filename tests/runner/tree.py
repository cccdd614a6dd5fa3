"""A copy of the collection holding exactly the files git would commit, for ansible-test and the galaxy build.

ansible-test needs the collection at .../ansible_collections/tao/fleet, and must not see tests/output (venvs,
builds, a symlink back to the repo). A copy inside the repo does not work: ansible-test finds the repo's .git
above it, asks git for the files, and git ignores everything under tests/output. So the copy lives in the
temporary directory, keyed by the repo's path, and is updated in place (ansible-test keeps its own state under
the copy's tests/output/, which the update leaves alone).
"""

import hashlib
import os
import pathlib
import shutil
import subprocess
import tempfile

from .context import PartError

KEPT = ('tests/output',)


def collection_files(repo):
    """Paths (relative, as str) of tracked and untracked-but-not-ignored files that exist in the work tree."""
    # safe.directory: CI may check the repo out as another user than the one running the tests.
    command = ['git', '-c', 'safe.directory=*', 'ls-files', '-z', '--cached', '--others', '--exclude-standard']
    process = subprocess.run(command, cwd=str(repo), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if process.returncode != 0:
        raise PartError('git ls-files failed in %s: %s; fix: run tests/run from a git checkout of tao.fleet' % (
            repo, process.stderr.decode(errors='replace').strip()))
    names = [name for name in process.stdout.decode().split('\0') if name]
    # Files deleted in the work tree but still in the index are not part of what would be committed.
    return sorted({name for name in names if os.path.lexists(os.path.join(str(repo), name))})


def collection_copy(repo):
    """Update and return the copy of repo at <tmp>/tao_fleet-<hash>/ansible_collections/tao/fleet."""
    repo = pathlib.Path(repo)
    key = hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:12]
    root = pathlib.Path(tempfile.gettempdir()) / ('tao_fleet-tree-%s' % key)
    copy = root / 'ansible_collections' / 'tao' / 'fleet'
    copy.mkdir(parents=True, exist_ok=True)
    wanted = collection_files(repo)
    for name in wanted:
        _sync(repo / name, copy / name)
    _prune(copy, set(wanted))
    return copy


def _sync(source, target):
    if source.is_symlink():
        link = os.readlink(str(source))
        if target.is_symlink() and os.readlink(str(target)) == link:
            return
        _remove(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(link, str(target))
        return
    stat = source.stat()
    if target.is_file() and not target.is_symlink():
        current = target.stat()
        if current.st_size == stat.st_size and current.st_mtime_ns == stat.st_mtime_ns:
            return
    _remove(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name('.%s.partial' % target.name)
    shutil.copy2(str(source), str(partial))
    os.replace(str(partial), str(target))


def _remove(path):
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(str(path))


def _prune(copy, wanted):
    """Remove what is in the copy but no longer in the repo; leave the tools' state under tests/output."""
    for directory, subdirectories, files in os.walk(str(copy), topdown=False):
        relative_directory = os.path.relpath(directory, str(copy))
        if relative_directory == '.':
            relative_directory = ''
        if any(relative_directory == kept or relative_directory.startswith(kept + '/') for kept in KEPT):
            continue
        for name in files + [d for d in subdirectories if os.path.islink(os.path.join(directory, d))]:
            relative = os.path.join(relative_directory, name)
            if relative not in wanted:
                os.unlink(os.path.join(directory, name))
        if relative_directory and not os.listdir(directory) and not any(
                kept.startswith(relative_directory + '/') for kept in KEPT):
            os.rmdir(directory)
