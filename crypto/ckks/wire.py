"""The binary format of a CKKS upload: a small versioned header, then raw RNS coefficients.

::

    offset  size  field
    0       4     magic b"BSCK"
    4       1     format version (1)
    5       1     data primes L
    6       2     reserved, zero
    8       4     poly_modulus_degree N
    12      4     number of ciphertexts (chunks) C
    16      8     vector length d
    24      32    parameter fingerprint (SHA-256, see CkksParams.fingerprint)
    56      ...   C * 2 * L * N little-endian uint64 coefficients

Every field is fixed-size, so the exact length follows from the round's
parameters and vector length: the server checks ``Content-Length`` before
reading a byte, then the header, then that every coefficient is reduced
modulo its prime. No pickle, no protobuf, no TenSEAL on the request path.
"""

from __future__ import annotations

import struct
from typing import Final

import numpy as np

from blindsum.crypto.ckks.params import CkksParams
from blindsum.errors import MalformedMessageError

__all__ = ["HEADER", "decode_upload", "encode_upload", "upload_size"]

MAGIC: Final = b"BSCK"
VERSION: Final = 1
HEADER: Final = struct.Struct("<4sBBHIIQ32s")


def upload_size(params: CkksParams, dimension: int) -> int:
    """The exact byte length of an upload of ``dimension`` values."""
    return HEADER.size + 8 * params.chunks(dimension) * params.words_per_chunk


def encode_upload(params: CkksParams, dimension: int, coefficients: np.ndarray) -> bytes:
    """Frame ``(chunks, 2*L*N)`` coefficients as an upload."""
    chunks = params.chunks(dimension)
    words = np.ascontiguousarray(coefficients, dtype="<u8")
    if words.shape != (chunks, params.words_per_chunk):
        raise ValueError(f"expected coefficients of shape {(chunks, params.words_per_chunk)}")
    header = HEADER.pack(MAGIC, VERSION, len(params.data_primes), 0, params.poly_modulus_degree,
                         chunks, dimension, params.fingerprint)
    return header + words.tobytes()


def decode_upload(data: bytes | memoryview, params: CkksParams, dimension: int) -> np.ndarray:
    """Check an upload against the round's parameters; return a read-only
    ``(chunks, 2, L, N)`` view of its coefficients (no copy).

    Raises:
        MalformedMessageError: wrong size, header, parameters or unreduced coefficients.
    """
    expected = upload_size(params, dimension)
    if len(data) != expected:
        raise MalformedMessageError(
            f"a CKKS upload of {dimension} values is exactly {expected} bytes, got {len(data)}"
        )
    magic, version, primes, reserved, degree, chunks, dim, fingerprint = HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION or reserved != 0:
        raise MalformedMessageError("not a blindsum CKKS upload (bad magic or version)")
    if (primes, degree, chunks, dim) != (len(params.data_primes), params.poly_modulus_degree,
                                         params.chunks(dimension), dimension):
        raise MalformedMessageError("upload header does not match the round's parameters")
    if fingerprint != params.fingerprint:
        raise MalformedMessageError("upload was encrypted under other CKKS parameters")
    shape = (chunks, 2, primes, degree)
    words = np.frombuffer(data, dtype="<u8", offset=HEADER.size).reshape(shape)
    moduli = np.array(params.data_primes, dtype=np.uint64).reshape(1, 1, primes, 1)
    if np.any(words >= moduli):
        raise MalformedMessageError("coefficients are not reduced modulo the data primes")
    return words
