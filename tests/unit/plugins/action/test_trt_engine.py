# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The controller half of the engine share (plugins/action/trt_engine.py): the check before an entry is
published, and the per-fingerprint lock that makes hosts of one class wait for one build. The whole flow
(copy to hosts, build, publish, a corrupt entry rebuilt) runs in tests/integration/test_scale.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import multiprocessing
import os

import pytest

from ansible.errors import AnsibleError

from ansible_collections.tao.fleet.plugins.action import trt_engine as share_action
from ansible_collections.tao.fleet.plugins.action.engine_deploy import ActionModule as EngineDeployAction
from ansible_collections.tao.fleet.plugins.action.engine_deploy import unfit_choice
from ansible_collections.tao.fleet.plugins.action.trt_engine import ActionModule as EngineAction
from ansible_collections.tao.fleet.plugins.action.trt_engine import (
    ShareLock, entry_problem, prediction_key, read_prediction, share_entry, write_prediction)
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import normalise_platform_key, sha256_of

PLATFORM = {'platform_class': 'jetpack6.2-orin_nx_16gb', 'hostname_like_fact': 'orin-01',
            'platform_key': {'kind': 'jetson', 'module': 'p3767-0000', 'tensorrt': '10.3.0.30'}}
INPUTS = {'schema': 1, 'model_sha256': 'c' * 64, 'platform': normalise_platform_key(PLATFORM['platform_key']),
          'build': {'precision': 'fp16'}, 'calibration_sha256': None}
# the fingerprint is the hash of the manifest's inputs (the controller checks it before publishing)
FINGERPRINT = sha256_of(INPUTS)
ENGINE = b'engine bytes ' * 1000


def write_entry(directory, engine=ENGINE, fingerprint=FINGERPRINT, inputs=None):
    os.makedirs(directory)
    with open(os.path.join(directory, 'model.engine'), 'wb') as handle:
        handle.write(engine)
    manifest = {'fingerprint': fingerprint, 'inputs': INPUTS if inputs is None else inputs,
                'engine': {'file': 'model.engine', 'size': len(ENGINE), 'sha256': hashlib.sha256(ENGINE).hexdigest()}}
    with open(os.path.join(directory, 'manifest.json'), 'w') as handle:
        json.dump(manifest, handle)
    return directory


def test_a_whole_entry_passes(tmp_path):
    assert entry_problem(write_entry(str(tmp_path / 'entry')), FINGERPRINT) is None


def test_an_engine_that_is_not_the_manifests_is_refused(tmp_path):
    entry = write_entry(str(tmp_path / 'entry'), engine=ENGINE[:-1] + b'X')
    assert 'does not match the sha256' in entry_problem(entry, FINGERPRINT)


def test_an_entry_of_another_fingerprint_is_refused(tmp_path):
    entry = write_entry(str(tmp_path / 'entry'), fingerprint='cd' * 32)
    assert 'another fingerprint' in entry_problem(entry, FINGERPRINT)


def test_a_half_written_entry_is_refused(tmp_path):
    entry = write_entry(str(tmp_path / 'entry'))
    os.unlink(os.path.join(entry, 'model.engine'))
    assert entry_problem(entry, FINGERPRINT).startswith('unreadable')


def _take_lock_and_read(share, marker, out):
    with ShareLock(share, FINGERPRINT):
        with open(marker) as handle:
            out.put(handle.read())


def test_a_second_process_waits_for_the_first_to_release_the_fingerprint(tmp_path):
    share, marker = str(tmp_path / 'share'), str(tmp_path / 'marker')
    with open(marker, 'w') as handle:
        handle.write('building')
    out = multiprocessing.Queue()
    with ShareLock(share, FINGERPRINT):
        waiter = multiprocessing.Process(target=_take_lock_and_read, args=(share, marker, out))
        waiter.start()
        waiter.join(1)
        assert waiter.is_alive()         # still waiting: the lock is held
        with open(marker, 'w') as handle:
            handle.write('published')
    waiter.join(30)
    assert out.get(timeout=5) == 'published'
    assert os.listdir(os.path.join(share, '.locks')) == [FINGERPRINT + '.lock']


