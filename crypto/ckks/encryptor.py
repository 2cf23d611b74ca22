"""Client side of CKKS mode: encrypt a flat vector under the round's public context.

Clients only ever hold the *public* context; one holding the secret key is
refused (it could decrypt its neighbours' uploads if it saw them). Values are
checked against ``max_abs`` before encryption, since a larger value could
overflow the sum for everyone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindsum.crypto.ckks.accumulator import upload_attestation_payload
from blindsum.crypto.ckks.params import CkksParams
from blindsum.crypto.ckks.seal_bytes import CiphertextLayout, coefficients_from_vector_bytes
from blindsum.crypto.ckks.wire import encode_upload
from blindsum.crypto.hazmat.signing import sign
from blindsum.crypto.hazmat.tenseal_errors import map_tenseal_exceptions
from blindsum.errors import ConfigError

__all__ = ["CkksEncryptor", "layout_of", "sign_upload"]


def layout_of(params: CkksParams) -> CiphertextLayout:
    """The shape of a fresh ciphertext under ``params``."""
    return CiphertextLayout(params.poly_modulus_degree, len(params.data_primes))


def load_context(params: CkksParams, data: bytes) -> Any:
    """Load a serialized TenSEAL context and check it matches ``params``."""
    import tenseal as ts

    with map_tenseal_exceptions("loading the CKKS context"):
        ctx = ts.context_from(data)
    if ctx.global_scale != 2.0**params.scale_bits:
        raise ConfigError("the CKKS context's scale differs from the round's parameters")
    probe = ts.ckks_vector(ctx, [0.0]).serialize()
    coefficients_from_vector_bytes(probe, layout_of(params))  # raises on another N or modulus
    return ctx


class CkksEncryptor:
    """Encrypts updates for one round.

    Args:
        params: the round's CKKS parameters.
        public_context: the serialized public TenSEAL context from the aggregator.
    """

    def __init__(self, params: CkksParams, public_context: bytes) -> None:
        self.params = params
        self._ctx = load_context(params, public_context)
        if self._ctx.has_secret_key():
            raise ConfigError("clients must hold the public context only, not the secret key")
        self._layout = layout_of(params)

    def encrypt(self, vector: np.ndarray) -> bytes:
        """Encrypt a flat vector (already clipped / noised / weighted) into an upload."""
        import tenseal as ts

        x = np.asarray(vector, dtype=np.float64).ravel()
        if not np.all(np.isfinite(x)):
            raise ValueError("update contains NaN or infinity; refusing to encrypt it")
        if x.size and float(np.max(np.abs(x))) > self.params.max_abs:
            raise ValueError(f"values must lie within +-{self.params.max_abs} (clip first)")
        slots, chunks = self.params.slots, self.params.chunks(x.size)
        out = np.empty((chunks, self.params.words_per_chunk), dtype=np.uint64)
        with map_tenseal_exceptions("CKKS encryption"):
            for i in range(chunks):
                piece = x[i * slots : (i + 1) * slots].tolist()
                vector_bytes = ts.ckks_vector(self._ctx, piece).serialize()
                out[i] = coefficients_from_vector_bytes(vector_bytes, self._layout)
        return encode_upload(self.params, x.size, out)


def sign_upload(identity_key: Ed25519PrivateKey, round_id: bytes, client_id: int,
                upload: bytes) -> bytes:
    """The client's Ed25519 signature over its upload's SHA-256, for key custody to check."""
    import hashlib

    digest = hashlib.sha256(upload).digest()
    return sign(identity_key, upload_attestation_payload(round_id, client_id, digest))
