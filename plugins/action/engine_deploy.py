# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Controller half of tao.fleet.engine_deploy: the engine share of tao.fleet.trt_engine's action plugin, as
it is (see plugins/action/trt_engine.py). The module's later stages (smoke test, consumer files, release)
run in the same host call as the engine stage, so they add no round trip; an engine that fails its smoke
test on the host that built it is not published."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tao.fleet.plugins.action.trt_engine import ActionModule as EngineShareAction


class ActionModule(EngineShareAction):

    MODULE = 'tao.fleet.engine_deploy'