def engine_args(**overrides):
    args = {'model_path': '/stores/orin-01/models/' + 'c' * 64, 'model_name': 'peoplenet', 'precision': 'fp16',
            'platform': PLATFORM, 'store': '/stores/orin-01', 'sysroot': '/', 'engine_share': '/share'}
    args.update(overrides)
    return args


def test_hosts_of_one_class_share_a_prediction_key():
    # store paths, sysroot and facts outside platform_key differ from host to host: the key does not
    other_host = engine_args(model_path='/stores/orin-02/models/' + 'c' * 64, store='/stores/orin-02',
                             platform=dict(PLATFORM, hostname_like_fact='orin-02'), sysroot='/srv/orin-02')
    assert prediction_key(engine_args()) == prediction_key(other_host)


def test_what_changes_the_fingerprint_changes_the_prediction_key():
    base = prediction_key(engine_args())
    assert prediction_key(engine_args(precision='fp32')) != base
    assert prediction_key(engine_args(model_path='/stores/orin-01/models/' + 'd' * 64)) != base
    assert prediction_key(engine_args(platform=dict(PLATFORM, platform_key={'tensorrt': '8.6.2'}))) != base


def test_engine_deploys_later_stages_stay_out_of_the_prediction_key():
    # engine_deploy's smoke test, consumer files and release do not change the fingerprint; nor does the id of
    # its deployment record, which differs from host to host (it holds the store path)
    later = engine_args(smoke={'model_entry': {'id': 'peoplenet'}, 'expect': {'min_detections': 1}},
                        consumers={'deepstream': True}, keep=5, quick_check=True, deploy_record_id='b' * 64)
    assert prediction_key(later) == prediction_key(engine_args())


def test_engine_deploys_model_source_is_in_the_prediction_key_but_not_the_key_or_the_hosts_copy():
    fetched = engine_args(fetch={'sha256': 'a' * 64, 'name': 'peoplenet', 'src': '/home/a/.ansible/tmp/x/' + 'a' * 64})
    elsewhere = engine_args(fetch={'sha256': 'a' * 64, 'name': 'peoplenet', 'src': 'controller:/cache/models/' + 'a' * 64,
                                   'api_key': 'nvapi-s3cret'})
    assert prediction_key(fetched) == prediction_key(elsewhere)
    assert prediction_key(engine_args(fetch={'sha256': 'b' * 64, 'name': 'peoplenet'})) != prediction_key(fetched)


def test_no_fitting_artifact_fails_at_fetch_with_the_filters_reason_before_the_host_is_asked():
    error = {'msg': 'No artifact of peoplenet fits nano-jp46', 'cause': 'TensorRT 8.2 parses no ONNX opset 17',
             'fix': 'Add a UFF .etlt artifact', 'error_code': 'no_artifact_fits'}
    failure = unfit_choice({'model': 'peoplenet', 'artifact': None, 'error': error, 'rejected': []})
    assert failure['failed'] is True and failure['stage'] == 'fetch' and failure['error_code'] == 'no_artifact_fits'
    assert (failure['msg'], failure['cause'], failure['fix']) == (error['msg'], error['cause'], error['fix'])
    assert failure['smoke'] is None and failure['release'] is None
    assert unfit_choice({'model': 'peoplenet', 'artifact': {'id': 'onnx'}}) is None
    assert unfit_choice(None) is None and unfit_choice({'id': 'peoplenet'}) is None


def test_engine_deploys_action_is_the_share_action_for_its_own_module():
    assert EngineDeployAction.MODULE == 'tao.fleet.engine_deploy' and EngineAction.MODULE == 'tao.fleet.trt_engine'
    assert issubclass(EngineDeployAction, EngineAction)


