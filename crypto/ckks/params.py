"""CKKS parameters for addition-only sums: security, overflow and precision checks.

Why these checks:

* security: the total coefficient modulus may not exceed the HomomorphicEncryption.org
  standard's bound for 128-bit classical security with a ternary secret
  (Albrecht et al., "Homomorphic Encryption Security Standard", 2018, table 1);
* overflow: the decrypted sum must stay below half the data modulus, else it
  wraps (measured: with a 40-bit data prime an all-ones sum of 1000 clients
  decrypted as -24). We require
  ``log2(max_clients * max_abs) + scale_bits + 2 <= data_bits - 1``;
* precision: a scale below 2^30 leaves too few fractional bits for gradients.

The default, ``N = 4096, coeff_mod_bit_sizes = [60, 49], scale = 2^40``, is the
smallest set measured to keep the relative error of 1000-client sums near 6e-7;
a fresh ciphertext with one data prime costs ``2 * 8 * N`` bytes for ``N / 2``
values, i.e. 32 bytes per float (NVFlare's set costs 57.6).

SEAL (inside TenSEAL) picks the primes deterministically; :func:`seal_primes`
reproduces its choice so the aggregator can add ciphertexts modulo the right
primes without TenSEAL.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

from blindsum.errors import ConfigError

__all__ = ["MAX_LOG_Q_128", "CkksParams", "seal_primes"]

MAX_LOG_Q_128: Final = {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881}
"""Largest total modulus bit count with 128-bit security (HE standard, ternary secret)."""

_MIN_SCALE_BITS: Final = 30
_MR_BASES: Final = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)


def _is_prime(n: int) -> bool:
    """Deterministic Miller-Rabin, exact for every n below 3.3e24 (all SEAL primes)."""
    if n < 2:
        return False
    for p in _MR_BASES:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in _MR_BASES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def seal_primes(poly_modulus_degree: int, bit_sizes: tuple[int, ...]) -> tuple[int, ...]:
    """The primes SEAL's ``CoeffModulus::Create`` picks, in the order it assigns them.

    For each bit size SEAL takes the largest primes ``= 1 mod 2N`` below 2^bits,
    and hands them to the positions of that size from the smallest upwards.
    """
    step = 2 * poly_modulus_degree
    pools: dict[int, list[int]] = {}
    for bits in sorted(set(bit_sizes)):
        count, found = bit_sizes.count(bits), list[int]()
        candidate = (1 << bits) - step + 1
        while len(found) < count:
            if candidate < 1 << (bits - 1):
                raise ConfigError(f"no {bits}-bit NTT prime for N={poly_modulus_degree}")
            if _is_prime(candidate):
                found.append(candidate)
            candidate -= step
        pools[bits] = found  # descending
    return tuple(pools[bits].pop() for bits in bit_sizes)


@dataclass(frozen=True)
class CkksParams:
    """Addition-only CKKS parameters, validated on construction.

    Attributes:
        poly_modulus_degree: N; a ciphertext holds N/2 values.
        coeff_mod_bit_sizes: prime sizes; the last is SEAL's special (key-switching) prime.
        scale_bits: log2 of the encoding scale.
        max_clients: most ciphertexts a sum may contain.
        max_abs: bound on each client's values (after clipping).
    """

    poly_modulus_degree: int = 4096
    coeff_mod_bit_sizes: tuple[int, ...] = (60, 49)
    scale_bits: int = 40
    max_clients: int = 1000
    max_abs: float = 1.0
    primes: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise ConfigError("unsafe CKKS parameters: " + "; ".join(problems))
        object.__setattr__(
            self, "primes", seal_primes(self.poly_modulus_degree, self.coeff_mod_bit_sizes)
        )

    def _problems(self) -> list[str]:
        n, bits = self.poly_modulus_degree, self.coeff_mod_bit_sizes
        problems = []
        if n not in MAX_LOG_Q_128:
            problems.append(f"poly_modulus_degree must be one of {sorted(MAX_LOG_Q_128)}")
        elif sum(bits) > MAX_LOG_Q_128[n]:
            problems.append(f"{sum(bits)} modulus bits exceed {MAX_LOG_Q_128[n]}, the 128-bit "
                            f"security bound for N={n}")
        if len(bits) < 2 or any(not 20 <= b <= 60 for b in bits):
            problems.append("coeff_mod_bit_sizes needs a data prime and a special prime, "
                            "each 20..60 bits")
        if self.scale_bits < _MIN_SCALE_BITS:
            problems.append(
                f"scale 2^{self.scale_bits} is below 2^{_MIN_SCALE_BITS}: too imprecise")
        if self.max_clients < 1 or not (math.isfinite(self.max_abs) and self.max_abs > 0):
            problems.append("max_clients and max_abs must be positive")
        elif len(bits) >= 2 and self.headroom_bits < 0:
            problems.append(
                f"a sum of {self.max_clients} values of magnitude {self.max_abs} at scale "
                f"2^{self.scale_bits} could overflow the {self.data_bits}-bit data modulus: "
                "lower scale_bits or use a larger data prime"
            )
        return problems

    @classmethod
    def for_clients(
        cls, max_clients: int, *, max_abs: float = 1.0, precision: float = 1e-6
    ) -> CkksParams:
        """The compact preset with the largest scale (up to 2^45) that cannot overflow for
        ``max_clients`` values of magnitude ``max_abs``, refused if it cannot keep the sum's
        absolute error below ``precision``.

        The error model, measured here with N = 4096: each ciphertext carries about
        ``2^(12 - scale_bits)`` of encoding and encryption noise per value, and noise of
        independent ciphertexts adds in quadrature.
        """
        data_bits = 60
        need = math.ceil(math.log2(max(max_clients * max_abs, 1.0)))
        scale_bits = min(45, data_bits - 3 - need)
        wanted = math.ceil(12 + 0.5 * math.log2(max_clients) - math.log2(precision))
        if wanted > scale_bits:
            raise ConfigError(
                f"{max_clients} clients at max_abs={max_abs} leave room for scale 2^{scale_bits}, "
                f"but precision {precision:g} needs about 2^{wanted}: lower max_abs or relax "
                "the precision"
            )
        return cls(scale_bits=scale_bits, max_clients=max_clients, max_abs=max_abs)

    @property
    def slots(self) -> int:
        """Values per ciphertext."""
        return self.poly_modulus_degree // 2

    @property
    def data_primes(self) -> tuple[int, ...]:
        """The primes a fresh ciphertext lives modulo (all but SEAL's special prime)."""
        return self.primes[:-1]

    @property
    def data_bits(self) -> int:
        return sum(self.coeff_mod_bit_sizes[:-1])

    @property
    def headroom_bits(self) -> float:
        """Bits to spare between the largest possible sum and half the data modulus."""
        peak = math.log2(self.max_clients * self.max_abs) + self.scale_bits + 2
        return (self.data_bits - 1) - peak

    @property
    def words_per_chunk(self) -> int:
        """uint64 words of one ciphertext: 2 polynomials x data primes x N coefficients."""
        return 2 * len(self.data_primes) * self.poly_modulus_degree

    def chunks(self, dimension: int) -> int:
        """Ciphertexts needed for a vector of ``dimension`` values."""
        return -(-dimension // self.slots)

    @cached_property
    def fingerprint(self) -> bytes:
        """SHA-256 naming these parameters; every upload carries it."""
        text = (f"blindsum/v1/ckks|N={self.poly_modulus_degree}|q={self.primes}"
                f"|scale={self.scale_bits}")
        return hashlib.sha256(text.encode()).digest()
