# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Stage 1: fetch one model file into the host's content-addressed store.

Sources (URLs, or an NGC reference with an optional mirror in front) are tried in order. A cut transfer
resumes with an HTTP Range request from the partial file kept in ``<store>/models/.partial/``; the file is
checked against its sha256 (or md5) before it is renamed to ``<store>/models/<sha256>``, so nothing
unverified is ever visible at a final path. An NGC API key is sent only to NGC's token service and its
session token only to the NGC API origin, never to a mirror and never across a redirect to another origin.

Standard library only, Python 3.6+; raises TaoFleetError and never imports Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import time
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

from ansible_collections.tao.fleet.plugins.module_utils._atomic import (
    open_no_follow, read_json, real_dir, symlink_refused, write_file)
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError

DEFAULT_NGC_BASE_URL = 'https://api.ngc.nvidia.com'
DEFAULT_NGC_AUTH_URL = 'https://authn.nvidia.com/token'
NGC_PERSONAL_KEY_PREFIX = 'nvapi-'
NGC_TOKEN_USER = '$oauthtoken'
CHUNK_SIZE = 64 * 1024
MAX_REDIRECTS = 10
MAX_BACKOFF_SECONDS = 10
USER_AGENT = 'tao.fleet-model_fetch/1'
REDIRECT_CODES = (301, 302, 303, 307, 308)
RANGE_IGNORED_CHOICES = ('restart', 'fail')
NAME_PATTERN = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
NGC_REF_PATTERN = re.compile(
    r'^(?P<org>[A-Za-z0-9_.-]+)/(?:(?P<team>[A-Za-z0-9_.-]+)/)?(?P<name>[A-Za-z0-9_.-]+)'
    r':(?P<version>[A-Za-z0-9_.+-]+)$')
# header numbers: ASCII digits only (str.isdigit() also takes '²', which int() refuses) and at most 18 of
# them (below 2**63; int() of thousands of digits is slow, and refused from Python 3.11 on)
HEADER_NUMBER_PATTERN = re.compile(r'[0-9]{1,18}\Z')
CONTENT_RANGE_PATTERN = re.compile(r'bytes[ \t]+(?:([0-9]{1,18})-([0-9]{1,18})|\*)/([0-9]{1,18}|\*)\Z')
STORE_DENIED_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)

CAUSES = {
    'http_401': 'the server wants credentials that were not given or were rejected',
    'http_403': 'access to the file is denied (for NGC: a private model, or a key without access to it)',
    'http_404': 'the file is not at that URL (for NGC: wrong org/team/name, version or file name, or a '
                'private model asked for without a key)',
    'http_429': 'the server limits how often it may be asked',
    'http_5xx': 'the server failed to answer',
    'http_error': 'the server answered in an unexpected way',
    'tls_error': 'the server\'s TLS certificate could not be verified (self-signed or private CA, another '
                 'host name, or a wrong clock on the device)',
    'unreachable': 'the server could not be reached (refused, no route, name not resolved, or no answer '
                   'in time)',
    'transfer_interrupted': 'the connection dropped before the whole file arrived',
    'checksum_mismatch': 'the bytes received differ from the expected checksum (corrupt copy on the server, '
                         'a wrong pin, or a changed file)',
    'range_ignored': 'the server cannot resume a download (it ignores Range)',
    'redirect_loop': 'the server redirects in circles',
    'redirect_refused': 'the server redirects to a URL that is not http(s), or from https to plain http',
    'ngc_auth_failed': 'NGC\'s token service did not hand out a session token',
    'checksum_required': 'a plain http source was given no checksum: anyone on the network between the device '
                         'and that server could send other bytes, and nothing would tell',
}

FIXES = {
    'http_401': 'Give api_key (an NGC API key with read access to this model), and check that it has not '
                'expired or been revoked (NGC > Setup > API Keys).',
    'http_403': 'For NGC: the model is private or the key lacks access; give api_key from an account in the '
                'model\'s org/team. For a mirror: check its access rules for this path.',
    'http_404': 'Check the URL, or the NGC reference (org/team/name:version) and file name; '
                '`ngc registry model list <org>/<team>/<name>:*` lists versions, and NGC also answers 404 '
                'for a private model when no key is given.',
    'http_429': 'The server is rate-limiting: run again later, raise max_retry_wait, or serve the fleet '
                'from a mirror (mirror_url) so that NGC sees one download instead of one per host.',
    'http_5xx': 'The server failed: run again later, or list a mirror first (mirror_url or another URL in '
                'urls).',
    'http_error': 'Check the URL and the server.',
    'tls_error': 'If the server uses a private CA, set ca_path to its certificate (PEM file or c_rehash '
                 'directory); check the device clock; validate_certs=false only for a test server.',
    'unreachable': 'Check the host name, port, routes and proxy (https_proxy/no_proxy) from the device, and '
                   'that the server is up; raise timeout on slow links.',
    'transfer_interrupted': 'Run again: the partial file is kept and the next run resumes it with a Range '
                            'request; raise retries or timeout on flaky links.',
    'checksum_mismatch': 'The server sent other bytes than the checksum names: check the pinned sha256/md5 '
                         'against the model card, or let another mirror serve it; a corrupt mirror copy '
                         'must be replaced there.',
    'range_ignored': 'The server does not resume (it ignores Range): set range_ignored=restart to accept a '
                     'full download, or use a server that supports Range.',
    'redirect_loop': 'Check the server\'s redirects (more than %d hops).' % MAX_REDIRECTS,
    'redirect_refused': 'Downloads follow redirects only to http(s) URLs and never from https to http: fix the '
                        'server\'s redirect, or give the final https URL (urls / mirror_url) directly.',
    'ngc_auth_failed': 'Check ngc_auth_url and that NGC\'s token service is reachable from the device.',
    'checksum_required': 'Pin the file\'s sha256 (the catalog entry\'s sha256, deploy_model_sha256 or sha256), '
                         'give checksum_url, or serve the file over https.',
}


