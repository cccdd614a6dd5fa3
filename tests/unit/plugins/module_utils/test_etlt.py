# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The .etlt codec: round trips, both AES-CTR backends, wrong key, truncation, other containers.

Real crypto throughout (cryptography and the openssl command). The ONNX payload is a real
model made by the onnx package (fixtures/make_tiny_detectnet_onnx.py); there is no UFF writer on
PyPI, so the UFF payload is a minimal MetaGraph built here field by field from uff.proto's
numbers. NVIDIA's own encoder is checked against this codec in tests/oracle.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import io
import os
import struct
import sys
import tarfile
import zipfile

import pytest

from ansible_collections.tao.fleet.plugins.module_utils import _etlt
from ansible_collections.tao.fleet.plugins.module_utils._errors import (
    OptionalImportError,
    TaoFleetError,
)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
BACKENDS = ['cryptography', 'openssl']
# Fixed nonces keep failures reproducible; the last one makes the 128-bit counter wrap.
NONCES = [bytes(bytearray(range(16))), b'\xff' * 16]


def _tiny_onnx():
    with open(os.path.join(FIXTURES, 'tiny_detectnet.onnx'), 'rb') as handle:
        return handle.read()


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _pb_varint(field, value):
    return _varint(field << 3) + _varint(value)


def _pb_bytes(field, data):
    if not isinstance(data, bytes):
        data = data.encode('utf-8')
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _uff_meta_graph(weights=None):
    """A minimal UFF MetaGraph with PeopleNet's input node, laid out as uff.proto numbers it."""
    shape = _pb_bytes(1, 'shape') + _pb_bytes(2, _pb_bytes(8, b'\x03\xa0\x04\xc0\x07'))
    input_node = _pb_bytes(1, 'input_1') + _pb_bytes(3, 'Input') + _pb_bytes(4, shape)
    conv_node = (_pb_bytes(1, 'conv1/convolution') + _pb_bytes(2, 'input_1')
                 + _pb_bytes(3, 'Conv'))
    graph = _pb_bytes(1, 'main') + _pb_bytes(2, input_node) + _pb_bytes(2, conv_node)
    descriptor = _pb_bytes(1, 'tensorflow_extension') + _pb_varint(2, 0x1)
    weights = _pb_bytes(1, 'conv1/kernel') + _pb_bytes(2, weights or os.urandom(600))
    return (_pb_varint(1, 1) + _pb_varint(2, 0x1) + _pb_bytes(3, descriptor)
            + _pb_bytes(4, graph) + _pb_bytes(5, weights))


PAYLOADS = {
    'onnx': (_tiny_onnx(), ''),
    'uff': (_uff_meta_graph(), 'input_1'),
}


def _expect_error(code, function, *args, **kwargs):
    with pytest.raises(TaoFleetError) as caught:
        function(*args, **kwargs)
    assert caught.value.code == code, str(caught.value)
    return caught.value


# --- key derivation and cipher ---------------------------------------------------------------

def test_derive_key_matches_openssl_pbkdf2_vectors():
    # Computed independently with OpenSSL 3: openssl kdf -keylen 32 -kdfopt digest:SHA256
    # -kdfopt pass:<key> -kdfopt hexsalt:<ETLT_SALT> -kdfopt iter:100000 PBKDF2
    assert _etlt.derive_key('tlt_encode') == bytes.fromhex(
        '5c192ece6a4278fb0d791cce8178a21760a0c93f79e5ba4d2d96644af294e185')
    assert _etlt.derive_key(b'nvidia_tlt') == bytes.fromhex(
        'ea82d654e0bf5d97af42c4dcd6bff6cc69143a97e343b6ae8d12c6bb18be5410')


@pytest.mark.parametrize('nonce', NONCES)
@pytest.mark.parametrize('size', [0, 1, 15, 16, 17, 1023, 1024, 1025, 1 << 20])
def test_backends_agree_byte_for_byte(size, nonce):
    plaintext = os.urandom(size)
    via_library = _etlt.encrypt_payload(plaintext, 'tlt_encode', nonce, 'cryptography')
    via_command = _etlt.encrypt_payload(plaintext, 'tlt_encode', nonce, 'openssl')
    assert via_library == via_command
    assert len(via_library) == size + 16 and via_library[:16] == nonce
    assert _etlt.decrypt_payload(via_library, 'tlt_encode', 'openssl') == plaintext
    assert _etlt.decrypt_payload(via_command, 'tlt_encode', 'cryptography') == plaintext


