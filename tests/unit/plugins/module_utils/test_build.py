# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The build's child process: real fork, real signals, real rlimits, real kill -9.

Targets are plain Python functions (what runs inside the child does not matter to the runner), plus
``build_engine`` with the TensorRT test double (tests/doubles) installed on sys.path but never imported
in this process. Real TensorRT-RTX builds through the same runner are in tests/integration/test_trt_engine.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.tao.fleet.plugins.module_utils import _build
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore

DOUBLES = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'doubles'))
sys.path.insert(0, DOUBLES)
import install  # noqa: E402  (tests/doubles/install.py)
import onnx_writer  # noqa: E402


@pytest.fixture
def build_dir(tmp_path):
    store = EngineStore(str(tmp_path / 'store'))
    return store.temp_dir('m')


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with open('/proc/%d/stat' % pid) as handle:
        return handle.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')


def builder_record(build_dir):
    with open(os.path.join(build_dir, 'builder.pid')) as handle:
        return json.loads(handle.read())


def vm_data():
    with open('/proc/self/status') as handle:
        for line in handle:
            if line.startswith('VmData:'):
                return int(line.split()[1]) << 10
    raise AssertionError('no VmData')


def expect(code, target, build_dir, timeout=30, memory_limit=None):
    with pytest.raises(TaoFleetError) as caught:
        _build.run_in_child(target, build_dir, timeout, memory_limit)
    assert caught.value.code == code, str(caught.value)
    return caught.value


# ---- the runner ---------------------------------------------------------------------------------

def test_result_comes_back_from_another_process_whose_output_goes_to_the_build_log(build_dir, capfd):
    def target():
        print('tensorrt would print this')
        sys.stderr.write('and this\n')
        return {'pid': os.getpid(), 'pgid': os.getpgid(0)}

    result = _build.run_in_child(target, build_dir, 30)
    assert result['pid'] != os.getpid()
    assert result['pgid'] == result['pid']          # its own process group: killpg reaches all of it
    assert builder_record(build_dir)['build_pid'] == result['pid']
    assert builder_record(build_dir)['pid'] == os.getpid()   # the store's record of the module stays
    with open(os.path.join(build_dir, 'build.log')) as handle:
        assert handle.read() == 'tensorrt would print this\nand this\n'
    out, err = capfd.readouterr()
    assert 'tensorrt would print' not in out + err    # the module's stdout carries only its JSON


def test_error_raised_in_the_child_reaches_the_parent_with_its_code(build_dir):
    def target():
        raise TaoFleetError('no such thing', cause='c', fix='f', code='onnx_parse_failed',
                            details={'parser_errors': ['In node 0']})

    err = expect('onnx_parse_failed', target, build_dir)
    assert (err.msg, err.cause, err.fix, err.details) == ('no such thing', 'c', 'f', {'parser_errors': ['In node 0']})


def test_unexpected_exception_is_build_failed_with_its_traceback(build_dir):
    def target():
        return {}['missing']

    err = expect('build_failed', target, build_dir)
    assert 'KeyError' in err.msg and any('missing' in line for line in err.details['traceback'])


def test_sigkill_is_build_killed_naming_the_oom_killer(build_dir):
    def target():
        os.kill(os.getpid(), signal.SIGKILL)

    err = expect('build_killed', target, build_dir)
    assert 'signal 9' in err.msg and 'OOM killer' in err.cause and 'swap' in err.fix
    assert err.details['signal'] == 9


def test_a_crash_is_build_killed_with_the_signal_and_the_log_tail(build_dir):
    def target():
        print('last words')
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGSEGV)

    err = expect('build_killed', target, build_dir)
    assert 'SIGSEGV' in err.msg
    with open(os.path.join(build_dir, 'build.log')) as handle:
        lines = handle.read().splitlines()
    assert lines[0] == 'last words' and err.details['log_tail'] == lines[-_build.LOG_TAIL_LINES:]


