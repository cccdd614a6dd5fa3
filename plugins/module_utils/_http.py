# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Stage 1's network side: the HTTP(S) client that follows redirects itself (so each hop decides which
credential goes along), NGC's credentials, and the cause of every failed request.

Imported by ``_download`` only when it opens a URL: a cache hit or a file copied from the controller needs
none of ``ssl``, ``urllib.request`` or ``http.client``, which cost a host tens of milliseconds per task.
Standard library only, Python 3.6+; never imports Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import email.utils
import json
import os
import socket
import ssl
import time
from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urljoin, urlsplit
from urllib.request import HTTPRedirectHandler, HTTPSHandler, Request, build_opener

from ansible_collections.tao.fleet.plugins.module_utils._download import (
    MAX_REDIRECTS, NGC_PERSONAL_KEY_PREFIX, NGC_TOKEN_USER, REDIRECT_CODES, USER_AGENT, _host_port,
    _SourceFailure, header_number, redact_url, url_origin)

# what may cut a response body while it is read
READ_ERRORS = (socket.timeout, OSError, HTTPException)
TIMEOUT = socket.timeout


def _parse_retry_after(value):
    """Seconds from a Retry-After header (seconds or HTTP date); None if absent or unreadable."""
    if not value or not isinstance(value, str) or len(value) > 64:
        return None
    seconds = header_number(value)
    if seconds is not None:
        return seconds
    try:
        parsed = email.utils.parsedate_tz(value.strip())
        if parsed is None:
            return None
        return max(0, int(email.utils.mktime_tz(parsed) - time.time()))
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def check_redirect(current, target):
    """Refuse (redirect_refused) a redirect to anything but http(s), and one from https to plain http: the
    first would read local files (file:) or inline data (data:), the second hand the rest of the transfer to
    whoever sits on the network."""
    old_scheme = urlsplit(current).scheme.lower()
    new_scheme = urlsplit(target).scheme.lower()
    if new_scheme not in ('http', 'https'):
        raise _SourceFailure('redirect_refused', '%s redirected to a %s: URL (%s), which is never followed' % (
            _host_port(current), new_scheme or 'scheme-less', redact_url(target)[:200]))
    if old_scheme == 'https' and new_scheme == 'http':
        raise _SourceFailure('redirect_refused', '%s redirected from https to plain http (%s), which is never '
                                                 'followed' % (_host_port(current), _host_port(target)))


