# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The model mirror of the simulated fleet: a real HTTP(S) server that speaks NGC's URL and auth shapes
and misbehaves on request.

    python tests/fleet/mirror.py --bind 127.0.0.1 --port 0 --root DIR --log FILE [--pidfile FILE]
                                 [--tls-cert PEM --tls-key PEM] [--redirect-origin URL]

Standard library only, Python 3.6+, one thread per connection, HTTP/1.0 (one request per connection,
so a cut connection is a cut transfer). Prints ``mirror listening on <url>`` once it accepts requests.

What it serves:
- files under ``--root`` with Range (single range, suffix ranges), If-Range, ETag, Last-Modified, HEAD;
- NGC's legacy file URL ``/v2/models/<org>[/<team>]/<name>/versions/<ver>/files/<file>`` (a plain file
  under the root, as ``tests/fleet/demo_model.py`` lays them out);
- NGC's current URL ``/v2/models/org/<org>[/team/<team>]/<name>/<ver>/files?redirect=true&path=<file>``,
  answered with a 302 to the legacy path, the way NGC answers with a redirect to its file storage
  (``--redirect-origin`` puts that target on another origin, e.g. ``http://localhost:PORT`` for a server
  bound to 127.0.0.1, so a test can see whether credentials follow a redirect to another host);
- NGC's token endpoint ``/token?service=ngc&scope=...``: HTTP Basic ``$oauthtoken:<API key>`` in, a
  session token out; paths with the ``require_auth`` fault accept ``Authorization: Bearer <session token>``
  or ``Bearer <API key>`` for personal keys (``nvapi-...``), as NGC does.

Control endpoint (JSON in, JSON out; never logged):
- ``POST /_mirror/faults``  ``{"path": "/v2/...", "prefix": false, "fault": {...}}``   add a fault rule
- ``DELETE /_mirror/faults``                                                          drop every rule
- ``POST /_mirror/auth``    ``{"api_key": "..."}``  (``null`` drops it)   the key NGC paths accept
- ``POST /_mirror/config``  ``{"redirect_origin": "http://host:port"}``
- ``GET /_mirror/log``      the request log as a JSON list
- ``GET /_mirror/health``

A fault (every field optional; a request gets the first rule whose path matches):
``status`` (e.g. 403, 404, 429, 500, 503) with ``retry_after`` and ``body``; ``redirect`` (path or absolute
URL, ``redirect_status`` default 302); ``cut_after`` (bytes of this response body) or ``cut_at`` (fraction
of the file: the connection drops when the transfer reaches that file offset; a request that starts past
it is not cut) with ``reset`` (RST instead of FIN); ``corrupt_at`` (file offset whose byte is flipped; ``corrupt: true`` = the middle byte);
``ignore_range`` (answer 200 with the whole file); ``hide_length`` (no Content-Length: the body ends when
the connection closes); ``stall`` (seconds to wait before answering, at most 60); ``require_auth``;
``times`` (apply to that many matching requests, then drop the rule: "first request only" is 1);
``methods`` (default both GET and HEAD).

