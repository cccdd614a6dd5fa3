# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Files from the controller into the task's temp dir on the host, for the action plugins of
``tao.fleet.model_fetch``, ``trt_engine`` and ``engine_deploy``. One temp dir per task, made on the first copy
(a task that copies nothing costs no round trip for it) and removed by the action at the task's end."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def copy_to_task_dir(action, files):
    """Copy ``files`` (pairs of a controller path and a file name) into the task's temp dir on the host of
    ``action`` (an ActionBase); returns the temp dir and the host paths, in the order given."""
    shell = action._connection._shell
    remote_dir = shell.tmpdir or action._make_tmp_path()
    remote = [shell.join_path(remote_dir, name) for _path, name in files]
    for (path, _name), target in zip(files, remote):
        action._transfer_file(path, target)
    action._fixup_perms2([remote_dir] + remote, execute=False)
    return remote_dir, remote
