# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""trt_engine's logic: tao-converter options, fingerprint, reuse or build, failures that leave the store
as it was.

Builds run for real through the child process of _build.py, with the TensorRT TEST DOUBLE
(tests/doubles) as the TensorRT the child imports: it is not TensorRT, so these tests prove the
module's decisions, files and failure handling, not TensorRT's behaviour. Real TensorRT-RTX builds
of the same code run in tests/integration/test_trt_engine.py. The platform facts are the real
fixture facts of the Xavier NX and Nano profiles with their TensorRT swapped for the double's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import importlib
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.tao.fleet.plugins.module_utils import _build, _engine, _etlt
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import BUILD_OPTION_DEFAULTS, platform_key_sha256
from ansible_collections.tao.fleet.plugins.module_utils._trt.layer import capabilities

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..', '..'))
sys.path.insert(0, os.path.join(REPO, 'tests', 'doubles'))
import install  # noqa: E402  (tests/doubles/install.py)
import onnx_writer  # noqa: E402

OPTIONS = ('model_path', 'model_name', 'model_key', 'model', 'platform', 'converter_args', 'precision', 'input_name',
           'input_dims', 'output_names', 'input_order', 'calibration_cache', 'calibration_batch_size', 'max_batch_size',
           'workspace', 'profiles', 'strict_types', 'dla_core', 'gpu_fallback', 'min_dla_layers',
           'compute_capabilities', 'build_timeout', 'build_memory_limit', 'keep_decrypted_model', 'store', 'sysroot')
ONNX = onnx_writer.peoplenet_shaped()
CACHE = b'TRT-8502-EntropyCalibration2\ninput_1: 3c010a14\n'


def fixture_facts(profile, version, **platform):
    """A profile's real fixture facts, with the interpreter's TensorRT being the double of ``version``."""
    with open(os.path.join(REPO, 'tests', 'fixtures', 'sysroots', '%s.expected.json' % profile)) as handle:
        facts = json.load(handle)['tao_platform']
    facts['tensorrt'] = {'version': version, 'flavour': 'tensorrt', 'test_double': True, 'scope': 'interpreter'}
    facts['platform_key'].update(tensorrt=version, tensorrt_flavour='tensorrt', test_double='true')
    facts.update(platform)
    return facts


def uff_meta_graph():
    """A minimal UFF MetaGraph (uff.proto field numbers) with PeopleNet's input node."""
    field = onnx_writer._field
    shape = field(1, 'shape') + field(2, field(8, b'\x03\xa0\x04\xc0\x07'))
    graph = field(1, 'main') + field(2, field(1, 'input_1') + field(3, 'Input') + field(4, shape)) + \
        field(2, field(1, 'conv1/convolution') + field(2, 'input_1') + field(3, 'Conv'))
    return field(1, 1) + field(2, 1) + field(3, field(1, 'tensorflow_extension') + field(2, 1)) + \
        field(4, graph) + field(5, field(1, 'conv1/kernel') + field(2, b'\x11' * 600))


