"""An injectable cryptographically secure random source for vector work.

Stochastic rounding and any client-side noise draw millions of uniforms per
update; ``secrets`` is too slow for that and numpy's generators are not
cryptographic. :class:`Csprng` is the ChaCha20 keystream under a 256-bit key
taken from ``os.urandom`` (or given, for reproducible tests), consumed in order.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

__all__ = ["Csprng", "RandomSource"]

_KEY_BYTES = 32


@runtime_checkable
class RandomSource(Protocol):
    """What the encoders need from a random generator."""

    def random_bytes(self, n: int) -> bytes:
        """``n`` uniformly random bytes."""
        ...

    def uniform(self, n: int) -> np.ndarray:
        """``n`` float64 values uniform on [0, 1), on a grid of 2^-32."""
        ...


class Csprng:
    """ChaCha20 keystream as a random source.

    Args:
        key: 32 bytes for a reproducible stream (tests, known-answer vectors).
            ``None`` (the default) draws a fresh key from ``os.urandom``.
    """

    name = "chacha20-keystream(os.urandom 256-bit key)"

    def __init__(self, key: bytes | None = None) -> None:
        if key is None:
            key = os.urandom(_KEY_BYTES)
        if not isinstance(key, bytes) or len(key) != _KEY_BYTES:
            raise ValueError(f"Csprng keys are exactly {_KEY_BYTES} bytes")
        self._stream = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()

    def random_bytes(self, n: int) -> bytes:
        if n < 0:
            raise ValueError("n must be non-negative")
        return self._stream.update(bytes(n))

    def uniform(self, n: int) -> np.ndarray:
        words = np.empty(n, dtype=np.uint32)
        self._stream.update_into(np.zeros(4 * n, dtype=np.uint8).data, words.view(np.uint8).data)
        return words * (1.0 / 4294967296.0)

    def __repr__(self) -> str:
        return f"Csprng({self.name})"