# -- small pure helpers -----------------------------------------------------------------------------

def redact_url(url):
    """The URL without ``user:password@`` (URLs are returned and logged; credentials never are)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ''
    if ':' in host:
        host = '[%s]' % host
    netloc = host if parts.port is None else '%s:%d' % (host, parts.port)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def plain_http(url):
    """Whether ``url`` is plain http, where only a checksum known beforehand proves the bytes."""
    return urlsplit(url).scheme.lower() == 'http'


def url_origin(url):
    """(scheme, host, port): the unit a credential belongs to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {'http': 80, 'https': 443}.get(scheme)
    return scheme, (parts.hostname or '').lower(), port


def _host_port(url):
    scheme, host, port = url_origin(url)
    return '%s:%s' % (host, port)


def normalize_digest(value, algorithm):
    """Lower-case hex digest from hex or base64 (NGC lists ``sha256_base64``); TaoFleetError if invalid."""
    hex_length = {'sha256': 64, 'md5': 32}[algorithm]
    text = value.strip()
    if text.lower().startswith(algorithm + ':'):
        text = text[len(algorithm) + 1:]
    if re.match(r'^[0-9a-fA-F]{%d}$' % hex_length, text):
        return text.lower()
    try:
        raw = base64.b64decode(text.encode('ascii'), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raw = b''
    if len(raw) == hex_length // 2:
        return binascii.hexlify(raw).decode('ascii')
    raise TaoFleetError(
        'The %s checksum %r is neither %d hex digits nor its base64 form.' % (algorithm, value, hex_length),
        cause='the value was mistyped or belongs to another algorithm',
        fix='Copy the %s from the model card, SHA256SUMS or NGC file list (sha256_base64 is accepted too).'
            % algorithm,
        code='invalid_argument')


def parse_checksum_list(text):
    """(hex digest, path) pairs from ``sha256sum``/``md5sum`` output (text or ``*binary`` marker)."""
    entries = []
    for line in text.splitlines():
        line = line.strip()
        match = re.match(r'^([0-9a-fA-F]{32}|[0-9a-fA-F]{64})\s+\*?(.+)$', line)
        if match:
            path = match.group(2).strip()
            while path.startswith('./'):
                path = path[2:]
            entries.append((match.group(1).lower(), path))
    return entries


def select_checksum(entries, candidate_paths, file_name):
    """The (algorithm, hex) for this file: an entry whose path equals a candidate, else the only entry
    whose base name equals the file name; None when nothing or more than one entry fits."""
    candidates = [p.lstrip('/') for p in candidate_paths]
    for digest, path in entries:
        if path in candidates:
            return _algorithm_of(digest), digest
    by_name = set((digest, path) for digest, path in entries if path.rsplit('/', 1)[-1] == file_name)
    if len(set(digest for digest, _path in by_name)) == 1:
        digest = next(iter(by_name))[0]
        return _algorithm_of(digest), digest
    return None


def _algorithm_of(digest):
    return 'sha256' if len(digest) == 64 else 'md5'


def header_number(value):
    """The number of a header such as Content-Length: ASCII digits only, at most 18 of them; None for an
    absent or any other value (the caller then treats it as unknown), never an exception."""
    if not isinstance(value, str):
        return None
    value = value.strip(' \t')
    return int(value) if HEADER_NUMBER_PATTERN.match(value) else None


def _parse_content_range(value):
    """(first byte or None, total or None) of a Content-Range header."""
    match = CONTENT_RANGE_PATTERN.match((value or '').strip(' \t') if isinstance(value, str) else '')
    if not match:
        return None, None
    first = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(3)) if match.group(3) != '*' else None
    return first, total


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _available_bytes(path):
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def _human(size):
    if size is None:
        return 'unknown'
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if size < 1024 or unit == 'GiB':
            return '%d %s' % (size, unit) if unit == 'B' else '%.1f %s' % (size, unit)
        size /= 1024.0


def file_digests(path, want_md5=False):
    """(sha256 hex, md5 hex or None, size) of a file."""
    sha256 = hashlib.sha256()
    md5 = _new_md5() if want_md5 else None
    size = 0
    with open(path, 'rb') as handle:
        while True:
            block = handle.read(1 << 20)
            if not block:
                break
            sha256.update(block)
            if md5 is not None:
                md5.update(block)
            size += len(block)
    return sha256.hexdigest(), (md5.hexdigest() if md5 is not None else None), size


def _new_md5():
    # md5 checks integrity only (NGC's legacy listings); FIPS builds refuse a plain md5().
    try:
        return hashlib.md5(usedforsecurity=False)  # novermin (3.9+; the TypeError branch serves 3.6-3.8)
    except TypeError:
        return hashlib.md5()


# -- what to fetch ----------------------------------------------------------------------------------

