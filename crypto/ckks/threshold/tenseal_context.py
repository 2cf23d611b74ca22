"""A TenSEAL public context around a collective public key, built without any secret key.

TenSEAL serializes a context as a protobuf: field 1 the SEAL encryption parameters,
field 2 a message of (1) the SEAL public key, (2) the auto-relin/rescale/mod-switch
flags and (3) the scale. SEAL serializes a public key as a ciphertext ``(b, a)`` at the
key level in NTT form. Both are written here from the parameters and the key's
coefficients, so no process ever generates (and then discards) a key of its own; the
result loads with ``tenseal.context_from`` and clients encrypt under it as under any
public context (:class:`~blindsum.crypto.ckks.encryptor.CkksEncryptor`).
"""

from __future__ import annotations

import os
import struct
import tempfile
from typing import Final

import numpy as np

from blindsum.crypto.ckks.params import CkksParams
from blindsum.crypto.ckks.seal_bytes import _SEAL_HEADER, _SEAL_MAGIC, _encode_varint

__all__ = ["public_context"]

_FLAGS: Final = 7  # auto_relin | auto_rescale | auto_mod_switch, as TenSEAL writes them
_NONE: Final = 0


def _seal_parameters(params: CkksParams) -> tuple[bytes, list[int]]:
    """SEAL's serialized encryption parameters and the key level's parms_id."""
    import tenseal.sealapi as sa

    parms = sa.EncryptionParameters(sa.SCHEME_TYPE.CKKS)
    parms.set_poly_modulus_degree(params.poly_modulus_degree)
    parms.set_coeff_modulus(sa.CoeffModulus.Create(params.poly_modulus_degree,
                                                   list(params.coeff_mod_bit_sizes)))
    context = sa.SEALContext(parms, True, sa.SEC_LEVEL_TYPE.TC128)
    fd, path = tempfile.mkstemp(prefix="blindsum-parms-")
    os.close(fd)
    try:
        parms.save(path)  # sealapi saves only to a path
        with open(path, "rb") as f:
            data = f.read()
    finally:
        os.unlink(path)
    return data, list(context.key_parms_id())


def _seal_object(body: bytes, version: tuple[int, int]) -> bytes:
    return _SEAL_HEADER.pack(_SEAL_MAGIC, _SEAL_HEADER.size, version[0], version[1], _NONE, 0,
                             _SEAL_HEADER.size + len(body)) + body


def _field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def public_context(params: CkksParams, b: np.ndarray, a: np.ndarray) -> bytes:
    """The TenSEAL public context whose public key is ``(b, a)`` (NTT form, key level)."""
    n, primes = params.poly_modulus_degree, len(params.primes)
    if b.shape != (primes, n) or a.shape != (primes, n):
        raise ValueError("a public key is two key-level polynomials")
    parms, parms_id = _seal_parameters(params)
    version = (parms[3], parms[4])  # the wheel's SEAL version, as its own header states
    words = np.ascontiguousarray(np.stack([b, a]), dtype="<u8")
    array = _seal_object(struct.pack("<Q", words.size) + words.tobytes(), version)
    members = struct.pack("<4QBQQQdQ", *parms_id, 1, 2, n, primes, 1.0, 1)
    key = _seal_object(members + array, version)
    inner = _field(1, key) + _encode_varint(2 << 3) + _encode_varint(_FLAGS) + \
        _encode_varint(3 << 3 | 1) + struct.pack("<d", 2.0**params.scale_bits)
    return _field(1, parms) + _field(2, inner)