def test_no_prediction_without_the_platform_in_the_options():
    # the module would read the platform on the host: hosts of different classes cannot be told apart
    assert prediction_key(engine_args(platform=None)) is None


def test_secrets_stay_out_of_the_prediction_key():
    assert prediction_key(engine_args(model_key='s3cret')) == prediction_key(engine_args())
    assert prediction_key(engine_args(converter_args='-k s3cret -t fp16')) == prediction_key(engine_args())


def test_a_prediction_is_written_whole_and_read_back(tmp_path):
    share = str(tmp_path)
    assert read_prediction(share, 'k' * 64) is None
    write_prediction(share, 'k' * 64, FINGERPRINT)
    assert read_prediction(share, 'k' * 64) == FINGERPRINT
    assert os.listdir(os.path.join(share, '.predictions')) == ['k' * 64]
    # anything but a fingerprint is no prediction
    with open(os.path.join(share, '.predictions', 'k' * 64), 'w') as handle:
        handle.write('half')
    assert read_prediction(share, 'k' * 64) is None


# ---- a lying host (issue 16, row 1): the fingerprint it reports never names a path outside the share ----

class FakeShell(object):
    tmpdir = None

    @staticmethod
    def join_path(*parts):
        return os.path.join(*parts)


class FakeConnection(object):
    """fetch_file copies from a directory that plays the host's file system."""

    def __init__(self):
        self._shell = FakeShell()
        self.fetched = []

    def fetch_file(self, remote, local):
        self.fetched.append(remote)
        with open(remote, 'rb') as source, open(local, 'wb') as target:
            target.write(source.read())


class LyingHost(EngineAction):
    """The share action with the host's module replaced by crafted answers, in the order given."""

    def __init__(self, answers):  # pylint: disable=super-init-not-called
        self.answers = list(answers)
        self.calls = []
        self._connection = FakeConnection()

    def _module(self, args, task_vars, **extra):
        self.calls.append(extra)
        return dict(self.answers.pop(0))

    def _copy_to_host(self, entry, *rest):
        copied = super(LyingHost, self)._copy_to_host(entry, *rest) if rest else {}
        copied['shared_engine'] = '/host/tmp'
        return copied


def copy_to_task_dir_stub(action, files):
    return '/host/tmp', ['/host/tmp/' + name for _path, name in files]


def tree(root):
    """Every path under ``root`` with its content (files) or its kind, to see that nothing changed."""
    found = {}
    for directory, subdirectories, files in os.walk(root):
        for name in subdirectories:
            found[os.path.join(directory, name)] = 'dir'
        for name in files:
            with open(os.path.join(directory, name), 'rb') as handle:
                found[os.path.join(directory, name)] = handle.read()
    return found


@pytest.mark.parametrize('crafted', ['../victim', '../../victim', '/ABSOLUTE/victim', 'ab' * 32 + '\n',
                                     'AB' * 32, 'ab' * 31, '.', '', 7])
def test_a_crafted_fingerprint_is_refused_and_touches_nothing(tmp_path, crafted):
    share = tmp_path / 'share'
    share.mkdir()
    victim = write_entry(str(tmp_path / 'victim'), engine=b'the victim stays')   # has a manifest: looks like an entry
    host_dir = write_entry(str(tmp_path / 'host' / 'built'))                      # what the host would hand back
    if isinstance(crafted, str) and crafted.startswith('/ABSOLUTE'):
        crafted = str(tmp_path / 'victim')
    before = tree(str(tmp_path))
    action = LyingHost([{'missing': True, 'fingerprint': crafted},
                        {'built': True, 'fingerprint': crafted,
                         'engine_path': os.path.join(host_dir, 'model.engine')}])
    with pytest.raises(TaoFleetError) as raised:
        action._with_share(str(share), engine_args(), {})
    assert raised.value.code == 'host_reply_invalid'
    assert 'not 64 lower-case hex digits' in raised.value.msg and raised.value.fix
    assert tree(str(tmp_path)) == before            # no lock file, no prediction, no moved directory
    assert action._connection.fetched == [] and len(action.calls) == 1
    with open(os.path.join(victim, 'model.engine'), 'rb') as handle:
        assert handle.read() == b'the victim stays'