class NgcRef(object):
    """``org/team/name:version`` (or ``org/name:version``) plus the file within that version."""

    def __init__(self, text, file_name):
        match = NGC_REF_PATTERN.match(text or '')
        if not match:
            raise TaoFleetError(
                'NGC reference %r is not org/team/name:version.' % text,
                cause='the reference lacks a version or has characters NGC does not use',
                fix='Write it as NGC shows it, e.g. nvidia/tao/peoplenet:pruned_quantized_decrypted_v2.3.4.',
                code='invalid_argument')
        if not file_name or file_name.startswith('/') or '..' in file_name.split('/'):
            raise TaoFleetError(
                'NGC file name %r is not a relative path inside the model version.' % file_name,
                cause='file must name one file of the version, e.g. resnet34_peoplenet_int8.onnx',
                fix='Set file to a name from `ngc registry model info --files <reference>`.',
                code='invalid_argument')
        self.org = match.group('org')
        self.team = match.group('team')
        self.name = match.group('name')
        self.version = match.group('version')
        self.file = file_name

    def __str__(self):
        team = '%s/' % self.team if self.team else ''
        return '%s/%s%s:%s' % (self.org, team, self.name, self.version)

    def api_path(self):
        """NGC's current download path; NGC answers it with a redirect to its file storage."""
        team = 'team/%s/' % self.team if self.team else ''
        return '/v2/models/org/%s/%s%s/%s/files?%s' % (
            self.org, team, self.name, self.version, urlencode([('redirect', 'true'), ('path', self.file)]))

    def legacy_path(self):
        team = '%s/' % self.team if self.team else ''
        return '/v2/models/%s/%s%s/versions/%s/files/%s' % (
            self.org, team, self.name, self.version, quote(self.file))

    def token_scopes(self):
        scopes = ['group/ngc:%s' % self.org]
        if self.team:
            scopes.append('group/ngc:%s/%s' % (self.org, self.team))
        return scopes


class Source(object):
    """One place to try. ``kind`` is ``url``, ``mirror`` (never gets the API key) or ``ngc``.
    ``user:password@`` in the URL becomes HTTP Basic auth for that URL's origin only."""

    def __init__(self, url, kind):
        self.kind = kind
        self.display = redact_url(url)
        parts = urlsplit(url)
        self.basic = None
        if parts.username is not None:
            self.basic = 'Basic %s' % base64.b64encode(('%s:%s' % (
                unquote(parts.username), unquote(parts.password or ''))).encode('utf-8')).decode('ascii')


class FetchSpec(object):
    """Validated options of one fetch (the module's arguments, minus Ansible)."""

    def __init__(self, store, urls=None, ngc=None, file=None, ngc_base_url=DEFAULT_NGC_BASE_URL,
                 ngc_auth_url=DEFAULT_NGC_AUTH_URL, mirror_url=None, sha256=None, md5=None, checksum_url=None,
                 api_key=None, name=None, timeout=30, retries=3, max_retry_wait=60, range_ignored='restart',
                 validate_certs=True, ca_path=None, src=None):
        if src is not None:
            if urls or ngc or checksum_url or md5 or not sha256:
                raise _invalid('src (a file already on the host) takes sha256 and no urls, ngc, checksum_url '
                               'or md5.')
        elif bool(urls) == bool(ngc):
            raise _invalid('Give either urls or ngc (with file), not %s.' % ('both' if urls else 'neither'))
        if not store or not os.path.isabs(store):
            raise _invalid('store %r must be an absolute path.' % (store,))
        if name is not None and not NAME_PATTERN.match(name):
            raise _invalid('name %r may hold only letters, digits, ".", "_" and "-" (no "/").' % name)
        if timeout <= 0 or retries < 0 or max_retry_wait < 0:
            raise _invalid('timeout must be > 0, retries and max_retry_wait >= 0.')
        if range_ignored not in RANGE_IGNORED_CHOICES:
            raise _invalid('range_ignored must be one of %s.' % ', '.join(RANGE_IGNORED_CHOICES))
        if ca_path is not None and not os.path.exists(ca_path):
            raise TaoFleetError('ca_path %s does not exist on this host.' % ca_path,
                                cause='the CA certificate was not copied to the device',
                                fix='Copy the PEM file (or c_rehash directory) to the host first, then '
                                    'point ca_path at it.', code='invalid_argument')
        for url in list(urls or []) + [u for u in (ngc_base_url, ngc_auth_url, mirror_url, checksum_url) if u]:
            if urlsplit(url).scheme not in ('http', 'https') or not urlsplit(url).hostname:
                raise _invalid('%s is not an http:// or https:// URL.' % redact_url(url))
        self.store = store
        self.ngc = NgcRef(ngc, file) if ngc else None
        self.ngc_base_url = ngc_base_url.rstrip('/')
        self.ngc_auth_url = ngc_auth_url
        self.sha256 = normalize_digest(sha256, 'sha256') if sha256 else None
        self.md5 = normalize_digest(md5, 'md5') if md5 else None
        self.checksum_url = checksum_url
        self.api_key = api_key or None
        self.name = name
        self.timeout = timeout
        self.retries = retries
        self.max_retry_wait = max_retry_wait
        self.range_ignored = range_ignored
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.src = src
        if src is not None:
            self.sources = []
            self.file_name = os.path.basename(src) or 'model'
            self.identity = 'file:%s' % src
        elif self.ngc:
            self.sources = []
            if mirror_url:
                self.sources.append(Source(mirror_url.rstrip('/') + self.ngc.api_path(), 'mirror'))
            ngc_source = Source(self.ngc_base_url + self.ngc.api_path(), 'ngc')
            # a mirror that is also the NGC base (an air-gapped site, the demo fleet) is asked twice only when the
            # second request differs: NGC's carries the API key, the mirror's never does
            if not (self.sources and self.sources[0].display == ngc_source.display and not self.api_key):
                self.sources.append(ngc_source)
            self.file_name = self.ngc.file.rsplit('/', 1)[-1]
            self.identity = 'ngc:%s/%s' % (self.ngc, self.ngc.file)
        else:
            if mirror_url:
                raise _invalid('mirror_url goes with ngc; with urls, list the mirror first in urls.')
            self.sources = [Source(url, 'url') for url in urls]
            self.file_name = urlsplit(urls[0]).path.rsplit('/', 1)[-1] or 'model'
            self.identity = 'url:%s' % redact_url(urls[0])

    def checksum_candidates(self):
        """Paths a checksum list may use for this file (relative to the list's directory)."""
        base = self.checksum_url.rsplit('/', 1)[0] + '/'
        base_path = urlsplit(base).path
        paths = [urlsplit(source.display).path for source in self.sources
                 if url_origin(source.display) == url_origin(base)]
        if self.ngc:
            paths += [self.ngc.legacy_path(), self.ngc.file]
        return [p[len(base_path):] if p.startswith(base_path) else p for p in paths]


