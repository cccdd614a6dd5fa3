# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""DeepStream nvinfer's ``cluster-mode`` numbers, by the names the model catalog uses. A module of its own so
that engine_consumers (``_deepstream``) does not carry and compile the whole catalog code on every call."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

CLUSTER_MODES = {'group_rectangles': 0, 'dbscan': 1, 'nms': 2, 'dbscan_nms': 3, 'none': 4}