def test_kill_9_from_outside_found_through_builder_pid(build_dir):
    """What an operator (or the integration test) does: read build_pid, kill -9 it."""
    killed = []

    def killer():
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                pid = builder_record(build_dir).get('build_pid')
            except (IOError, OSError, ValueError):
                pid = None
            if pid:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=killer)
    thread.start()
    err = expect('build_killed', lambda: time.sleep(60), build_dir)
    thread.join()
    assert killed and err.details['build_pid'] == killed[0]


def test_time_limit_kills_the_whole_process_group(build_dir, tmp_path):
    pid_file = str(tmp_path / 'grandchild')

    def target():
        grandchild = subprocess.Popen(['sleep', '60'])
        with open(pid_file, 'w') as handle:
            handle.write(str(grandchild.pid))
        time.sleep(60)

    started = time.time()
    err = expect('build_timeout', target, build_dir, timeout=2)
    assert time.time() - started < 30
    assert 'build_timeout (2 s)' in err.msg and 'Raise build_timeout' in err.fix
    assert not alive(err.details['build_pid'])
    with open(pid_file) as handle:
        grandchild = int(handle.read())
    deadline = time.time() + 10
    while alive(grandchild) and time.time() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild)


def test_test_delay_setting_slows_the_child_into_the_time_limit(build_dir, monkeypatch):
    monkeypatch.setenv(_build.TEST_DELAY_ENV, '30')
    expect('build_timeout', lambda: {}, build_dir, timeout=1)


def test_memory_limit_turns_an_allocation_into_build_out_of_memory(build_dir):
    limit = vm_data() + (64 << 20)

    def target():
        block = bytearray(1 << 30)
        return {'size': len(block)}

    err = expect('build_out_of_memory', target, build_dir, memory_limit=limit)
    assert 'RLIMIT_DATA' in err.msg and 'build_memory_limit' in err.fix
    # the same target without a limit succeeds: the limit made the difference
    assert _build.run_in_child(target, build_dir, 30)['size'] == 1 << 30


def test_tensorrt_allocation_errors_count_as_out_of_memory_only_under_a_limit(build_dir):
    def target():
        raise TaoFleetError('TensorRT-RTX 1.7.1.116 failed to build the engine: Unexpected exception std::bad_alloc',
                            code='build_failed', details={'log_errors': ['Unexpected exception std::bad_alloc']})

    err = expect('build_out_of_memory', target, build_dir, memory_limit=vm_data() + (256 << 20))
    assert 'std::bad_alloc' in err.msg
    expect('build_failed', target, build_dir)


def test_a_build_that_stalls_at_its_memory_limit_is_reported_as_out_of_memory(build_dir):
    """TensorRT-RTX 1.7 was seen waiting forever after a worker's allocation failed under RLIMIT_DATA."""
    limit = vm_data() + (64 << 20)

    def target():
        held = []
        try:
            while True:
                held.append(bytearray(1 << 20))
        except MemoryError:
            time.sleep(60)

    err = expect('build_out_of_memory', target, build_dir, timeout=3, memory_limit=limit)
    assert 'stalled' in err.msg and err.details['vm_data_bytes'] >= limit - _build.MEMORY_STALL_MARGIN


def test_the_child_dies_with_the_module_process(build_dir):
    """kill -9 of the module (Ansible's timeout, an operator) must not leave a build running."""
    reader, writer = os.pipe()
    module = os.fork()
    if module == 0:
        os.close(reader)
        try:
            _build.run_in_child(lambda: time.sleep(60), build_dir, 120)
        finally:
            os._exit(0)
    os.close(writer)
    deadline = time.time() + 20
    child = None
    while time.time() < deadline and child is None:
        try:
            child = builder_record(build_dir).get('build_pid')
        except (IOError, OSError, ValueError):
            time.sleep(0.02)
    os.kill(module, signal.SIGKILL)
    os.waitpid(module, 0)
    os.close(reader)
    assert child and child != module
    while alive(child) and time.time() < deadline:
        time.sleep(0.05)
    assert not alive(child)