def test_an_honest_host_still_builds_and_publishes_under_the_share(tmp_path):
    share = tmp_path / 'share'
    share.mkdir()
    host_dir = write_entry(str(tmp_path / 'host' / 'built'))
    action = LyingHost([{'missing': True, 'fingerprint': FINGERPRINT}, built_answer(host_dir)])
    answer = action._with_share(str(share), engine_args(), {})
    assert answer['share']['published'] is True
    assert answer['share']['path'] == os.path.join(os.path.realpath(str(share)), FINGERPRINT)
    assert entry_problem(str(share / FINGERPRINT), FINGERPRINT) is None


def test_a_share_entry_that_is_a_symlink_out_of_the_share_is_refused(tmp_path):
    share = tmp_path / 'share'
    share.mkdir()
    elsewhere = write_entry(str(tmp_path / 'elsewhere'))
    os.symlink(elsewhere, str(share / FINGERPRINT))
    with pytest.raises(TaoFleetError) as raised:
        share_entry(str(share), FINGERPRINT)
    assert raised.value.code == 'share_entry_invalid' and 'outside the share' in raised.value.msg
    assert share_entry(str(share), 'cd' * 32) == os.path.join(os.path.realpath(str(share)), 'cd' * 32)


def test_a_crafted_fingerprint_never_names_a_lock_file(tmp_path):
    with pytest.raises(TaoFleetError):
        ShareLock(str(tmp_path / 'share'), '../../outside')
    assert not os.path.exists(str(tmp_path / 'share'))


def test_a_prediction_of_64_characters_that_is_a_path_is_no_prediction(tmp_path):
    # a host's earlier answer could have been written as a prediction: 64 characters are not enough
    share = str(tmp_path)
    traversal = ('../' * 22)[:63] + 'x'
    assert len(traversal) == 64
    write_prediction(share, 'k' * 64, traversal)
    assert read_prediction(share, 'k' * 64) is None
    assert not os.path.exists(os.path.join(share, '.predictions', 'k' * 64))
    os.makedirs(os.path.join(share, '.predictions'), exist_ok=True)
    with open(os.path.join(share, '.predictions', 'k' * 64), 'w') as handle:
        handle.write(traversal)
    assert read_prediction(share, 'k' * 64) is None


# ---- row 2: the controller is the authority for the share; row 7: a failed publish keeps the result -------

def built_answer(host_dir, fingerprint=FINGERPRINT, size=None):
    """What the module answers after building: its engine in ``host_dir`` (the host's store)."""
    if size is None:
        size = os.path.getsize(os.path.join(host_dir, 'model.engine'))
    return {'built': True, 'changed': True, 'fingerprint': fingerprint, 'stage': 'release',
            'engine_path': os.path.join(host_dir, 'model.engine'), 'manifest': {'engine': {'size': size}},
            'release': {'changed': True, 'active': fingerprint}}


@pytest.fixture
def share(tmp_path, monkeypatch):
    """A share in which the canary orin-01 published its engine through the controller, as a run leaves it."""
    monkeypatch.setattr(share_action, 'copy_to_task_dir', copy_to_task_dir_stub)
    directory = tmp_path / 'share'
    directory.mkdir()
    canary = write_entry(str(tmp_path / 'canary' / 'built'))
    action = LyingHost([{'missing': True, 'fingerprint': FINGERPRINT}, built_answer(canary)])
    answer = action._with_share(str(directory), engine_args(), {'inventory_hostname': 'orin-01'})
    assert answer['share']['published'] is True and not answer.get('failed'), answer
    return str(directory)


def read_index(share, fingerprint=FINGERPRINT):
    with open(os.path.join(share, '.index', fingerprint + '.json')) as handle:
        return json.load(handle)