Request log (``--log``, JSON lines, also at ``/_mirror/log``): ``ts``, ``method``, ``path``, ``query``,
``host`` (Host header), ``range``, ``if_range``, ``status``, ``bytes_sent``, ``offset`` (first file byte
sent), ``auth`` (whether an Authorization header came), ``auth_scheme`` (``Basic``/``Bearer``), ``fault``
(fields of the fault applied), ``cut``. Never a credential's value.
"""

from __future__ import absolute_import, division, print_function

import argparse
import base64
import binascii
import email.utils
import json
import os
import posixpath
import secrets
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs, quote, unquote, urlsplit
from urllib.request import Request, urlopen

CHUNK = 64 * 1024
MAX_STALL_SECONDS = 60
# How long the log waits for answers still being written (a stalled answer is never waited for).
SETTLE_SECONDS = 2.0
CONTROL_PREFIX = '/_mirror/'
NGC_TOKEN_PATH = '/token'
NGC_TOKEN_USER = '$oauthtoken'
FAULT_FIELDS = frozenset([
    'status', 'retry_after', 'body', 'redirect', 'redirect_status', 'cut_after', 'cut_at', 'reset',
    'corrupt', 'corrupt_at', 'ignore_range', 'hide_length', 'stall', 'require_auth', 'times', 'methods',
])


class FaultRule(object):
    def __init__(self, path, prefix, fault):
        unknown = set(fault) - FAULT_FIELDS
        if unknown:
            raise ValueError('unknown fault fields: %s' % ', '.join(sorted(unknown)))
        self.path = path
        self.prefix = prefix
        self.fault = fault
        self.remaining = fault.get('times')
        self.methods = set(m.upper() for m in fault.get('methods', ('GET', 'HEAD')))

    def matches(self, method, path):
        if method not in self.methods:
            return False
        return path.startswith(self.path) if self.prefix else path == self.path


class MirrorState(object):
    """Fault rules, the accepted NGC key, issued session tokens and the request log, shared by all threads."""

    def __init__(self, root, log_path, redirect_origin):
        self.root = os.path.realpath(root)
        self.log_path = log_path
        self.redirect_origin = redirect_origin
        self.api_key = None
        self.tokens = set()
        self.rules = []
        self.entries = []
        self.lock = threading.Lock()
        # Answers still being written. A client can read an answer's last byte before the serving thread
        # records it, so the log waits for them (see settled_entries).
        self.in_flight = []
        self.settled = threading.Condition(self.lock)

    def take_fault(self, method, path):
        """The fault for this request, counting it against a ``times`` limit."""
        with self.lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            self.rules.remove(rule)
                    return rule.fault
        return None

    def begin(self, entry):
        with self.lock:
            self.in_flight.append(entry)

    def record(self, entry):
        line = json.dumps(entry, sort_keys=True)
        with self.lock:
            if entry in self.in_flight:
                self.in_flight.remove(entry)
            self.entries.append(entry)
            if self.log_path:
                with open(self.log_path, 'a') as log:
                    log.write(line + '\n')
            self.settled.notify_all()

    def settled_entries(self, before, wait=SETTLE_SECONDS):
        """The log, once every answer that began before ``before`` has been recorded (a stalled answer is
        not waited for; nor is any answer longer than ``wait`` seconds)."""
        deadline = time.time() + wait
        with self.lock:
            while True:
                pending = [e for e in self.in_flight if e['ts'] <= before and not (e['fault'] or {}).get('stall')]
                left = deadline - time.time()
                if not pending or left <= 0:
                    return list(self.entries)
                self.settled.wait(left)

    def credential_ok(self, header):
        """Whether an Authorization header is one NGC's download paths would accept."""
        scheme, _sep, value = (header or '').partition(' ')
        if scheme.lower() != 'bearer' or not value:
            return False
        with self.lock:
            if value in self.tokens:
                return True
            return bool(self.api_key) and self.api_key.startswith('nvapi-') and value == self.api_key

    def issue_token(self, header):
        """Session token for a Basic ``$oauthtoken:<key>`` header with the configured key, else None."""
        scheme, _sep, value = (header or '').partition(' ')
        if scheme.lower() != 'basic':
            return None
        try:
            user, _sep, key = base64.b64decode(value.strip()).decode('utf-8').partition(':')
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        with self.lock:
            if user != NGC_TOKEN_USER or not self.api_key or key != self.api_key:
                return None
            token = secrets.token_hex(24)
            self.tokens.add(token)
            return token


def parse_range(header, size):
    """(start, end) inclusive for a single byte range, 'unsatisfiable', or None to send the whole file."""
    if not header or not header.startswith('bytes=') or ',' in header:
        return None
    first, _sep, last = header[len('bytes='):].strip().partition('-')
    try:
        if first == '':
            length = int(last)
            if length <= 0:
                return 'unsatisfiable'
            return max(size - length, 0), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return 'unsatisfiable'
    return start, min(end, size - 1)


def ngc_redirect_target(path, query):
    """Legacy file path for NGC's ``.../<ver>/files?redirect=true&path=<file>`` shape, else None."""
    parts = path.strip('/').split('/')
    if len(parts) < 6 or parts[:3] != ['v2', 'models', 'org'] or parts[-1] != 'files':
        return None
    org, rest = parts[3], parts[4:-1]
    if len(rest) == 4 and rest[0] == 'team':
        team, name, version = rest[1], rest[2], rest[3]
        base = '/v2/models/%s/%s/%s' % (org, team, name)
    elif len(rest) == 2:
        name, version = rest
        base = '/v2/models/%s/%s' % (org, name)
    else:
        return None
    file_name = parse_qs(query).get('path', [''])[0]
    if not file_name:
        return None
    return '%s/versions/%s/files/%s' % (base, version, quote(file_name))