def test_ctr_counter_is_the_whole_nonce_as_one_big_endian_integer():
    from cryptography.hazmat.backends import default_backend
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = _etlt.derive_key('tlt_encode')
    nonce = b'\x00' * 8 + b'\xff' * 8
    keystream = _etlt.aes_256_ctr(key, nonce, b'\x00' * 32)
    # Second block: the carry crosses into the upper 64 bits.
    ecb = Cipher(algorithms.AES(key), modes.ECB(), backend=default_backend()).encryptor()
    expected = ecb.update(nonce + b'\x00' * 7 + b'\x01' + b'\x00' * 8) + ecb.finalize()
    assert keystream == expected


def test_nonce_is_fresh_for_each_file():
    first = _etlt.encode_etlt(b'same', 'tlt_encode')
    second = _etlt.encode_etlt(b'same', 'tlt_encode')
    assert first[4:20] != second[4:20]


# --- round trips ---------------------------------------------------------------------------------

@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('kind', sorted(PAYLOADS))
def test_round_trip(kind, backend):
    payload, input_name = PAYLOADS[kind]
    blob = _etlt.encode_etlt(payload, 'tlt_encode', input_name, backend=backend)
    decoded = _etlt.decode_etlt(blob, 'tlt_encode', backend=backend)
    assert decoded.format == kind
    assert decoded.input_node_name == input_name
    assert decoded.payload == payload
    assert decoded.encrypted is True
    assert decoded.backend == backend


def test_header_layout_matches_taos_exporter():
    payload, _name = PAYLOADS['uff']
    nonce = NONCES[0]
    blob = _etlt.encode_etlt(payload, 'tlt_encode', 'input_1', nonce=nonce)
    assert struct.unpack('<i', blob[:4]) == (7,)
    assert blob[4:11] == b'input_1'
    assert blob[11:27] == nonce
    assert len(blob) == 4 + 7 + 16 + len(payload)
    onnx_blob = _etlt.encode_etlt(PAYLOADS['onnx'][0], 'tlt_encode', nonce=nonce)
    assert onnx_blob[:4] == b'\x00\x00\x00\x00' and onnx_blob[4:20] == nonce


def test_format_comes_from_the_payload_not_the_header():
    # Whatever an exporter wrote as input name, the payload decides (and it is reported).
    blob = _etlt.encode_etlt(PAYLOADS['onnx'][0], 'tlt_encode', 'input_1')
    decoded = _etlt.decode_etlt(blob, 'tlt_encode')
    assert (decoded.format, decoded.input_node_name) == ('onnx', 'input_1')


def test_read_model_file_decrypts_from_disk(tmp_path):
    path = tmp_path / 'resnet34_peoplenet_int8.etlt'
    path.write_bytes(_etlt.encode_etlt(PAYLOADS['onnx'][0], 'tlt_encode'))
    decoded = _etlt.read_model_file(str(path), 'tlt_encode', model_name='peoplenet')
    assert decoded.payload == PAYLOADS['onnx'][0]


# --- wrong key ---------------------------------------------------------------------------------

@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('kind', sorted(PAYLOADS))
def test_wrong_key_is_rejected_with_catalog_key(kind, backend):
    payload, input_name = PAYLOADS[kind]
    blob = _etlt.encode_etlt(payload, 'tlt_encode', input_name, backend=backend)
    error = _expect_error('model_key_rejected', _etlt.decode_etlt, blob, 'nvidia_tlt',
                          model_name='peoplenet', source='resnet34_peoplenet_int8.etlt',
                          catalog_key='tlt_encode', backend=backend)
    text = str(error)
    assert 'peoplenet' in text and 'resnet34_peoplenet_int8.etlt' in text
    assert 'rejected' in text
    assert '"tlt_encode"' in error.fix


def test_wrong_key_rejection_hides_a_private_catalog_key():
    blob = _etlt.encode_etlt(PAYLOADS['onnx'][0], 'my-secret-key')
    error = _expect_error('model_key_rejected', _etlt.decode_etlt, blob, 'tlt_encode',
                          model_name='acme_people', catalog_key='my-secret-key')
    assert 'my-secret-key' not in str(error) and 'my-secret-key' not in repr(error.to_result())
    assert 'catalog entry' in error.fix


