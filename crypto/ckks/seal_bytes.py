"""Between TenSEAL's ``CKKSVector`` bytes and raw RNS coefficients, with every size checked.

TenSEAL serializes a ``CKKSVector`` as a small protobuf (field 1: the vector's
shape, packed varints; field 2: the SEAL ciphertext; field 3: scale, double). A SEAL
ciphertext is a 16-byte SEAL header (magic ``0xA15E``, compression mode,
total size) around: parms_id (32 bytes), is_ntt_form (1), size (u64),
poly_modulus_degree (u64), coeff_modulus_size (u64), scale (f64),
correction_factor (u64), and the coefficient array (its own SEAL header, a u64
count, then ``size * coeff_modulus_size * N`` little-endian u64 words).

Clients use :func:`coefficients_from_vector_bytes` to strip all that down to the
coefficients they upload; key custody uses :func:`vector_bytes_from_coefficients`
with a template from its own context to rebuild a ciphertext of the sum.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

import numpy as np

from blindsum.errors import MalformedMessageError

__all__ = ["CiphertextLayout", "coefficients_from_vector_bytes", "vector_bytes_from_coefficients"]

_SEAL_MAGIC: Final = 0xA15E
_SEAL_HEADER: Final = struct.Struct("<HBBBBHQ")
_COMPR_NONE: Final = 0
_COMPR_ZSTD: Final = 2
_MEMBERS: Final = struct.Struct("<32sBQQQdQ")  # parms_id .. correction_factor
_MAX_DECOMPRESSED: Final = 1 << 26


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise MalformedMessageError("truncated protobuf varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _proto_fields(data: bytes) -> dict[int, bytes]:
    """The three known fields of a TenSEAL CKKSVector message; anything else is refused."""
    fields: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if (number, wire) in ((1, 2), (2, 2)):
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise MalformedMessageError("truncated CKKSVector field")
            fields[number], pos = data[pos : pos + length], pos + length
        elif (number, wire) == (3, 1) and pos + 8 <= len(data):
            fields[3], pos = data[pos : pos + 8], pos + 8
        else:
            raise MalformedMessageError("unexpected field in a CKKSVector message")
    if 2 not in fields:
        raise MalformedMessageError("CKKSVector message without a ciphertext")
    return fields


def _unwrap_seal(blob: bytes) -> bytes:
    """Check a SEAL header and return the (decompressed) body."""
    if len(blob) < _SEAL_HEADER.size:
        raise MalformedMessageError("truncated SEAL header")
    magic, header_size, _major, _minor, mode, _reserved, size = _SEAL_HEADER.unpack_from(blob)
    if magic != _SEAL_MAGIC or header_size != _SEAL_HEADER.size or size != len(blob):
        raise MalformedMessageError("not a SEAL object of the stated size")
    body = blob[_SEAL_HEADER.size :]
    if mode == _COMPR_NONE:
        return body
    if mode == _COMPR_ZSTD:
        import zstandard

        try:
            data: bytes = zstandard.ZstdDecompressor().decompress(
                body, max_output_size=_MAX_DECOMPRESSED)
        except zstandard.ZstdError as exc:
            raise MalformedMessageError("corrupt compressed SEAL data") from exc
        return data
    raise MalformedMessageError("unsupported SEAL compression mode")


def _wrap_seal(body: bytes, template_header: bytes) -> bytes:
    _magic, hs, major, minor, _mode, reserved, _size = _SEAL_HEADER.unpack_from(template_header)
    header = _SEAL_HEADER.pack(_SEAL_MAGIC, hs, major, minor, _COMPR_NONE, reserved,
                               _SEAL_HEADER.size + len(body))
    return header + body


@dataclass(frozen=True)
class CiphertextLayout:
    """What a fresh ciphertext of given parameters must look like."""

    poly_modulus_degree: int
    data_primes: int

    @property
    def words(self) -> int:
        return 2 * self.data_primes * self.poly_modulus_degree


def _split_body(body: bytes, layout: CiphertextLayout) -> tuple[bytes, bytes, np.ndarray]:
    """(members, array header, coefficients) of a decompressed ciphertext body."""
    head = _MEMBERS.size + _SEAL_HEADER.size + 8
    if len(body) != head + 8 * layout.words:
        raise MalformedMessageError("ciphertext body has the wrong size for these parameters")
    _pid, ntt, size, degree, moduli, _scale, _corr = _MEMBERS.unpack_from(body)
    count = struct.unpack_from("<Q", body, head - 8)[0]
    expected = (1, 2, layout.poly_modulus_degree, layout.data_primes, layout.words)
    if (ntt, size, degree, moduli, count) != expected:
        raise MalformedMessageError("ciphertext is not a fresh ciphertext of these parameters")
    members = body[: _MEMBERS.size]
    array_header = body[_MEMBERS.size : head - 8]
    return members, array_header, np.frombuffer(body, dtype="<u8", offset=head)


def coefficients_from_vector_bytes(data: bytes, layout: CiphertextLayout) -> np.ndarray:
    """The ``2 * L * N`` RNS coefficients (uint64) of one serialized CKKSVector."""
    return _split_body(_unwrap_seal(_proto_fields(data)[2]), layout)[2]


def vector_bytes_from_coefficients(
    coefficients: np.ndarray, template: bytes, layout: CiphertextLayout
) -> bytes:
    """A CKKSVector message carrying ``coefficients``, framed like ``template``.

    ``template`` is a CKKSVector serialized by the same context (key custody
    encrypts zeros to get one), which supplies parms_id, scale and the SEAL
    version; the result is uncompressed.
    """
    fields = _proto_fields(template)
    blob = fields[2]
    members, array_header, _ = _split_body(_unwrap_seal(blob), layout)
    words = np.ascontiguousarray(coefficients, dtype="<u8")
    if words.size != layout.words:
        raise ValueError("wrong number of coefficients for these parameters")
    array = struct.pack("<Q", layout.words) + words.tobytes()
    seal = _wrap_seal(members + _wrap_seal(array, array_header), blob)
    out = bytearray()
    if 1 in fields:
        out += b"\x0a" + _encode_varint(len(fields[1])) + fields[1]
    out += b"\x12" + _encode_varint(len(seal)) + seal
    if 3 in fields:
        out += b"\x19" + fields[3]
    return bytes(out)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