class Host(object):
    """A double-TensorRT host: the double installed where the build child imports it, a store, models."""

    def __init__(self, tmp_path, version='8.5.2.2', profile='xavier-nx-jp51', **device):
        tmp_path.mkdir()
        self.tmp = tmp_path
        self.site = str(tmp_path / 'site')
        self.store = str(tmp_path / 'store')
        self.install(version, **device)
        self.facts = fixture_facts(profile, version)
        self.etlt = self.write('peoplenet.etlt', _etlt.encode_etlt(ONNX, 'tlt_encode'))

    def install(self, version, dla_cores=2, fast_fp16=True, fast_int8=True):
        install.install(version, self.site, {'dla_cores': dla_cores, 'fast_fp16': fast_fp16, 'fast_int8': fast_int8})
        if self.site not in sys.path:
            sys.path.insert(0, self.site)
        importlib.invalidate_caches()

    def write(self, name, data):
        path = str(self.tmp / name)
        with open(path, 'wb') as handle:
            handle.write(data)
        return path

    def params(self, **options):
        params = dict.fromkeys(OPTIONS)
        params.update(model_path=self.etlt, model_key='tlt_encode', model_name='peoplenet', platform=self.facts,
                      store=self.store, sysroot='/', build_timeout=120, build_memory_limit='auto')
        params.update(options)
        return params

    def run(self, check_mode=False, **options):
        return _engine.ensure_engine(self.params(**options), check_mode=check_mode)[0]

    def fail(self, code, check_mode=False, **options):
        with pytest.raises(TaoFleetError) as caught:
            self.run(check_mode=check_mode, **options)
        assert caught.value.code == code, str(caught.value)
        return caught.value

    def engines(self, model='peoplenet'):
        path = os.path.join(self.store, 'engines', model)
        return sorted(name for name in os.listdir(path) if len(name) == 64) if os.path.isdir(path) else []

    def snapshot(self):
        """Every path below the store with its type and content digest."""
        found = {}
        for root, dirs, files in os.walk(self.store):
            for name in dirs + files:
                path = os.path.join(root, name)
                info = os.lstat(path)
                if stat.S_ISREG(info.st_mode):
                    with open(path, 'rb') as handle:
                        found[os.path.relpath(path, self.store)] = hashlib.sha256(handle.read()).hexdigest()
                else:
                    found[os.path.relpath(path, self.store)] = stat.S_IFMT(info.st_mode)
        return found


@pytest.fixture
def make_host(tmp_path):
    """Host(...) factory; afterwards no double stays on sys.path or in sys.modules."""
    made = []

    def make(**kwargs):
        made.append(Host(tmp_path / ('host%d' % len(made)), **kwargs))
        return made[-1]
    yield make
    sites = [host.site for host in made]
    sys.path[:] = [p for p in sys.path if p not in sites]
    for name in [n for n in sys.modules if n.startswith(('tensorrt', 'tao_fleet_trt_double'))]:
        del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture
def host(make_host):
    return make_host()


class NoTensorRT(object):
    """An import hook that fails the test if this process imports any TensorRT module."""

    def __init__(self):
        self.tried = []

    def find_module(self, name, path=None):
        return self if name.split('.')[0] in ('tensorrt', 'tensorrt_rtx', 'tensorrt_bindings',
                                              'tensorrt_rtx_bindings') else None

    def find_spec(self, name, path=None, target=None):
        if self.find_module(name):
            self.tried.append(name)
            raise ImportError('tensorrt must not be imported on the reuse path')
        return None


# ---- tao-converter arguments ------------------------------------------------------------------

def test_issue_example_translates_one_to_one():
    options, positional, warnings = _engine.parse_converter_args('-k tlt_encode -t fp16 -d 3,544,960')
    assert options == {'model_key': 'tlt_encode', 'precision': 'fp16', 'input_dims': '3,544,960'}
    assert (positional, warnings) == ([], [])


def test_every_tao_converter_flag_and_getopt_forms():
    options, positional, warnings = _engine.parse_converter_args(
        '-kmykey -t int8 -c cal.bin -b 8 -m 16 -w 1073741824 -i nchw -s -u 1 -o output_cov/Sigmoid,output_bbox/BiasAdd '
        '-p input_1,1x3x544x960,8x3x544x960,16x3x544x960 -p "input_2,1x3,2x3,4x3" -e saved.engine model.etlt')
    assert options == {
        'model_key': 'mykey', 'precision': 'int8', 'calibration_cache': 'cal.bin', 'calibration_batch_size': 8,
        'max_batch_size': 16, 'workspace': '1073741824', 'input_order': 'nchw', 'strict_types': True, 'dla_core': 1,
        'output_names': ['output_cov/Sigmoid', 'output_bbox/BiasAdd'],
        'profiles': {'input_1': {'min': '1x3x544x960', 'opt': '8x3x544x960', 'max': '16x3x544x960'},
                     'input_2': {'min': '1x3', 'opt': '2x3', 'max': '4x3'}}}
    assert positional == ['model.etlt']
    assert len(warnings) == 1 and '-e saved.engine is ignored' in warnings[0]
    assert set(_engine.CONVERTER_FLAGS) == set('-' + f for f in 'ktdocbmwipsue')


