"""Feldman commitments to a Shamir polynomial over the Ed25519 prime-order group.

Why: a share that can be checked on its own lets a round go on when one client
lies. The dealer of ``f(x) = a_0 + a_1 x + ... + a_{t-1} x^{t-1}`` over GF(l)
publishes ``C_j = a_j * B`` (B the Ed25519 base point, l its prime order); a
holder of ``y = f(x)`` checks ``y * B == sum_j x^j * C_j`` before using it, and
anyone holding a reconstructed secret checks ``a_0 * B == C_0``. Feldman
(FOCS 1987); the commitments hide the coefficients under the discrete-logarithm
assumption in the group (about 126-bit security). ``C_0 = a_0 * B`` is public: a secret
used as a key is either hashed first (:func:`derive_key`) or one whose public key is
``C_0`` anyway (the pair-mask key of :mod:`blindsum.crypto.secagg.keys`).

Group arithmetic is libsodium's (through PyNaCl): ``crypto_scalarmult_ed25519_*``
on the prime-order subgroup, which refuses points outside it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

from nacl import bindings as sodium
from nacl.exceptions import RuntimeError as SodiumRuntimeError

from blindsum.errors import InvalidShareError

__all__ = ["GROUP_ORDER", "POINT_BYTES", "commit", "derive_key", "verify_secret",
           "verify_share"]

GROUP_ORDER: Final = 2**252 + 27742317777372353535851937790883648493
"""l, the prime order of the Ed25519 base point (RFC 8032, sec. 5.1)."""
POINT_BYTES: Final = 32


def _scalar(value: int) -> bytes:
    return (value % GROUP_ORDER).to_bytes(32, "little")


def _base_mult(value: int) -> bytes:
    try:
        return bytes(sodium.crypto_scalarmult_ed25519_base_noclamp(_scalar(value)))
    except SodiumRuntimeError as exc:  # the zero scalar gives the identity
        raise InvalidShareError("commitment to zero") from exc


def commit(coefficients: Sequence[int]) -> tuple[bytes, ...]:
    """``a_j * B`` for each coefficient (each must be nonzero mod l)."""
    return tuple(_base_mult(c) for c in coefficients)


def _checked_point(point: bytes) -> bytes:
    if len(point) != POINT_BYTES or not sodium.crypto_core_ed25519_is_valid_point(point):
        raise InvalidShareError("malformed commitment")
    return point


def verify_share(commitments: Sequence[bytes], x: int, y: int) -> None:
    """Raise :class:`InvalidShareError` unless ``y`` is the committed polynomial at ``x``.

    Horner's rule in the group: ``C_{t-1}``, then ``acc = x * acc + C_j`` down to j = 0.
    """
    if not commitments or not 0 < x < GROUP_ORDER or not 0 <= y < GROUP_ORDER:
        raise InvalidShareError("share out of range")
    if any(len(point) != POINT_BYTES for point in commitments):
        raise InvalidShareError("malformed commitment")
    # C_0 must lie in the prime-order subgroup: it is compared byte for byte with a
    # rebuilt secret times B. The others need not be checked apart: libsodium refuses
    # small-order and non-canonical points, and a torsion part on one only makes
    # honest shares fail (an accusation), never a wrong one pass.
    _checked_point(commitments[0])
    try:
        acc = commitments[-1]
        for point in reversed(commitments[:-1]):
            acc = sodium.crypto_core_ed25519_add(
                sodium.crypto_scalarmult_ed25519_noclamp(_scalar(x), acc), point)
        expected = _base_mult(y) if y else None
    except SodiumRuntimeError as exc:  # an identity along the way: not an honest polynomial
        raise InvalidShareError("share does not match its commitments") from exc
    if expected != bytes(acc):
        raise InvalidShareError("share does not match its commitments")


def verify_secret(commitments: Sequence[bytes], secret: int) -> None:
    """Raise unless ``secret`` is the committed constant term (``secret * B == C_0``)."""
    if not commitments or _base_mult(secret) != commitments[0]:
        raise InvalidShareError("reconstructed secret does not match its commitment")


def derive_key(secret: int, *, purpose: bytes) -> bytes:
    """The 32-byte key a shared scalar stands for: ``SHA-256(purpose | secret)``.

    The shared secrets are group scalars (below l < 2^253); what masks use is a
    uniform 256-bit key derived from them, domain-separated by ``purpose``.
    """
    return hashlib.sha256(b"blindsum/v1|" + purpose + b"|" + _scalar(secret)).digest()
