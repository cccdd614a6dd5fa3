# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""NVIDIA's own .etlt encoder (nvidia-eff-tao-encryption) against tao.fleet's codec.

``encrypt_stream/decrypt_stream(..., encryption=True)`` is what TAO's exporter and tao-deploy
use for .etlt files. Files it encrypts must decrypt byte for byte with ours, and ours with
theirs. The import below is deliberately unguarded: without the oracle this suite fails, it
never skips (install: tests/requirements/oracle.txt).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import struct

import pytest
from eff_tao_encryption.tao_codec import decrypt_stream, encrypt_stream

from ansible_collections.tao.fleet.plugins.module_utils import _etlt
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError

SIZES = [0, 1, 15, 16, 17, 1023, 1024, 1025, 4096 + 7, 1 << 20]
BACKENDS = ['cryptography', 'openssl']
KEYS = ['tlt_encode', 'nvidia_tlt', u'cl\u00e9-priv\u00e9e 42']
TINY_ONNX = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         'unit', 'plugins', 'module_utils', 'fixtures', 'tiny_detectnet.onnx')


def _theirs_encrypt(plaintext, key):
    # 0.1.6 (the Python 3.6 wheel) has no `rewind` argument: call with the common arguments only.
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), out, key, encryption=True)
    return out.getvalue()


def _theirs_decrypt(blob, key):
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), out, key, encryption=True)
    return out.getvalue()


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('key', KEYS)
@pytest.mark.parametrize('size', SIZES)
def test_theirs_decrypts_with_ours(size, key, backend):
    plaintext = os.urandom(size)
    blob = _theirs_encrypt(plaintext, key)
    assert len(blob) == 16 + size
    assert _etlt.decrypt_payload(blob, key, backend) == plaintext


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('key', KEYS)
@pytest.mark.parametrize('size', SIZES)
def test_ours_decrypts_with_theirs(size, key, backend):
    plaintext = os.urandom(size)
    blob = _etlt.encrypt_payload(plaintext, key, backend=backend)
    assert _theirs_decrypt(blob, key) == plaintext


def test_same_nonce_gives_identical_ciphertext():
    plaintext = os.urandom(5000)
    theirs = _theirs_encrypt(plaintext, 'tlt_encode')
    ours = _etlt.encrypt_payload(plaintext, 'tlt_encode', nonce=theirs[:16])
    assert ours == theirs


def _etlt_made_by_theirs(payload, key, input_node_name):
    # The header TAO's exporter writes around encrypt_stream (tao_deploy utils/decoding.py).
    name = input_node_name.encode('ascii')
    return struct.pack('<i', len(name)) + name + _theirs_encrypt(payload, key)


@pytest.mark.parametrize('backend', BACKENDS)
def test_onnx_etlt_encrypted_by_theirs_decodes(backend):
    with open(TINY_ONNX, 'rb') as handle:
        model = handle.read()
    decoded = _etlt.decode_etlt(_etlt_made_by_theirs(model, 'tlt_encode', ''), 'tlt_encode',
                                model_name='peoplenet', backend=backend)
    assert (decoded.format, decoded.input_node_name, decoded.payload) == ('onnx', '', model)


def test_onnx_etlt_encoded_by_ours_decrypts_with_theirs():
    with open(TINY_ONNX, 'rb') as handle:
        model = handle.read()
    blob = _etlt.encode_etlt(model, 'tlt_encode', '')
    (name_length,) = struct.unpack('<i', blob[:4])
    assert name_length == 0
    assert _theirs_decrypt(blob[4:], 'tlt_encode') == model


def test_wrong_key_on_their_file_is_rejected():
    with open(TINY_ONNX, 'rb') as handle:
        model = handle.read()
    with pytest.raises(TaoFleetError) as caught:
        _etlt.decode_etlt(_etlt_made_by_theirs(model, 'tlt_encode', ''), 'nvidia_tlt',
                          model_name='peoplenet', catalog_key='tlt_encode')
    assert caught.value.code == 'model_key_rejected'