@pytest.mark.parametrize('text, words', [
    ('-x 1', 'flag -x is not supported'), ('-t', '-t needs a value'), ('-m many', 'whole number'),
    ('-syes', 'takes no value'), ('-t fp16 -t fp32', 'twice'), ('-p input_1,1x3', 'name,min,opt,max'),
    ('a.etlt b.etlt', 'positional'), ('-k "unclosed', 'cannot be split'),
])
def test_bad_converter_args_are_refused_with_the_reason(text, words):
    with pytest.raises(TaoFleetError) as caught:
        _engine.parse_converter_args(text)
    assert caught.value.code == 'invalid_argument' and words in caught.value.msg


def test_explicit_options_and_converter_args_agree_or_fail():
    converter = _engine.parse_converter_args('-w 1073741824 -t fp16 -k secret1 -d 3x544x960')[0]
    merged = _engine.merge_converter_args({'workspace': '1G', 'precision': 'fp16', 'input_dims': [3, 544, 960]},
                                          converter)
    assert merged['model_key'] == 'secret1'
    with pytest.raises(TaoFleetError) as caught:
        _engine.merge_converter_args({'precision': 'fp32'}, converter)
    assert 'precision is given both' in caught.value.msg
    with pytest.raises(TaoFleetError) as caught:
        _engine.merge_converter_args({'model_key': 'secret2'}, converter)
    assert 'secret' not in str(caught.value)


# ---- small decisions --------------------------------------------------------------------------

@pytest.mark.parametrize('requested, version, flavour, expected', [
    ('fp32', '8.5.2.2', 'tensorrt', 'fp32'), ('fp16', '8.5.2.2', 'tensorrt', 'fp16'),
    ('int8', '10.3.0', 'tensorrt', 'int8'), ('strongly_typed', '8.5.2.2', 'tensorrt', 'fp32'),
    ('fp32', '1.7.1.116', 'tensorrt_rtx', 'strongly_typed'), ('strongly_typed', '11.4.0.106', 'tensorrt', 'strongly_typed'),
    ('fp16', '1.7.1.116', 'tensorrt_rtx', 'fp16'), ('half', '8.5.2.2', 'tensorrt', 'fp16'),
])
def test_one_precision_name_per_engine(requested, version, flavour, expected):
    assert _engine.effective_precision(requested, capabilities(version, flavour)) == expected
    assert _engine.LAYER_PRECISION[expected] in ('fp32', 'fp16', 'int8', 'model')


def test_min_dla_layers_and_memory_limit_parsing():
    assert _engine.parse_min_dla_layers('90%') == ('percent', 90.0)
    assert _engine.parse_min_dla_layers(12) == ('count', 12)
    assert _engine.parse_min_dla_layers(None) is None
    with pytest.raises(TaoFleetError):
        _engine.parse_min_dla_layers('most')
    facts = {'memory': {'total_mb': 4000}}
    assert _engine.memory_limit_bytes('auto', facts) == 3000 << 20
    assert _engine.memory_limit_bytes('auto', {}) is None
    assert _engine.memory_limit_bytes('none', facts) is None
    assert _engine.memory_limit_bytes('512M', facts) == 512 << 20
    with pytest.raises(TaoFleetError):
        _engine.memory_limit_bytes('lots', facts)


def test_defaults_are_the_fingerprint_modules(host):
    """trt_engine keeps no copy of the defaults: unset options and tao-converter's values are one engine."""
    first = host.run(check_mode=True)
    same = host.run(check_mode=True, precision='fp32', workspace=str(BUILD_OPTION_DEFAULTS['workspace']),
                    max_batch_size=BUILD_OPTION_DEFAULTS['max_batch_size'])
    assert first['fingerprint'] == same['fingerprint']
    assert first['fingerprint_inputs']['build']['max_batch_size'] == 16


# ---- build, then reuse without TensorRT --------------------------------------------------------