def _invalid(msg):
    return TaoFleetError(msg, cause='the task arguments contradict each other or are malformed',
                         fix='Correct the model_fetch arguments (see ansible-doc tao.fleet.model_fetch).',
                         code='invalid_argument')


# -- a failed source --------------------------------------------------------------------------------

class _SourceFailure(Exception):
    """One source failed; the next one is tried. ``retryable`` failures are retried on the same source."""

    def __init__(self, code, reason, retryable=False, wait=None, cause=None):
        super(_SourceFailure, self).__init__(reason)
        self.code = code
        self.reason = reason
        self.retryable = retryable
        self.wait = wait
        self.cause = cause


# -- the partial file -------------------------------------------------------------------------------

class PartialFile(object):
    """``<store>/models/.partial/<key>``: bytes received so far, their running digests, and a sidecar
    JSON with the validators (ETag, Last-Modified) of the server they came from."""

    def __init__(self, path, want_md5):
        self.path = path
        self.meta_path = path + '.json'
        self.want_md5 = want_md5
        self.meta = read_json(self.meta_path) or {}
        self._start_digests()
        # never through a link planted at the partial's name: root would append to (and later chmod and
        # rename) whatever it points at
        self.handle = os.fdopen(open_no_follow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), 'ab')
        info = os.fstat(self.handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            self.handle.close()
            raise OSError(errno.EINVAL, 'not a regular file')
        if info.st_size:
            with os.fdopen(open_no_follow(path, os.O_RDONLY), 'rb') as existing:
                for block in iter(lambda: existing.read(1 << 20), b''):
                    self._update(block)

    def _start_digests(self):
        # Which source wrote byte 0 in this run (None: an earlier run did), so that a checksum
        # mismatch after a resume can blame the inherited prefix rather than the source.
        self.first_writer = None
        self.sha256 = hashlib.sha256()
        self.md5 = _new_md5() if self.want_md5 else None
        self.size = 0

    def _update(self, block):
        self.sha256.update(block)
        if self.md5 is not None:
            self.md5.update(block)
        self.size += len(block)

    def append(self, block):
        self.handle.write(block)
        self._update(block)

    def reset(self):
        self.handle.seek(0)
        self.handle.truncate(0)
        self._start_digests()
        self.meta = {}

    def save_meta(self, url, etag, last_modified, total):
        self.meta = {'url': url, 'etag': etag, 'last_modified': last_modified, 'total': total}
        write_file(self.meta_path, json.dumps(self.meta, sort_keys=True).encode('utf-8'))

    def sync(self):
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self):
        if not self.handle.closed:
            self.handle.close()

    def discard(self):
        try:
            self.close()
        except OSError:
            pass  # the flush of a file being thrown away failed (ENOSPC): nothing to keep
        for path in (self.path, self.meta_path):
            try:
                os.unlink(path)
            except OSError as err:
                if err.errno != errno.ENOENT:
                    raise


class _LocalSource(object):
    """A file already on the host, as the source of a published file."""

    def __init__(self, path):
        self.display = path
        self.kind = 'file'


# -- the fetch --------------------------------------------------------------------------------------