def test_the_controller_records_its_own_sha256_builder_time_and_size_of_what_it_fetched(share):
    record = read_index(share)
    assert record['sha256'] == hashlib.sha256(ENGINE).hexdigest() and record['size'] == len(ENGINE)
    assert record['builder'] == 'orin-01' and record['fingerprint'] == FINGERPRINT
    assert record['published_at'].endswith('Z')
    with open(os.path.join(share, FINGERPRINT, 'manifest.json'), 'rb') as handle:
        assert record['manifest_sha256'] == hashlib.sha256(handle.read()).hexdigest()


def test_an_importing_host_gets_the_recorded_sha256_and_may_not_build(share):
    action = LyingHost([{'missing': True, 'fingerprint': FINGERPRINT},
                        {'shared': True, 'changed': True, 'fingerprint': FINGERPRINT}])
    answer = action._with_share(share, engine_args(), {'inventory_hostname': 'orin-02'})
    assert answer['share']['used'] is True and not answer.get('failed')
    imported = action.calls[1]
    assert imported['shared_sha256'] == read_index(share)['sha256'] and imported['build'] is False
    assert imported['shared_manifest']['fingerprint'] == FINGERPRINT


def test_a_later_hosts_i_built_it_claim_never_replaces_an_intact_entry(share, tmp_path):
    before = tree(share)
    own = write_entry(str(tmp_path / 'liar' / 'built'), engine=b'evil plan ' * 500)
    action = LyingHost([{'missing': True, 'fingerprint': FINGERPRINT}, built_answer(own)])
    answer = action._with_share(share, engine_args(), {'inventory_hostname': 'orin-03'})
    assert answer['failed'] is True and answer['error_code'] == 'share_entry_refused', answer
    assert 'orin-03 refused the engine share entry' in answer['msg'] and 'orin-01' in answer['msg']
    assert answer['fix'] and answer['cause']
    assert answer['release'] == {'changed': True, 'active': FINGERPRINT}    # the host's own answer is kept
    assert tree(share) == before and action._connection.fetched == []


@pytest.mark.parametrize('with_prediction', [True, False])
def test_a_built_answer_to_the_first_call_is_a_claim_never_published(share, tmp_path, with_prediction):
    # the first call says build: false (and may carry the predicted entry); an answer "built" is a lie
    before = tree(share)
    own = write_entry(str(tmp_path / 'liar' / 'built'), engine=b'E' * len(ENGINE))
    task_vars = {'inventory_hostname': 'orin-07'}
    if with_prediction:
        task_vars['ansible_facts'] = {'tao_store': {'path': '/stores/orin-01', 'engines': {}, 'models': []}}
    action = LyingHost([built_answer(own)])
    answer = action._with_share(share, engine_args(), task_vars)
    assert answer['failed'] is True and action._connection.fetched == [] and tree(share) == before
    assert action.calls[0]['build'] is False
    if with_prediction:
        # the predicted entry went along with the call (and its recorded sha256): the entry stays
        assert action.calls[0]['shared_sha256'] == read_index(share)['sha256']
        assert answer['error_code'] == 'share_entry_refused' and 'orin-07 refused' in answer['msg'], answer
    else:
        assert 'shared_engine' not in action.calls[0]
        assert answer['error_code'] == 'host_reply_invalid' and 'asked it not to build' in answer['msg'], answer


def test_a_host_that_refuses_an_intact_entry_fails_clearly_and_the_entry_stays(share):
    before = tree(share)
    refusal = 'The shared engine in /host/tmp was not used: model.engine has sha256 0000. The engine stays missing'
    action = LyingHost([{'missing': True, 'fingerprint': FINGERPRINT},
                        {'missing': True, 'fingerprint': FINGERPRINT, 'warnings': [refusal]}])
    answer = action._with_share(share, engine_args(), {'inventory_hostname': 'orin-04'})
    assert answer['failed'] is True and answer['error_code'] == 'share_entry_refused'
    assert 'The host said: ' + refusal in answer['msg']
    assert len(action.calls) == 2 and tree(share) == before        # never asked to build over the entry