def test_build_then_reuse_without_importing_tensorrt(host, monkeypatch):
    built = host.run(precision='fp16')
    assert (built['changed'], built['built'], built['reused']) == (True, True, False)
    with open(built['engine_path'], 'rb') as handle:
        assert handle.read().startswith(b'TAOFLEET-TRT-DOUBLE 8.5.2.2 ')
    assert built['tensorrt']['test_double'] is True and built['fingerprint_inputs']['build']['precision'] == 'fp16'
    with open(built['manifest']['path']) as handle:
        manifest = json.load(handle)
    assert manifest['fingerprint'] == built['fingerprint'] and manifest['build']['precision'] == 'fp16'
    assert manifest['build']['model']['sha256'] == hashlib.sha256(open(host.etlt, 'rb').read()).hexdigest()
    assert manifest['build']['tensorrt']['version'] == '8.5.2.2' and manifest['build']['seconds'] >= 0
    assert sorted(os.listdir(os.path.dirname(built['engine_path']))) == ['manifest.json', 'model.engine']
    assert 'tensorrt' not in sys.modules   # the child imported it, not this process

    guard = NoTensorRT()
    monkeypatch.setattr(sys, 'meta_path', [guard] + sys.meta_path)
    monkeypatch.setattr(_build, 'run_in_child', lambda *a, **k: pytest.fail('the reuse path forked a build'))
    monkeypatch.setattr(_etlt, 'decode_etlt', lambda *a, **k: pytest.fail('the reuse path decrypted the model'))
    again = host.run(precision='fp16')
    assert (again['changed'], again['built'], again['reused']) == (False, False, True)
    assert again['fingerprint'] == built['fingerprint'] and again['build_seconds'] == built['build_seconds']
    assert guard.tried == [] and host.engines() == [built['fingerprint']]


def test_each_change_causes_exactly_one_rebuild(host):
    seen = [host.run(precision='fp16')['fingerprint']]

    def rebuild(**options):
        first = host.run(**options)
        second = host.run(**options)
        assert (first['built'], second['built'], second['reused']) == (True, False, True)
        assert first['fingerprint'] not in seen
        seen.append(first['fingerprint'])
        assert host.engines() == sorted(seen)

    rebuild(precision='fp32')                                   # precision
    host.etlt = host.write('peoplenet.etlt', _etlt.encode_etlt(onnx_writer.peoplenet_shaped(height=272), 'tlt_encode'))
    rebuild(precision='fp32')                                   # the model file
    host.install('8.6.1')                                       # TensorRT, and facts gathered again
    host.facts = fixture_facts('xavier-nx-jp51', '8.6.1')
    rebuild(precision='fp32')
    rebuild(precision='fp32', converter_args='-m 8')            # an option through converter_args


def test_check_mode_tells_whether_a_build_would_happen_and_writes_nothing(host):
    planned = host.run(check_mode=True, precision='fp16')
    assert (planned['changed'], planned['built']) == (True, False)
    assert not os.path.exists(host.store)
    built = host.run(precision='fp16')
    assert built['fingerprint'] == planned['fingerprint']
    assert host.run(check_mode=True, precision='fp16')['changed'] is False


def test_timing_cache_per_platform_is_kept_and_used_by_the_next_build(host):
    first = host.run(precision='fp16')
    assert first['timing_cache']['used'] and not first['timing_cache']['read'] and first['timing_cache']['written']
    path = first['timing_cache']['path']
    assert path == os.path.join(host.store, 'timing_cache', '%s.cache' % platform_key_sha256(host.facts['platform_key']))
    with open(path, 'rb') as handle:
        assert handle.read().startswith(b'TAOFLEET-TRT-DOUBLE-TIMING-CACHE 8.5.2.2')
    second = host.run(precision='fp32')
    assert second['timing_cache']['read'] is True


def test_catalog_entry_supplies_key_and_name(host):
    artifact = {'id': 'etlt', 'file': 'x.etlt', 'format': 'etlt-onnx', 'key': 'tlt_encode', 'input': {'name': 'input_1'}}
    selection = {'model': 'peoplenet_standin', 'artifact': artifact}
    result = host.run(model=selection, model_key=None, model_name=None)
    assert result['model_name'] == 'peoplenet_standin' and result['built']


