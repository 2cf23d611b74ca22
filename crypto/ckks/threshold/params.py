"""Threshold-CKKS parameters: the ring, the primes and the scale re-derived for flooding.

Flooding noise of width about 2^72 (:mod:`.flooding`) rules out a single data prime:
the decoded error is the flooding times sqrt(t N) over the scale, so 1e-6 needs a
scale near 2^100, and a 1000-client sum at that scale needs a data modulus of about
2^113. Hence N = 8192 (its 128-bit bound is 218 modulus bits, HomomorphicEncryption.org
standard, table 1), three 38-bit data primes (114 bits; primes below 2^50 keep the ring
arithmetic exact in numpy, :mod:`blindsum.crypto.hazmat.rns`) and a 50-bit special
prime: 164 bits in all. A ciphertext is 2 x 3 x 8192 residues of 38 bits for 4096
values: 57 bytes per float when residues are packed, 96 as uint64 words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from blindsum.crypto.ckks.params import CkksParams
from blindsum.crypto.ckks.threshold.flooding import Flooding
from blindsum.errors import ConfigError

__all__ = ["RING_DEGREE", "THRESHOLD_BIT_SIZES", "ThresholdParams"]

RING_DEGREE: Final = 8192
THRESHOLD_BIT_SIZES: Final = (38, 38, 38, 50)
_MAX_SCALE_BITS: Final = 100


@dataclass(frozen=True)
class ThresholdParams:
    """A federation's threshold-CKKS parameters: m custodians, any t of them decrypt."""

    ckks: CkksParams
    custodians: int
    threshold: int
    flooding: Flooding

    @classmethod
    def derive(cls, *, max_clients: int, max_abs: float, custodians: int, threshold: int,
               statistical_bits: int = 40, max_ciphertexts: int = 4096,
               precision: float = 1e-5) -> ThresholdParams:
        """The largest scale (up to 2^100) a ``max_clients`` sum of values within
        ``max_abs`` cannot overflow, refused if the flooding's error in a decoded value
        (one standard deviation) would exceed ``precision``."""
        if not 1 <= threshold <= custodians:
            raise ConfigError("the threshold t must satisfy 1 <= t <= m custodians")
        data_bits = sum(THRESHOLD_BIT_SIZES[:-1])
        need = math.ceil(math.log2(max(max_clients * max_abs, 1.0)))
        scale_bits = min(_MAX_SCALE_BITS, data_bits - 3 - need)
        ckks = CkksParams(poly_modulus_degree=RING_DEGREE, coeff_mod_bit_sizes=THRESHOLD_BIT_SIZES,
                          scale_bits=scale_bits, max_clients=max_clients, max_abs=max_abs)
        flooding = Flooding(poly_modulus_degree=RING_DEGREE, custodians=custodians,
                            max_clients=max_clients, statistical_bits=statistical_bits,
                            max_ciphertexts=max_ciphertexts)
        error = flooding.slot_error(threshold, scale_bits)
        if error > precision:
            raise ConfigError(
                f"flooding for {custodians} custodians and {max_clients} clients leaves an "
                f"error of {error:.2g} per value at scale 2^{scale_bits}, above {precision:g}: "
                "lower max_abs or max_clients, or relax the precision")
        return cls(ckks, custodians, threshold, flooding)

    @property
    def set_quorum(self) -> int:
        """q, the custodians that must vote for a round's contributor set before any of them
        decrypts it: ``2q > m + (t - 1)``, so two quorums share t custodians, more than the
        t - 1 that may collude with the aggregator (:mod:`.custodian`). At most m - q
        custodians may be offline when a round's sum is decrypted."""
        return (self.custodians + self.threshold - 1) // 2 + 1

    @property
    def value_error(self) -> float:
        """One standard deviation of the flooding's error in a decoded value."""
        return self.flooding.slot_error(self.threshold, self.ckks.scale_bits)

    @property
    def packed_bytes_per_float(self) -> float:
        bits = sum(self.ckks.coeff_mod_bit_sizes[:-1])
        return 2 * bits / 8 * self.ckks.poly_modulus_degree / self.ckks.slots
