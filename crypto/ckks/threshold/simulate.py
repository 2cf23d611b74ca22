"""An in-process key ceremony: m custodians' shares, the public context, fused decryption.

For tests and benchmarks only: here one process holds every share, which the
service never does (each custodian samples and keeps its own). The steps are the
real ones (:mod:`.keys`, :mod:`.decryption`), run in order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from blindsum.crypto.ckks.threshold import keys
from blindsum.crypto.ckks.threshold.decryption import decode, fuse, partial_decryption
from blindsum.crypto.ckks.threshold.params import ThresholdParams
from blindsum.crypto.ckks.threshold.tenseal_context import public_context
from blindsum.crypto.hazmat.csprng import Csprng, RandomSource

__all__ = ["SimulatedCustody", "simulate_custody"]


@dataclass
class SimulatedCustody:
    """Every custodian of one collective key, in one process (never outside tests)."""

    params: ThresholdParams
    key: keys.CollectiveKey
    secrets: list[keys.KeyShare] = field(repr=False)
    shares: dict[int, keys.ThresholdKeyShare] = field(repr=False)
    keygen_seconds: float = 0.0  # one custodian's public key share

    def public_context(self) -> bytes:
        return public_context(self.params.ckks, self.key.b, self.key.a)

    def partial(self, index: int, ciphertexts: np.ndarray, active: Sequence[int]) -> np.ndarray:
        """Custodian ``index``'s flooded partial decryption (no checks: see .custodian)."""
        return partial_decryption(self.params, self.shares[index], active, ciphertexts,
                                  Csprng())

    def partials(self, ciphertexts: np.ndarray, active: Sequence[int]) -> dict[int, np.ndarray]:
        return {i: self.partial(i, ciphertexts, active) for i in active}

    def decrypt(self, ciphertexts: np.ndarray, active: Sequence[int],
                dimension: int) -> np.ndarray:
        """What the aggregator gets from ``active``'s partials: the decoded sum."""
        ckks = self.params.ckks
        return decode(ckks, fuse(ckks, ciphertexts, self.partials(ciphertexts, active)),
                      dimension)


def simulate_custody(params: ThresholdParams, rng: RandomSource | None = None,
                     seed: bytes | None = None) -> SimulatedCustody:
    """Run the dealer-free key generation and the t-of-m re-sharing for ``params``."""
    rng = rng or Csprng()
    ckks = params.ckks
    seed = seed if seed is not None else os.urandom(32)
    a = keys.common_random_polynomial(ckks, seed)
    secrets = [keys.sample_secret(ckks, rng) for _ in range(params.custodians)]
    start = time.perf_counter()
    published = [keys.public_key_share(ckks, s, a, rng) for s in secrets]
    keygen = (time.perf_counter() - start) / params.custodians
    key = keys.CollectiveKey(ckks, seed, keys.collective_public_key(ckks, published))
    indices = list(range(1, params.custodians + 1))
    dealt = [keys.reshare(ckks, s, indices, params.threshold, rng) for s in secrets]
    shares = {i: keys.combine_reshares(ckks, i, {j: d[i] for j, d in enumerate(dealt)})
              for i in indices}
    return SimulatedCustody(params, key, secrets, shares, keygen)
