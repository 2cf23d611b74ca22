"""Flooded partial decryption (a custodian) and fusion plus decoding (the aggregator).

For an agreed active set T of t custodians, custodian i returns, for every ciphertext
``(c0, c1)`` of the sum, ``p_i = c1 * lambda_i S_i + E_i`` with ``E_i`` fresh flooding
noise (:mod:`.flooding`); the aggregator computes ``c0 + sum_{i in T} p_i = m + e_ct +
sum_i E_i`` and decodes it. The Lagrange coefficient is applied by the custodian before
the noise is added (afterwards it would scale the noise by a residue of size q).

Decoding is SEAL's CKKS decoding done with numpy: the inverse NTT, the CRT composition
centred, then the canonical embedding at the roots ``zeta^(3^j)`` (SEAL's encoder uses
the generator 3), divided by the scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from blindsum.crypto.ckks.params import CkksParams
from blindsum.crypto.ckks.threshold.keys import ThresholdKeyShare, data_basis, scaled_by_lagrange
from blindsum.crypto.ckks.threshold.params import ThresholdParams
from blindsum.crypto.hazmat.csprng import RandomSource
from blindsum.crypto.hazmat.rns import RnsBasis
from blindsum.crypto.hazmat.wide_gaussian import WideGaussian
from blindsum.errors import ConfigError

__all__ = ["decode", "fuse", "partial_decryption"]

_BLOCK = 8
"""Ciphertexts processed at once: 8 x 3 x 8192 words (600 KB) per array stays in cache."""


def _split(params: CkksParams, ciphertexts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(c0, c1)`` of ``(chunks, 2 * L * N)`` raw words, each ``(chunks, L, N)``."""
    basis = data_basis(params)
    words = np.asarray(ciphertexts, dtype=np.uint64)
    if words.ndim != 2 or words.shape[1] != params.words_per_chunk:
        raise ConfigError("ciphertexts must be (chunks, words_per_chunk) raw coefficients")
    shaped = words.reshape(-1, 2, len(basis.primes), basis.n)
    return shaped[:, 0], shaped[:, 1]


def partial_decryption(params: ThresholdParams, share: ThresholdKeyShare,
                       active: Sequence[int], ciphertexts: np.ndarray,
                       rng: RandomSource) -> np.ndarray:
    """Custodian ``share.index``'s flooded partial decryption of every ciphertext, for the
    active set ``active`` (NTT form, shape ``(chunks, L, N)``), with flooding of the width
    ``params.flooding`` derives.

    The caller (the custodian service) must first have checked that ``ciphertexts`` is a
    closed round's sum it agreed to decrypt, and counted them against the key's budget."""
    basis = data_basis(params.ckks)
    _, c1 = _split(params.ckks, ciphertexts)
    flooding = WideGaussian(params.flooding.sigma)
    additive = scaled_by_lagrange(basis, share, active)
    out = np.empty(c1.shape, dtype=np.uint64)
    for start in range(0, c1.shape[0], _BLOCK):  # blocks small enough to stay in cache
        block = slice(start, start + _BLOCK)
        noise = basis.ntt(flooding.residues(rng, basis, (c1[block].shape[0],)))
        out[block] = basis.add(basis.mul(c1[block], additive), noise)
    return out


def fuse(params: CkksParams, ciphertexts: np.ndarray,
         partials: Mapping[int, np.ndarray]) -> np.ndarray:
    """``c0 + sum of the partials``: the plaintexts in NTT form, ``(chunks, L, N)``."""
    basis = data_basis(params)
    c0, _ = _split(params, ciphertexts)
    if any(partial.shape != c0.shape for partial in partials.values()):
        raise ConfigError("a partial decryption of the wrong shape")
    total = np.empty(c0.shape, dtype=np.uint64)
    for start in range(0, c0.shape[0], _BLOCK):
        block = slice(start, start + _BLOCK)
        acc = c0[block]
        for partial in partials.values():
            acc = basis.add(acc, partial[block])
        total[block] = acc
    return total


def decode(params: CkksParams, plaintexts: np.ndarray, dimension: int) -> np.ndarray:
    """The float64 values the NTT-form plaintexts encode (SEAL's CKKS decoding)."""
    basis: RnsBasis = data_basis(params)
    n = basis.n
    twist = np.exp(1j * np.pi * np.arange(n) / n) / 2.0**params.scale_bits
    slots = (np.array([pow(3, j, 2 * n) for j in range(n // 2)]) - 1) // 2
    values = np.empty((plaintexts.shape[0], n // 2))
    for start in range(0, plaintexts.shape[0], _BLOCK):
        block = slice(start, start + _BLOCK)
        coefficients = basis.centered_float(basis.intt(plaintexts[block]))
        evaluations = n * np.fft.ifft(coefficients * twist, axis=-1)  # at zeta^(2l+1)
        values[block] = evaluations[:, slots].real
    return values.reshape(-1)[:dimension].copy()
