# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""engine_consumers through AnsibleModule on a real engine store in a tmp dir, and the proof that a
release or rollback switches the DeepStream config, labels and Triton entry with the engine without
rewriting any of them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import os

import pytest
import yaml

from ansible.module_utils.common.warnings import get_warning_messages

from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import engine_fingerprint
from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore
from ansible_collections.tao.fleet.plugins.modules import engine_consumers
from ansible_collections.tao.fleet.tests.unit.plugins.modules.module_harness import AnsibleExitJson, AnsibleFailJson, module_args

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
MODEL = 'peoplenet'


def catalog_entry():
    with open(os.path.join(REPO, 'catalog', 'models.yml')) as handle:
        entry = yaml.safe_load(handle)['models'][MODEL]
    entry['id'] = MODEL
    return entry


def artifact(artifact_id):
    return copy.deepcopy([item for item in catalog_entry()['artifacts'] if item['id'] == artifact_id][0])


@pytest.fixture
def store(tmp_path):
    return EngineStore(str(tmp_path / 'store'))


def build(store, artifact_id, precision):
    """An engine in the store with the manifest trt_engine writes (stand-in bytes, not a plan)."""
    chosen = artifact(artifact_id)
    implicit = chosen['input']['batch'] == 'implicit'
    lead = [] if implicit else [-1]
    fingerprint, inputs = engine_fingerprint(hashlib.sha256(artifact_id.encode()).hexdigest(),
                                             {'tensorrt': '8.5.2.2'}, {'precision': precision})
    build_record = {
        'precision': precision,
        'tensorrt': {'version': '8.5.2.2', 'flavour': 'tensorrt', 'test_double': False},
        'inputs': [{'name': chosen['input']['name'], 'shape': lead + chosen['input']['dims']}],
        'outputs': [{'name': item['name'], 'shape': lead + item['dims']} for item in chosen['outputs']],
    }
    if implicit:
        build_record['max_batch'] = 16
    else:
        dims = chosen['input']['dims']
        build_record['profiles'] = {chosen['input']['name']: {'min': [1] + dims, 'opt': [4] + dims,
                                                              'max': [4] + dims}}
    build_dir = store.temp_dir(MODEL)
    store.write_engine(build_dir, b'STAND-IN ENGINE (unit test, not a TensorRT plan) ' + artifact_id.encode())
    store.write_manifest(build_dir, fingerprint, inputs, build=build_record)
    store.publish(MODEL, build_dir)
    store.record_smoke(MODEL, fingerprint, True, backend='unit-test')
    return fingerprint, chosen


def run(store, tmp_path, **args):
    args.setdefault('store', store.root)
    args.setdefault('model', MODEL)
    args.setdefault('model_entry', catalog_entry())
    args.setdefault('deepstream', True)
    args.setdefault('deepstream_dir', str(tmp_path / 'deepstream'))
    args.setdefault('triton', True)
    args.setdefault('triton_repository', str(tmp_path / 'triton'))
    with module_args(args):
        try:
            engine_consumers.main()
        except AnsibleExitJson as done:
            return done.args[0]
        except AnsibleFailJson as failed:
            return failed.args[0]
    raise AssertionError('the module returned without exit_json or fail_json')


def read(path):
    with open(path) as handle:
        return handle.read()


def stable_paths(tmp_path):
    return {
        'config': str(tmp_path / 'deepstream' / 'config_infer_primary_peoplenet.txt'),
        'labels': str(tmp_path / 'deepstream' / 'labels_peoplenet.txt'),
        'triton_config': str(tmp_path / 'triton' / 'peoplenet' / 'config.pbtxt'),
        'plan': str(tmp_path / 'triton' / 'peoplenet' / '1' / 'model.plan'),
    }


def link_state(paths):
    return dict((name, (os.readlink(path), os.lstat(path).st_ino, os.lstat(path).st_mtime_ns))
                for name, path in paths.items())


def test_release_and_rollback_switch_config_labels_and_triton_without_rewriting(store, tmp_path):
    etlt, etlt_artifact = build(store, 'etlt_int8_v2.6.1', 'fp16')
    onnx, onnx_artifact = build(store, 'onnx_v2.3.4', 'int8')
    paths = stable_paths(tmp_path)

    first = run(store, tmp_path, fingerprint=etlt, artifact=etlt_artifact)
    assert first['changed'] is True and first['tensors_from'] == 'manifest'
    assert first['output_blob_names'] == ['output_cov/Sigmoid', 'output_bbox/BiasAdd']
    assert first['deepstream']['config'] == paths['config'] and first['triton']['plan'] == paths['plan']
    store.activate(MODEL, etlt)
    assert 'output-blob-names=output_cov/Sigmoid;output_bbox/BiasAdd\n' in read(paths['config'])
    assert 'network-mode=2\n' in read(paths['config'])
    assert read(paths['labels']) == 'person\nbag\nface\n'
    assert read(paths['plan']).endswith('etlt_int8_v2.6.1')
    assert '"output_cov/Sigmoid"' in read(paths['triton_config'])

    # the next engine gets its files before its release; what applications read does not change yet
    second = run(store, tmp_path, fingerprint=onnx, artifact=onnx_artifact)
    assert second['changed'] is True
    assert all(path.startswith(store.engine_dir(MODEL, onnx)) for path in second['written'])
    assert 'output_cov/Sigmoid;' in read(paths['config'])
    links_before = link_state(paths)

    store.activate(MODEL, onnx)
    assert 'output-blob-names=output_cov/Sigmoid:0;output_bbox/BiasAdd:0\n' in read(paths['config'])
    assert 'network-mode=1\n' in read(paths['config'])
    assert '"output_cov/Sigmoid:0"' in read(paths['triton_config'])
    assert 'max_batch_size: 4' in read(paths['triton_config'])
    assert read(paths['plan']).endswith('onnx_v2.3.4')
    assert link_state(paths) == links_before  # switched by the release alone

    store.rollback(MODEL)
    assert 'output-blob-names=output_cov/Sigmoid;output_bbox/BiasAdd\n' in read(paths['config'])
    assert read(paths['plan']).endswith('etlt_int8_v2.6.1')
    assert link_state(paths) == links_before