def test_the_decrypted_model_is_never_written_unless_asked(host, tmp_path):
    host.run(precision='fp16')
    needle = ONNX[len(ONNX) // 2:len(ONNX) // 2 + 64]
    for root, _dirs, files in os.walk(str(tmp_path)):
        for name in files:
            with open(os.path.join(root, name), 'rb') as handle:
                assert needle not in handle.read(), os.path.join(root, name)
    kept = str(tmp_path / 'kept.onnx')
    result = host.run(precision='fp16', keep_decrypted_model=kept)
    assert (result['changed'], result['reused'], result['decrypted_model_path']) == (True, True, kept)
    with open(kept, 'rb') as handle:
        assert handle.read() == ONNX
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert host.run(precision='fp16', keep_decrypted_model=kept)['changed'] is False


# ---- bad input: a clear error, nothing in the store changed -----------------------------------

@pytest.fixture
def built(host):
    """A store with one engine in it, and its snapshot."""
    host.run(precision='fp16')
    return host.snapshot()


def test_wrong_key(host, built):
    err = host.fail('model_key_rejected', precision='fp32', model_key='not_the_key')
    assert 'tlt_encode' in err.fix
    assert host.snapshot() == built


def test_corrupt_onnx_shows_the_parsers_own_error(host, built):
    broken = onnx_writer.model(inputs=[('input_1', [None, 3, 544, 960])], outputs=[], nodes=[])
    host.etlt = host.write('broken.etlt', _etlt.encode_etlt(broken, 'tlt_encode'))
    err = host.fail('onnx_parse_failed', precision='fp16')
    assert err.details['parser_errors'] and 'TensorRT test double: not an ONNX model' in err.details['parser_errors'][0]
    assert err.details['parser_errors'][0] in err.msg
    assert host.snapshot() == built


def test_uff_on_tensorrt_10_is_refused_before_anything_runs(make_host, monkeypatch):
    host = make_host(version='10.3.0', profile='orin-nx-jp62')
    host.etlt = host.write('peoplenet_uff.etlt', _etlt.encode_etlt(uff_meta_graph(), 'tlt_encode', 'input_1'))
    monkeypatch.setattr(_build, 'run_in_child', lambda *a, **k: pytest.fail('forked'))
    err = host.fail('uff_unsupported', precision='fp16', input_dims='3,544,960', output_names=['output_cov/Sigmoid'])
    assert 'TensorRT 10.3.0' in err.msg and 'ONNX' in err.fix
    assert not os.path.exists(host.store)
    assert host.fail('uff_unsupported', check_mode=True, input_dims='3,544,960', output_names=['o']).code


def test_uff_without_input_dims(host, built):
    host.etlt = host.write('peoplenet_uff.etlt', _etlt.encode_etlt(uff_meta_graph(), 'tlt_encode', 'input_1'))
    err = host.fail('uff_input_required', precision='fp16', output_names=['output_cov/Sigmoid'])
    assert 'input_dims' in err.msg and '-d' in err.fix
    assert host.snapshot() == built
    result = host.run(precision='fp16', converter_args='-d 3,544,960 -o output_cov/Sigmoid,output_bbox/BiasAdd')
    assert result['built'] and result['fingerprint_inputs']['build']['input_dims'] == {'input_1': [3, 544, 960]}


def test_int8_without_calibration_cache(host, built):
    err = host.fail('int8_needs_calibration', precision='int8')
    assert 'calibration cache' in err.msg and 'fp16' in err.fix
    assert host.snapshot() == built
    cache = host.write('cal.bin', CACHE)
    result = host.run(converter_args='-t int8 -c %s -b 8' % cache)
    assert result['fingerprint_inputs']['calibration_sha256'] == hashlib.sha256(CACHE).hexdigest()


def test_dla_where_there_is_none(make_host):
    host = make_host(version='8.2.1.8', profile='nano-jp46', dla_cores=0, fast_int8=False)
    err = host.fail('dla_unavailable', precision='fp16', dla_core=0)
    assert 'no DLA' in err.msg and 'dla_core unset' in err.fix
    assert not os.path.exists(host.store)


def test_dla_layer_counts_and_the_threshold(host, built):
    nodes = [('Conv', ['input_1', 'w'], ['features'], 'conv'), ('Sigmoid', ['features'], ['output_cov/Sigmoid'], 'sig'),
             ('Shape', ['features'], ['shape'], 'shape'), ('Reshape', ['features', 'shape'], ['flat'], 'reshape')]
    mixed = onnx_writer.model(inputs=[('input_1', [1, 3, 64, 64])], outputs=[('output_cov/Sigmoid', [1, 3, 4, 4])],
                              nodes=nodes, initializers=[('w', [3, 3, 16, 16], [0.0] * 2304)])
    host.etlt = host.write('mixed.etlt', _etlt.encode_etlt(mixed, 'tlt_encode'))
    err = host.fail('dla_below_threshold', precision='fp16', dla_core=0, min_dla_layers='90%')
    assert err.details['layers_on_dla'] == 2 and err.details['layers'] == 4 and 'GPU' in err.cause
    assert host.snapshot() == built
    result = host.run(precision='fp16', converter_args='-u 1', min_dla_layers='2')
    assert result['dla']['core'] == 1 and (result['dla']['layers_on_dla'], result['dla']['layers_on_gpu']) == (2, 2)
    assert any('cannot run on DLA core 1' in w for w in result['build_warnings'])
    # the threshold is checked against the manifest on the reuse path too
    host.fail('dla_below_threshold', precision='fp16', dla_core=1, min_dla_layers=3)


def kill_build_when_it_runs(store, killed):
    deadline = time.time() + 30
    while time.time() < deadline:
        for root, _dirs, files in os.walk(store):
            if 'builder.pid' in files:
                try:
                    with open(os.path.join(root, 'builder.pid')) as handle:
                        pid = json.loads(handle.read()).get('build_pid')
                except (IOError, OSError, ValueError):
                    pid = None
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
        time.sleep(0.02)


def test_build_killed_with_kill_9(host, built, monkeypatch):
    monkeypatch.setenv(_build.TEST_DELAY_ENV, '60')
    killed = []
    thread = threading.Thread(target=kill_build_when_it_runs, args=(host.store, killed))
    thread.start()
    err = host.fail('build_killed', precision='fp32')
    thread.join()
    assert killed and err.details['build_pid'] == killed[0] and 'OOM killer' in err.cause
    assert host.snapshot() == built


def test_build_over_its_time_limit(host, built, monkeypatch):
    monkeypatch.setenv(_build.TEST_DELAY_ENV, '60')
    err = host.fail('build_timeout', precision='fp32', build_timeout=2)
    assert 'build_timeout (2 s)' in err.msg
    assert host.snapshot() == built


def test_build_out_of_memory(host, built):
    # A 40 MiB doc_string: the parser's copy of the model needs fresh memory in the child (blocks over
    # glibc's largest mmap threshold, 32 MiB, go back to the kernel when freed, so none is left over).
    big = ONNX + onnx_writer._field(6, b'x' * (40 << 20))
    host.etlt = host.write('big.etlt', _etlt.encode_etlt(big, 'tlt_encode'))
    err = host.fail('build_out_of_memory', precision='fp32', build_memory_limit='1M')
    assert '1 MiB' in err.msg and 'build_memory_limit' in err.fix
    assert host.snapshot() == built


def test_stale_platform_facts(host, built):
    host.facts = fixture_facts('xavier-nx-jp51', '8.6.1')      # the facts say 8.6.1, the host has 8.5.2.2
    err = host.fail('platform_facts_stale', precision='fp16')
    assert '8.6.1' in err.msg and '8.5.2.2' in err.msg
    assert host.snapshot() == built


def test_a_failure_in_an_empty_store_leaves_no_directories_behind(host):
    host.fail('model_key_rejected', model_key='nope')
    host.facts = fixture_facts('xavier-nx-jp51', '8.6.1')      # fails in the build child, after the temp dir
    host.fail('platform_facts_stale', precision='fp16')
    assert not os.path.exists(host.store)


@pytest.fixture
def small_tmpfs(tmp_path):
    mount_point = tmp_path / 'small'
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip('mounting a tmpfs needs root')
    if subprocess.call(['mount', '-t', 'tmpfs', '-o', 'size=256k', 'tao-fleet-test', str(mount_point)]) != 0:
        pytest.fail('mount -t tmpfs failed')
    try:
        yield str(mount_point)
    finally:
        subprocess.call(['umount', '-l', str(mount_point)])


def test_store_disk_full(host, small_tmpfs):
    host.store = os.path.join(small_tmpfs, 'store')
    host.run(precision='fp16')
    before = host.snapshot()
    info = os.statvfs(small_tmpfs)
    with open(os.path.join(small_tmpfs, 'filler'), 'wb') as handle:
        handle.write(b'\0' * max(0, info.f_bavail * info.f_frsize - 2 * 4096))
    err = host.fail('disk_full', precision='fp32')
    assert 'df -h' in err.fix
    assert host.snapshot() == before


# ---- what the result says ---------------------------------------------------------------------

def test_tensorrt_rtx_on_a_jetson_says_the_engine_will_not_run_there(host):
    facts = copy.deepcopy(host.facts)
    facts['tensorrt'] = {'version': '1.7.1.116', 'flavour': 'tensorrt_rtx', 'test_double': False}
    facts['platform_key'].update(tensorrt='1.7.1.116', tensorrt_flavour='tensorrt_rtx', compute_capability='8.7')
    facts['compute_capability'] = '8.7'
    result, warnings = _engine.ensure_engine(host.params(platform=facts), check_mode=True)
    assert result['targets'] == {'compute_capabilities': [], 'chosen_by': 'TensorRT-RTX 1.7.1.116 default targets',
                                 'device_compute_capability': '8.7', 'device_supported': False}
    assert any('will NOT run here' in w and '8.7' in w for w in warnings)
    facts['compute_capability'] = '8.9'
    facts['kind'] = 'dgpu'
    result, warnings = _engine.ensure_engine(host.params(platform=facts, compute_capabilities=['8.9']), check_mode=True)
    assert result['targets']['device_supported'] is True and not any('NOT run' in w for w in warnings)
    assert result['fingerprint_inputs']['build']['compute_capabilities'] == ['8.9']


def test_facts_without_tensorrt_are_refused(host):
    facts = dict(host.facts, tensorrt=None, reason='no TensorRT Python bindings: apt-get install python3-libnvinfer')
    err = host.fail('tensorrt_missing', platform=facts)
    assert 'python3-libnvinfer' in err.msg and 'platform_facts' in err.fix


def test_model_name_is_required_for_a_content_addressed_file(host):
    sha_named = host.write(hashlib.sha256(b'x').hexdigest(), open(host.etlt, 'rb').read())
    err = host.fail('invalid_argument', model_path=sha_named, model_name=None)
    assert 'model_name' in err.msg


def test_facts_are_gathered_when_not_given(host):
    """platform unset: the module reads the sysroot and this interpreter's TensorRT (the double) itself."""
    result = host.run(platform=None, sysroot=os.path.join(REPO, 'tests', 'fixtures', 'sysroots', 'xavier-nx-jp51'),
                      precision='fp16')
    assert result['built'] and result['tensorrt']['version'] == '8.5.2.2' and result['tensorrt']['test_double']
    assert result['fingerprint_inputs']['platform']['module'] == 'p3668-0003'
    assert result['fingerprint_inputs']['platform']['test_double'] == 'true'


def test_model_file_is_described_without_the_key(tmp_path, monkeypatch):
    monkeypatch.setattr(_etlt, 'decrypt_payload', lambda *a, **k: pytest.fail('decrypted'))
    for name, data, expected in (
            ('plain.onnx', ONNX, ('onnx', '', False)),
            ('model.etlt', _etlt.encode_etlt(ONNX, 'tlt_encode'), ('onnx', '', True)),
            ('uff.etlt', _etlt.encode_etlt(uff_meta_graph(), 'tlt_encode', 'input_1'), ('uff', 'input_1', True))):
        path = tmp_path / name
        path.write_bytes(data)
        model = _engine.ModelFile(str(path))
        assert (model.format, model.input_node_name, model.encrypted) == expected
        assert (model.sha256, model.size) == (hashlib.sha256(data).hexdigest(), len(data))
    (tmp_path / 'error.html').write_bytes(b'<html>Not Found</html>')
    with pytest.raises(TaoFleetError) as caught:
        _engine.ModelFile(str(tmp_path / 'error.html'))
    assert caught.value.code == 'not_etlt'
    with pytest.raises(TaoFleetError) as caught:
        _engine.ModelFile(str(tmp_path / 'absent.etlt'))
    assert caught.value.code == 'model_missing' and 'model_fetch' in caught.value.fix
