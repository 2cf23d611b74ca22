"""Ring elements on the wire: raw little-endian uint64 residues, checked before use.

A key share, a re-share or a partial decryption is ``rows`` polynomials of ``len(primes)``
residue vectors of N words each. The decoder checks the exact size before reading and
that every residue is reduced modulo its prime, as the upload decoder does.
"""

from __future__ import annotations

import numpy as np

from blindsum.crypto.hazmat.rns import RnsBasis
from blindsum.errors import MalformedMessageError

__all__ = ["decode_residues", "encode_residues", "residues_size"]


def residues_size(basis: RnsBasis, rows: int = 1) -> int:
    return 8 * rows * len(basis.primes) * basis.n


def encode_residues(basis: RnsBasis, values: np.ndarray) -> bytes:
    words = np.ascontiguousarray(values, dtype="<u8")
    if words.shape[-2:] != (len(basis.primes), basis.n):
        raise ValueError("not residues of this basis")
    return words.tobytes()


def decode_residues(basis: RnsBasis, data: bytes | memoryview, rows: int | None = None,
                    *, what: str = "a ring element") -> np.ndarray:
    """``(len(primes), N)`` residues, or ``(rows, len(primes), N)`` when ``rows`` is given."""
    if rows is not None and rows < 1:
        raise MalformedMessageError(f"{what} has at least one row")
    expected = residues_size(basis, 1 if rows is None else rows)
    if len(data) != expected:
        raise MalformedMessageError(f"{what} is exactly {expected} bytes, got {len(data)}")
    shape = (len(basis.primes), basis.n) if rows is None else (rows, len(basis.primes), basis.n)
    words = np.frombuffer(data, dtype="<u8").reshape(shape).astype(np.uint64)
    moduli = np.array(basis.primes, dtype=np.uint64)[:, None]
    if np.any(words >= moduli):
        raise MalformedMessageError(f"{what} has residues not reduced modulo its primes")
    return words