class MirrorHandler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.0'
    server_version = 'tao-fleet-mirror/1'

    def log_message(self, fmt, *args):
        """The JSONL log replaces the default stderr lines."""

    # -- dispatch -------------------------------------------------------------------------------
    def do_GET(self):
        self._handle('GET')

    def do_HEAD(self):
        self._handle('HEAD')

    def do_POST(self):
        self._handle('POST')

    def do_DELETE(self):
        self._handle('DELETE')

    def _handle(self, method):
        split = urlsplit(self.path)
        path = unquote(split.path)
        if path.startswith(CONTROL_PREFIX):
            self._control(method, path[len(CONTROL_PREFIX):])
            return
        auth = self.headers.get('Authorization')
        self.entry = {
            'ts': time.time(), 'method': method, 'path': path, 'query': split.query,
            'host': self.headers.get('Host'), 'range': self.headers.get('Range'),
            'if_range': self.headers.get('If-Range') is not None, 'status': None, 'bytes_sent': 0,
            'offset': None, 'auth': auth is not None, 'auth_scheme': auth.split(' ', 1)[0] if auth else None,
            'fault': None, 'cut': False,
        }
        self.server.state.begin(self.entry)
        try:
            self._serve(method, path, split.query, auth)
        except (BrokenPipeError, ConnectionResetError):
            self.entry['cut'] = True
        finally:
            self.server.state.record(self.entry)

    def _serve(self, method, path, query, auth):
        state = self.server.state
        if method not in ('GET', 'HEAD'):
            self._simple(405, 'method not allowed\n')
            return
        fault = state.take_fault(method, path) or {}
        if fault:
            self.entry['fault'] = fault
        if fault.get('stall'):
            time.sleep(min(float(fault['stall']), MAX_STALL_SECONDS))
        if fault.get('require_auth') and not state.credential_ok(auth):
            self._simple(401, 'authentication required\n', {'WWW-Authenticate': 'Bearer realm="ngc"'})
            return
        if fault.get('status'):
            headers = {}
            if fault.get('retry_after') is not None:
                headers['Retry-After'] = str(fault['retry_after'])
            self._simple(int(fault['status']), fault.get('body', 'fault injected\n'), headers)
            return
        if fault.get('redirect'):
            self._redirect(fault['redirect'], int(fault.get('redirect_status', 302)))
            return
        if path == NGC_TOKEN_PATH:
            self._token(auth)
            return
        target = ngc_redirect_target(path, query)
        if target is not None:
            self._redirect(target, 302)
            return
        self._file(method, path, fault)

    # -- answers --------------------------------------------------------------------------------
    def _simple(self, status, body, headers=None):
        data = body.encode('utf-8')
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header('Content-Type', 'text/plain; charset=utf-8')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)
            self.entry['bytes_sent'] = len(data)
        self.entry['status'] = status

    def _json(self, status, obj):
        data = json.dumps(obj).encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, target, status):
        if target.startswith('/'):
            origin = self.server.state.redirect_origin
            target = (origin.rstrip('/') + target) if origin else target
        self.send_response(status)
        self.send_header('Location', target)
        self.send_header('Content-Length', '0')
        self.end_headers()
        self.entry['status'] = status

    def _token(self, auth):
        token = self.server.state.issue_token(auth)
        if token is None:
            self._simple(401, 'invalid credentials\n', {'WWW-Authenticate': 'Basic realm="ngc"'})
            return
        data = json.dumps({'token': token, 'expires_in': 3600}).encode('utf-8')
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.entry['status'] = 200
        self.entry['bytes_sent'] = len(data)

    def _file(self, method, path, fault):
        root = self.server.state.root
        full = os.path.realpath(os.path.join(root, posixpath.normpath(path).lstrip('/')))
        if not full.startswith(root + os.sep) or not os.path.isfile(full):
            self._simple(404, 'not found\n')
            return
        stat = os.stat(full)
        size = stat.st_size
        etag = '"%x-%x"' % (size, int(stat.st_mtime * 1e6))
        last_modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
        wanted = None if fault.get('ignore_range') else parse_range(self.headers.get('Range'), size)
        if_range = self.headers.get('If-Range')
        if wanted is not None and if_range is not None and if_range not in (etag, last_modified):
            wanted = None
        if wanted == 'unsatisfiable':
            self._simple(416, 'range not satisfiable\n', {'Content-Range': 'bytes */%d' % size})
            return
        start, end = wanted if wanted else (0, size - 1)
        status = 206 if wanted else 200
        self.send_response(status)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Accept-Ranges', 'bytes')
        self.send_header('ETag', etag)
        self.send_header('Last-Modified', last_modified)
        if status == 206:
            self.send_header('Content-Range', 'bytes %d-%d/%d' % (start, end, size))
        if not fault.get('hide_length'):
            self.send_header('Content-Length', str(end - start + 1))
        self.end_headers()
        self.entry['status'] = status
        self.entry['offset'] = start
        if method == 'HEAD':
            return
        self._send_body(full, start, end, size, fault)

    def _send_body(self, full, start, end, size, fault):
        stop = end + 1
        if fault.get('cut_after') is not None:
            stop = min(stop, start + int(fault['cut_after']))
        if fault.get('cut_at') is not None:
            cut_offset = int(size * float(fault['cut_at']))
            if cut_offset > start:
                stop = min(stop, cut_offset)
        corrupt_at = fault.get('corrupt_at')
        if corrupt_at is None and fault.get('corrupt'):
            corrupt_at = size // 2
        position = start
        with open(full, 'rb') as source:
            source.seek(start)
            while position < stop:
                chunk = bytearray(source.read(min(CHUNK, stop - position)))
                if not chunk:
                    break
                if corrupt_at is not None and position <= corrupt_at < position + len(chunk):
                    chunk[corrupt_at - position] ^= 0xFF
                self.wfile.write(chunk)
                position += len(chunk)
                self.entry['bytes_sent'] += len(chunk)
        self.wfile.flush()
        if position <= end:
            self.entry['cut'] = True
            self._drop_connection(bool(fault.get('reset')))

    def _drop_connection(self, reset):
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- control ----------------------------------------------------------------------------------
    def _control(self, method, what):
        state = self.server.state
        try:
            body = self._read_json() if method == 'POST' else {}
            if what == 'health' and method == 'GET':
                self._json(200, {'ok': True})
            elif what == 'log' and method == 'GET':
                self._json(200, state.settled_entries(time.time()))
            elif what == 'faults' and method == 'POST':
                rule = FaultRule(body['path'], bool(body.get('prefix')), body.get('fault') or {})
                with state.lock:
                    state.rules.append(rule)
                self._json(200, {'ok': True})
            elif what == 'faults' and method == 'DELETE':
                with state.lock:
                    del state.rules[:]
                self._json(200, {'ok': True})
            elif what == 'auth' and method == 'POST':
                with state.lock:
                    state.api_key = body.get('api_key')
                    state.tokens.clear()
                self._json(200, {'ok': True})
            elif what == 'config' and method == 'POST':
                with state.lock:
                    state.redirect_origin = body.get('redirect_origin')
                self._json(200, {'ok': True})
            else:
                self._json(404, {'error': 'no control endpoint %s %s' % (method, what)})
        except (KeyError, ValueError, TypeError) as exc:
            self._json(400, {'error': str(exc)})

    def _read_json(self):
        length = int(self.headers.get('Content-Length') or 0)
        return json.loads(self.rfile.read(length).decode('utf-8') or '{}')


