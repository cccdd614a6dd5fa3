#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: model_fetch
short_description: Download a model file into the host's content-addressed store, verified and resumable
version_added: 0.1.0
description:
  - Fetches one file (a TAO C(.etlt), an C(.onnx), an INT8 calibration cache...) from a list of URLs or
    from an NGC model version, trying the sources in order, and places it at C(<store>/models/<sha256>).
  - A cut transfer is kept in C(<store>/models/.partial/) and resumed with an HTTP Range request, within
    the run (O(retries)) and by the next run. A server that ignores Range is answered per O(range_ignored).
  - The file is verified against O(sha256) (or O(md5), or the line for it in O(checksum_url)) before it is
    renamed into place, so a partial, corrupt or truncated download is never visible at a final path and
    never replaces a good file.
  - When the verified file is already in the store, no model bytes move and the task reports
    C(changed=false) with RV(bytes_transferred=0). With a pinned O(sha256) or O(md5) the
    check needs no network; O(checksum_url) is fetched on every run (it is a few hundred bytes).
  - Without any checksum the store records the source URL, ETag and Last-Modified of the download; a
    later run asks the first source that answers with a HEAD request and downloads again only when these
    differ (or the answering source is another one). This detects a changed file on the server but
    cannot detect a server that sends wrong bytes, nor a cut in a body sent without Content-Length; pin
    O(sha256) for that.
  - The NGC API key is sent only where NGC expects it and nowhere else. See O(api_key).
  - With O(controller_cache) the file is downloaded once to that directory on the controller (the
    origin sees one download per file, whatever the number of hosts) and copied to each host over its
    Ansible connection, where its sha256 is verified before it enters the store. The hosts then need no
    route to the origin (air-gapped sites), and the API key never reaches them.
  - Module code runs on Python 3.6 (JetPack 4) and newer with the standard library only.
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
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details:
      - The action plugin runs the controller half of O(controller_cache); without that option the
        module runs on the host as it is.
  check_mode:
    support: full
    details:
      - Reports whether a download would happen (and from which byte it would resume); fetches
        O(checksum_url), and sends a HEAD request when no checksum is given, but writes nothing.
      - With O(controller_cache), downloads nothing to the controller either.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  urls:
    description:
      - URLs of the file, tried in order (a local mirror first, the origin last).
      - Mutually exclusive with O(ngc).
    type: list
    elements: str
  ngc:
    description:
      - NGC model version as C(org/team/name:version) or C(org/name:version), for example
        C(nvidia/tao/peoplenet:pruned_quantized_decrypted_v2.3.4). Needs O(file).
      - Downloaded from O(ngc_base_url) through NGC's URL
        C(/v2/models/org/<org>/team/<team>/<name>/<version>/files?redirect=true&path=<file>), which NGC
        answers with a redirect to its file storage.
    type: str
  file:
    description:
      - File name inside the NGC model version, for example C(resnet34_peoplenet_int8.onnx).
    type: str
  ngc_base_url:
    description:
      - Base URL of the NGC API. Point it at a server that speaks NGC's URL shape (such as the demo
        mirror of the tests) to stand in for NGC.
    type: str
    default: https://api.ngc.nvidia.com
  ngc_auth_url:
    description:
      - NGC's token service, where a legacy API key is traded for a session token.
    type: str
    default: https://authn.nvidia.com/token
  mirror_url:
    description:
      - Base URL of a mirror that serves NGC's URL shape; tried before O(ngc_base_url). It never
        receives the API key.
      - A plain C(http://) mirror (or URL in O(urls)) is used only with O(sha256), O(md5) or O(checksum_url).
    type: str
  sha256:
    description:
      - Expected sha256 of the file, as 64 hex digits or in base64 (NGC's C(sha256_base64)).
      - The strongest pin; the cache answers without any network request.
    type: str
  md5:
    description:
      - Expected md5 (hex or base64), for sources that list nothing else. Checked besides O(sha256)
        when both are given.
    type: str
  checksum_url:
    description:
      - URL of a C(sha256sum)/C(md5sum)-format list, such as the demo mirror's C(SHA256SUMS). The line
        for this file is the one whose path equals the source's path relative to the list's directory
        (or NGC's legacy C(v2/models/<org>/<team>/<name>/versions/<version>/files/<file>) path), else
        the only line with the file's name.
      - Mutually exclusive with O(sha256) and O(md5).
    type: str
  api_key:
    description:
      - NGC API key, for private models and to avoid anonymous rate limits.
      - A personal key (C(nvapi-...)) is sent as a C(Bearer) token to the origin of
        O(ngc_base_url) only. A legacy key is sent only to O(ngc_auth_url), as HTTP Basic
        C($oauthtoken:<key>), in exchange for a session token that in turn goes only to the origin of
        O(ngc_base_url).
      - Neither goes to O(mirror_url), to other O(urls), nor along a redirect to another origin (NGC's
        file storage needs none). The key is never returned or logged.
    type: str
  name:
    description:
      - Friendly name; the module points the symlink C(<store>/models/by-name/<name>) at the file
        (replaced atomically), so that other tasks can refer to the model without its checksum.
    type: str
  timeout:
    description:
      - Seconds to wait for a connection or for the next bytes of an answer.
    type: int
    default: 30
  retries:
    description:
      - How many more times each source is tried after a cut transfer, a timeout, HTTP 429 or HTTP 5xx,
        before the next source is tried. A cut after some progress resumes at once; otherwise the wait
        doubles from 1 second (at most 10), or is what the server's C(Retry-After) asks.
    type: int
    default: 3
  max_retry_wait:
    description:
      - Longest C(Retry-After) (seconds) the module waits for; a server asking for longer counts as failed
        and the next source is tried.
    type: int
    default: 60
  range_ignored:
    description:
      - What to do when a server answers a Range request with the whole file (HTTP 200).
      - V(restart) downloads from byte 0 (the result shows RV(resumed_from=0)) and warns; V(fail) fails
        that source with C(range_ignored).
    type: str
    choices: [restart, fail]
    default: restart
  validate_certs:
    description:
      - Verify TLS certificates. Turn off only for a test server.
    type: bool
    default: true
  ca_path:
    description:
      - CA certificate(s) to trust for HTTPS sources instead of the system store, as a PEM file or a
        C(c_rehash) directory on the host.
      - With O(controller_cache), a file on the controller.
    type: path
  controller_cache:
    description:
      - Directory on the controller to download the file into (as a store of its own,
        C(<controller_cache>/models/<sha256>)), once for all hosts; each host then receives it from the
        controller and verifies its sha256 on arrival. Concurrent forks download it once (a file lock).
      - The controller's answer (which file, its sha256) is kept for the rest of the playbook run, in
        Ansible's local temp dir; later hosts do not ask for O(checksum_url) again, and all hosts of one run
        get the same file even when the origin publishes a new one during the rollout.
      - Every source option (O(urls), O(ngc), O(mirror_url), O(api_key), O(checksum_url), O(ca_path)...)
        then applies to the controller's download; the hosts get only the file and its sha256.
      - Unset, every host downloads the file itself.
    type: path
  src:
    description:
      - A file already on the host to put into the store, checked against O(sha256) (required with it)
        before it is renamed into place. Not read when the store already holds that sha256.
      - The action plugin sets it for O(controller_cache); set it yourself for a file copied by other
        means. Mutually exclusive with O(urls) and O(ngc).
    type: path
notes:
  - "Store layout: C(<store>/models/<sha256>) (the file, mode 0644), C(<store>/models/.partial/<key>) with
    C(<key>.json) (an unfinished download and the validators of its server; kept for the next run),
    C(<store>/models/.refs/) (how files fetched without a sha256 were fetched) and
    C(<store>/models/by-name/<name>)."
  - Failures name their cause and fix and carry C(error_code) - C(http_401), C(http_403), C(http_404),
    C(http_429), C(http_5xx), C(tls_error), C(unreachable), C(transfer_interrupted), C(checksum_mismatch),
    C(range_ignored), C(disk_full), C(store_unwritable), C(invalid_argument), C(checksum_not_listed),
    C(checksum_required) (a plain http source without O(sha256), O(md5) or O(checksum_url) - not asked, the next
    source is tried), C(src_missing), or C(all_sources_failed) when sources failed for different reasons (C(error_details.sources) lists each).
seealso:
  - name: NGC model catalog
    description: Model versions, files and API keys.
    link: https://catalog.ngc.nvidia.com/models
  - module: tao.fleet.trt_engine
    description: Builds the engine from the fetched file (RV(path)).
  - module: tao.fleet.engine_deploy
    description: Fetches with these options in the same host call as the build (O(tao.fleet.engine_deploy#module:fetch)).
  - module: tao.fleet.platform_facts
    description: With O(tao.fleet.platform_facts#module:store), the C(tao_store) fact that lets O(controller_cache) send the
      file without a probe.
  - name: Role tao.fleet.deploy_model
    description: Role P(tao.fleet.deploy_model#role) fetches an INT8 calibration cache with this module, and the model through
      M(tao.fleet.engine_deploy) (C(ansible-doc -t role tao.fleet.deploy_model)).
    link: https://github.com/tao-fleet/tao.fleet/tree/main/roles/deploy_model
'''

EXAMPLES = r'''
- name: Fetch PeopleNet (ONNX) from NGC through the site mirror, pinned by sha256
  tao.fleet.model_fetch:
    ngc: nvidia/tao/peoplenet:pruned_quantized_decrypted_v2.3.4
    file: resnet34_peoplenet_int8.onnx
    mirror_url: http://models.site.example:8080
    sha256: "{{ peoplenet_sha256 }}"
    name: peoplenet
  register: peoplenet

- name: A private model with an NGC API key from the vault
  tao.fleet.model_fetch:
    ngc: myorg/myteam/detector:v3
    file: detector.onnx
    api_key: "{{ vault_ngc_api_key }}"
    md5: "{{ detector_md5 }}"

- name: Plain URLs, the checksum taken from the mirror's SHA256SUMS
  tao.fleet.model_fetch:
    urls:
      - http://models.site.example:8080/v2/models/nvidia/tao/peoplenet/versions/deployable_quantized_v2.6.1/files/resnet34_peoplenet_int8.etlt
      - https://fallback.example/models/resnet34_peoplenet_int8.etlt
    checksum_url: http://models.site.example:8080/SHA256SUMS
    ca_path: /etc/ssl/certs/site-ca.pem
    store: /opt/tao_fleet
    name: peoplenet_etlt

- name: Download once to the controller, then copy to every host (air-gapped hosts, one origin download)
  tao.fleet.model_fetch:
    ngc: nvidia/tao/peoplenet:pruned_quantized_decrypted_v2.3.4
    file: resnet34_peoplenet_int8.onnx
    api_key: "{{ vault_ngc_api_key }}"
    sha256: "{{ peoplenet_sha256 }}"
    controller_cache: ~/.cache/tao_fleet
    name: peoplenet
- name: Use the file
  ansible.builtin.debug:
    msg: "{{ peoplenet.path }} ({{ peoplenet.size }} bytes, {{ peoplenet.bytes_transferred }} moved)"
'''

RETURN = r'''
path:
  description: The verified file, C(<store>/models/<sha256>). In check mode, where it would be (null
    when its sha256 is not known yet).
  returned: success
  type: str
  sample: /var/lib/tao_fleet/models/3f0c1e6f4d9a2b5c8e7d6a1b0c9f8e7d6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d
sha256:
  description: sha256 of the file (hex).
  returned: success
  type: str
  sample: 3f0c1e6f4d9a2b5c8e7d6a1b0c9f8e7d6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d
md5:
  description: md5 of the file (hex) when O(md5) or an md5 list was checked, else null.
  returned: success
  type: str
  sample: d41e6b0c8f2a93e5b7c1d4f6a8e0b2c9
size:
  description: Size of the file in bytes.
  returned: success
  type: int
  sample: 89123456
source:
  description: The source (from O(urls), or the mirror or NGC URL) that served the file, without
    credentials; null when the file came from the cache.
  returned: success
  type: str
  sample: http://models.site.example:8080/v2/models/org/nvidia/team/tao/peoplenet/v2.3.4/files?redirect=true&path=model.onnx
bytes_transferred:
  description: Bytes of the file received in this run, across all attempts and sources. 0 on a cache
    hit; the remainder only when a partial file was resumed. With O(controller_cache), the bytes the
    host received from the controller.
  returned: success
  type: int
  sample: 35649382
resumed_from:
  description: Byte offset at which the answer that completed the file began (0 when it came whole, or
    when a server ignored Range). In check mode, the offset a download would resume from.
  returned: success
  type: int
  sample: 53474074
cache_hit:
  description: Whether the verified file was already in the store.
  returned: success
  type: bool
  sample: false
checksum_from:
  description: Where the expected checksum came from - C(sha256), C(md5), the O(checksum_url), or
    C(none).
  returned: success
  type: str
  sample: sha256
link:
  description: The C(by-name) symlink, when O(name) is set.
  returned: when O(name) is set
  type: str
  sample: /var/lib/tao_fleet/models/by-name/peoplenet
attempts:
  description: Every request made for the file, in order (HEAD requests revalidate a cache without
    checksum).
  returned: success
  type: list
  elements: dict
  contains:
    source:
      description: The source URL, without credentials.
      type: str
    method:
      description: C(GET) or C(HEAD).
      type: str
    range_start:
      description: First byte asked for (0 = whole file).
      type: int
    status:
      description: HTTP status of the final answer, null when none came.
      type: int
    bytes:
      description: Bytes of the file received in this attempt.
      type: int
    error:
      description: Error code when the attempt failed.
      type: str
  sample:
    - {"source": "http://models.site.example:8080/v2/models/org/nvidia/team/tao/peoplenet/v2.3.4/files?redirect=true&path=model.onnx",
       "method": "GET", "range_start": 0, "status": 200, "bytes": 53474074, "error": "transfer_interrupted"}
    - {"source": "http://models.site.example:8080/v2/models/org/nvidia/team/tao/peoplenet/v2.3.4/files?redirect=true&path=model.onnx",
       "method": "GET", "range_start": 53474074, "status": 206, "bytes": 35649382, "error": null}
controller:
  description: With O(controller_cache), the controller's download - C(path), C(sha256), C(size),
    C(source) (the origin URL, null on a cache hit), C(bytes_transferred) (bytes from the origin in this
    task, 0 when another host's task or an earlier run already downloaded it), C(cache_hit),
    C(run_memo) (true when an earlier host of this playbook run had the controller's answer, so the checksum list
    was not asked for again and the cached file, unchanged since, not hashed again; every host of one run gets
    the same file), and C(probe_skipped) (the host's C(tao_store) fact, from M(tao.fleet.platform_facts) with
    C(store), said its store lacks the file, so it was copied without first asking the host).
  returned: when O(controller_cache) is set
  type: dict
msg:
  description: In check mode, what a run would do.
  returned: in check mode when a download would happen
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tao.fleet.plugins.module_utils._secrets import protect
from ansible_collections.tao.fleet.plugins.module_utils._download import FetchSpec, fetch_model
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._fetch_options import ARGUMENT_SPEC, FETCH_CONSTRAINTS


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        **FETCH_CONSTRAINTS
    )
    protect(module)   # secrets inside options that are not no_log (issue 16, row 6)
    if module.params['controller_cache']:
        module.fail_json(msg='controller_cache reached the module on the host: it is handled by the '
                             'tao.fleet.model_fetch action plugin on the controller.',
                         cause='the task was not run through the collection\'s action plugin (a renamed '
                               'module or a module run by another tool)',
                         fix='Call the module as tao.fleet.model_fetch in a playbook, or drop controller_cache.',
                         error_code='invalid_argument')
    params = dict((key, module.params[key]) for key in ARGUMENT_SPEC if key != 'controller_cache')
    try:
        result, warnings = fetch_model(FetchSpec(**params), check_mode=module.check_mode)
    except TaoFleetError as err:
        module.fail_json(**err.to_result())
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
