#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: cache_prune
short_description: Prune the controller's model cache and engine share down to what the hosts keep
description:
  - Removes model files from C(<path>/models) and engine share entries from O(engine_share) that no host keeps,
    as the hosts' M(tao.fleet.store_prune) results say (RV(tao.fleet.store_prune#module:kept)), once they are
    older than O(min_age); and unfinished downloads older than O(partial_max_age).
  - Runs where the cache is, on the controller (with C(delegate_to) set to C(localhost), and C(run_once)).
  - A share entry that a rollout is publishing or importing right now (its lock is held) is kept.
  - A removed file costs only a new download or build later; the playbook C(tao.fleet.prune) runs this
    module only when every host of the inventory answered, so that no host's engine is taken for unused.
version_added: 0.2.0
author:
  - tao.fleet contributors (@tao-fleet)
requirements:
  - Python 3.6 or newer on the controller (standard library only)
extends_documentation_fragment:
  - tao.fleet.attributes
  - tao.fleet.attributes.platform
attributes:
  check_mode:
    support: full
    details:
      - Reports what would be removed and removes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  path:
    description:
      - The controller cache, as the role's C(deploy_model_controller_cache_dir) names it.
    type: path
    default: ~/.cache/tao_fleet
  engine_share:
    description:
      - The engine share; default C(<path>/engines), as the role's C(deploy_model_engine_share_dir) leaves it.
    type: path
  keep_models:
    description:
      - Sha256 of the model files to keep (the union of the hosts' C(kept.models)).
    type: list
    elements: str
    default: []
  keep_fingerprints:
    description:
      - Fingerprints of the share entries to keep (the union of the hosts' C(kept.engines)).
    type: list
    elements: str
    default: []
  min_age:
    description:
      - Seconds a file or entry must be old before it is removed.
    type: int
    default: 3600
  partial_max_age:
    description:
      - Seconds after which an unfinished download is removed.
    type: int
    default: 604800
seealso:
  - module: tao.fleet.store_prune
    description: Prunes a host's store and says what the host keeps.
'''

EXAMPLES = r'''
- name: Prune each host's store
  tao.fleet.store_prune:
  register: pruned

- name: Keep in the controller's cache what some host still keeps
  tao.fleet.cache_prune:
    keep_models: "{{ ansible_play_hosts | map('extract', hostvars, ['pruned', 'kept', 'models']) | flatten | unique }}"
    keep_fingerprints: "{{ ansible_play_hosts | map('extract', hostvars, ['pruned', 'kept', 'engines']) | flatten | unique }}"
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
models:
  description: The sha256 of cached model files removed (or that would be, in check mode) and kept.
  returned: success
  type: dict
  sample: {removed: [], kept: [5b3c8d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c]}
share:
  description: The fingerprints of engine share entries removed and kept.
  returned: success
  type: dict
  sample: {removed: [3f5c0e1b0b1f4c39a3d4f3cfa6a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b], kept: []}
partial_removed:
  description: Unfinished downloads removed.
  returned: success
  type: list
  elements: str
freed_bytes:
  description: Bytes removed (or that would be).
  returned: success
  type: int
msg:
  description: What the task did.
  returned: always
  type: str
error_code:
  description: Stable id of the failure (C(store_unwritable), C(invalid_argument)).
  returned: failure
  type: str
cause:
  description: Most likely reason for the failure.
  returned: failure
  type: str
fix:
  description: What to do next.
  returned: failure
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._prune import prune_controller_cache, summary


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='~/.cache/tao_fleet'),
            engine_share=dict(type='path'),
            keep_models=dict(type='list', elements='str', default=[]),
            keep_fingerprints=dict(type='list', elements='str', default=[]),
            min_age=dict(type='int', default=3600),
            partial_max_age=dict(type='int', default=604800),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = prune_controller_cache(params['path'], engine_share=params['engine_share'],
                                        keep_models=params['keep_models'],
                                        keep_fingerprints=params['keep_fingerprints'], min_age=params['min_age'],
                                        partial_max_age=params['partial_max_age'], check_mode=module.check_mode)
    except TaoFleetError as err:
        module.fail_json(**err.to_result())
    module.exit_json(msg=summary(result, module.check_mode), **result)


if __name__ == '__main__':
    main()
