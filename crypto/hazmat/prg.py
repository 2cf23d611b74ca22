"""Seed -> uniform mask vector in Z_2^32 or Z_2^64, from a 256-bit key.

Why a stream cipher and a full 256-bit seed: the best-known open-source SecAgg+
(Flower's ``pseudo_rand_gen``) seeds numpy's Mersenne Twister with a 32-bit
XOR-fold of the key (of its base64 text, for pairwise keys: about 28 bits of
entropy), so a server can brute-force a client's masks in seconds. Here every
mask is the keystream of AES-256-CTR or ChaCha20 under a 32-byte key, a PRG
whose security reduces to the cipher's (128-bit security or more).

A keystream of uniform bytes read as little-endian words is uniform modulo
2^32 (or 2^64) exactly, with no rejection sampling. The ``domain`` label goes
into the IV/nonce, so one seed can never produce the same stream for two
purposes. Keystreams are written into preallocated buffers
(``update_into``) to keep masking at memory speed.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Final

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

__all__ = ["SEED_BYTES", "MaskExpander", "PrgAlgorithm", "mask_from_seed"]

SEED_BYTES: Final = 32
"""Seeds are 256 bits: the PRG key size of both algorithms."""

_IV_LABEL: Final = b"blindsum/v1|prg|"
_SUPPORTED_DTYPES: Final = (np.dtype(np.uint32), np.dtype(np.uint64))


class PrgAlgorithm(enum.Enum):
    """Keystream generators usable as mask PRGs (both keyed with 256 bits)."""

    AES256_CTR = "aes-256-ctr"
    """Fastest where AES-NI exists (every x86-64 server of the last decade)."""
    CHACHA20 = "chacha20"
    """Constant-time in software everywhere; prefer it without AES hardware."""


def _keystream_context(seed: bytes, algorithm: PrgAlgorithm, domain: bytes) -> CipherContext:
    """A fresh encryptor whose output on zeros is the (seed, domain) keystream."""
    if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
        raise ValueError(f"PRG seeds must be exactly {SEED_BYTES} bytes")
    tag = hashlib.sha256(_IV_LABEL + domain).digest()
    if algorithm is PrgAlgorithm.AES256_CTR:
        # High 64 bits name the domain, low 64 bits count blocks from zero.
        iv = tag[:8] + bytes(8)
        return Cipher(algorithms.AES256(seed), modes.CTR(iv)).encryptor()
    # cryptography's ChaCha20 nonce is a 32-bit little-endian block counter
    # followed by a 96-bit nonce.
    nonce = bytes(4) + tag[:12]
    return Cipher(algorithms.ChaCha20(seed, nonce), mode=None).encryptor()


class MaskExpander:
    """Expands seeds into masks of one length and word size, reusing buffers.

    One expander per vector length: it owns a zero buffer (the plaintext whose
    encryption is the keystream) and writes masks straight into the caller's
    accumulator or its own scratch buffer, so masking allocates nothing per seed.
    """

    def __init__(
        self,
        length: int,
        *,
        dtype: np.dtype | type = np.uint32,
        algorithm: PrgAlgorithm = PrgAlgorithm.AES256_CTR,
    ) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype not in _SUPPORTED_DTYPES:
            raise ValueError("masks are uint32 (Z_2^32) or uint64 (Z_2^64)")
        if length < 0:
            raise ValueError("mask length must be non-negative")
        self.length = length
        self.algorithm = algorithm
        self._zeros = np.zeros(length * self.dtype.itemsize, dtype=np.uint8)
        self._scratch = np.empty(length, dtype=self.dtype)

    def expand(self, seed: bytes, *, domain: bytes, out: np.ndarray | None = None) -> np.ndarray:
        """Write the mask for ``(seed, domain)`` into ``out`` (or scratch) and return it.

        The scratch buffer is overwritten by the next call: copy what you keep.
        """
        target = self._scratch if out is None else out
        if target.dtype != self.dtype or target.shape != (self.length,):
            raise ValueError("output buffer has the wrong dtype or length")
        if not target.flags.c_contiguous:
            raise ValueError("output buffer must be C-contiguous")
        ctx = _keystream_context(seed, self.algorithm, domain)
        ctx.update_into(self._zeros.data, target.view(np.uint8).data)
        return target

    def add(self, acc: np.ndarray, seed: bytes, *, domain: bytes) -> None:
        """``acc += mask(seed, domain)`` modulo 2^bits, in place."""
        np.add(acc, self.expand(seed, domain=domain), out=acc)

    def subtract(self, acc: np.ndarray, seed: bytes, *, domain: bytes) -> None:
        """``acc -= mask(seed, domain)`` modulo 2^bits, in place."""
        np.subtract(acc, self.expand(seed, domain=domain), out=acc)


def mask_from_seed(
    seed: bytes,
    length: int,
    *,
    domain: bytes,
    dtype: np.dtype | type = np.uint32,
    algorithm: PrgAlgorithm = PrgAlgorithm.AES256_CTR,
) -> np.ndarray:
    """The mask vector for ``(seed, domain)``: a fresh array of ``length`` words.

    Deterministic: the same arguments always give the same mask (known-answer
    vectors in ``tests/crypto/vectors/prg``).
    """
    expander = MaskExpander(length, dtype=dtype, algorithm=algorithm)
    return expander.expand(seed, domain=domain).copy()
