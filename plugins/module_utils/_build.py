# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Run an engine build in a child process, with a time limit and a memory limit.

``run_in_child(target, build_dir, timeout, memory_limit)`` forks; the child becomes its own
process group, dies with its parent (``PR_SET_PDEATHSIG``), sends its stdout/stderr to
``build_dir/build.log``, records itself in ``build_dir/builder.pid`` (``build_pid``), limits its
heap (``RLIMIT_DATA``), runs ``target()`` and sends the JSON of its result (or of its error) over
a pipe. The parent waits up to ``timeout`` seconds, then kills the whole group. A signal death,
a memory failure or the time limit become TaoFleetErrors that name cause and fix:
``build_killed``, ``build_out_of_memory``, ``build_timeout``, ``build_failed``.

``build_engine`` is the target trt_engine runs: import TensorRT (only here, never in the module's
own process), check it is the TensorRT the platform facts name, build through the TensorRT layer
and write ``model.engine`` into the build directory.

Why RLIMIT_DATA and not RLIMIT_AS: CUDA reserves a large virtual address range at init (about
14 GiB on an H100 with driver 580), so ``cuInit`` fails with CUDA_ERROR_OUT_OF_MEMORY under any
RLIMIT_AS that would still protect a Jetson, while RLIMIT_DATA bounds the heap and leaves CUDA
working (docs/trt_engine.md has the measurements).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import errno
import faulthandler
import io
import json
import os
import re
import resource
import select
import signal
import sys
import tempfile
import time
import traceback

from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._progress import current
from ansible_collections.tao.fleet.plugins.module_utils._store import os_error

BUILD_LOG = 'build.log'
BUILDER_FILE = 'builder.pid'
# Test-only: seconds the child sleeps before its target runs, so that tests can kill -9 or time
# out a real build process (docs/trt_engine.md). Unset in production.
TEST_DELAY_ENV = 'TAO_FLEET_TEST_BUILD_DELAY'
LOG_TAIL_LINES = 20
PR_SET_PDEATHSIG = 1
# A build that hits RLIMIT_DATA can stall instead of failing (TensorRT-RTX 1.7 waits forever on a
# worker thread whose allocation failed); at the time limit, heap use this close to the limit
# counts as running out of memory.
MEMORY_STALL_MARGIN = 16 << 20
_OOM_TEXT = re.compile(r'bad_alloc|out of memory|cannot allocate memory|failed to map segment|MemoryError', re.I)


def _oom_error(limit, detail):
    where = 'its memory limit of %d MiB (build_memory_limit, RLIMIT_DATA)' % (limit >> 20) if limit else \
        'the memory of this host'
    return TaoFleetError(
        'The engine build ran out of memory: it exhausted %s. %s' % (where, detail),
        cause='Building an engine needs host memory for the network, tactics and the plan; on Jetson the '
              'GPU shares that RAM.',
        fix='Raise build_memory_limit (or set it to none), set a smaller workspace or a smaller profile / max '
            'batch, stop other processes using memory, and on Jetson add swap or zram.',
        code='build_out_of_memory', details={'memory_limit_bytes': limit})


def _error_dict(err):
    return {'msg': err.msg, 'cause': err.cause, 'fix': err.fix, 'code': err.code, 'details': err.details}


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _record_builder(build_dir):
    """Add this child to builder.pid (the store's record of the module process), atomically:
    ``build_pid`` is the process to watch (or kill) while the build runs."""
    path = os.path.join(build_dir, BUILDER_FILE)
    try:
        with open(path) as handle:
            record = json.loads(handle.read())
    except (IOError, OSError, ValueError):
        record = {}
    record['build_pid'] = os.getpid()
    fd, temp = tempfile.mkstemp(prefix='.write-', dir=build_dir)
    try:
        _write_all(fd, json.dumps(record).encode('ascii'))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temp, path)