def test_catalog_key_that_fails_points_at_a_corrupt_file():
    blob = bytearray(_etlt.encode_etlt(PAYLOADS['onnx'][0], 'tlt_encode'))
    blob[20] ^= 0xFF  # first ciphertext byte: ir_version's tag no longer decrypts to 0x08
    error = _expect_error('model_key_rejected', _etlt.decode_etlt, bytes(blob), 'tlt_encode',
                          model_name='peoplenet', catalog_key='tlt_encode')
    assert 'corrupt' in error.fix


def test_random_bytes_are_never_taken_for_a_model():
    # What any wrong key produces: 2000 random payloads from 1 byte to ~4 kB.
    for size in range(1, 4001, 2):
        assert _etlt.payload_format(os.urandom(size)) == (None, None)


def test_missing_key_for_an_encrypted_file():
    blob = _etlt.encode_etlt(PAYLOADS['onnx'][0], 'tlt_encode')
    error = _expect_error('model_key_missing', _etlt.decode_etlt, blob, '',
                          model_name='peoplenet', catalog_key='tlt_encode')
    assert 'tlt_encode' in error.fix


# --- truncated files -----------------------------------------------------------------------------

@pytest.mark.parametrize('size', [0, 1, 3, 4, 8, 10, 11, 20, 27])
def test_truncated_header(size):
    blob = _etlt.encode_etlt(PAYLOADS['uff'][0], 'tlt_encode', 'input_1')
    error = _expect_error('etlt_truncated', _etlt.decode_etlt, blob[:size], 'tlt_encode',
                          model_name='peoplenet', source='model.etlt')
    assert 'model.etlt' in str(error) and 'truncated' in str(error)


@pytest.mark.parametrize('kind', sorted(PAYLOADS))
def test_truncated_payload_is_not_mistaken_for_a_wrong_key(kind):
    payload, input_name = PAYLOADS[kind]
    blob = _etlt.encode_etlt(payload, 'tlt_encode', input_name)
    header = 4 + len(input_name) + 16
    # From 64 bytes in: a model cut within its first few fields reads as noise (the error then
    # says "wrong key, or the file is corrupt"); real models are megabytes long.
    for cut in range(header + 64, len(blob), 29):
        error = _expect_error('etlt_truncated', _etlt.decode_etlt, blob[:cut], 'tlt_encode',
                              model_name='peoplenet')
        assert kind.upper() in str(error)


def test_truncated_plain_onnx():
    _expect_error('etlt_truncated', _etlt.decode_etlt, PAYLOADS['onnx'][0][:300], 'tlt_encode')


# --- other files handed over as an .etlt ---------------------------------------------------------

def _tar_gz(members):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w:gz') as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def test_eff_archive_is_recognised():
    archive = _tar_gz([('manifest.yaml', b'metadata:\n  format_version: 3\n'),
                       ('artifacts/model.hdf5', os.urandom(64))])
    error = _expect_error('eff_archive', _etlt.decode_etlt, archive, 'tlt_encode',
                          source='peoplenet.tltb')
    assert 'tao' in error.fix and 'export' in error.fix
    assert 'training' in error.cause


def test_tar_gz_without_manifest_is_not_eff():
    archive = _tar_gz([('resnet34_peoplenet_int8.etlt', os.urandom(64))])
    _expect_error('not_etlt', _etlt.decode_etlt, archive, 'tlt_encode')


def test_gzip_that_is_not_a_tar():
    _expect_error('not_etlt', _etlt.decode_etlt, gzip.compress(b'hello' * 50), 'tlt_encode')


def test_ngc_zip_download():
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, 'w') as archive:
        archive.writestr('resnet18_dashcamnet_pruned.etlt', os.urandom(64))
    error = _expect_error('not_etlt', _etlt.decode_etlt, raw.getvalue(), 'tlt_encode')
    assert 'zip' in str(error)


def test_html_error_page():
    page = b'<!DOCTYPE html><html><body>403 Forbidden</body></html>'
    error = _expect_error('not_etlt', _etlt.decode_etlt, page, 'tlt_encode',
                          source='resnet34_peoplenet_int8.etlt')
    assert 'HTML' in str(error)


def test_binary_garbage_with_absurd_header():
    _expect_error('not_etlt', _etlt.decode_etlt, b'\xff\xff\xff\x7f' + os.urandom(100),
                  'tlt_encode')


def test_header_name_that_is_not_text():
    _expect_error('not_etlt', _etlt.decode_etlt, b'\x04\x00\x00\x00\x00\x01\x02\x03'
                  + os.urandom(64), 'tlt_encode')


