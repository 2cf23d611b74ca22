"""How wide the flooding noise must be, and what it costs in precision.

A fused decryption reveals ``m + e_ct + sum_i E_i``: the message, the ciphertext's own
noise ``e_ct`` (a function of the secret key: Li and Micciancio, EUROCRYPT 2021, recover
the key from it) and the custodians' flooding noise ``E_i``. The simulation argument
(Mouchet et al. 2021, section 4; Asharov et al. 2012's smudging) needs the flooding to
hide ``e_ct``: with ``E`` discrete Gaussian of width sigma per coefficient, the
Kullback-Leibler divergence between ``E + e`` and ``E`` is at most ``e^2 / (2 sigma^2)``
per coefficient, so over ``Q`` coefficients (N per ciphertext, times every ciphertext one
key share ever partially decrypts) Pinsker's inequality bounds the statistical distance
by ``sqrt(Q) * B / (2 sigma)``. Asking for ``2^-lambda``::

    sigma >= sqrt(Q) * B * 2^(lambda - 1)

with ``B`` a bound on ``|e_ct|`` that fails with probability below ``2^-lambda``.

``B`` for a sum of ``n`` honest SEAL encryptions: SEAL encrypts at the key level and
divides by the special prime P, so a fresh ciphertext's noise is the rounding
``r0 + r1 * s`` (``r`` in [-1/2, 1/2]) plus ``(u e + e0 + e1 s) / P`` (below 1 here).
The collective secret is a sum of ``m`` ternary shares (``|s_j| <= m``); Hoeffding over
the N terms of ``r1 * s`` gives ``m/2 * sqrt(2 N ln(2 N / p))`` per coefficient with
failure ``p``, and a sum of ``n`` ciphertexts at most ``n`` times one (no credit for
independence). This holds only for ciphertexts that are honest encryptions: a client
that uploads a crafted ciphertext controls ``e_ct`` (docs/threat-model.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Flooding"]


@dataclass(frozen=True)
class Flooding:
    """The flooding width for one threshold-CKKS key, and the precision it leaves.

    Attributes:
        poly_modulus_degree: N.
        custodians: m, the holders of the collective key's shares.
        max_clients: ciphertexts a decrypted sum may contain.
        statistical_bits: lambda: the statistical distance between what custodians
            reveal and what the sum alone determines is at most 2^-lambda.
        max_ciphertexts: how many ciphertexts one key share may ever partially decrypt
            (the custodian refuses more); with a key per round, a round's chunks times
            its retries.
    """

    poly_modulus_degree: int = 8192
    custodians: int = 3
    max_clients: int = 1000
    statistical_bits: int = 40
    max_ciphertexts: int = 4096

    @property
    def fresh_noise_bound(self) -> float:
        """B for one honest fresh ciphertext, failing with probability 2^-lambda overall."""
        n = self.poly_modulus_degree
        failure = 2.0 ** -self.statistical_bits / (self.max_ciphertexts * self.max_clients)
        hoeffding = self.custodians / 2 * math.sqrt(2 * n * math.log(2 * n / failure))
        return 0.5 + hoeffding + 1.0

    @property
    def sum_noise_bound(self) -> float:
        return self.max_clients * self.fresh_noise_bound

    @property
    def coefficients(self) -> int:
        """Q: every coefficient one key share may ever help decrypt."""
        return self.poly_modulus_degree * self.max_ciphertexts

    @property
    def sigma(self) -> float:
        """The flooding width each custodian adds to each coefficient of its partial."""
        return (math.sqrt(self.coefficients) * self.sum_noise_bound
                * 2.0 ** (self.statistical_bits - 1))

    def slot_error(self, threshold: int, scale_bits: int) -> float:
        """Standard deviation of the flooding's error in one decoded value: ``threshold``
        partials of width sigma, summed over the N coefficients a slot mixes."""
        return math.sqrt(threshold * self.poly_modulus_degree) * self.sigma / 2.0**scale_bits