def _die_with_parent(parent):
    """The kernel kills this child when the module process dies (kill -9 of the task included)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _run_target(target, build_dir, memory_limit):
    """The child's work; an answer dict, or None when memory ran out."""
    try:
        _record_builder(build_dir)
        if memory_limit:
            resource.setrlimit(resource.RLIMIT_DATA, (memory_limit, memory_limit))
        delay = os.environ.get(TEST_DELAY_ENV)
        if delay:
            time.sleep(float(delay))
        return {'result': target()}
    except TaoFleetError as err:
        return {'error': _error_dict(err)}
    except MemoryError:
        return None
    except OSError as err:
        return {'error': _error_dict(os_error(err, 'building in', build_dir))}
    except Exception as exc:
        return {'error': {'msg': 'The engine build failed: %s: %s' % (type(exc).__name__, exc),
                          'cause': 'An unexpected error in the build process.',
                          'fix': 'Read error_details.traceback; report it if it persists.',
                          'code': 'build_failed',
                          'details': {'traceback': traceback.format_exc().splitlines()[-12:]}}}


def _child(target, build_dir, memory_limit, parent, write_fd):
    """Runs in the forked child; never returns."""
    status = 1
    # Made before the memory limit applies: the answer when memory runs out.
    oom_answer = json.dumps({'error': _error_dict(_oom_error(memory_limit, 'Python ran out of memory.'))}).encode()
    try:
        os.setpgid(0, 0)
        _die_with_parent(parent)
        log_fd = os.open(os.path.join(build_dir, BUILD_LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        # print() goes to the log too, whatever sys.stdout was bound to in the parent
        sys.stdout = io.open(1, 'w', buffering=1, closefd=False)
        sys.stderr = io.open(2, 'w', buffering=1, closefd=False)
        if faulthandler.is_enabled():
            faulthandler.enable(sys.stderr)   # a crash's Python stack lands in the log too
        answer = _run_target(target, build_dir, memory_limit)
        try:
            data = oom_answer if answer is None else json.dumps(answer).encode('utf-8')
        except MemoryError:
            data = oom_answer
        _write_all(write_fd, data)
        status = 0
    except MemoryError:
        try:
            _write_all(write_fd, oom_answer)
        except OSError:
            pass
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(status)


def _vm_data(pid):
    """VmData of a process in bytes (its heap and other private writable memory), or None."""
    try:
        with open('/proc/%d/status' % pid) as handle:
            for line in handle:
                if line.startswith('VmData:'):
                    return int(line.split()[1]) << 10
    except (IOError, OSError, ValueError, IndexError):
        return None
    return None


def _log_tail(build_dir, count=LOG_TAIL_LINES, window=None):
    """The last ``count`` lines of the build log; with ``window``, read only its last ``window`` bytes (a
    verbose TensorRT log runs to megabytes, and a running build's progress reads it every few seconds)."""
    try:
        with open(os.path.join(build_dir, BUILD_LOG), 'rb') as handle:
            if window:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - window))
            lines = handle.read().decode('utf-8', 'replace').splitlines()
    except (IOError, OSError):
        return []
    return lines[-count:]


def _kill_group(pid):
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
            return
        except OSError:
            continue


def _wait(pid, deadline):
    """(status or None if the deadline passed)."""
    delay = 0.005
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _collect(read_fd, pid, deadline, tick=None):
    """Read the child's answer until EOF, then reap it; (answer bytes, wait status or None, vm). ``tick(pid)``
    runs about once a second while the child works."""
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b''.join(chunks), None, _vm_data(pid)
        if tick is not None:
            tick(pid)
        ready, _w, _x = select.select([read_fd], [], [], min(remaining, 1.0))
        if ready:
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    status = _wait(pid, deadline)
    return b''.join(chunks), status, None if status is not None else _vm_data(pid)


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return 'signal %d' % number


