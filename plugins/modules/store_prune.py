#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: store_prune
short_description: Remove engines and models a host's tao.fleet store no longer needs
description:
  - Removes, per model, the engines that no link names (C(active), C(previous), C(rolled_back_from)) beyond
    the newest O(keep), with the same cleanup a release runs, and what killed builds left.
  - Removes model files (C(<store>/models/<sha256>)) that no kept engine was built from, that no
    C(by-name) link and no deployment record names, and that are older than O(min_age); and partial
    downloads older than O(partial_max_age).
  - A model named in O(retire) is removed whole, its C(active) engine included, with its deployment record
    and C(by-name) link. Applications that load its C(active) engine stop finding it.
  - Never follows a link below the store. Directories are renamed out of sight before they are deleted, so
    a kill leaves only C(.trash-*) names, which the next prune or release removes.
  - Returns what the host keeps (RV(kept)), so that M(tao.fleet.cache_prune) can keep the same on the
    controller.
version_added: 0.2.0
author:
  - tao.fleet contributors (@tao-fleet)
requirements:
  - Python 3.6 or newer on the host (standard library only)
extends_documentation_fragment:
  - tao.fleet.attributes
  - tao.fleet.attributes.store
  - tao.fleet.attributes.platform
  - tao.fleet.attributes.action_group
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
  keep:
    description:
      - How many engines per model to keep beside those a link names; V(0) keeps only C(active),
        C(previous) and C(rolled_back_from), so a rollback still works.
    type: int
    default: 0
  retire:
    description:
      - Models (store names, such as C(peoplenet)) to remove whole, their active engine included.
      - A name the store does not hold is ignored.
    type: list
    elements: str
    default: []
  min_age:
    description:
      - Seconds a model file must be old before it is removed; a deployment running now may have fetched it
        and not built its engine yet.
    type: int
    default: 3600
  partial_max_age:
    description:
      - Seconds after which an unfinished download is removed; younger ones resume on the next fetch.
    type: int
    default: 604800
notes:
  - The timing caches (C(<store>/timing_cache)) are left alone; they are small and speed up the next build.
  - DeepStream and Triton files written outside the store are left alone, also for a retired model.
seealso:
  - module: tao.fleet.cache_prune
    description: Prunes the controller's model cache and engine share down to what the hosts keep.
  - module: tao.fleet.engine_release
    description: Runs the same engine cleanup after each release, keeping its own O(tao.fleet.engine_release#module:keep).
'''

EXAMPLES = r'''
- name: Remove what no link and no kept engine needs
  tao.fleet.store_prune:
    store: /var/lib/tao_fleet
  register: pruned

- name: Retire a model this host no longer runs, keeping one spare engine of the others
  tao.fleet.store_prune:
    retire: [dashcamnet]
    keep: 1

- name: See what would go, changing nothing
  tao.fleet.store_prune:
  check_mode: true
'''

RETURN = r'''
engines:
  description: Per model, the fingerprints removed (or that would be, in check mode) and kept, and the leftovers
    of killed builds removed.
  returned: success
  type: dict
  sample: {peoplenet: {removed: [], kept: [3f5c0e1b0b1f4c39a3d4f3cfa6a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b],
    stale_removed: []}}
retired:
  description: Models removed whole (O(retire) names the store held).
  returned: success
  type: list
  elements: str
models:
  description: The sha256 of model files removed and kept.
  returned: success
  type: dict
  sample: {removed: [], kept: [5b3c8d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c]}
partial_removed:
  description: Unfinished downloads removed.
  returned: success
  type: list
  elements: str
freed_bytes:
  description: Bytes removed (or that would be).
  returned: success
  type: int
  sample: 41943040
kept:
  description: The model sha256s and engine fingerprints this host keeps, for M(tao.fleet.cache_prune).
  returned: success
  type: dict
  sample: {models: [5b3c8d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c],
    engines: [3f5c0e1b0b1f4c39a3d4f3cfa6a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b]}
msg:
  description: What the task did.
  returned: always
  type: str
error_code:
  description: Stable id of the failure (C(store_unwritable), C(store_busy), C(store_name_invalid),
    C(invalid_argument)).
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
from ansible_collections.tao.fleet.plugins.module_utils._prune import prune_store, summary


def main():
    module = AnsibleModule(
        argument_spec=dict(
            store=dict(type='path', default='/var/lib/tao_fleet'),
            keep=dict(type='int', default=0),
            retire=dict(type='list', elements='str', default=[]),
            min_age=dict(type='int', default=3600),
            partial_max_age=dict(type='int', default=604800),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = prune_store(params['store'], keep=params['keep'], retire=params['retire'],
                             min_age=params['min_age'], partial_max_age=params['partial_max_age'],
                             check_mode=module.check_mode)
    except TaoFleetError as err:
        module.fail_json(**err.to_result())
    module.exit_json(msg=summary(result, module.check_mode), **result)


if __name__ == '__main__':
    main()