class ModelFetcher(object):
    """One run of model_fetch. ``run()`` returns the module result (without ``warnings``, which are kept
    in ``self.warnings`` for the module to emit)."""

    def __init__(self, spec, sleep=time.sleep):
        self.spec = spec
        self.sleep = sleep
        self._net = None
        self.http = None
        self.credentials = None
        self.models_dir = os.path.join(spec.store, 'models')
        self.partial_dir = os.path.join(self.models_dir, '.partial')
        self.refs_dir = os.path.join(self.models_dir, '.refs')
        self.warnings = []
        self.attempts = []
        self.bytes_transferred = 0
        self.resumed_from = 0

    def _network(self):
        """The HTTP side (``_http``), imported when the first URL is opened: a cache hit or a file copied
        from the controller costs the host none of its imports."""
        if self._net is None:
            from ansible_collections.tao.fleet.plugins.module_utils import _http
            self.http = _http.HttpClient(self.spec.timeout, self.spec.validate_certs, self.spec.ca_path)
            self.credentials = _http.NgcCredentials(self.spec, self.http)
            self._net = _http
        return self._net

    # -- entry point ------------------------------------------------------------------------------
    def run(self, check_mode=False):
        sha256, md5, checksum_from = self._expected_digests()
        key = sha256 or ('md5-%s' % md5 if md5 else 'src-%s' % hashlib.sha256(
            self.spec.identity.encode('utf-8')).hexdigest()[:40])
        ref_path = None if sha256 else os.path.join(self.refs_dir, key + '.json')
        hit = self._cache_hit(sha256, md5, ref_path)
        if hit is None and check_mode:
            return self._would_download(sha256, key)
        if hit is None:
            hit = self._download_locked(sha256, md5, key, ref_path)
        result = hit
        result['checksum_from'] = checksum_from
        link_changed = self._link_name(result['sha256'], check_mode) if self.spec.name else False
        if self.spec.name:
            result['link'] = self._link_path()
        result['changed'] = bool(result.pop('file_changed', False) or link_changed)
        result['bytes_transferred'] = self.bytes_transferred
        result['resumed_from'] = self.resumed_from
        result['attempts'] = self.attempts
        return result

    # -- expected checksum --------------------------------------------------------------------------
    def _expected_digests(self):
        spec = self.spec
        if not spec.checksum_url:
            origin = 'sha256' if spec.sha256 else ('md5' if spec.md5 else 'none')
            return spec.sha256, spec.md5, origin
        text = self._fetch_small(spec.checksum_url)
        selected = select_checksum(parse_checksum_list(text), spec.checksum_candidates(), spec.file_name)
        if selected is None:
            raise TaoFleetError(
                'The checksum list %s has no single entry for %s.' % (
                    redact_url(spec.checksum_url), spec.file_name),
                cause='the list names other files, or several files with this name in different folders',
                fix='Point checksum_url at the list that covers this file, or pin sha256 directly.',
                code='checksum_not_listed')
        algorithm, digest = selected
        if algorithm == 'sha256':
            return digest, None, redact_url(spec.checksum_url)
        return None, digest, redact_url(spec.checksum_url)

    def _fetch_small(self, url):
        """A checksum list (small): every failure is final, with the same causes as a model source."""
        net = self._network()
        # as a model source: ``user:password@`` becomes Basic auth for that origin only, and the request goes
        # to the URL without it (issue 16, row 14: with it in the URL the request never worked)
        source = Source(url, 'url')
        url = source.display
        try:
            response, _final_url = self.http.open(url, {}, 'GET', self.credentials.for_source(source))
            with response:
                return response.read(1 << 20).decode('utf-8', 'replace')
        except _SourceFailure as failure:
            raise self._all_failed([(url, failure)], 'the checksum list')
        except net.REQUEST_ERRORS as exc:
            raise self._all_failed([(url, net.classify(exc, url, source.kind))], 'the checksum list')

    # -- cache ------------------------------------------------------------------------------------
    def _final_path(self, sha256):
        return os.path.join(self.models_dir, sha256)

    def _cache_hit(self, sha256, md5, ref_path):
        """Result dict when the store already holds the verified file, else None."""
        record = None
        if sha256 is None:
            if not self._real_dir(self.refs_dir, create=False):
                return None
            record = read_json(ref_path)
            if not record or 'sha256' not in record:
                return None
            if md5 is not None and record.get('md5') != md5:
                return None
            sha256 = record['sha256']
        path = self._final_path(sha256)
        if not self._real_dir(self.models_dir, create=False):
            return None
        if _regular_size(path) is None:
            return None
        got_sha256, got_md5, size = file_digests(path, want_md5=md5 is not None)
        if got_sha256 != sha256 or (md5 is not None and got_md5 != md5):
            warning = ('Cached file %s does not match its checksum (disk corruption?): it will be downloaded '
                       'again and replaced.' % path)
            if warning not in self.warnings:
                self.warnings.append(warning)
            return None
        if md5 is None and record is not None and not self._still_current(record):
            return None
        return {'path': path, 'sha256': sha256, 'md5': got_md5, 'size': size, 'cache_hit': True,
                'source': None, 'file_changed': False}

    def _still_current(self, record):
        """No checksum given: ask the sources (HEAD) whether the recorded download is still current.
        The first source that answers decides; same source URL and same strong ETag (or same
        Last-Modified and length) means current. When none answers (or HEAD is refused), the file is
        downloaded again, and that download reports what is wrong with each source."""
        net = self._network()
        for source in self.spec.sources:
            attempt = {'source': source.display, 'method': 'HEAD', 'range_start': None, 'status': None,
                       'bytes': 0}
            self.attempts.append(attempt)
            try:
                response, _final_url = self.http.open(source.display, {}, 'HEAD',
                                                      self.credentials.for_source(source))
            except _SourceFailure as failure:
                attempt['error'] = failure.code
                continue
            except net.REQUEST_ERRORS as exc:
                attempt['error'] = net.classify(exc, source.display, source.kind).code
                continue
            with response:
                attempt['status'] = response.getcode()
                etag = response.headers.get('ETag')
                last_modified = response.headers.get('Last-Modified')
                length = response.headers.get('Content-Length')
            if source.display != record.get('url'):
                return False
            if etag and not etag.startswith('W/') and etag == record.get('etag'):
                return True
            return bool(last_modified and last_modified == record.get('last_modified')
                        and header_number(length) is not None and header_number(length) == record.get('size'))
        return False

    def _would_download(self, sha256, key):
        offset = _regular_size(os.path.join(self.partial_dir, key)) or 0
        if self.spec.src is not None:
            action = 'would copy %s into the store from %s' % (self.spec.file_name, self.spec.src)
        else:
            action = 'would download %s, trying %s first%s' % (
                self.spec.file_name, self.spec.sources[0].display, ', resuming at byte %d' % offset if offset else '')
        return {
            'changed': True, 'cache_hit': False, 'path': self._final_path(sha256) if sha256 else None,
            'sha256': sha256, 'md5': None, 'size': None, 'source': None, 'bytes_transferred': 0,
            'resumed_from': offset, 'attempts': self.attempts,
            'link': self._link_path() if self.spec.name else None,
            'msg': action,
        }

    # -- download ---------------------------------------------------------------------------------
    def _download_locked(self, sha256, md5, key, ref_path):
        for directory in (self.models_dir, self.partial_dir):
            self._makedirs(directory)
        lock_path = os.path.join(self.partial_dir, key + '.lock')
        try:
            lock = os.fdopen(open_no_follow(lock_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), 'a')
        except OSError as err:
            raise self._store_error(err, lock_path)
        with lock:
            # Another play on this host may be fetching the same file: wait for it, then look again
            # (without asking the servers again when no checksum is known).
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            if sha256 is not None or md5 is not None:
                hit = self._cache_hit(sha256, md5, ref_path)
                if hit is not None:
                    return hit
            if self.spec.src is not None:
                return self._install_src(sha256, key)
            return self._download(sha256, md5, key, ref_path)

    def _install_src(self, sha256, key):
        """Copy ``src`` (a file transferred to the host, e.g. from the controller's model cache) into the
        store through the partial file, verified on arrival: it is published only when its sha256 is
        the expected one."""
        src = self.spec.src
        try:
            source_handle = open(src, 'rb')
        except (IOError, OSError) as err:
            if err.errno == errno.ENOENT:
                raise TaoFleetError(
                    'src %s does not exist on this host, and the store has no file with sha256 %s.' % (src, sha256),
                    cause='the file was not copied to the host before the task ran',
                    fix='Copy the file to the host first (the model_fetch action does this when '
                        'controller_cache is set), or fetch it from urls / ngc.', code='src_missing')
            raise self._store_error(err, src)
        partial_path = os.path.join(self.partial_dir, key)
        try:
            partial = PartialFile(partial_path, want_md5=False)
        except OSError as err:
            source_handle.close()
            raise self._store_error(err, partial_path)
        try:
            partial.reset()
            with source_handle:
                for block in iter(lambda: source_handle.read(CHUNK_SIZE), b''):
                    self._append(partial, block, None)
            self._sync(partial, None)
            self.bytes_transferred = partial.size
            self.attempts.append({'source': src, 'method': 'COPY', 'range_start': 0, 'status': None,
                                  'bytes': partial.size})
            mismatch = self._mismatch(partial, sha256, None)
            if mismatch is not None:
                self.attempts[-1]['error'] = 'checksum_mismatch'
                raise TaoFleetError(
                    'The file %s that arrived on the host does not match: %s.' % (src, mismatch),
                    cause='the copy was damaged on the way or the source file changed after its sha256 was taken',
                    fix='Run the task again; if it fails again, delete the source copy (the controller cache '
                        'entry) so that it is downloaded afresh.', code='checksum_mismatch')
            return self._publish(partial, _LocalSource(src), None, None)
        finally:
            partial.discard()

    def _download(self, sha256, md5, key, ref_path):
        partial_path = os.path.join(self.partial_dir, key)
        try:
            partial = PartialFile(partial_path, want_md5=md5 is not None)
        except OSError as err:
            raise self._store_error(err, partial_path)
        try:
            failures = []
            for source in self.spec.sources:
                try:
                    if sha256 is None and md5 is None and plain_http(source.display):
                        # issue 16 row 5: over plain http only a checksum known beforehand proves the bytes
                        raise _SourceFailure('checksum_required', 'plain http without a sha256, md5 or '
                                             'checksum_url; not downloaded')
                    self._from_source(source, partial, sha256, md5)
                except _SourceFailure as failure:
                    failures.append((source.display, failure))
                    continue
                return self._publish(partial, source, md5, ref_path)
            raise self._all_failed(failures, self.spec.file_name)
        finally:
            if partial.size:
                partial.close()
            else:
                partial.discard()

    def _from_source(self, source, partial, sha256, md5):
        """Fill ``partial`` from one source and verify it; raises _SourceFailure."""
        scratch_retry_left = True
        while True:
            self._transfer(source, partial, checksum_known=bool(sha256 or md5))
            mismatch = self._mismatch(partial, sha256, md5)
            if mismatch is None:
                return
            inherited = partial.first_writer != source.display
            partial.reset()
            if inherited and scratch_retry_left:
                # The bad bytes may be the resumed prefix from an earlier run or source: try once whole.
                scratch_retry_left = False
                self.warnings.append('Resumed download of %s failed its checksum; downloading it whole '
                                     'from %s.' % (self.spec.file_name, source.display))
                continue
            raise _SourceFailure('checksum_mismatch', mismatch)

    @staticmethod
    def _mismatch(partial, sha256, md5):
        got = partial.sha256.hexdigest()
        if sha256 and got != sha256:
            return 'sha256 expected %s, got %s (%d bytes)' % (sha256, got, partial.size)
        if md5 and partial.md5.hexdigest() != md5:
            return 'md5 expected %s, got %s (%d bytes)' % (md5, partial.md5.hexdigest(), partial.size)
        return None

    def _transfer(self, source, partial, checksum_known):
        """Bring ``partial`` to a complete body from ``source``: resumes after cuts, retries transient
        failures up to ``retries`` times, waits as 429/503 Retry-After asks (up to max_retry_wait)."""
        failures = 0
        restarted = False
        while True:
            try:
                outcome = self._transfer_once(source, partial, checksum_known)
            except _SourceFailure as failure:
                self.attempts[-1]['error'] = failure.code
                failures += 1
                if not failure.retryable or failures > self.spec.retries:
                    raise
                self._wait_before_retry(failure, failures)
                continue
            if outcome == 'complete':
                return
            if restarted:
                raise _SourceFailure('http_error', 'the server keeps refusing the byte range of the partial file')
            restarted = True
            partial.reset()

    def _wait_before_retry(self, failure, failures):
        if failure.wait is not None:
            if failure.wait > self.spec.max_retry_wait:
                failure.retryable = False
                failure.reason += ' (asks to wait %ss, more than max_retry_wait=%ss)' % (
                    failure.wait, self.spec.max_retry_wait)
                raise failure
            self.sleep(failure.wait)
        else:
            self.sleep(min(2 ** (failures - 1), MAX_BACKOFF_SECONDS))

    def _transfer_once(self, source, partial, checksum_known):
        """One request. Returns 'complete' or 'restart' (the server refused the range)."""
        meta = partial.meta
        same_server = meta.get('url') == source.display
        validator = meta.get('etag') if meta.get('etag') and not meta['etag'].startswith('W/') \
            else meta.get('last_modified')
        if partial.size and not checksum_known and not (same_server and validator):
            # Without a checksum, bytes from another server or of unknown version must not be mixed in.
            partial.reset()
        offset = partial.size
        headers = {'Accept-Encoding': 'identity'}
        if offset:
            headers['Range'] = 'bytes=%d-' % offset
            if same_server and validator:
                headers['If-Range'] = validator
        attempt = {'source': source.display, 'method': 'GET', 'range_start': offset, 'status': None, 'bytes': 0}
        self.attempts.append(attempt)
        net = self._network()
        try:
            response, final_url = self.http.open(source.display, headers, 'GET',
                                                 self.credentials.for_source(source))
        except net.HTTPError as err:
            if err.code == 416 and offset:
                attempt['status'] = 416
                total = _parse_content_range(err.headers.get('Content-Range'))[1]
                err.close()
                if total == offset:
                    self.resumed_from = offset
                    return 'complete'
                return 'restart'
            raise net.classify(err, source.display, source.kind)
        except net.REQUEST_ERRORS as exc:
            raise net.classify(exc, source.display, source.kind)
        with response:
            return self._receive(response, final_url, source, partial, offset, attempt)

    def _receive(self, response, final_url, source, partial, offset, attempt):
        net = self._network()
        status = response.getcode()
        attempt['status'] = status
        headers = response.headers
        length = header_number(headers.get('Content-Length'))
        if status == 206:
            first, total = _parse_content_range(headers.get('Content-Range'))
            if first != offset:
                self.warnings.append('%s answered byte %s instead of %d: starting over.'
                                     % (source.display, first, offset))
                return 'restart'
        elif status == 200:
            if offset:
                if self.spec.range_ignored == 'fail':
                    raise _SourceFailure('range_ignored', 'the Range request for bytes %d- was answered with '
                                         'the whole file (HTTP 200)' % offset)
                self.warnings.append(
                    '%s ignored the Range request (or its file changed): downloading %s from byte 0, '
                    'resumed_from is 0.' % (source.display, self.spec.file_name))
                partial.reset()
                offset = 0
                attempt['range_start'] = 0
            total = length
        else:
            raise _SourceFailure('http_error', 'HTTP %d from %s' % (status, _host_port(final_url)))
        if total is None and status == 206 and length is not None:
            total = offset + length
        partial.save_meta(source.display, headers.get('ETag'), headers.get('Last-Modified'), total)
        if total is not None:
            self._check_space(total - offset, partial)
        self.resumed_from = offset
        if offset == 0:
            partial.first_writer = source.display
        interrupted = None
        while True:
            try:
                block = response.read(CHUNK_SIZE)
            except net.READ_ERRORS as exc:
                interrupted = exc
                break
            if not block:
                break
            self._append(partial, block, total)
            attempt['bytes'] += len(block)
            self.bytes_transferred += len(block)
        self._sync(partial, total)
        if interrupted is not None or (total is not None and partial.size < total):
            why = 'no data for %ss' % self.spec.timeout if isinstance(interrupted, net.TIMEOUT) \
                else 'connection closed'
            # A cut after some progress resumes at once; one that moved nothing backs off first.
            raise _SourceFailure('transfer_interrupted', 'transfer cut after %d of %s bytes (%s)' % (
                partial.size, total if total is not None else 'unknown', why), retryable=True,
                wait=0 if attempt['bytes'] else None)
        return 'complete'

    # -- disk -------------------------------------------------------------------------------------
    def _append(self, partial, block, total):
        try:
            partial.append(block)
        except OSError as err:
            self._disk_error(err, partial, total)

    def _sync(self, partial, total):
        try:
            partial.sync()
        except OSError as err:
            self._disk_error(err, partial, total)

    def _disk_error(self, err, partial, total):
        if err.errno in DISK_FULL_ERRNOS:
            # What was written last is uncertain after ENOSPC, and the space is needed back.
            written = partial.size
            partial.discard()
            raise self._disk_full(total, written)
        raise self._store_error(err, partial.path)

    def _check_space(self, needed, partial):
        available = _available_bytes(self.partial_dir)
        if needed > available:
            partial.discard()
            raise self._disk_full(needed, None, available)

    def _disk_full(self, needed, written, available=None):
        if available is None:
            available = _available_bytes(self.partial_dir)
        got = '' if written is None else ' after writing %s' % _human(written)
        return TaoFleetError(
            'No space left in %s for %s: it needs %s, %s available%s.' % (
                self.partial_dir, self.spec.file_name, _human(needed), _human(available), got),
            cause='the file system that holds the store is full (ENOSPC)',
            fix='Free at least %s there (old models in %s, engines, logs) or point store at a larger '
                'disk; the partial file was removed and nothing was published.' % (
                    _human(needed) if needed is not None else 'the model\'s size', self.models_dir),
            code='disk_full', details={'needed_bytes': needed, 'available_bytes': available})

    def _store_error(self, err, path):
        if err.errno in DISK_FULL_ERRNOS:
            return self._disk_full(None, None)
        if err.errno in STORE_DENIED_ERRNOS:
            return TaoFleetError(
                'Cannot write to the model store at %s: %s.' % (path, err.strerror),
                cause='the store directory is read-only (mount) or not writable by the user running '
                      'the module',
                fix='Point store at a writable directory, run the task with become: true, or remount '
                    'the file system read-write.',
                code='store_unwritable', details={'path': path, 'errno': err.errno})
        return TaoFleetError('Cannot write %s: %s.' % (path, err.strerror or err),
                             cause='the operating system refused the write',
                             fix='Check the store directory and its file system.', code='store_error')

    def _makedirs(self, directory):
        # Forks of one controller (or two plays on a host) may create the same directory at once: losing
        # that race is not an error. Nothing below the store root is followed if it is a symlink.
        self._real_dir(directory, create=True)

    def _real_dir(self, directory, create):
        """Whether ``directory`` (below the store) exists as a real directory; a symlink on the way is refused
        (``store_unwritable``), since a local user could plant one to redirect root's writes."""
        return real_dir(self.spec.store, directory, create, error=lambda err, _action, path: self._store_error(err, path))

    # -- publish ----------------------------------------------------------------------------------
    def _publish(self, partial, source, md5, ref_path):
        """Rename the verified partial to ``<store>/models/<sha256>`` (a no-op when that content is
        already there) and record how it was fetched."""
        sha256 = partial.sha256.hexdigest()
        size = partial.size
        md5_hex = partial.md5.hexdigest() if partial.md5 is not None else None
        final = self._final_path(sha256)
        file_changed = True
        try:
            if _regular_size(final) is not None and file_digests(final)[0] == sha256:
                partial.discard()
                file_changed = False
            else:
                os.fchmod(partial.handle.fileno(), 0o644)     # the file itself, never a link's target
                partial.close()
                os.rename(partial.path, final)
                _fsync_dir(self.models_dir)
                partial.discard()
            if ref_path is not None:
                self._makedirs(self.refs_dir)
                meta = partial.meta
                write_file(ref_path, json.dumps({
                    'sha256': sha256, 'md5': md5_hex, 'size': size, 'url': source.display,
                    'etag': meta.get('etag'), 'last_modified': meta.get('last_modified')}, sort_keys=True).encode('utf-8'))
        except OSError as err:
            raise self._store_error(err, final)
        return {'path': final, 'sha256': sha256, 'md5': md5_hex, 'size': size, 'cache_hit': False,
                'source': source.display, 'file_changed': file_changed}

    def _link_path(self):
        return os.path.join(self.models_dir, 'by-name', self.spec.name)

    def _link_name(self, sha256, check_mode):
        """Point ``<store>/models/by-name/<name>`` at the file (symlink replaced by rename)."""
        link = self._link_path()
        target = os.path.join('..', sha256)
        if os.path.islink(link) and os.readlink(link) == target:
            return False
        if check_mode:
            return True
        directory = os.path.dirname(link)
        self._makedirs(directory)
        tmp = os.path.join(directory, '.%s.tmp.%d' % (self.spec.name, os.getpid()))
        try:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(target, tmp)
            os.rename(tmp, link)
            _fsync_dir(directory)
        except OSError as err:
            raise self._store_error(err, link)
        return True

    # -- errors -----------------------------------------------------------------------------------
    def _all_failed(self, failures, what):
        """One error naming every source and why it failed; the code is the shared one if all agree."""
        codes = [failure.code for _url, failure in failures]
        code = codes[0] if len(set(codes)) == 1 else 'all_sources_failed'
        lines = ['%s: %s' % (redact_url(url), failure.reason) for url, failure in failures]
        causes, fixes = [], []
        for failed_code in codes:
            for table, chosen in ((CAUSES, causes), (FIXES, fixes)):
                text = table.get(failed_code, table['http_error'])
                if text not in chosen:
                    chosen.append(text)
        if len(failures) == 1:
            msg = 'Could not fetch %s from %s.' % (what, lines[0])
        else:
            msg = 'Could not fetch %s from any of %d sources: %s.' % (
                what, len(failures), '; '.join('[%d] %s' % (i + 1, line) for i, line in enumerate(lines)))
        return TaoFleetError(
            msg, cause='; '.join(causes), fix=' '.join(fixes), code=code,
            details={'sources': [{'source': redact_url(url), 'code': failure.code, 'reason': failure.reason}
                                 for url, failure in failures]})


def _regular_size(path):
    """Size of the regular file at ``path``; None when there is none. A symlink there is refused: the
    collection never reads, chmods or publishes through a link below the store root."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise symlink_refused(path, os.path.dirname(path))
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def fetch_model(spec, check_mode=False, sleep=time.sleep):
    """Run one fetch; returns (result dict, warnings list)."""
    fetcher = ModelFetcher(spec, sleep=sleep)
    result = fetcher.run(check_mode=check_mode)
    return result, fetcher.warnings