def test_etlt_whose_ciphertext_reads_ustar_is_still_an_etlt():
    # Bytes 257..261 of an .etlt are ciphertext; make them spell the tar magic on purpose.
    nonce = NONCES[0]
    blob_start = 27  # 4 + len('input_1') + 16
    weights = bytearray(os.urandom(600))
    payload = _uff_meta_graph(bytes(weights))
    offset = payload.index(bytes(weights)) + blob_start
    assert offset < 257 < offset + len(weights) - 5
    keystream = _etlt.aes_256_ctr(_etlt.derive_key('tlt_encode'), nonce, b'\x00' * len(payload))
    at = 257 - blob_start
    for index, byte in enumerate(bytearray(b'ustar')):
        weights[at - (offset - blob_start) + index] = byte ^ bytearray(keystream)[at + index]
    payload = _uff_meta_graph(bytes(weights))
    blob = _etlt.encode_etlt(payload, 'tlt_encode', 'input_1', nonce=nonce)
    assert blob[257:262] == b'ustar'
    assert _etlt.decode_etlt(blob, 'tlt_encode').payload == payload


@pytest.mark.parametrize('kind', sorted(PAYLOADS))
def test_plain_model_given_as_etlt(kind):
    payload, _name = PAYLOADS[kind]
    error = _expect_error('plain_%s' % kind, _etlt.decode_etlt, payload, 'tlt_encode',
                          source='model.%s' % kind)
    assert 'no key' in str(error)
    decoded = _etlt.read_model(payload, None)
    assert (decoded.format, decoded.encrypted, decoded.payload) == (kind, False, payload)


# --- backends ----------------------------------------------------------------------------------

def _hide_cryptography(monkeypatch):
    for name in list(sys.modules):
        if name == 'cryptography' or name.startswith('cryptography.'):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, 'cryptography', None)


def test_openssl_command_is_used_without_cryptography(monkeypatch):
    _hide_cryptography(monkeypatch)
    assert _etlt.available_backend() == 'openssl'
    blob = _etlt.encode_etlt(PAYLOADS['onnx'][0], 'tlt_encode')
    decoded = _etlt.decode_etlt(blob, 'tlt_encode')
    assert decoded.backend == 'openssl' and decoded.payload == PAYLOADS['onnx'][0]


def test_neither_backend_names_what_to_install(monkeypatch):
    _hide_cryptography(monkeypatch)
    monkeypatch.setattr(_etlt.shutil, 'which', lambda name: None)
    blob = b'\x00\x00\x00\x00' + b'\x01' * 64
    with pytest.raises(OptionalImportError) as caught:
        _etlt.decode_etlt(blob, 'tlt_encode')
    assert caught.value.code == 'missing_python_package'
    assert 'python3-cryptography' in caught.value.fix and 'JetPack 4' in caught.value.fix


def test_openssl_failure_is_reported(monkeypatch):
    monkeypatch.setattr(_etlt.shutil, 'which', lambda name: '/bin/false')
    _expect_error('openssl_failed', _etlt.aes_256_ctr, b'\x00' * 32, b'\x00' * 16, b'data',
                  'openssl')


# --- ONNX structure ------------------------------------------------------------------------------

def test_describe_onnx_reads_peoplenet_io():
    description = _etlt.describe_onnx(PAYLOADS['onnx'][0])
    assert description == {
        'inputs': [{'name': 'input_1', 'dims': ['batch', 3, 544, 960]}],
        'outputs': [{'name': 'output_cov/Sigmoid', 'dims': ['batch', 3, 34, 60]},
                    {'name': 'output_bbox/BiasAdd', 'dims': ['batch', 12, 34, 60]}],
    }


def test_decoded_payload_is_a_model_the_onnx_package_loads():
    onnx = pytest.importorskip('onnx')
    blob = _etlt.encode_etlt(PAYLOADS['onnx'][0], 'tlt_encode')
    model = onnx.load_model_from_string(_etlt.decode_etlt(blob, 'tlt_encode').payload)
    onnx.checker.check_model(model)
    initializers = set(tensor.name for tensor in model.graph.initializer)
    inputs = [value.name for value in model.graph.input if value.name not in initializers]
    expected = _etlt.describe_onnx(PAYLOADS['onnx'][0])
    assert inputs == [item['name'] for item in expected['inputs']]
    assert [value.name for value in model.graph.output] == [
        item['name'] for item in expected['outputs']]
