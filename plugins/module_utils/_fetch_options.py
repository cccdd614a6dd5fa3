# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The options of ``tao.fleet.model_fetch``, which ``tao.fleet.engine_deploy`` takes as its ``fetch`` option
(and the action plugins check on the controller)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tao.fleet.plugins.module_utils._download import (
    DEFAULT_NGC_AUTH_URL, DEFAULT_NGC_BASE_URL, RANGE_IGNORED_CHOICES)

ARGUMENT_SPEC = dict(
    urls=dict(type='list', elements='str'),
    ngc=dict(type='str'),
    file=dict(type='str'),
    ngc_base_url=dict(type='str', default=DEFAULT_NGC_BASE_URL),
    ngc_auth_url=dict(type='str', default=DEFAULT_NGC_AUTH_URL),
    mirror_url=dict(type='str'),
    sha256=dict(type='str'),
    md5=dict(type='str'),
    checksum_url=dict(type='str'),
    api_key=dict(type='str', no_log=True),
    name=dict(type='str'),
    timeout=dict(type='int', default=30),
    retries=dict(type='int', default=3),
    max_retry_wait=dict(type='int', default=60),
    range_ignored=dict(type='str', choices=list(RANGE_IGNORED_CHOICES), default='restart'),
    validate_certs=dict(type='bool', default=True),
    ca_path=dict(type='path'),
    store=dict(type='path', default='/var/lib/tao_fleet'),
    controller_cache=dict(type='path'),
    src=dict(type='path'),
)

# AnsibleModule's checks between the options, as keyword arguments (also valid inside a suboption spec)
FETCH_CONSTRAINTS = dict(
    required_one_of=[('urls', 'ngc', 'src')],
    mutually_exclusive=[('urls', 'ngc', 'src'), ('urls', 'mirror_url'), ('checksum_url', 'sha256'),
                        ('checksum_url', 'md5'), ('src', 'checksum_url'), ('src', 'md5')],
    required_together=[('ngc', 'file')],
    required_by={'src': 'sha256'},
)
