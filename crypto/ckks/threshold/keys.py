"""Dealer-free collective key generation and t-out-of-m re-sharing (no party holds the key).

Following Mouchet, Troncoso-Pastoriza, Bossuat and Hubaux (PETS 2021, "Multiparty
homomorphic encryption from ring-learning-with-errors", protocol EncKeyGen) and
Lattigo's ``multiparty`` package:

* every custodian j samples its own ternary secret ``s_j`` and error ``e_j`` and
  publishes ``b_j = -a s_j + e_j`` over a common random polynomial ``a`` expanded from a
  public seed; the collective public key is ``(sum_j b_j, a)`` for the secret
  ``s = sum_j s_j``, which is never assembled anywhere;
* for t-out-of-m, each custodian then Shamir-shares its ``s_j`` (coefficient-wise in
  the NTT domain, over each RNS prime) among all m (Mouchet et al. 2022, "Asymptotically
  quasi-optimal cryptography", the thresholdizer); custodian i keeps
  ``S_i = sum_j f_j(i)``, a point on a polynomial with constant term ``s``. Any t of the
  ``S_i`` determine ``s``; t - 1 of them are uniformly distributed and independent of it.

Everything is in SEAL's NTT form (:mod:`blindsum.crypto.hazmat.rns`), so the collective
key loads into TenSEAL, and clients encrypt under it exactly as under any public key.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from blindsum.crypto.ckks.params import CkksParams
from blindsum.crypto.hazmat.csprng import RandomSource
from blindsum.crypto.hazmat.rns import RnsBasis, mulmod
from blindsum.errors import ConfigError

__all__ = ["ERROR_ETA", "CollectiveKey", "KeyShare", "PublicKeyShare", "ThresholdKeyShare",
           "collective_public_key", "combine_reshares", "common_random_polynomial", "data_basis",
           "key_basis", "lagrange_at_zero", "public_key_share", "reshare", "sample_secret",
           "scaled_by_lagrange"]

ERROR_ETA: Final = 21
"""Key-generation errors are centred binomial with eta = 21 (variance 10.5, |e| <= 21):
SEAL's own error is a normal of sigma 3.2 (variance 10.24) clipped at 19.2."""
_CRP_DOMAIN: Final = b"blindsum/v1/ckks-threshold/crp"


def key_basis(params: CkksParams) -> RnsBasis:
    """Every prime, the special one included: where public keys live."""
    return RnsBasis(params.poly_modulus_degree, params.primes)


def data_basis(params: CkksParams) -> RnsBasis:
    """The primes a fresh ciphertext lives modulo: where decryption happens."""
    return RnsBasis(params.poly_modulus_degree, params.data_primes)


