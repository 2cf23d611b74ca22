"""Exact arithmetic in R_q = Z_q[X]/(X^N + 1) in RNS form, with numpy, SEAL's conventions.

Threshold CKKS needs ring operations TenSEAL does not expose (key shares, partial
decryptions, their fusion). Everything here is exact:

* primes are at most :data:`MAX_PRIME_BITS` bits, so the product of two residues is
  recovered exactly from a float64 quotient estimate (off by at most one) and uint64
  wrap-around arithmetic; no 128-bit integers are needed;
* the negacyclic NTT is SEAL's (Harvey's butterflies, the minimal primitive 2N-th root,
  bit-reversed order), so NTT-form arrays here and SEAL's keys, ciphertexts and
  plaintexts are the same numbers (a known-answer test decrypts a TenSEAL ciphertext
  with the secret key SEAL generated, using only this module).

Arrays have the RNS index on the second-to-last axis and coefficients on the last:
shape ``(..., len(primes), N)``, dtype uint64, every residue reduced.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Final

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["MAX_PRIME_BITS", "RnsBasis"]

MAX_PRIME_BITS: Final = 50
"""With q < 2^50 the float64 estimate of ``a * b / q`` is within 1/4 of the truth (its
relative error is below 2^-52), so ``floor`` of it is the quotient or one off."""


def _bit_reverse(i: int, bits: int) -> int:
    return int(format(i, f"0{bits}b")[::-1], 2) if bits else 0


def _minimal_primitive_root(degree: int, q: int) -> int:
    """The smallest primitive ``degree``-th root of unity mod q (SEAL's choice)."""
    if (q - 1) % degree:
        raise ValueError(f"{q} is not 1 mod {degree}")
    for x in range(2, q):
        root = pow(x, (q - 1) // degree, q)
        if pow(root, degree // 2, q) == q - 1:  # order exactly degree (degree is 2^k)
            break
    else:  # pragma: no cover - q prime always has a generator
        raise ValueError(f"no primitive {degree}-th root mod {q}")
    square = root * root % q
    best, power = root, root
    for _ in range(degree // 2 - 1):  # every odd power of root is primitive
        power = power * square % q
        best = min(best, power)
    return best


def mulmod(a: ArrayLike, b: ArrayLike, q: ArrayLike, q_inv: ArrayLike) -> np.ndarray:
    """``a * b mod q`` elementwise, exactly, for reduced residues of primes < 2^50.

    ``q`` and ``q_inv`` (float64 ``1 / q``) broadcast against ``a`` and ``b``."""
    a64 = np.asarray(a, dtype=np.uint64).view(np.int64)
    b64 = np.asarray(b, dtype=np.uint64).view(np.int64)
    q64 = np.asarray(q, dtype=np.uint64).view(np.int64)
    quotient = (a64.astype(np.float64) * b64 * np.asarray(q_inv, dtype=np.float64))
    r = a64 * b64
    r -= quotient.astype(np.int64) * q64  # exact mod 2^64; the true value is in (-q, 2q)
    r += q64 & (r >> 63)
    r -= q64
    r += q64 & (r >> 63)
    return np.asarray(r.view(np.uint64))


def _reduce_product(v: np.ndarray, w: np.ndarray, w_over_q: np.ndarray,
                    q: np.ndarray) -> np.ndarray:
    """``v * w mod q`` for int64 residues, with ``w / q`` precomputed (Shoup's idea, with a
    float64 quotient: off by at most one, so one correction each way)."""
    r = v * w
    r -= (v * w_over_q).astype(np.int64) * q  # exact mod 2^64; the true value is in (-q, 2q)
    r += q & (r >> 63)
    r -= q
    r += q & (r >> 63)
    return np.asarray(r)


def _addmod(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    s = a + b
    return np.asarray(np.where(s >= q, s - q, s))


def _submod(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.asarray(np.where(a >= b, a - b, a + q - b))


@dataclass(frozen=True)
class RnsBasis:
    """The primes of one RNS representation and their NTT tables (degree ``n``)."""

    n: int
    primes: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1):
            raise ValueError("the ring degree must be a power of two")
        for q in self.primes:
            if not 2 < q < 1 << MAX_PRIME_BITS or (q - 1) % (2 * self.n):
                raise ValueError(f"{q}: primes must be below 2^{MAX_PRIME_BITS} and 1 mod 2N")

    @cached_property
    def _q(self) -> np.ndarray:
        return np.array(self.primes, dtype=np.uint64)[:, None]

    @cached_property
    def _q_inv(self) -> np.ndarray:
        return 1.0 / np.array(self.primes, dtype=np.float64)[:, None]

    @cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per prime: psi^bitrev(i), psi^-bitrev(i) (SEAL's order) and n^-1."""
        bits = self.n.bit_length() - 1
        fwd = np.empty((len(self.primes), self.n), dtype=np.uint64)
        inv = np.empty_like(fwd)
        n_inv = np.empty((len(self.primes), 1), dtype=np.uint64)
        for k, q in enumerate(self.primes):
            psi = _minimal_primitive_root(2 * self.n, q)
            psi_inv = pow(psi, -1, q)
            powers = [1] * self.n
            inv_powers = [1] * self.n
            for i in range(1, self.n):
                powers[i] = powers[i - 1] * psi % q
                inv_powers[i] = inv_powers[i - 1] * psi_inv % q
            fwd[k] = [powers[_bit_reverse(i, bits)] for i in range(self.n)]
            inv[k] = [inv_powers[_bit_reverse(i, bits)] for i in range(self.n)]
            n_inv[k, 0] = pow(self.n, -1, q)
        return fwd, inv, n_inv

    @cached_property
    def _twiddles(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The NTT tables as int64 and as float64 ``w / q`` (the quotient estimates)."""
        fwd, inv, _ = self._tables
        q = np.array(self.primes, dtype=np.float64)[:, None]
        return (fwd.view(np.int64), fwd.astype(np.float64) / q,
                inv.view(np.int64), inv.astype(np.float64) / q)

    def ntt(self, a: np.ndarray) -> np.ndarray:
        """Forward negacyclic NTT of coefficient-form ``a`` (shape ``(..., L, N)``)."""
        out = np.array(a, dtype=np.uint64, copy=True)
        flat = out.reshape(-1, len(self.primes), self.n).view(np.int64)
        for one in flat:  # one polynomial at a time: its temporaries stay in cache
            self._forward(one)
        return out

    def intt(self, a: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`ntt` (Gentleman-Sande butterflies, then times n^-1)."""
        out = np.array(a, dtype=np.uint64, copy=True)
        flat = out.reshape(-1, len(self.primes), self.n).view(np.int64)
        for one in flat:
            self._inverse(one)
        _, _, n_inv = self._tables
        return mulmod(out, n_inv, self._q, self._q_inv)

    def _forward(self, a: np.ndarray) -> None:
        """Cooley-Tukey in place on one (L, N) int64 array; ``a[j+t] * w`` is reduced with
        the float quotient, then every sum and difference is brought back into [0, q)."""
        w_int, w_frac, _, _ = self._twiddles
        q = self._q.view(np.int64)[:, :, None]
        m, t = 1, self.n
        while m < self.n:
            t //= 2
            view = a.reshape(len(self.primes), m, 2, t)
            u, v = view[:, :, 0, :], view[:, :, 1, :]
            r = _reduce_product(v, w_int[:, m:2 * m, None], w_frac[:, m:2 * m, None], q)
            diff = u - r
            diff += q & (diff >> 63)
            u += r
            u -= q
            u += q & (u >> 63)
            v[...] = diff
            m *= 2

    def _inverse(self, a: np.ndarray) -> None:
        _, _, w_int, w_frac = self._twiddles
        q = self._q.view(np.int64)[:, :, None]
        m, t = self.n // 2, 1
        while m >= 1:
            view = a.reshape(len(self.primes), m, 2, t)
            u, v = view[:, :, 0, :], view[:, :, 1, :]
            diff = u - v
            diff += q & (diff >> 63)
            u += v
            u -= q
            u += q & (u >> 63)
            v[...] = _reduce_product(diff, w_int[:, m:2 * m, None], w_frac[:, m:2 * m, None], q)
            m //= 2
            t *= 2

    def mul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Pointwise product mod each prime (a ring product when both are NTT form)."""
        return mulmod(np.asarray(a, np.uint64), np.asarray(b, np.uint64), self._q, self._q_inv)

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _addmod(np.asarray(a, np.uint64), np.asarray(b, np.uint64), self._q)

    def sub(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _submod(np.asarray(a, np.uint64), np.asarray(b, np.uint64), self._q)

    def neg(self, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, np.uint64)
        return np.asarray(np.where(a == 0, a, self._q - a))

    def scalar_mul(self, a: np.ndarray, scalar: int) -> np.ndarray:
        """``a`` times an integer (reduced per prime first)."""
        s = np.array([scalar % q for q in self.primes], dtype=np.uint64)[:, None]
        return mulmod(np.asarray(a, np.uint64), s, self._q, self._q_inv)

    def from_signed(self, values: np.ndarray) -> np.ndarray:
        """Small signed integers (int64, shape ``(..., N)``) as residues ``(..., L, N)``."""
        v = np.asarray(values, dtype=np.int64)[..., None, :]
        q = self._q.view(np.int64)
        return np.mod(v, q).astype(np.uint64)

    def from_big(self, values: list[int] | np.ndarray) -> np.ndarray:
        """Arbitrary Python integers (shape ``(..., N)``, object dtype) as residues."""
        v = np.asarray(values, dtype=object)
        return np.stack([np.mod(v, q).astype(np.uint64) for q in self.primes], axis=-2)

    def centered_float(self, a: np.ndarray) -> np.ndarray:
        """The CRT composition of coefficient-form ``a``, centered in (-Q/2, Q/2), as float64.

        Uses x / Q = frac(sum_k ((a_k * y_k) mod q_k) / q_k) with y_k = (Q/q_k)^-1 mod q_k,
        summed in extended precision: the error is about Q * 2^-62 per coefficient (Q * 2^-51
        where long double is plain double), far below the noise of any CKKS parameters
        this module is used with."""
        total = np.zeros((*a.shape[:-2], self.n), dtype=np.longdouble)
        modulus = 1
        for q in self.primes:
            modulus *= q
        for k, q in enumerate(self.primes):
            y = pow(modulus // q, -1, q)
            term = mulmod(a[..., k, :], np.uint64(y), np.uint64(q), np.float64(1.0 / q))
            total += term.astype(np.longdouble) / np.longdouble(q)
        frac = total - np.floor(total)
        frac = np.where(frac >= 0.5, frac - 1, frac)
        return (frac * np.longdouble(modulus)).astype(np.float64)

    def centered_big(self, a: np.ndarray) -> np.ndarray:
        """Exact CRT composition of coefficient-form ``a``, centered, as Python integers
        (slow: for tests and attacks that need every bit)."""
        modulus = 1
        for q in self.primes:
            modulus *= q
        out = np.zeros((*a.shape[:-2], self.n), dtype=object)
        for k, q in enumerate(self.primes):
            m = modulus // q
            out = out + a[..., k, :].astype(object) * (m * pow(m, -1, q))
        out = np.mod(out, modulus)
        return np.where(out > modulus // 2, out - modulus, out)
