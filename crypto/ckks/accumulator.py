"""The aggregator's running encrypted sum: O(d) memory for any number of clients.

Adding ciphertexts is adding their RNS coefficients modulo each data prime, so
the request path needs only numpy and the round's parameters. Coefficients are
below 2^60, so up to 15 uploads are summed in uint64 before one reduction
(lazy reduction: about one vector pass per upload).

Each contribution is recorded with the SHA-256 of its upload and the client's
Ed25519 signature over it; key custody checks those before it decrypts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from blindsum.crypto.ckks.params import CkksParams
from blindsum.crypto.ckks.wire import decode_upload
from blindsum.crypto.hazmat.canonical import canonical
from blindsum.crypto.hazmat.signing import verify_signature
from blindsum.errors import MalformedMessageError, ProtocolError, RoundStateError

__all__ = ["Contribution", "EncryptedSumAccumulator", "upload_attestation_payload",
           "verify_upload_signature"]

_LAZY_ADDS: Final = 15  # 15 * (2^60 - 1) + (2^60 - 1) < 2^64


def upload_attestation_payload(round_id: bytes, client_id: int, upload_digest: bytes) -> bytes:
    """What a client signs for its upload: round, its id and the upload's SHA-256."""
    return canonical(b"ckks/upload", round_id, client_id, upload_digest)


def verify_upload_signature(public_key: bytes, signature: bytes, round_id: bytes,
                            client_id: int, upload: bytes) -> None:
    """Raise :class:`~blindsum.errors.InvalidSignatureError` unless ``signature`` is the
    client's over this upload in this round."""
    verify_signature(public_key, signature, upload_attestation_payload(
        round_id, client_id, hashlib.sha256(upload).digest()))


@dataclass(frozen=True)
class Contribution:
    """One counted upload."""

    client_id: int
    digest: bytes
    signature: bytes


class EncryptedSumAccumulator:
    """Adds CKKS uploads of one round; never decrypts (it has no key to).

    Args:
        params: the round's CKKS parameters.
        dimension: the vector length every upload encrypts.
        round_id: bytes naming the round (bound into upload signatures).
    """

    def __init__(self, params: CkksParams, dimension: int, *, round_id: bytes) -> None:
        self.params = params
        self.dimension = dimension
        self.round_id = round_id
        shape = (params.chunks(dimension), 2, len(params.data_primes), params.poly_modulus_degree)
        self._sum = np.zeros(shape, dtype=np.uint64)
        self._moduli = np.array(params.data_primes, dtype=np.uint64).reshape(1, 1, -1, 1)
        self._pending = 0
        self._contributions: dict[int, Contribution] = {}
        self.closed = False

    @property
    def contributions(self) -> Mapping[int, Contribution]:
        """Counted uploads by client id."""
        return dict(self._contributions)

    def add(self, upload: bytes, *, client_id: int, signature: bytes,
            digest: bytes | None = None) -> Contribution:
        """Check one upload completely, then fold it into the sum: a refused one (whichever
        argument is wrong) leaves the sum unchanged.

        Signatures are verified by key custody against the enrolled roster; the
        accumulator records them so custody can. ``digest`` is the upload's
        SHA-256 when the caller already computed it (the blob store hashes
        uploads while receiving them); otherwise it is computed here.
        """
        if self.closed:
            raise RoundStateError("the round's sum is closed; no more uploads")
        if client_id in self._contributions:
            raise ProtocolError("this client's upload is already counted")
        if len(signature) != 64:
            raise MalformedMessageError("upload signature must be 64 bytes")
        if digest is not None and len(digest) != 32:
            raise MalformedMessageError("an upload's digest must be a SHA-256 (32 bytes)")
        words = decode_upload(upload, self.params, self.dimension)
        # Everything is checked: from here on nothing raises, so a refused upload never
        # touches the sum and a retry after an error is counted once.
        if self._pending == _LAZY_ADDS:
            self._reduce()
        np.add(self._sum, words, out=self._sum)
        self._pending += 1
        record = Contribution(client_id, digest or hashlib.sha256(upload).digest(), signature)
        self._contributions[client_id] = record
        return record

    def close(self) -> None:
        """Accept no more uploads."""
        self._reduce()
        self.closed = True

    def ciphertext_sum(self) -> np.ndarray:
        """The reduced coefficients of the sum (a copy), for custody or merging replicas."""
        self._reduce()
        return self._sum.copy()

    def _reduce(self) -> None:
        if self._pending:
            np.remainder(self._sum, self._moduli, out=self._sum)
            self._pending = 0