# ---- TensorRT identity ------------------------------------------------------------------------

class Loaded(object):
    def __init__(self, version, flavour='tensorrt', test_double=False):
        self.version, self.flavour, self.test_double = version, flavour, test_double


@pytest.mark.parametrize('facts, loaded, same', [
    ({'version': '10.3.0.30', 'flavour': 'tensorrt'}, Loaded('10.3.0'), True),
    ({'version': '8.2.1.8', 'flavour': 'tensorrt'}, Loaded('8.2.1.8'), True),
    ({'version': '8.5.2.2', 'flavour': 'tensorrt'}, Loaded('8.6.1'), False),
    ({'version': '1.7.1.116', 'flavour': 'tensorrt_rtx'}, Loaded('1.7.1.116', 'tensorrt_rtx'), True),
    ({'version': '1.7.1.116', 'flavour': 'tensorrt'}, Loaded('1.7.1.116', 'tensorrt_rtx'), False),
    ({'version': '8.2.1.8', 'flavour': 'tensorrt', 'test_double': False}, Loaded('8.2.1.8', test_double=True), False),
])
def test_the_imported_tensorrt_must_be_the_one_the_facts_name(facts, loaded, same):
    assert _build.same_tensorrt(facts, loaded) is same


# ---- build_engine with the test double --------------------------------------------------------

@pytest.fixture
def double_site(tmp_path):
    """The double of 8.5.2.2 on sys.path for the child to import; this process never imports it."""
    site = str(tmp_path / 'site')
    install.install('8.5.2.2', site, {'dla_cores': 2, 'fast_fp16': True, 'fast_int8': True})
    sys.path.insert(0, site)
    yield site
    sys.path.remove(site)
    for name in [n for n in sys.modules if n.startswith(('tensorrt', 'tao_fleet_trt_double'))]:
        del sys.modules[name]


DOUBLE_FACTS = {'version': '8.5.2.2', 'flavour': 'tensorrt', 'test_double': True}


def test_build_engine_writes_the_engine_in_the_build_dir_and_reports_the_build(build_dir, double_site):
    request = {'model': onnx_writer.peoplenet_shaped(), 'precision': 'fp16', 'max_batch': 4, 'timing_cache': b''}
    result = _build.build_engine(EngineStore(os.path.dirname(os.path.dirname(os.path.dirname(build_dir)))),
                                 build_dir, request, DOUBLE_FACTS, {'dla_cores': 2}, 60)
    with open(os.path.join(build_dir, 'model.engine'), 'rb') as handle:
        engine = handle.read()
    assert engine.startswith(b'TAOFLEET-TRT-DOUBLE 8.5.2.2 ')
    assert result['engine_size'] == len(engine) and 'engine' not in result
    assert result['tensorrt'] == {'version': '8.5.2.2', 'flavour': 'tensorrt', 'generation': 'gen8_5',
                                  'test_double': True}
    assert result['precision'] == 'fp16' and result['timing_cache']
    assert sorted(os.listdir(build_dir)) == ['builder.pid', 'model.engine']    # build.log removed
    assert 'tensorrt' not in sys.modules


def test_build_engine_refuses_a_tensorrt_other_than_the_facts_name(build_dir, double_site):
    facts = dict(DOUBLE_FACTS, version='8.6.1')
    with pytest.raises(TaoFleetError) as caught:
        _build.build_engine(EngineStore(os.path.dirname(os.path.dirname(os.path.dirname(build_dir)))),
                            build_dir, {'model': onnx_writer.peoplenet_shaped()}, facts, {}, 60)
    assert caught.value.code == 'platform_facts_stale'
    assert 'platform facts are stale' in caught.value.msg.lower() and 'platform_facts' in caught.value.fix
    assert not os.path.exists(os.path.join(build_dir, 'model.engine'))