class _NoRedirect(HTTPRedirectHandler):
    """Redirects come back as HTTPError, so that each hop decides afresh which credential it gets."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class HttpClient(object):
    def __init__(self, timeout, validate_certs, ca_path):
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self._opener = None

    @property
    def opener(self):
        # Built on first use: loading the CA store costs tens of milliseconds, and a cache hit or a
        # copy from the controller opens no URL at all.
        if self._opener is None:
            self._opener = build_opener(HTTPSHandler(context=self._tls_context(self.validate_certs, self.ca_path)),
                                        _NoRedirect())
        return self._opener

    @staticmethod
    def _tls_context(validate_certs, ca_path):
        if not validate_certs:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        if ca_path and os.path.isdir(ca_path):
            return ssl.create_default_context(capath=ca_path)
        return ssl.create_default_context(cafile=ca_path)

    def open(self, url, headers, method, credential_for):
        """(response, final URL) of a 2xx answer; follows redirects here so that ``credential_for(url)``
        decides per hop whether an Authorization header goes along. Other statuses raise HTTPError."""
        for _hop in range(MAX_REDIRECTS + 1):
            request = Request(url, method=method)
            request.add_header('User-Agent', USER_AGENT)
            for key, value in headers.items():
                request.add_header(key, value)
            credential = credential_for(url)
            if credential:
                request.add_header('Authorization', credential)
            try:
                return self.opener.open(request, timeout=self.timeout), url
            except HTTPError as err:
                if err.code not in REDIRECT_CODES or not err.headers.get('Location'):
                    raise
                location = err.headers.get('Location')
                err.close()
                target = urljoin(url, location)
                check_redirect(url, target)
                url = target
        raise _SourceFailure('redirect_loop', 'more than %d redirects, last to %s'
                             % (MAX_REDIRECTS, _host_port(url)))


def classify(exc, url, kind):
    """A _SourceFailure naming the cause of a request error (everything except the HTTP 2xx answers)."""
    where = _host_port(url)
    if isinstance(exc, _SourceFailure):
        return exc
    if isinstance(exc, HTTPError):
        status = exc.code
        retry_after = _parse_retry_after(exc.headers.get('Retry-After') if exc.headers else None)
        exc.close()
        ngc = kind == 'ngc'
        if status == 401:
            return _SourceFailure('http_401', 'HTTP 401 from %s: %s' % (
                where, 'NGC needs an API key for this model (none given, or it was rejected)' if ngc
                else 'the server wants credentials'))
        if status == 403:
            return _SourceFailure('http_403', 'HTTP 403 from %s: %s' % (
                where, 'private model, or the API key has no access to it' if ngc else 'access denied'))
        if status == 404:
            return _SourceFailure('http_404', 'HTTP 404 from %s: no such file%s' % (
                where, ' (or a private model asked for without a key)' if ngc else ''))
        if status == 429:
            return _SourceFailure('http_429', 'HTTP 429 from %s: rate limited%s' % (
                where, ', Retry-After %ss' % retry_after if retry_after is not None else ''),
                retryable=True, wait=retry_after)
        if 500 <= status <= 599:
            return _SourceFailure('http_5xx', 'HTTP %d from %s: server error' % (status, where),
                                  retryable=True, wait=retry_after)
        return _SourceFailure('http_error', 'HTTP %d from %s' % (status, where))
    reason = exc.reason if isinstance(exc, URLError) else exc
    if isinstance(reason, (ssl.SSLError, ssl.CertificateError)):
        return _SourceFailure('tls_error', 'TLS handshake with %s failed: %s' % (where, _ssl_text(reason)))
    if isinstance(reason, socket.timeout):
        return _SourceFailure('unreachable', 'no answer from %s within the timeout' % where, retryable=True)
    if isinstance(reason, ConnectionRefusedError):
        return _SourceFailure('unreachable', 'connection to %s refused (nothing listens there)' % where)
    if isinstance(reason, socket.gaierror):
        return _SourceFailure('unreachable', 'host name of %s does not resolve' % where)
    if isinstance(reason, (ConnectionError, HTTPException)):
        return _SourceFailure('transfer_interrupted', 'connection to %s dropped: %s' % (
            where, reason.__class__.__name__), retryable=True)
    if isinstance(reason, OSError):
        return _SourceFailure('unreachable', 'cannot reach %s: %s' % (where, reason.strerror or reason),
                              retryable=True)
    return _SourceFailure('unreachable', 'request to %s failed: %s' % (where, reason))


def _ssl_text(exc):
    return getattr(exc, 'verify_message', None) or getattr(exc, 'reason', None) or str(exc)


REQUEST_ERRORS = (URLError, OSError, HTTPException, ssl.CertificateError)


class NgcCredentials(object):
    """The Authorization header each URL may carry. A personal key (``nvapi-``) is a bearer token itself;
    a legacy key is traded once, at ``ngc_auth_url`` with Basic ``$oauthtoken:<key>``, for a session
    token. Key and token go only to their own origins, and never to a ``mirror`` source."""

    def __init__(self, spec, http):
        self.api_key = spec.api_key
        self.api_origin = url_origin(spec.ngc_base_url)
        self.auth_url = spec.ngc_auth_url
        self.scopes = spec.ngc.token_scopes() if spec.ngc else []
        self.http = http
        self.token = None

    def for_source(self, source):
        """``credential_for`` of HttpClient.open for requests that start at ``source``."""
        origin = url_origin(source.display)

        def credential_for(url):
            if source.basic and url_origin(url) == origin:
                return source.basic
            return self.for_url(url, source.kind)
        return credential_for

    def for_url(self, url, kind):
        if not self.api_key or kind == 'mirror' or url_origin(url) != self.api_origin:
            return None
        if self.api_key.startswith(NGC_PERSONAL_KEY_PREFIX):
            return 'Bearer %s' % self.api_key
        if self.token is None:
            self.token = self._session_token()
        return 'Bearer %s' % self.token

    def _session_token(self):
        query = urlencode([('service', 'ngc')] + [('scope', scope) for scope in self.scopes])
        url = '%s%s%s' % (self.auth_url, '&' if '?' in self.auth_url else '?', query)
        basic = 'Basic %s' % base64.b64encode(
            ('%s:%s' % (NGC_TOKEN_USER, self.api_key)).encode('utf-8')).decode('ascii')
        auth_origin = url_origin(self.auth_url)
        try:
            response, _final_url = self.http.open(
                url, {'Accept': 'application/json'}, 'GET',
                lambda hop: basic if url_origin(hop) == auth_origin else None)
            with response:
                token = json.loads(response.read().decode('utf-8')).get('token')
        except HTTPError as err:
            if err.code in (401, 403):
                err.close()
                raise _SourceFailure('http_401', 'NGC token service %s rejected the API key (HTTP %d)'
                                     % (_host_port(self.auth_url), err.code))
            raise classify(err, self.auth_url, 'ngc')
        except ValueError:
            raise _SourceFailure('ngc_auth_failed', 'NGC token service %s sent no JSON'
                                 % _host_port(self.auth_url))
        except REQUEST_ERRORS as exc:
            raise classify(exc, self.auth_url, 'ngc')
        if not token:
            raise _SourceFailure('ngc_auth_failed', 'NGC token service %s sent no token'
                                 % _host_port(self.auth_url))
        return token