def test_an_entry_changed_in_the_share_is_replaced_by_the_host_that_refused_it(share, tmp_path):
    # someone with write access to the share changed engine and manifest together: the host refuses it on
    # the controller's sha256, the controller's own check agrees, and that host builds and publishes
    evil = b'E' * len(ENGINE)
    with open(os.path.join(share, FINGERPRINT, 'model.engine'), 'wb') as handle:
        handle.write(evil)
    rebuilt = write_entry(str(tmp_path / 'orin-05' / 'built'))
    action = LyingHost([{'missing': True, 'fingerprint': FINGERPRINT},
                        {'missing': True, 'fingerprint': FINGERPRINT},
                        built_answer(rebuilt)])
    answer = action._with_share(share, engine_args(), {'inventory_hostname': 'orin-05'})
    assert not answer.get('failed') and answer['share']['published'] is True, answer
    assert answer['share']['replaced_corrupt'] is True and 'controller recorded' in answer['share']['replaced_reason']
    assert 'build' not in action.calls[2]                            # the build call, under the lock
    assert read_index(share)['builder'] == 'orin-05'
    with open(os.path.join(share, FINGERPRINT, 'model.engine'), 'rb') as handle:
        assert handle.read() == ENGINE


def test_an_entry_without_a_controller_record_is_never_sent_to_a_host(tmp_path, monkeypatch):
    # what a share made before the index, or by hand, holds: the first host builds and the controller records it
    monkeypatch.setattr(share_action, 'copy_to_task_dir', copy_to_task_dir_stub)
    share = tmp_path / 'share'
    write_entry(str(share / FINGERPRINT), engine=b'unrecorded ' * 100)
    built = write_entry(str(tmp_path / 'host' / 'built'))
    action = LyingHost([{'missing': True, 'fingerprint': FINGERPRINT}, built_answer(built)])
    answer = action._with_share(str(share), engine_args(), {'inventory_hostname': 'orin-06'})
    assert [call.get('shared_engine') for call in action.calls] == [None, None]
    assert answer['share']['published'] is True and read_index(str(share))['builder'] == 'orin-06'


def test_a_builder_whose_manifest_names_another_platform_is_not_published(tmp_path):
    # a canary of one class publishing under the fingerprint of another class's engine
    other = dict(INPUTS, platform=normalise_platform_key({'kind': 'dgpu', 'tensorrt': '10.3.0.30'}))
    share = tmp_path / 'share'
    share.mkdir()
    built = write_entry(str(tmp_path / 'host' / 'built'), fingerprint=sha256_of(other), inputs=other)
    action = LyingHost([{'missing': True, 'fingerprint': sha256_of(other)}, built_answer(built, sha256_of(other))])
    answer = action._with_share(str(share), engine_args(), {})
    assert answer['share']['published'] is False and 'another platform' in answer['share']['publish_problem']
    assert not os.path.exists(str(share / sha256_of(other)))


@pytest.mark.parametrize('fault', ['disk_full', 'fetch_fails', 'index_unwritable'])
def test_a_failed_publish_after_the_host_switched_keeps_its_result(tmp_path, monkeypatch, fault):
    share = tmp_path / 'share'
    share.mkdir()
    built = write_entry(str(tmp_path / 'host' / 'built'))
    action = LyingHost([{'missing': True, 'fingerprint': FINGERPRINT}, built_answer(built)])
    if fault == 'disk_full':
        def no_space(*args, **kwargs):
            raise OSError(28, 'No space left on device')
        monkeypatch.setattr(share_action.tempfile, 'mkdtemp', no_space)
    elif fault == 'fetch_fails':
        def broken(remote, local):
            raise AnsibleError('failed to transfer file to %s' % local)
        action._connection.fetch_file = broken
    else:
        os.makedirs(str(share / '.index' / (FINGERPRINT + '.json')))   # a directory where the record goes
    answer = action._with_share(str(share), engine_args(), {})
    assert not answer.get('failed') and answer['built'] is True
    assert answer['release'] == {'changed': True, 'active': FINGERPRINT}   # what the rollback looks for
    assert answer['share']['published'] is False and answer['share']['publish_problem']
    assert any('was not published to the engine share' in w for w in answer['warnings'])
    assert not os.path.exists(str(share / FINGERPRINT))
    assert [name for name in os.listdir(str(share)) if name.startswith('.tmp-')] == []


