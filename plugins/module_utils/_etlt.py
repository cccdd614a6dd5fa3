# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Read and write TAO ``.etlt`` model containers, in memory.

Layout (docs/models.md, "The .etlt container"): little-endian int32 ``N``, ``N`` bytes of input
node name (``N == 0`` for an ONNX payload, the UFF input name otherwise), a 16-byte AES-CTR
initial counter block, then the AES-256-CTR ciphertext of the ONNX or UFF file. The AES key is
PBKDF2-HMAC-SHA256(model key, TAO's fixed salt, 100000 iterations, 32 bytes), the same as
``eff_tao_encryption.tao_codec.encrypt_stream(..., encryption=True)``.

CTR mode carries no integrity check: a wrong key decrypts to random bytes of the right length.
So the plaintext is recognised by walking it as protobuf (ONNX ``ModelProto`` or UFF
``MetaGraph``) over the whole buffer; random bytes fail that walk within a few bytes, while a
genuine model that was cut short fails only at its end, which tells a wrong key from a
truncated file.

The plaintext model only ever lives in memory: nothing here writes it to disk.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import hashlib
import io
import os
import shutil
import struct
import subprocess
import tarfile
import zlib

from ansible_collections.tao.fleet.plugins.module_utils._errors import (
    OptionalImportError,
    TaoFleetError,
)

# TAO's fixed salt for encryption=True (tao_codec::__SALT in nvidia-eff-tao-encryption 0.1.6 and
# 0.1.10, docs/models.md). The tests/oracle suite checks it against NVIDIA's encoder.
ETLT_SALT = bytes.fromhex('cb3cdc2e858689da908563056a00dbed09ac076c785543c4610f06d31b53a732')
PBKDF2_ITERATIONS = 100000
NONCE_SIZE = 16
HEADER_SIZE = 4
# Longest input node name we accept as an .etlt header. Real ones are short (``input_1``); a
# larger value means the first four bytes are not an .etlt header at all.
MAX_INPUT_NAME = 4096

# NGC's published keys: safe to print in an error message. Any other key is treated as secret.
PUBLIC_MODEL_KEYS = ('tlt_encode', 'nvidia_tlt')

CRYPTO_INSTALL_HINT = (
    'Install the cryptography package for the Python that runs the module: JetPack 4 '
    '(Ubuntu 18.04, Python 3.6): "sudo apt-get install python3-cryptography" or in a venv '
    '"pip install \'cryptography<41\'"; JetPack 5, 6 and 7: "sudo apt-get install '
    'python3-cryptography" or in a venv "pip install cryptography". Or install the openssl '
    'command ("sudo apt-get install openssl"), which tao.fleet uses when cryptography is missing.'
)


class EtltPayload(object):
    """A decoded model: ``format`` ('onnx' or 'uff'), ``input_node_name`` (from the .etlt header,
    '' for ONNX), ``payload`` (the plaintext model bytes), ``encrypted`` (False when the input
    was already a plain ONNX/UFF file) and ``backend`` (what decrypted it, None if nothing did)."""

    def __init__(self, format, input_node_name, payload, encrypted=True, backend=None):
        self.format = format
        self.input_node_name = input_node_name
        self.payload = payload
        self.encrypted = encrypted
        self.backend = backend

    def __repr__(self):
        return 'EtltPayload(format=%r, input_node_name=%r, %d bytes, encrypted=%r)' % (
            self.format, self.input_node_name, len(self.payload), self.encrypted)


# ---------------------------------------------------------------------------------------------
# Key derivation and AES-256-CTR
# ---------------------------------------------------------------------------------------------

def derive_key(model_key):
    """The 32-byte AES key TAO derives from a model key such as ``tlt_encode``."""
    if not isinstance(model_key, bytes):
        model_key = model_key.encode('utf-8')
    return hashlib.pbkdf2_hmac('sha256', model_key, ETLT_SALT, PBKDF2_ITERATIONS, 32)


def _ctr_cryptography(aes_key, nonce, data):
    from cryptography.hazmat.backends import default_backend
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    # default_backend() keeps cryptography 2.1 (Ubuntu 18.04's python3-cryptography) working.
    cipher = Cipher(algorithms.AES(aes_key), modes.CTR(nonce), backend=default_backend())
    context = cipher.encryptor()
    return context.update(data) + context.finalize()


def _ctr_openssl(aes_key, nonce, data):
    openssl = shutil.which('openssl')
    if openssl is None:
        raise TaoFleetError('The openssl command is not on PATH.', code='openssl_missing',
                            fix='Install it: sudo apt-get install openssl')
    # `openssl enc` takes a raw AES key only as -K hex on its command line, so the derived key is
    # visible in the process list while it runs; -pass/-kfile go through a KDF whose salt is at
    # most 8 bytes and cannot reproduce TAO's 32-byte salt. The data itself travels through
    # pipes, so the plaintext never touches the disk.
    command = [openssl, 'enc', '-aes-256-ctr', '-nosalt',
               '-K', _hex(aes_key), '-iv', _hex(nonce)]
    timeout = 60 + len(data) // (8 * 1024 * 1024)
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        output, errors = process.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise TaoFleetError(
            'openssl enc did not finish decrypting %d bytes within %d s.' % (len(data), timeout),
            cause='The host is overloaded or the openssl binary hangs.',
            fix='Install the Python cryptography package, which decrypts in-process.',
            code='openssl_timeout')
    if process.returncode != 0 or len(output) != len(data):
        raise TaoFleetError(
            'openssl enc -aes-256-ctr failed (exit %s): %s' % (
                process.returncode, errors.decode('utf-8', 'replace').strip()[:300]),
            cause='This openssl build lacks AES-256-CTR or failed to run.',
            fix='Install the Python cryptography package: %s' % CRYPTO_INSTALL_HINT,
            code='openssl_failed')
    return output


_CTR_BACKENDS = {'cryptography': _ctr_cryptography, 'openssl': _ctr_openssl}


def available_backend():
    """Name of the AES-CTR implementation this host will use: 'cryptography' when importable,
    else 'openssl' when the command exists; raises OptionalImportError when neither is there."""
    try:
        import cryptography.hazmat.primitives.ciphers  # noqa: F401 pylint: disable=unused-import
        return 'cryptography'
    except ImportError:
        pass
    if shutil.which('openssl') is not None:
        return 'openssl'
    raise OptionalImportError('cryptography', 'decrypting .etlt models (AES-256-CTR)',
                              CRYPTO_INSTALL_HINT)


def aes_256_ctr(aes_key, nonce, data, backend=None):
    """Encrypt or decrypt (the same operation in CTR mode) with a 128-bit big-endian counter
    starting at ``nonce``. ``backend`` forces 'cryptography' or 'openssl'."""
    if len(nonce) != NONCE_SIZE:
        raise ValueError('AES-CTR needs a %d-byte nonce, got %d' % (NONCE_SIZE, len(nonce)))
    name = backend or available_backend()
    return _CTR_BACKENDS[name](aes_key, nonce, bytes(data))


def encrypt_payload(plaintext, model_key, nonce=None, backend=None):
    """``nonce + ciphertext``: byte-compatible with NVIDIA's ``encrypt_stream(encryption=True)``."""
    if nonce is None:
        nonce = os.urandom(NONCE_SIZE)
    return bytes(nonce) + aes_256_ctr(derive_key(model_key), nonce, plaintext, backend)


def decrypt_payload(blob, model_key, backend=None):
    """Inverse of :func:`encrypt_payload` and of NVIDIA's ``decrypt_stream(encryption=True)``."""
    if len(blob) < NONCE_SIZE:
        raise ValueError('encrypted stream shorter than its %d-byte nonce' % NONCE_SIZE)
    return aes_256_ctr(derive_key(model_key), blob[:NONCE_SIZE], blob[NONCE_SIZE:], backend)


def encode_etlt(payload, key, input_node_name='', nonce=None, backend=None):
    """Build an .etlt as TAO's exporter does: empty input name for ONNX, the UFF input node name
    (e.g. ``input_1``) for UFF."""
    name = input_node_name.encode('ascii') if not isinstance(input_node_name, bytes) else input_node_name
    return struct.pack('<i', len(name)) + name + encrypt_payload(payload, key, nonce, backend)


# ---------------------------------------------------------------------------------------------
# Protobuf structure walk (ONNX ModelProto, UFF MetaGraph)
# ---------------------------------------------------------------------------------------------

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
# proto2 repeated scalars: written unpacked (one varint per element) unless declared packed, and
# readers must accept both.
_REPEATED_INT = (_VARINT, _LEN)


class _Malformed(Exception):
    """The bytes are not this protobuf message."""


class _Overrun(Exception):
    """A field runs past the end of the bytes given (the message may be cut short)."""

    def __init__(self, field, wire, start):
        super(_Overrun, self).__init__(field, wire, start)
        self.field = field
        self.wire = wire
        self.start = start


class _Truncated(Exception):
    """The message is valid as far as it goes but ends inside a field."""


def _varint(buf, pos, end):
    value = 0
    shift = 0
    while True:
        if pos >= end:
            raise _Overrun(None, None, pos)
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise _Malformed('varint longer than 10 bytes')


def _fields(buf, start, end):
    """Yield ``(field, wire_type, value)``; value is an int for varints, ``(start, stop)`` else."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise _Malformed('field number 0')
        if wire == _VARINT:
            value, pos = _varint(buf, pos, end)
            yield field, wire, value
            continue
        if wire == _LEN:
            length, pos = _varint(buf, pos, end)
            stop = pos + length
        elif wire == _FIXED64:
            stop = pos + 8
        elif wire == _FIXED32:
            stop = pos + 4
        else:
            # 3/4 are proto2 groups, which neither ONNX nor UFF uses; 6/7 do not exist.
            raise _Malformed('wire type %d' % wire)
        if stop > end:
            raise _Overrun(field, wire, pos)
        yield field, wire, (pos, stop)
        pos = stop


class _Message(object):
    """What a valid message looks like: ``fields`` maps field number -> (wire type or tuple of
    wire types, child message or None); an unlisted field number up to ``closed_below`` makes the
    bytes invalid (0: unknown fields are skipped, as protobuf readers do)."""

    def __init__(self, fields, closed_below=0):
        self.fields = {}
        for number, (wires, child) in fields.items():
            self.fields[number] = (wires if isinstance(wires, tuple) else (wires,), child)
        self.closed_below = closed_below

    def expect(self, field, wire):
        """The child message of a field (or None), raising _Malformed where the field is not
        allowed; returns ``(known, child)``."""
        expected = self.fields.get(field)
        if expected is None:
            if field <= self.closed_below:
                raise _Malformed('unknown field %d' % field)
            return False, None
        if wire not in expected[0]:
            raise _Malformed('field %d has wire type %d' % (field, wire))
        return True, (expected[1] if wire == _LEN else None)


def _validate(buf, start, end, message, counter, may_be_cut):
    """Walk ``buf[start:end]`` as ``message``; return the set of field numbers seen.

    ``may_be_cut``: ``end`` is where the bytes stop rather than a declared length, so a field
    running past it means the data was cut short (_Truncated), not that it is malformed.
    ``counter[0]`` counts fields of known number and wire type read at any depth: the evidence
    that a cut buffer was a real model before the cut.
    """
    seen = set()
    try:
        for field, wire, value in _fields(buf, start, end):
            known, child = message.expect(field, wire)
            if child is not None:
                _validate(buf, value[0], value[1], child, counter, False)
            if known:
                counter[0] += 1
            seen.add(field)
    except _Overrun as overrun:
        if not may_be_cut:
            raise _Malformed('field overruns its enclosing message')
        if overrun.field is not None:
            _known, child = message.expect(overrun.field, overrun.wire)
            if child is not None:
                # A real model stays valid right up to the cut: check what is there of the field.
                _validate(buf, overrun.start, end, child, counter, True)
        raise _Truncated()
    return seen


_ONNX_DIMENSION = _Message({1: (_VARINT, None), 2: (_LEN, None), 3: (_LEN, None)})
_ONNX_SHAPE = _Message({1: (_LEN, _ONNX_DIMENSION)})
_ONNX_TENSOR_TYPE = _Message({1: (_VARINT, None), 2: (_LEN, _ONNX_SHAPE)})
_ONNX_TYPE = _Message({1: (_LEN, _ONNX_TENSOR_TYPE), 6: (_LEN, None)})
_ONNX_VALUE_INFO = _Message({1: (_LEN, None), 2: (_LEN, _ONNX_TYPE), 3: (_LEN, None),
                             4: (_LEN, None)})
_ONNX_NODE = _Message({1: (_LEN, None), 2: (_LEN, None), 3: (_LEN, None), 4: (_LEN, None),
                       5: (_LEN, None), 6: (_LEN, None), 7: (_LEN, None), 8: (_LEN, None),
                       9: (_LEN, None), 10: (_LEN, None)})
_ONNX_TENSOR = _Message({1: (_REPEATED_INT, None), 2: (_VARINT, None), 3: (_LEN, None),
                         4: (_LEN, None), 5: (_LEN, None), 6: (_LEN, None), 7: (_LEN, None),
                         8: (_LEN, None), 9: (_LEN, None), 10: (_LEN, None), 11: (_LEN, None),
                         12: (_LEN, None), 13: (_LEN, None), 14: (_VARINT, None),
                         16: (_LEN, None)})
_ONNX_GRAPH = _Message({1: (_LEN, _ONNX_NODE), 2: (_LEN, None), 5: (_LEN, _ONNX_TENSOR),
                        10: (_LEN, None), 11: (_LEN, _ONNX_VALUE_INFO),
                        12: (_LEN, _ONNX_VALUE_INFO), 13: (_LEN, _ONNX_VALUE_INFO),
                        14: (_LEN, None), 15: (_LEN, None), 16: (_LEN, None)})
# onnx.proto ModelProto: numbers up to 26 are either assigned or never used; a later ONNX may
# add fields above 26, which protobuf readers skip, so those stay accepted.
_ONNX_MODEL = _Message({1: (_VARINT, None), 2: (_LEN, None), 3: (_LEN, None), 4: (_LEN, None),
                        5: (_VARINT, None), 6: (_LEN, None), 7: (_LEN, _ONNX_GRAPH),
                        8: (_LEN, None), 14: (_LEN, None), 20: (_LEN, None),
                        25: (_LEN, None), 26: (_LEN, None)}, closed_below=26)

# uff.proto field numbers as Netron reads them (lutzroeder/netron, source/uff-proto.js). UFF is
# frozen (its converter ended with TensorRT 8), so the top level is closed.
_UFF_DESCRIPTOR = _Message({1: (_LEN, None), 2: (_VARINT, None), 3: (_VARINT, None)})
_UFF_NODE = _Message({1: (_LEN, None), 2: (_LEN, None), 3: (_LEN, None), 4: (_LEN, None),
                      100: (_LEN, None)})
_UFF_GRAPH = _Message({1: (_LEN, None), 2: (_LEN, _UFF_NODE), 100: (_LEN, None)})
_UFF_META_GRAPH = _Message({1: (_VARINT, None), 2: (_VARINT, None), 3: (_LEN, _UFF_DESCRIPTOR),
                            4: (_LEN, _UFF_GRAPH), 5: (_LEN, None), 100: (_LEN, None)},
                           closed_below=100)

# (format, top-level message, fields every usable model has: ONNX ir_version, graph and
# opset_import, which the ONNX IR spec requires; UFF version and graphs)
_FORMATS = (
    ('onnx', _ONNX_MODEL, frozenset([1, 7, 8])),
    ('uff', _UFF_META_GRAPH, frozenset([1, 4])),
)
# Known fields that must have been read before a cut for a cut buffer to count as a model.
_MIN_FIELDS_BEFORE_CUT = 3


def _leading_version_ok(format_name, buf):
    """Serializers write fields in number order, so both formats open with field 1 as a varint:
    ONNX ir_version (1..64; it is 11 in 2025) and UFF MetaGraph.version (1)."""
    if len(buf) < 2 or buf[0] != 0x08:
        return False
    if format_name == 'uff':
        return buf[1] == 0x01
    return 1 <= buf[1] <= 64


def payload_format(buf):
    """Classify plaintext bytes: ``('onnx'|'uff', 'complete'|'truncated')`` or ``(None, None)``."""
    for format_name, message, required in _FORMATS:
        counter = [0]
        try:
            seen = _validate(buf, 0, len(buf), message, counter, True)
        except _Malformed:
            continue
        except _Truncated:
            if counter[0] >= _MIN_FIELDS_BEFORE_CUT and _leading_version_ok(format_name, buf):
                return format_name, 'truncated'
            continue
        if required <= seen and _leading_version_ok(format_name, buf):
            return format_name, 'complete'
    return None, None


def describe_onnx(payload):
    """Graph inputs (initializers excluded) and outputs of an ONNX model, read from its bytes:
    ``{'inputs': [{'name', 'dims'}], 'outputs': [...]}`` where a dim is an int, a symbolic name
    (str) or None. Lets callers check a file against the catalog's I/O names and shapes."""
    graph = None
    for field, _wire, value in _fields(payload, 0, len(payload)):
        if field == 7:
            graph = value
    if graph is None:
        raise TaoFleetError('ONNX model has no graph.', code='onnx_invalid')
    inputs, outputs, initializers = [], [], set()
    for field, _wire, value in _fields(payload, graph[0], graph[1]):
        if field in (11, 12):
            (inputs if field == 11 else outputs).append(_value_info(payload, value))
        elif field == 5:
            for tensor_field, _w, tensor_value in _fields(payload, value[0], value[1]):
                if tensor_field == 8:
                    initializers.add(_text(payload, tensor_value))
    return {'inputs': [item for item in inputs if item['name'] not in initializers],
            'outputs': outputs}


def _text(buf, span):
    return bytes(buf[span[0]:span[1]]).decode('utf-8', 'replace')


def _value_info(buf, span):
    info = {'name': None, 'dims': None}
    for field, _wire, value in _fields(buf, span[0], span[1]):
        if field == 1:
            info['name'] = _text(buf, value)
        elif field == 2:
            info['dims'] = _tensor_dims(buf, value)
    return info


def _tensor_dims(buf, type_span):
    for field, _wire, tensor_type in _fields(buf, type_span[0], type_span[1]):
        if field != 1:
            continue
        for tensor_field, _w, shape in _fields(buf, tensor_type[0], tensor_type[1]):
            if tensor_field != 2:
                continue
            dims = []
            for dim_field, _w2, dim in _fields(buf, shape[0], shape[1]):
                if dim_field != 1:
                    continue
                size = None
                for part_field, _w3, part in _fields(buf, dim[0], dim[1]):
                    if part_field == 1:
                        size = part
                    elif part_field == 2:
                        size = _text(buf, part)
                dims.append(size)
            return dims
    return None


# ---------------------------------------------------------------------------------------------
# Container recognition and decoding
# ---------------------------------------------------------------------------------------------

def _hex(data):
    return binascii.hexlify(data).decode('ascii')


def _label(model_name, source):
    if model_name and source:
        return 'model %s (%s)' % (model_name, source)
    if model_name:
        return 'model %s' % model_name
    return source or 'the model file'


def _is_name_text(raw):
    return all(0x21 <= byte <= 0x7E for byte in bytearray(raw))


def _first_bytes(data):
    return repr(bytes(data[:16]))


def _reject_other_containers(data, label):
    """Raise for things that are not an .etlt but are often handed over as one."""
    gzip_magic = data[:2] == b'\x1f\x8b'
    # A gzip header read as an .etlt header would declare a name of 35615+ bytes, so gzip data
    # is never an .etlt; "ustar" at 257 is only trusted when the bytes open as a tar.
    manifest = _tar_manifest(data) if gzip_magic or data[257:262] == b'ustar' else None
    if manifest:
        raise TaoFleetError(
            '%s is an EFF archive (tar.gz with manifest.yaml, e.g. a .tltb), not a '
            'deployable .etlt.' % label,
            cause='EFF/.tltb is a TAO training artifact (checkpoint or BYOM model); TensorRT '
                  'cannot build an engine from it.',
            fix='Export a deployable model with "tao <task> export" (an .etlt or .onnx) and '
                'deploy that file.',
            code='eff_archive')
    if gzip_magic or manifest is not None:
        raise TaoFleetError(
            '%s is a gzip or tar archive, not a TAO .etlt.' % label,
            cause='The file was downloaded or stored as an archive.',
            fix='Unpack it and point the catalog entry at the .etlt or .onnx inside.',
            code='not_etlt')
    if data[:4] == b'PK\x03\x04':
        raise TaoFleetError(
            '%s is a zip archive, not a TAO .etlt.' % label,
            cause="NGC's .../versions/<version>/zip URL returns every file of a model version "
                  'as one zip.',
            fix='Fetch the single file (.../files/<name>) or unzip it and use the .etlt/.onnx '
                'inside.',
            code='not_etlt')


def _tar_manifest(data):
    """True: a tar (plain or gzip) holding manifest.yaml; False: a tar without one; None: the
    bytes do not open as a tar."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode='r:*') as archive:
            for member in archive:
                if os.path.normpath(member.name) == 'manifest.yaml':
                    return True
            return False
    except (tarfile.TarError, EOFError, OSError, zlib.error):
        return None


def _split_header(data, label):
    """``(input_node_name, nonce + ciphertext)`` or a not_etlt / etlt_truncated error."""
    size = len(data)
    if size < HEADER_SIZE:
        raise _truncated(label, 'it is %d bytes long, shorter than the 4-byte .etlt header' % size)
    (name_length,) = struct.unpack('<i', bytes(data[:HEADER_SIZE]))
    if name_length < 0 or name_length > MAX_INPUT_NAME:
        looks = ''
        if data[:1] in (b'<', b'{') or _is_name_text(data[:4]):
            looks = ' It starts like text (%s): an HTML or JSON error page saved by a ' \
                    'download?' % _first_bytes(data)
        raise TaoFleetError(
            '%s is not a TAO .etlt: its header declares an input name of %d bytes.%s' % (
                label, name_length, looks),
            cause='The file is another format, or not a model at all.',
            fix='Check the file (its first bytes: %s) and the catalog entry\'s format; a plain '
                'ONNX file needs format onnx.' % _first_bytes(data),
            code='not_etlt')
    name = bytes(data[HEADER_SIZE:HEADER_SIZE + name_length])
    if not _is_name_text(name):
        raise TaoFleetError(
            '%s is not a TAO .etlt: the header\'s input node name is not text (%r).' % (
                label, name[:32]),
            cause='The file is another format.',
            fix='Check the file and the catalog entry\'s format.',
            code='not_etlt')
    if size < HEADER_SIZE + name_length:
        raise _truncated(label, 'it ends inside the input node name (%d of %d bytes)' % (
            size - HEADER_SIZE, name_length))
    body = data[HEADER_SIZE + name_length:]
    if len(body) <= NONCE_SIZE:
        raise _truncated(label, 'it has %d bytes after the header, not more than the 16-byte '
                         'nonce: no model follows' % len(body))
    return name.decode('ascii'), body


def _truncated(label, detail):
    return TaoFleetError(
        '%s is truncated: %s.' % (label, detail),
        cause='The download or copy stopped early (connection cut, disk full).',
        fix='Fetch the file again (tao.fleet.model_fetch checks its size and sha256) and '
            'compare with the size NGC lists for it.',
        code='etlt_truncated')


def _key_fix(key, catalog_key, model_name):
    subject = 'model %s' % model_name if model_name else 'this model'
    if catalog_key and key == catalog_key:
        return ('The key given is already the catalog\'s key for %s, so the file is probably '
                'corrupt or not the one the catalog describes: fetch it again and check its '
                'sha256; if you exported it yourself, use the key you passed to tao export.'
                % subject)
    if catalog_key and catalog_key in PUBLIC_MODEL_KEYS:
        return 'Use the catalog\'s key for %s: "%s" (NGC model card).' % (subject, catalog_key)
    if catalog_key:
        return ('Use the key stored in the catalog entry for %s (not printed here: it is not a '
                'published NGC key).' % subject)
    return ('Use the key published on the NGC model card (most TAO models: "tlt_encode"; '
            'LPDNet and FaceDetect: "nvidia_tlt"), or the one passed to tao export.')


def decode_etlt(data, key, model_name=None, source=None, catalog_key=None, backend=None):
    """Decrypt an .etlt held in memory and return an :class:`EtltPayload`.

    ``model_name``/``source`` name the model and file in errors; ``catalog_key`` is the key the
    catalog lists for this model, suggested when ``key`` is rejected (printed only when it is a
    published NGC key). Errors (``TaoFleetError.code``): ``model_key_rejected``,
    ``etlt_truncated``, ``not_etlt``, ``eff_archive``, ``plain_onnx``, ``plain_uff``,
    ``model_key_missing``.
    """
    data = bytes(data)
    label = _label(model_name, source)
    if not data:
        raise _truncated(label, 'it is empty (0 bytes)')
    _reject_other_containers(data, label)
    plain_format, plain_state = payload_format(data)
    if plain_format is not None:
        if plain_state == 'truncated':
            raise _truncated(label, 'it is a plain %s model that ends inside a field at byte %d'
                             % (plain_format.upper(), len(data)))
        raise TaoFleetError(
            '%s is a plain %s model, not an encrypted .etlt: no key is needed.' % (
                label, plain_format.upper()),
            cause='An unencrypted model was given where an .etlt was expected.',
            fix='Declare the artifact with format %s (and no key); tao.fleet reads it as is.'
                % plain_format,
            code='plain_%s' % plain_format,
            details={'format': plain_format})
    input_node_name, body = _split_header(data, label)
    if not key:
        raise TaoFleetError(
            '%s is an encrypted .etlt but no model key was given.' % label,
            fix=_key_fix(key, catalog_key, model_name), code='model_key_missing')
    used_backend = backend or available_backend()
    plaintext = decrypt_payload(body, key, used_backend)
    found_format, state = payload_format(plaintext)
    if found_format is None:
        raise TaoFleetError(
            'Model key rejected for %s: the decrypted .etlt payload (%d bytes) parses as '
            'neither ONNX nor UFF.' % (label, len(plaintext)),
            cause='The key does not match the key the model was encrypted with (AES-CTR has no '
                  'integrity check, so a wrong key yields random bytes), or the file is corrupt.',
            fix=_key_fix(key, catalog_key, model_name),
            code='model_key_rejected',
            details={'header_format': 'uff' if input_node_name else 'onnx'})
    if state == 'truncated':
        raise _truncated(label, 'the decrypted %s payload ends inside a field at byte %d' % (
            found_format.upper(), len(plaintext)))
    return EtltPayload(found_format, input_node_name, plaintext, True, used_backend)


def peek_model(data, model_name=None, source=None):
    """``(format, input_node_name, encrypted)`` of a model file, without the key: a plain ONNX or
    UFF file is recognised as such; an .etlt's header names the payload (no input node name: ONNX;
    a name: UFF). Nothing is decrypted, so a caller can key a cache on it cheaply. Raises what
    ``decode_etlt`` raises for files that are no model (``not_etlt``, ``eff_archive``,
    ``etlt_truncated``)."""
    label = _label(model_name, source)
    if not data:
        raise _truncated(label, 'it is empty (0 bytes)')
    _reject_other_containers(data, label)
    plain_format, _state = payload_format(data)
    if plain_format is not None:
        return plain_format, '', False
    input_node_name, _body = _split_header(data, label)
    return ('uff' if input_node_name else 'onnx'), input_node_name, True


def read_model(data, key=None, model_name=None, source=None, catalog_key=None, backend=None):
    """Return the plaintext model from an .etlt or from a plain ONNX/UFF file alike."""
    try:
        return decode_etlt(data, key, model_name, source, catalog_key, backend)
    except TaoFleetError as error:
        if error.code not in ('plain_onnx', 'plain_uff'):
            raise
        return EtltPayload(error.details['format'], '', bytes(data), encrypted=False)


def read_model_file(path, key=None, model_name=None, catalog_key=None, backend=None):
    """:func:`read_model` on a file; only the encrypted bytes are read from disk."""
    with open(path, 'rb') as handle:
        data = handle.read()
    return read_model(data, key, model_name, os.path.basename(path), catalog_key, backend)
