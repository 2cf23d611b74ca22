"""The cryptographic random source vector code draws from (stochastic rounding, DP noise,
Poisson sampling): the recipe for code outside :mod:`blindsum.crypto`. A fresh
:class:`Csprng` is keyed with 256 bits from ``os.urandom``; pass a key only in tests.
"""

from __future__ import annotations

from blindsum.crypto.hazmat.csprng import Csprng, RandomSource

__all__ = ["Csprng", "RandomSource"]