class MirrorServer(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, state, tls_context=None):
        HTTPServer.__init__(self, address, MirrorHandler)
        self.state = state
        self.tls_context = tls_context

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's thread, so a client that refuses the
        # certificate (the TLS error tests) never stalls the accept loop.
        if self.tls_context is not None:
            try:
                request = self.tls_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        HTTPServer.finish_request(self, request, client_address)

    def handle_error(self, request, client_address):
        """A client that goes away mid-answer is normal here (cut tests): no traceback on stderr."""


def serve(argv=None):
    parser = argparse.ArgumentParser(description='tao.fleet model mirror (test server)')
    parser.add_argument('--bind', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8080, help='0 picks a free port')
    parser.add_argument('--root', required=True)
    parser.add_argument('--log', help='JSONL request log')
    parser.add_argument('--pidfile')
    parser.add_argument('--tls-cert')
    parser.add_argument('--tls-key')
    parser.add_argument('--redirect-origin', help='origin for redirects to local paths (default: same origin)')
    parser.add_argument('--parent-pid', type=int,
                        help='exit when this process is gone (a test run that was killed leaves no mirror)')
    args = parser.parse_args(argv)
    context = None
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    state = MirrorState(args.root, args.log, args.redirect_origin)
    server = MirrorServer((args.bind, args.port), state, context)
    if args.pidfile:
        with open(args.pidfile, 'w') as pidfile:
            pidfile.write('%d\n' % os.getpid())
    host, port = server.server_address[:2]
    if args.parent_pid:
        watchdog = threading.Thread(target=_stop_when_orphaned, args=(server, args.parent_pid))
        watchdog.daemon = True
        watchdog.start()
    print('mirror listening on %s://%s:%d' % ('https' if context else 'http', host, port))
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _stop_when_orphaned(server, parent_pid):
    while os.getppid() == parent_pid:
        time.sleep(1)
    server.shutdown()