def test_a_read_only_share_fails_before_the_host_builds(tmp_path, monkeypatch):
    share = tmp_path / 'share'
    share.mkdir()

    def read_only(*args, **kwargs):
        raise OSError(30, 'Read-only file system')
    monkeypatch.setattr(share_action.os, 'makedirs', read_only)
    action = LyingHost([{'missing': True, 'fingerprint': FINGERPRINT}, {'built': True}])
    with pytest.raises(TaoFleetError) as raised:
        action._with_share(str(share), engine_args(), {})
    assert raised.value.code == 'share_unwritable' and 'nothing was built' in raised.value.fix
    assert len(action.calls) == 1


# ---- row 14: the size of a fetched engine is bounded; the share lock has a timeout ---------------------

def test_an_engine_larger_than_the_bound_or_than_the_host_said_is_not_fetched_or_kept(tmp_path):
    share = tmp_path / 'share'
    share.mkdir()
    built = write_entry(str(tmp_path / 'host' / 'built'))
    action = LyingHost([{'missing': True, 'fingerprint': FINGERPRINT},
                        built_answer(built, size=share_action.MAX_ENGINE_BYTES + 1)])
    answer = action._with_share(str(share), engine_args(), {})
    assert answer['share']['published'] is False and action._connection.fetched == []
    assert 'engine size' in answer['share']['publish_problem']
    action = LyingHost([{'missing': True, 'fingerprint': FINGERPRINT}, built_answer(built, size=10)])
    answer = action._with_share(str(share), engine_args(), {})
    assert answer['share']['published'] is False and 'not the 10 bytes' in answer['share']['publish_problem']
    assert not os.path.exists(str(share / FINGERPRINT))


def _hold_lock(share, ready, release):
    with ShareLock(share, FINGERPRINT):
        ready.set()
        release.wait(30)


def test_the_share_lock_gives_up_after_its_timeout(tmp_path):
    share = str(tmp_path / 'share')
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(share, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(TaoFleetError) as raised:
            with ShareLock(share, FINGERPRINT, timeout=0.5):
                pass
        assert raised.value.code == 'share_busy' and raised.value.fix
    finally:
        release.set()
        holder.join(30)
    assert share_action.lock_timeout({'build_timeout': 600}) == 600 + share_action.LOCK_MARGIN_SECONDS


# ---- row 6: a catalog entry's private key goes to the host only as model_key (no_log) -------------------

PRIVATE_KEY = 'my-private-etlt-key'
SECRET_ARTIFACT = {'id': 'etlt', 'file': 'model.etlt', 'format': 'etlt-onnx', 'key': PRIVATE_KEY}


def secret_task_args():
    return {'model_path': '/store/models/' + 'a' * 64, 'model_name': 'mine',
            'model': {'model': 'mine', 'artifact': dict(SECRET_ARTIFACT)}}


def test_the_share_action_calls_the_module_without_the_key_in_its_dicts():
    action = EngineAction.__new__(EngineAction)
    sent = {}

    def execute_module(module_name, module_args, task_vars):
        sent.update(module_args)
        return {}
    action._execute_module = execute_module
    action._module(dict(secret_task_args(), smoke={'model_entry': {'id': 'mine', 'artifacts': [dict(SECRET_ARTIFACT)]}}), {})
    assert sent['model_key'] == PRIVATE_KEY
    assert PRIVATE_KEY not in json.dumps(dict(sent, model_key=None))
