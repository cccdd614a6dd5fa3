#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: engine_release
short_description: Switch the active TensorRT engine of a model atomically, or roll it back
description:
  - Points C(<store>/engines/<model>/active) at an engine that passed its smoke test and keeps the
    engine it replaces as C(previous), so that C(state=rolled_back) can return to it.
  - Each link is replaced by renaming a fresh temporary link over it, so at every instant
    C(active) names a complete engine; a kill in the middle of a release leaves the old or the new
    engine active, never none, and running the task again finishes the release.
  - Refuses an engine whose smoke test has not passed (see O(force)), and always refuses an engine
    whose files no longer match its manifest.
  - After the switch, keeps the newest O(keep) engines and removes older ones that no link points
    at, plus what killed builds left behind.
  - Applications load C(<store>/engines/<model>/active/model.engine) (for DeepStream,
    C(model-engine-file)).
version_added: 0.1.0
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
  diff_mode:
    support: full
    details:
      - The diff shows C(active) and C(previous) fingerprints before and after.
  idempotent:
    support: full
options:
  model:
    description:
      - Store name of the model (the directory under C(<store>/engines/)), for example C(peoplenet).
    type: str
    required: true
  fingerprint:
    description:
      - With O(state=active), the fingerprint of the engine to make active (as returned by
        C(tao.fleet.trt_engine)); required then.
      - With O(state=rolled_back), optional; when given, roll back only if this engine is the
        active one (or was already rolled back from), so that a rollout's rescue undoes only the
        release it made.
    type: str
  state:
    description:
      - V(active) makes O(fingerprint) the active engine; the engine it replaces becomes
        C(previous). Activating the engine that is already active changes nothing.
      - V(rolled_back) makes C(previous) active again and records the engine it left in
        C(rolled_back_from). A second rollback changes nothing (it does not swap back); to return
        to the engine rolled back from, activate it with O(state=active).
    type: str
    choices: [active, rolled_back]
    default: active
  force:
    description:
      - Activate an engine whose smoke test has not passed (none recorded, or failed).
      - A corrupt engine (files that do not match the manifest) is refused even with V(true).
    type: bool
    default: false
  keep:
    description:
      - How many of the newest engines of this model to keep; older ones are removed unless
        C(active), C(previous) or C(rolled_back_from) points at them.
    type: int
    default: 3
notes:
  - A kill between the link switches leaves C(previous) equal to C(active) at worst; running the
    same task again completes the release. See C(docs/engine-store.md) in the collection.
seealso:
  - module: tao.fleet.engine_smoke
    description: Records the smoke test that a release requires (unless O(force=true)).
  - module: tao.fleet.engine_consumers
    description: Writes the DeepStream and Triton files, whose stable links switch with C(active).
  - module: tao.fleet.engine_deploy
    description: Builds, tests and releases in one host call, with this module's code.
  - name: Role tao.fleet.deploy_model
    description: Role P(tao.fleet.deploy_model#role) rolls back with this module when a rollout halts (C(ansible-doc -t role
      tao.fleet.deploy_model)).
    link: https://github.com/tao-fleet/tao.fleet/tree/main/roles/deploy_model
'''

EXAMPLES = r'''
- name: Make the engine that was just built and smoke-tested active
  tao.fleet.engine_release:
    model: peoplenet
    fingerprint: "{{ engine.fingerprint }}"
    store: "{{ tao_fleet_store | default('/var/lib/tao_fleet') }}"
  register: release

- name: Undo this rollout's release on a host whose wave failed
  tao.fleet.engine_release:
    model: peoplenet
    state: rolled_back
    fingerprint: "{{ engine.fingerprint }}"

- name: Activate an engine without a passed smoke test (e.g. no test image on this host)
  tao.fleet.engine_release:
    model: peoplenet
    fingerprint: 3f5c0e1b0b1f4c39a3d4f3cfa6a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b
    force: true
    keep: 2
'''

RETURN = r'''
active:
  description: Fingerprint that C(active) points at after the task (or would, in check mode).
  returned: success
  type: str
  sample: 3f5c0e1b0b1f4c39a3d4f3cfa6a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b
active_before:
  description:
    - Fingerprint that C(active) pointed at before the task; null when no engine was active.
    - Also returned on failure once the links were read, so that a caller can tell whether its
      release had switched before it failed.
  returned: always
  type: str
  sample: 9a41d7c2e85b03f6a1c4d9e2b7f0583c6d1e4a9b2f7c0d5e8a3b6c9f1e4d7a20
previous:
  description: Fingerprint that C(previous) points at after the task; null when there is none.
  returned: success
  type: str
  sample: 9a41d7c2e85b03f6a1c4d9e2b7f0583c6d1e4a9b2f7c0d5e8a3b6c9f1e4d7a20
rolled_back_from:
  description: The engine the last rollback left; null unless the model is rolled back.
  returned: success
  type: str
removed:
  description: Fingerprints of engines removed (or that would be removed, in check mode) to keep O(keep).
  returned: success
  type: list
  elements: str
  sample: [51c8e0a7d3f94b26c1e8a5d2f9b4c7e0a3d6f1b8e5c2a9d4f7b0e3c6a1d8f5b2]
stale_removed:
  description: Leftovers of killed builds and releases that were removed (temp dirs, temp links).
  returned: success
  type: list
  elements: str
engine_path:
  description: The path applications load; it follows C(active).
  returned: success
  type: str
  sample: /var/lib/tao_fleet/engines/peoplenet/active/model.engine
msg:
  description: What the task did.
  returned: always
  type: str
error_code:
  description: Stable id of the failure (C(not_smoke_tested), C(engine_corrupt), C(engine_missing),
    C(no_previous_engine), C(store_unwritable), C(disk_full), C(store_link_invalid), C(store_busy)).
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
from ansible_collections.tao.fleet.plugins.module_utils._release import release_engine


def main():
    module = AnsibleModule(
        argument_spec=dict(
            store=dict(type='path', default='/var/lib/tao_fleet'),
            model=dict(type='str', required=True),
            fingerprint=dict(type='str'),
            state=dict(type='str', choices=['active', 'rolled_back'], default='active'),
            force=dict(type='bool', default=False),
            keep=dict(type='int', default=3),
        ),
        required_if=[('state', 'active', ['fingerprint'])],
        supports_check_mode=True,
    )
    if module.params['keep'] < 0:
        module.fail_json(msg='keep must be 0 or more, got %d.' % module.params['keep'], error_code='invalid_argument')
    seen = {}
    try:
        result, warnings = release_engine(module.params, seen, check_mode=module.check_mode, diff=module._diff)
    except TaoFleetError as err:
        module.fail_json(active_before=seen.get('active_before'), **err.to_result())
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