class MirrorClient(object):
    """Drives a running mirror from tests (any Python 3.6+; standard library only)."""

    def __init__(self, base_url, timeout=10):
        self.base_url = base_url.rstrip('/')
        self.timeout = timeout

    def _call(self, method, what, body=None):
        data = None if body is None else json.dumps(body).encode('utf-8')
        request = Request(self.base_url + CONTROL_PREFIX + what, data=data, method=method,
                          headers={'Content-Type': 'application/json'})
        context = ssl._create_unverified_context() if self.base_url.startswith('https:') else None
        response = urlopen(request, timeout=self.timeout, context=context)
        try:
            return json.loads(response.read().decode('utf-8'))
        finally:
            response.close()

    def health(self):
        return self._call('GET', 'health')

    def set_fault(self, path, prefix=False, **fault):
        """Add a fault rule, e.g. ``set_fault(p, cut_at=0.6, times=1)``."""
        return self._call('POST', 'faults', {'path': path, 'prefix': prefix, 'fault': fault})

    def clear_faults(self):
        return self._call('DELETE', 'faults')

    def set_api_key(self, api_key):
        return self._call('POST', 'auth', {'api_key': api_key})

    def set_redirect_origin(self, origin):
        return self._call('POST', 'config', {'redirect_origin': origin})

    def log(self, since=0):
        """Request log entries, from index ``since`` on (take ``len(client.log())`` as a mark)."""
        return self._call('GET', 'log')[since:]

    def reset(self):
        """Back to a plain mirror: no faults, no key, same-origin redirects (the log is kept)."""
        self.clear_faults()
        self.set_api_key(None)
        self.set_redirect_origin(None)


class MirrorProcess(object):
    """Starts a mirror on a free port of ``bind`` for one test, and stops it (context manager)."""

    def __init__(self, root, log_path, bind='127.0.0.1', tls_cert=None, tls_key=None, python=None):
        self.root = root
        self.log_path = log_path
        self.bind = bind
        self.tls = (tls_cert, tls_key)
        self.python = python or sys.executable
        self.process = None
        self.url = None
        self.client = None

    def __enter__(self):
        import subprocess
        command = [self.python, os.path.abspath(__file__), '--bind', self.bind, '--port', '0',
                   '--root', self.root, '--log', self.log_path, '--parent-pid', str(os.getpid())]
        if self.tls[0]:
            command += ['--tls-cert', self.tls[0], '--tls-key', self.tls[1]]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, universal_newlines=True)
        line = self.process.stdout.readline().strip()
        if not line.startswith('mirror listening on '):
            self.process.kill()
            self.process.wait()
            raise RuntimeError('mirror did not start: %r' % line)
        self.url = line[len('mirror listening on '):]
        self.port = int(self.url.rsplit(':', 1)[1])
        self.client = MirrorClient(self.url)
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


if __name__ == '__main__':
    serve()