def test_second_run_changes_nothing(store, tmp_path):
    fingerprint, chosen = build(store, 'onnx_v2.3.4', 'fp16')
    store.activate(MODEL, fingerprint)
    assert run(store, tmp_path, artifact=chosen)['changed'] is True
    again = run(store, tmp_path, artifact=chosen)
    assert again['changed'] is False and again['written'] == [] and again['fingerprint'] == fingerprint
    assert 'up to date' in again['msg']
    # a changed option rewrites only the config that carries it
    bigger = run(store, tmp_path, artifact=chosen, batch_size=4)
    assert bigger['written'] == [os.path.join(store.engine_dir(MODEL, fingerprint), 'deepstream',
                                              'config_infer_primary.txt')]


def test_check_mode_and_diff(store, tmp_path):
    fingerprint, chosen = build(store, 'onnx_v2.3.4', 'fp16')
    store.activate(MODEL, fingerprint)
    before = sorted(os.listdir(store.engine_dir(MODEL, fingerprint)))
    preview = run(store, tmp_path, artifact=chosen, _ansible_check_mode=True, _ansible_diff=True)
    assert preview['changed'] is True and len(preview['written']) == 7
    assert sorted(os.listdir(store.engine_dir(MODEL, fingerprint))) == before
    assert not (tmp_path / 'deepstream').exists() and not (tmp_path / 'triton').exists()
    config_diff = [item for item in preview['diff'] if item['after_header'].endswith('config_infer_primary.txt')]
    assert config_diff[0]['before'] == '' and 'output_cov/Sigmoid:0' in config_diff[0]['after']
    link_diff = [item for item in preview['diff'] if item['after_header'].endswith('model.plan')]
    assert link_diff[0]['after'] == '-> %s\n' % os.path.join(store.model_dir(MODEL), 'active', 'model.engine')


def test_only_what_is_asked(store, tmp_path):
    fingerprint, chosen = build(store, 'onnx_v2.3.4', 'fp16')
    store.activate(MODEL, fingerprint)
    result = run(store, tmp_path, artifact=chosen, triton=False)
    assert 'triton' not in result and not (tmp_path / 'triton').exists()
    assert not os.path.exists(os.path.join(store.engine_dir(MODEL, fingerprint), 'triton'))
    nothing = run(store, tmp_path, deepstream=False, triton=False)
    assert nothing['failed'] and nothing['error_code'] == 'invalid_argument'


def test_default_directories_are_in_the_store(store, tmp_path):
    fingerprint, chosen = build(store, 'onnx_v2.3.4', 'fp16')
    store.activate(MODEL, fingerprint)
    result = run(store, tmp_path, artifact=chosen, deepstream_dir=None, triton_repository=None,
                 triton_model_name='people')
    assert result['deepstream']['config'] == os.path.join(store.root, 'deepstream', 'config_infer_primary_peoplenet.txt')
    assert result['triton']['model_dir'] == os.path.join(store.root, 'triton', 'people')
    assert 'name: "people"' in read(result['triton']['config'])


def test_a_file_of_the_users_is_never_replaced(store, tmp_path):
    fingerprint, chosen = build(store, 'onnx_v2.3.4', 'fp16')
    store.activate(MODEL, fingerprint)
    (tmp_path / 'deepstream').mkdir()
    own = tmp_path / 'deepstream' / 'config_infer_primary_peoplenet.txt'
    own.write_text(u'[property]\n# my own\n')
    result = run(store, tmp_path, artifact=chosen)
    assert result['failed'] and result['error_code'] == 'consumer_path_taken'
    assert own.read_text() == u'[property]\n# my own\n'


def test_no_active_engine_and_no_fingerprint(store, tmp_path):
    build(store, 'onnx_v2.3.4', 'fp16')
    result = run(store, tmp_path)
    assert result['failed'] and result['error_code'] == 'engine_missing' and 'release one' in result['fix']


def test_engine_of_another_export_is_refused(store, tmp_path):
    fingerprint, _chosen = build(store, 'etlt_int8_v2.6.1', 'fp16')
    result = run(store, tmp_path, fingerprint=fingerprint, artifact=artifact('onnx_v2.3.4'))
    assert result['failed'] and result['error_code'] == 'engine_artifact_mismatch'
    assert not os.path.exists(os.path.join(store.engine_dir(MODEL, fingerprint), 'deepstream'))


def test_warns_when_a_rollback_would_land_on_an_engine_without_files(store, tmp_path):
    old, _old_artifact = build(store, 'etlt_int8_v2.6.1', 'fp16')
    store.activate(MODEL, old)
    new, chosen = build(store, 'onnx_v2.3.4', 'fp16')
    result = run(store, tmp_path, fingerprint=new, artifact=chosen)
    assert result['changed'] is True
    warnings = get_warning_messages()
    assert any(old in warning and 'rollback' in warning for warning in warnings), warnings
