# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Attribute blocks shared by every tao.fleet module (use as ``tao.fleet.attributes`` plus one of
    the ``.facts``, ``.store``, ``.sysroot``, ``.platform`` and ``.action_group`` sections)."""

    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation
        indicates no change.
'''

    PLATFORM = r'''
options: {}
attributes:
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
'''

    # Only for modules that take option store (every one but fleet_report_files): module_defaults sets
    # keys for every member of the group, so a key that one member does not accept fails its tasks.
    ACTION_GROUP = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/tao.fleet.fleet) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - tao.fleet.fleet
'''

    FACTS = r'''
options: {}
attributes:
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
'''

    STORE = r'''
options:
  store:
    description:
      - Directory where tao.fleet keeps models, engines and timing caches on the host.
      - Layout is C(<store>/models/<sha256>), C(<store>/engines/<model>/<fingerprint>/), and the
        C(active) and C(previous) links beside the fingerprints.
    type: path
    default: /var/lib/tao_fleet
'''

    SYSROOT = r'''
options:
  sysroot:
    description:
      - Read every platform file (C(/etc/nv_tegra_release), device tree, dpkg status, CUDA and cuDNN
        versions, C(/proc/meminfo)...) below this directory instead of C(/).
      - For offline images and for the simulated fleet used by the tests; leave unset on real devices.
    type: path
    default: /
'''