def _killed_error(number, build_dir, pid):
    name = _signal_name(number)
    details = {'signal': number, 'signal_name': name, 'build_pid': pid, 'log_tail': _log_tail(build_dir)}
    if number == signal.SIGKILL:
        return TaoFleetError(
            'The engine build (pid %d) was killed by signal 9 (SIGKILL); nothing was stored.' % pid,
            cause='Often the kernel OOM killer on Jetson (dmesg shows "Out of memory: Killed process %d"), '
                  'or someone or something killed the build process.' % pid,
            fix='If it was the OOM killer: add swap/zram, reduce workspace or the profile / max batch, stop '
                'other processes that use memory, or set build_memory_limit so the build fails cleanly. Then '
                'run the task again.', code='build_killed', details=details)
    return TaoFleetError(
        'The engine build (pid %d) died from signal %d (%s); nothing was stored.' % (pid, number, name),
        cause='TensorRT or a library it loaded crashed (SIGSEGV/SIGABRT), or the process was signalled.',
        fix='Read error_details.log_tail (the build process output); check that the TensorRT, CUDA and '
            'driver versions match (re-run tao.fleet.platform_facts), then run the task again.',
        code='build_killed', details=details)


def _timeout_error(timeout, memory_limit, vm_data, build_dir, pid):
    if memory_limit and vm_data is not None and vm_data >= memory_limit - MEMORY_STALL_MARGIN:
        err = _oom_error(memory_limit, 'It stalled at %d MiB of heap until build_timeout (%s s) stopped it '
                         '(TensorRT waits forever when a worker thread cannot allocate).' % (vm_data >> 20, timeout))
        err.details.update(vm_data_bytes=vm_data, build_pid=pid, log_tail=_log_tail(build_dir))
        return err
    return TaoFleetError(
        'The engine build (pid %d) ran past build_timeout (%s s) and was stopped (SIGKILL to its process '
        'group); nothing was stored.' % (pid, timeout),
        cause='Building takes long on small devices (tens of minutes for ResNet34 on a Jetson Nano), more '
              'with large profiles or workspace; or the build hung.',
        fix='Raise build_timeout, or make the build smaller (max batch, profile, workspace); a timing cache '
            'from an earlier build of this platform speeds it up.',
        code='build_timeout', details={'build_pid': pid, 'vm_data_bytes': vm_data, 'log_tail': _log_tail(build_dir)})


def _as_error(answer, memory_limit):
    err = TaoFleetError(answer.get('msg') or 'The engine build failed.', cause=answer.get('cause'),
                        fix=answer.get('fix'), code=answer.get('code'), details=answer.get('details'))
    text = ' '.join([err.msg] + [str(line) for line in (err.details.get('log_errors') or [])]
                    + [str(line) for line in (err.details.get('tried') or [])])
    if err.code in ('build_failed', 'missing_python_package') and memory_limit and _OOM_TEXT.search(text):
        oom = _oom_error(memory_limit, 'TensorRT said: %s' % err.msg)
        oom.details.update(err.details)
        return oom
    return err


def _progress_tick(build_dir):
    """What an operator sees of a running build (``_progress``): its seconds, heap and TensorRT's last line."""
    progress = current()
    if progress is None:
        return None
    started = time.monotonic()

    def tick(pid):
        if not progress.due():
            return
        vm_data = _vm_data(pid)
        progress.update(build_pid=pid, build_seconds=int(time.monotonic() - started),
                        build_memory_mb=None if vm_data is None else vm_data >> 20,
                        tensorrt_said=_last_said(build_dir))
    return tick


def _last_said(build_dir):
    """TensorRT's last non-empty log line, at most 200 characters."""
    lines = [line for line in _log_tail(build_dir, window=4096) if line.strip()]
    return lines[-1][:200] if lines else None


