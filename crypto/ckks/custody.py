"""Key custody: the only holder of the CKKS secret key, with exactly one decrypt operation.

:meth:`KeyCustody.decrypt_sum` takes a *closed* accumulator and decrypts it only
if it holds at least ``max(min_clients, 3)`` distinct contributions, each signed by an
enrolled client over its upload's hash. There is no function that decrypts an
upload: decrypting attacker-chosen ciphertexts at full precision can leak the
key (Li & Micciancio, EUROCRYPT 2021), so custody decrypts only sums it can
verify it was handed by the accumulator.

:class:`LocalKeyCustody` keeps the key in process and at rest encrypted with
AES-256-GCM under a 32-byte key-encryption key. :class:`KeyCustody` is the seam
for a second backend (threshold CKKS, where no single party holds the key).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final, Protocol

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from blindsum.crypto.ckks.accumulator import EncryptedSumAccumulator, upload_attestation_payload
from blindsum.crypto.ckks.encryptor import layout_of, load_context
from blindsum.crypto.ckks.params import CkksParams
from blindsum.crypto.ckks.seal_bytes import vector_bytes_from_coefficients
from blindsum.crypto.hazmat.signing import verify_signature
from blindsum.crypto.hazmat.tenseal_errors import map_tenseal_exceptions
from blindsum.crypto.limits import MIN_COHORT
from blindsum.errors import ConfigError, DecryptionError, RoundStateError, ThresholdNotMetError

__all__ = ["KeyCustody", "LocalKeyCustody"]

_SEALED_MAGIC: Final = b"BSKC\x01"


class KeyCustody(Protocol):
    """What the aggregator may ask of whoever holds the secret key."""

    def public_context(self) -> bytes:
        """The serialized public context (no secret key, no relin/galois keys)."""
        ...

    def decrypt_sum(
        self, accumulator: EncryptedSumAccumulator, *, min_clients: int,
        roster: Mapping[int, bytes],
    ) -> np.ndarray:
        """Decrypt a closed round's sum (float64, length ``accumulator.dimension``)."""
        ...


class LocalKeyCustody:
    """The secret key in this process; use :meth:`generate` or :meth:`unseal`."""

    def __init__(self, params: CkksParams, secret_context: Any) -> None:
        if not secret_context.has_secret_key():
            raise ConfigError("key custody needs a context with the secret key")
        self.params = params
        self._ctx = secret_context
        self._layout = layout_of(params)
        import tenseal as ts

        self._template = ts.ckks_vector(secret_context, [0.0] * params.slots).serialize()

    @classmethod
    def generate(cls, params: CkksParams) -> LocalKeyCustody:
        """Fresh keys for ``params``."""
        import tenseal as ts

        ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=params.poly_modulus_degree,
                         coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes))
        ctx.global_scale = 2.0**params.scale_bits
        return cls(params, ctx)

    def seal(self, kek: bytes) -> bytes:
        """The secret context encrypted at rest (AES-256-GCM, parameters bound as AAD)."""
        if len(kek) != 32:
            raise ValueError("the key-encryption key is 32 bytes")
        secret = self._ctx.serialize(save_public_key=True, save_secret_key=True,
                                     save_galois_keys=False, save_relin_keys=False)
        nonce = os.urandom(12)
        sealed = AESGCM(kek).encrypt(nonce, secret, _SEALED_MAGIC + self.params.fingerprint)
        return _SEALED_MAGIC + nonce + sealed

    @classmethod
    def unseal(cls, params: CkksParams, blob: bytes, kek: bytes) -> LocalKeyCustody:
        """Load a sealed secret context; any mismatch is one opaque error."""
        if len(kek) != 32:
            raise ValueError("the key-encryption key is 32 bytes")
        head = len(_SEALED_MAGIC) + 12
        if len(blob) < head + 16 or not blob.startswith(_SEALED_MAGIC):
            raise DecryptionError("sealed key failed to open")
        try:
            secret = AESGCM(kek).decrypt(blob[len(_SEALED_MAGIC):head], blob[head:],
                                         _SEALED_MAGIC + params.fingerprint)
        except InvalidTag as exc:
            raise DecryptionError("sealed key failed to open") from exc
        return cls(params, load_context(params, secret))

    def public_context(self) -> bytes:
        public = self._ctx.copy()
        public.make_context_public()
        data: bytes = public.serialize(save_public_key=True, save_secret_key=False,
                                       save_galois_keys=False, save_relin_keys=False)
        return data

    def decrypt_sum(
        self, accumulator: EncryptedSumAccumulator, *, min_clients: int,
        roster: Mapping[int, bytes],
    ) -> np.ndarray:
        self._check(accumulator, min_clients, roster)
        import tenseal as ts

        values = np.empty(accumulator.params.chunks(accumulator.dimension) * self.params.slots)
        words = accumulator.ciphertext_sum().reshape(-1, self.params.words_per_chunk)
        with map_tenseal_exceptions("decrypting the sum"):
            for i, chunk in enumerate(words):
                data = vector_bytes_from_coefficients(chunk, self._template, self._layout)
                plain = ts.ckks_vector_from(self._ctx, data).decrypt()
                values[i * self.params.slots : (i + 1) * self.params.slots] = plain
        return values[: accumulator.dimension]

    def _check(self, acc: EncryptedSumAccumulator, min_clients: int,
               roster: Mapping[int, bytes]) -> None:
        """Refuse anything but a closed sum of enough distinct, signed contributions."""
        if acc.params.fingerprint != self.params.fingerprint:
            raise ConfigError("the accumulator uses other CKKS parameters than this key")
        if not acc.closed:
            raise RoundStateError("only a closed round's sum can be decrypted")
        contributions = acc.contributions
        need = max(min_clients, MIN_COHORT)
        if len(contributions) < need:
            raise ThresholdNotMetError(
                f"only {len(contributions)} contributions; at least {need} are needed "
                "before a sum is decrypted"
            )
        for client_id, record in contributions.items():
            if client_id not in roster:
                raise ConfigError(f"contribution from client {client_id}, who is not enrolled")
            payload = upload_attestation_payload(acc.round_id, client_id, record.digest)
            verify_signature(roster[client_id], record.signature, payload)