def _uniform_residues(stream: RandomSource, basis: RnsBasis, rows: int = 1) -> np.ndarray:
    """Uniform residues ``(rows, L, N)`` by rejection (no modulo bias)."""
    out = np.empty((rows, len(basis.primes), basis.n), dtype=np.uint64)
    for k, q in enumerate(basis.primes):
        limit = np.uint64((2**64 // q) * q - 1)
        filled, flat = 0, np.empty(rows * basis.n, dtype=np.uint64)
        while filled < flat.size:
            words = np.frombuffer(stream.random_bytes(8 * (flat.size - filled + 64)), dtype="<u8")
            words = words[words <= limit][: flat.size - filled]
            flat[filled : filled + words.size] = words % np.uint64(q)
            filled += words.size
        out[:, k, :] = flat.reshape(rows, basis.n)
    return out


class _SeededStream:
    """ChaCha20 under SHA-256 of a domain and a public seed: anyone can re-expand it."""

    def __init__(self, *parts: bytes) -> None:
        key = hashlib.sha256(b"".join(struct.pack(">I", len(p)) + p for p in parts)).digest()
        self._stream = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()

    def random_bytes(self, n: int) -> bytes:
        return self._stream.update(bytes(n))

    def uniform(self, n: int) -> np.ndarray:  # pragma: no cover - RandomSource completeness
        words = np.frombuffer(self.random_bytes(4 * n), dtype="<u4")
        return words * (1.0 / 4294967296.0)


def common_random_polynomial(params: CkksParams, seed: bytes) -> np.ndarray:
    """``a`` (NTT form, key level) expanded from a public 32-byte seed: uniform, and no
    party chooses it (the seed is drawn jointly; see the service's key ceremony)."""
    if len(seed) != 32:
        raise ConfigError("the common random polynomial's seed is 32 bytes")
    stream = _SeededStream(_CRP_DOMAIN, params.fingerprint, seed)
    return np.asarray(_uniform_residues(stream, key_basis(params))[0])


def _ternary(rng: RandomSource, n: int) -> np.ndarray:
    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        raw = np.frombuffer(rng.random_bytes(n - out.size + 64), dtype=np.uint8)
        raw = raw[raw < 255]  # 255 = 3 * 85: no bias mod 3
        out = np.concatenate([out, raw.astype(np.int64) % 3 - 1])
    return np.asarray(out[:n])


def _binomial(rng: RandomSource, n: int, eta: int = ERROR_ETA) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(rng.random_bytes(-(-2 * eta * n // 8)), dtype=np.uint8))
    bits = bits[: 2 * eta * n].reshape(n, 2, eta).sum(axis=2, dtype=np.int64)
    return np.asarray(bits[:, 0] - bits[:, 1])


@dataclass(frozen=True)
class KeyShare:
    """A custodian's own secret ``s_j`` in NTT form at the key level: it never leaves it."""

    secret: np.ndarray = field(repr=False)


def sample_secret(params: CkksParams, rng: RandomSource) -> KeyShare:
    """A fresh uniform ternary secret (SEAL's distribution), NTT form, key level."""
    basis = key_basis(params)
    return KeyShare(basis.ntt(basis.from_signed(_ternary(rng, basis.n))))


@dataclass(frozen=True)
class PublicKeyShare:
    """``b_j = -a s_j + e_j``: what custodian j publishes (signed, in the service)."""

    b: np.ndarray


def public_key_share(params: CkksParams, share: KeyShare, a: np.ndarray,
                     rng: RandomSource) -> PublicKeyShare:
    basis = key_basis(params)
    e = basis.ntt(basis.from_signed(_binomial(rng, basis.n)))
    return PublicKeyShare(basis.sub(e, basis.mul(a, share.secret)))


def collective_public_key(params: CkksParams, shares: Sequence[PublicKeyShare]) -> np.ndarray:
    """``b = sum_j b_j``: with ``a``, the public key of ``s = sum_j s_j``."""
    if not shares:
        raise ConfigError("a collective key needs at least one custodian's share")
    basis = key_basis(params)
    total = shares[0].b
    for share in shares[1:]:
        total = basis.add(total, share.b)
    return total


@dataclass(frozen=True)
class ThresholdKeyShare:
    """Custodian ``index``'s point ``S_i`` (NTT form, data level) on the re-sharing
    polynomial: t of these, with Lagrange coefficients, sum to the collective secret."""

    index: int
    point: np.ndarray = field(repr=False)


def reshare(params: CkksParams, share: KeyShare, indices: Sequence[int], threshold: int,
            rng: RandomSource) -> dict[int, np.ndarray]:
    """Custodian j's Shamir shares of its ``s_j`` for each custodian index (1..m): the
    values at ``i`` of a random polynomial of degree ``threshold - 1`` over R_q with
    constant term ``s_j``. Each goes to its holder encrypted (the service's job)."""
    if not 1 <= threshold <= len(indices) or len(set(indices)) != len(indices) or \
            min(indices) < 1:
        raise ConfigError("re-sharing needs distinct custodian indices >= 1 and "
                          "1 <= threshold <= custodians")
    basis = data_basis(params)
    secret = share.secret[: len(basis.primes)]
    coefficients = _uniform_residues(rng, basis, threshold - 1)
    out = {}
    for i in indices:
        value, power = secret.copy(), 1
        for c in coefficients:
            power *= i
            value = basis.add(value, basis.scalar_mul(c, power))
        out[i] = value
    return out


def combine_reshares(params: CkksParams, index: int,
                     received: Mapping[int, np.ndarray]) -> ThresholdKeyShare:
    """Custodian ``index``'s share: the sum of what every custodian dealt it."""
    basis = data_basis(params)
    values = list(received.values())
    if not values:
        raise ConfigError("no re-shares received")
    total = values[0]
    for v in values[1:]:
        total = basis.add(total, v)
    return ThresholdKeyShare(index, total)


def lagrange_at_zero(basis: RnsBasis, index: int, active: Sequence[int]) -> list[int]:
    """Custodian ``index``'s Lagrange coefficient at 0 for the set ``active``, per prime."""
    if index not in active or len(set(active)) != len(active):
        raise ConfigError("the active set must hold distinct indices, this one among them")
    out = []
    for q in basis.primes:
        num = den = 1
        for j in active:
            if j != index:
                num = num * (-j) % q
                den = den * (index - j) % q
        out.append(num * pow(den, -1, q) % q)
    return out


def scaled_by_lagrange(basis: RnsBasis, share: ThresholdKeyShare,
                       active: Sequence[int]) -> np.ndarray:
    """``lambda_i * S_i``: the custodian's additive share of ``s`` for this active set."""
    lam = np.array(lagrange_at_zero(basis, share.index, active), dtype=np.uint64)[:, None]
    q = np.array(basis.primes, dtype=np.uint64)[:, None]
    return mulmod(share.point, lam, q, 1.0 / q.astype(np.float64))


@dataclass(frozen=True)
class CollectiveKey:
    """The public half of a collective key: ``(b, a)`` and the seed ``a`` came from."""

    params: CkksParams
    seed: bytes
    b: np.ndarray

    @cached_property
    def a(self) -> np.ndarray:
        return common_random_polynomial(self.params, self.seed)