def run_in_child(target, build_dir, timeout, memory_limit=None):
    """``target()`` in a forked child (see the module docstring); its JSON-able result, or raises."""
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(target, build_dir, memory_limit, parent, write_fd)
    os.close(write_fd)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child did it first (or already exec'd nothing: it only ever forks)
    try:
        answer, status, vm_data = _collect(read_fd, pid, time.monotonic() + float(timeout), _progress_tick(build_dir))
    finally:
        os.close(read_fd)
    if status is None:
        _kill_group(pid)
        os.waitpid(pid, 0)
        raise _timeout_error(timeout, memory_limit, vm_data, build_dir, pid)
    if os.WIFSIGNALED(status):
        raise _killed_error(os.WTERMSIG(status), build_dir, pid)
    try:
        decoded = json.loads(answer.decode('utf-8')) if answer else None
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise TaoFleetError(
            'The engine build process (pid %d) ended with exit status %d without a result.'
            % (pid, os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1),
            cause='It failed before it could report (see error_details.log_tail).',
            fix='Read the log tail; run the task again with -vvv.', code='build_failed',
            details={'build_pid': pid, 'log_tail': _log_tail(build_dir)})
    if 'error' in decoded:
        raise _as_error(decoded['error'], memory_limit)
    return decoded['result']


# ---- the engine build ---------------------------------------------------------------------------

def _numbers(version):
    return [int(part) for part in re.findall(r'[0-9]+', str(version))]


def same_tensorrt(expected, loaded):
    """True if the imported TensorRT is the one the facts name (``10.3.0`` and ``10.3.0.30`` agree)."""
    want, have = _numbers(expected['version']), _numbers(loaded.version)
    common = min(len(want), len(have))
    return (expected['flavour'] == loaded.flavour and bool(expected.get('test_double')) == bool(loaded.test_double)
            and common >= 2 and want[:common] == have[:common])


def _describe(trt):
    return '%s %s%s' % ('TensorRT-RTX' if trt['flavour'] == 'tensorrt_rtx' else 'TensorRT', trt['version'],
                        ' (test double)' if trt.get('test_double') else '')


def check_same_tensorrt(expected, loaded):
    if same_tensorrt(expected, loaded):
        return
    found = {'version': loaded.version, 'flavour': loaded.flavour, 'test_double': loaded.test_double}
    raise TaoFleetError(
        'Platform facts are stale: they name %s, but this Python (%s) imports %s; nothing was built.'
        % (_describe(expected), sys.executable, _describe(found)),
        cause='TensorRT changed on this host after tao.fleet.platform_facts ran (upgrade, other interpreter, '
              'other venv), so the fingerprint would describe an engine that was not built.',
        fix='Re-run tao.fleet.platform_facts in the same play and pass its facts to trt_engine.',
        code='platform_facts_stale', details={'facts': expected, 'imported': found})


def build_engine(store, build_dir, request, expected, platform, timeout, memory_limit=None):
    """Build in a child process and write ``build_dir/model.engine``; returns what the build
    reported (the TensorRT layer's result without the engine bytes; the timing cache in base64)."""

    from ansible_collections.tao.fleet.plugins.module_utils._trt import layer as _trt
    _trt.load_generations()

    def target():
        started = time.time()
        loaded = _trt.import_tensorrt(platform)
        check_same_tensorrt(expected, loaded)
        imported = time.time()
        result = _trt.build(loaded, request, platform=platform)
        seconds = time.time() - imported
        engine = result.pop('engine')
        store.write_engine(build_dir, engine)
        cache = result.pop('timing_cache')
        result.pop('log')
        result.update(seconds=round(seconds, 3), import_seconds=round(imported - started, 3),
                      engine_size=len(engine),
                      timing_cache=base64.b64encode(cache).decode('ascii') if cache is not None else None)
        return result

    result = run_in_child(target, build_dir, timeout, memory_limit)
    try:
        os.unlink(os.path.join(build_dir, BUILD_LOG))
    except OSError as err:
        if err.errno != errno.ENOENT:
            raise
    return result
