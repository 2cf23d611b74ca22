"""Threshold custody on the wire: the key ceremony's small messages and the decryption
request (one definition for the service, the custodians and the clients).

The large ones travel as octets: a reveal (``b_j`` and the re-share envelopes, framed by
:mod:`blindsum.crypto.ckks.threshold.framing`) and a partial decryption (raw residues).
"""

from __future__ import annotations

from pydantic import Field

from blindsum.wire.base import WireModel
from blindsum.wire.types import Digest, ExchangeKey, Signature

__all__ = ["ContributionPublic", "DecryptionRequestPublic", "KeyCommitmentMessage",
           "KeyConfirmationMessage", "RoundKeyPublic", "SetVoteMessage"]


class KeyCommitmentMessage(WireModel):
    custodian_index: int = Field(ge=1, le=32)
    commitment: Digest
    exchange_key: ExchangeKey = Field(description=(
        "the one-time X25519 key this custodian receives the key's re-shares on"))
    signature: Signature


class KeyConfirmationMessage(WireModel):
    custodian_index: int = Field(ge=1, le=32)
    key_digest: Digest
    confirmed_at: int = Field(ge=0, lt=2**40, description="when, in Unix seconds (signed)")
    signature: Signature


class RoundKeyPublic(WireModel):
    """What a client checks before it encrypts: t custodians confirmed this round's key."""

    key_id: str
    seed: Digest
    confirmations: list[KeyConfirmationMessage]


class ContributionPublic(WireModel):
    client_id: int
    upload_digest: Digest = Field(description="SHA-256 of the client's upload")
    signature: Signature


class SetVoteMessage(WireModel):
    """A custodian's signature on the one contributor set it accepts for the round."""

    custodian_index: int = Field(ge=1, le=32)
    set_digest: Digest
    signature: Signature


class DecryptionRequestPublic(WireModel):
    """The round's sum to decrypt, as the uploads it is made of (a custodian rebuilds it)."""

    round_id: str
    attempt: int = Field(description="which active set this is (a set that misses its "
                                     "deadline is replaced by the next)")
    active: list[int] = Field(description="the t custodians whose partials will be fused "
                                          "(empty until the custodians agreed on the set)")
    contributions: list[ContributionPublic]
    certificate: list[SetVoteMessage] = Field(description=(
        "the custodians' votes for this contributor set; a custodian decrypts only a set "
        "that q of them voted for"))
