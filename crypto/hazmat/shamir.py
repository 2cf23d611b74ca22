"""Shamir secret sharing over GF(l), l = 2^252 + 277423...8493, the Ed25519 group order.

Why this prime: shares must be checkable on their own (a hostile holder or dealer
is then named instead of stopping the round), and Feldman commitments
(:mod:`blindsum.crypto.hazmat.feldman`) need the field to be the exponent field
of a prime-order group; l is the order of the Ed25519 base point. Secrets are
therefore scalars below l (32 bytes, big-endian, about 252 bits); what they key is
SHA-256 of them (``feldman.derive_key``) or, for the pair-mask X25519 key, the scalar
itself (:mod:`blindsum.crypto.secagg.keys`). (Flower
splits secrets into 16-byte chunks and shares each with pycryptodome's
GF(2^128) Shamir: no verifiability, and a padding oracle on combine.)

Reconstruction precomputes Lagrange coefficients at zero for a set of share
holders once (:func:`lagrange_at_zero`) and reuses them for every secret held
by the same set, which is the common case in the unmask stage. When more than
``threshold`` shares are given, :func:`combine` checks that all of them lie on
one polynomial of degree ``threshold - 1`` and refuses otherwise.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Final

from blindsum.crypto.hazmat import feldman
from blindsum.crypto.hazmat.feldman import GROUP_ORDER
from blindsum.errors import InvalidShareError

__all__ = [
    "PRIME",
    "SECRET_BYTES",
    "SHARE_BYTES",
    "combine",
    "decode_share",
    "encode_share",
    "lagrange_at_zero",
    "random_secret",
    "split",
    "split_verifiable",
    "split_with_coefficients",
]

PRIME: Final = GROUP_ORDER
"""l, the prime order of the Ed25519 base point (primality checked in the tests)."""
SECRET_BYTES: Final = 32
SHARE_BYTES: Final = 32
"""A field element fits in 32 big-endian bytes."""


def _check_points(xs: Sequence[int]) -> None:
    if len(set(xs)) != len(xs):
        raise ValueError("share points must be distinct")
    if any(not 0 < x < PRIME for x in xs):
        raise ValueError("share points must be in 1..p-1")


def _evaluate(coefficients: Sequence[int], x: int) -> int:
    """Horner evaluation of ``sum(c_i x^i)`` mod p."""
    acc = 0
    for c in reversed(coefficients):
        acc = (acc * x + c) % PRIME
    return acc


def split_with_coefficients(
    secret: bytes, coefficients: Sequence[int], xs: Sequence[int]
) -> dict[int, int]:
    """Deterministic twin of :func:`split`: the caller supplies the random coefficients.

    Args:
        secret: 32 bytes, read big-endian as the constant term (below ``PRIME``).
        coefficients: the ``threshold - 1`` higher-order coefficients, each in [0, p).
        xs: the distinct nonzero evaluation points (one per share holder).
    """
    if not isinstance(secret, bytes) or len(secret) != SECRET_BYTES:
        raise ValueError(f"secrets are exactly {SECRET_BYTES} bytes")
    if int.from_bytes(secret, "big") >= PRIME:
        raise ValueError("secrets are field elements (below the group order)")
    if any(not 0 <= c < PRIME for c in coefficients):
        raise ValueError("coefficients must be field elements")
    _check_points(xs)
    if len(coefficients) + 1 > len(xs):
        raise ValueError("threshold larger than the number of shares")
    poly = [int.from_bytes(secret, "big"), *coefficients]
    return {x: _evaluate(poly, x) for x in xs}


def random_secret() -> bytes:
    """A uniformly random nonzero field element, as 32 big-endian bytes."""
    return (1 + secrets.randbelow(PRIME - 1)).to_bytes(SECRET_BYTES, "big")


def split(secret: bytes, *, threshold: int, xs: Sequence[int]) -> dict[int, int]:
    """Split a 32-byte secret into ``len(xs)`` shares, any ``threshold`` of which recover it."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    coefficients = [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    return split_with_coefficients(secret, coefficients, xs)


def split_verifiable(secret: bytes, *, threshold: int, xs: Sequence[int]
                     ) -> tuple[dict[int, int], tuple[bytes, ...]]:
    """:func:`split`, plus Feldman commitments to the polynomial (``threshold`` points):
    each share can then be checked alone (``feldman.verify_share``) and the secret once
    rebuilt (``feldman.verify_secret``)."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    if int.from_bytes(secret, "big") == 0:
        raise ValueError("a verifiable secret must be nonzero")
    coefficients = [1 + secrets.randbelow(PRIME - 1) for _ in range(threshold - 1)]
    shares = split_with_coefficients(secret, coefficients, xs)
    return shares, feldman.commit([int.from_bytes(secret, "big"), *coefficients])


@lru_cache(maxsize=4096)
def lagrange_at_zero(xs: tuple[int, ...]) -> tuple[int, ...]:
    """Coefficients ``l_j`` with ``f(0) = sum_j l_j f(x_j)`` whenever ``deg f < len(xs)``."""
    _check_points(xs)
    out = []
    for j, xj in enumerate(xs):
        num, den = 1, 1
        for m, xm in enumerate(xs):
            if m != j:
                num = num * xm % PRIME
                den = den * (xm - xj) % PRIME
        out.append(num * pow(den, -1, PRIME) % PRIME)
    return tuple(out)


def _lagrange_at(xs: Sequence[int], ys: Sequence[int], x: int) -> int:
    """Evaluate the interpolating polynomial of ``(xs, ys)`` at ``x``."""
    acc = 0
    for j, xj in enumerate(xs):
        num, den = 1, 1
        for m, xm in enumerate(xs):
            if m != j:
                num = num * (x - xm) % PRIME
                den = den * (xj - xm) % PRIME
        acc = (acc + ys[j] * num * pow(den, -1, PRIME)) % PRIME
    return acc


def combine(shares: Mapping[int, int], *, threshold: int) -> bytes:
    """Recover the 32-byte secret from at least ``threshold`` shares ``{x: y}``.

    Raises:
        InvalidShareError: too few shares, or shares not on one polynomial of
            degree ``threshold - 1``.
    """
    if len(shares) < threshold or threshold < 1:
        raise InvalidShareError("not enough shares")
    if any(not 0 <= y < PRIME for y in shares.values()):
        raise InvalidShareError("share out of range")
    points = sorted(shares)
    _check_points(points)
    base = tuple(points[:threshold])
    ys = [shares[x] for x in base]
    secret = sum(c * y for c, y in zip(lagrange_at_zero(base), ys, strict=True)) % PRIME
    for x in points[threshold:]:
        if _lagrange_at(base, ys, x) != shares[x]:
            raise InvalidShareError("shares are inconsistent")
    return secret.to_bytes(SECRET_BYTES, "big")


def encode_share(value: int) -> bytes:
    """A field element as 32 big-endian bytes."""
    if not 0 <= value < PRIME:
        raise ValueError("not a field element")
    return value.to_bytes(SHARE_BYTES, "big")


def decode_share(data: bytes) -> int:
    """Parse 32 bytes into a field element, refusing anything else."""
    if len(data) != SHARE_BYTES:
        raise InvalidShareError("malformed share")
    value = int.from_bytes(data, "big")
    if value >= PRIME:
        raise InvalidShareError("malformed share")
    return value
