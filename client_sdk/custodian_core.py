"""A key custodian's state and flows (no I/O): makes each round's collective key with the
others, then decrypts that round's closed sum (its flooded share of it) and nothing else.
:mod:`.custodian` runs the flows (``Custodian``, ``AsyncCustodian``).

Run one next to each site's client (``blindsum custodian run``). Its state file holds its
identity and exchange keys, its token, the pinned rosters, for the rounds in flight only
its key share, and for good what it accepted in each round (its ledger, and which rounds
are over: a round is never served twice). A round's share is deleted once the round is
over; with the aggregator's stored reveals and this custodian's exchange key it could be
rebuilt, so deleting it protects against a later theft of this file only together with
an aggregator that deletes its reveals (docs/threat-model.md). The state file is
JSON, written atomically with mode 0600 and refused if others can read it; the ledger is
stored before a partial decryption leaves, so a crash cannot reset its checks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from blindsum.client_sdk.flows import Call, Flow, Sleep
from blindsum.client_sdk.state_files import read_private_json, write_json_atomically
from blindsum.client_sdk.threshold import (
    checked_custodians,
    custodians_flow,
    key_context,
)
from blindsum.client_sdk.transport import LONG_POLL_SECONDS
from blindsum.crypto import base64url
from blindsum.crypto.ckks.stages import TERMINAL, Stage
from blindsum.crypto.ckks.threshold.ceremony import (
    CustodianKeygen,
    KeyCommitment,
    KeyContext,
)
from blindsum.crypto.ckks.threshold.custodian import (
    ContributorSet,
    CustodianLedger,
    DecryptionRequest,
    SetVote,
    SignedUpload,
    decide_and_decrypt,
    vote,
)
from blindsum.crypto.ckks.threshold.framing import decode_reveal, encode_reveal
from blindsum.crypto.ckks.threshold.keys import ThresholdKeyShare
from blindsum.crypto.ckks.threshold.residues import decode_residues, encode_residues, residues_size
from blindsum.crypto.enrollment import sign_enrollment
from blindsum.crypto.identity import (
    exchange_public_bytes,
    identity_public_bytes,
)
from blindsum.crypto.randomness import Csprng
from blindsum.errors import (
    BlindsumError,
    ConfigError,
    NotFoundError,
    ProtocolError,
    ServiceUnavailableError,
)
from blindsum.wire import (
    CustodianEnrollRequest,
    CustodianEnrollResponse,
    DecryptionRequestPublic,
    FederationPublic,
    KeyCommitmentMessage,
    KeyConfirmationMessage,
    RoundPublic,
    SetVoteMessage,
)
from blindsum.wire.base import received

__all__ = ["CustodianCore", "CustodianState", "new_custodian_state"]

STATE_VERSION = 1
FINISHED = frozenset(s.value for s in TERMINAL)
PINNED = ("mode", "custody", "custodians", "custodian_threshold", "min_clients",
          "max_clients", "clip_norm", "dimension", "spec_hash")
"""What a custodian's checks rest on; a later change is refused (as a client's pin)."""
COMMIT, REVEAL, CONFIRM = Stage.KEY_COMMIT.value, Stage.KEY_REVEAL.value, Stage.KEY_CONFIRM.value
UPLOAD, AGREE, DECRYPT = Stage.UPLOAD.value, Stage.AGREE.value, Stage.DECRYPT.value


def _raw(key: Ed25519PrivateKey | X25519PrivateKey) -> str:
    return base64url.encode(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))


def new_custodian_state(url: str, federation_id: str, enrolled: CustodianEnrollResponse,
                        identity: Ed25519PrivateKey, exchange: X25519PrivateKey
                        ) -> CustodianState:
    return CustodianState(url=url.rstrip("/"), federation_id=federation_id,
                          custodian_index=enrolled.custodian_index, token=enrolled.token,
                          identity_key=_raw(identity), exchange_key=_raw(exchange))


@dataclass
class CustodianState:
    url: str
    federation_id: str
    custodian_index: int
    token: str
    identity_key: str  # raw Ed25519 private key, base64url
    exchange_key: str  # raw X25519 private key, base64url
    federation_pin: dict[str, Any] | None = None
    custodian_pin: list[dict[str, Any]] | None = None
    client_pin: dict[str, str] = field(default_factory=dict)  # client id -> identity key
    shares: dict[str, str] = field(default_factory=dict)  # round id -> key share residues
    ledgers: dict[str, str] = field(default_factory=dict)  # round id -> CustodianLedger JSON
    finished: list[str] = field(default_factory=list)  # rounds over: never served again
    last_round: int = 0
    version: int = STATE_VERSION

    def save(self, path: Path) -> None:
        write_json_atomically(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> CustodianState:
        data = read_private_json(path, "a blindsum custodian state file")
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION or \
                "exchange_key" not in data:
            raise ConfigError(f"{path} is not a blindsum custodian state file")
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class CustodianCore:
    """A custodian's state and flows (no I/O here)."""

    def __init__(self, state: CustodianState, state_file: Path | None = None) -> None:
        self.state, self.state_file = state, state_file
        self.identity_key = Ed25519PrivateKey.from_private_bytes(
            base64url.decode(state.identity_key, size=32, what="the identity key"))
        self.exchange_key = X25519PrivateKey.from_private_bytes(
            base64url.decode(state.exchange_key, size=32, what="the exchange key"))
        self._base = f"/v1/federations/{state.federation_id}"

    @property
    def index(self) -> int:
        return self.state.custodian_index

    def _save(self) -> None:
        if self.state_file is not None:
            self.state.save(self.state_file)

    @staticmethod
    def enrollment_flow(federation_id: str, invite_code: str, identity: Ed25519PrivateKey,
                        exchange: X25519PrivateKey, label: str = ""
                        ) -> Flow[CustodianEnrollResponse]:
        exchange_public = exchange_public_bytes(exchange)
        body = CustodianEnrollRequest(
            invite_code=invite_code, identity_key=identity_public_bytes(identity),
            exchange_key=exchange_public, label=label,
            proof=sign_enrollment(identity, federation_id, invite_code, exchange_public))
        reply = yield Call("POST", f"/v1/federations/{federation_id}/custodians/enroll",
                           json=body.model_dump(mode="json"), retry=False)
        assert reply is not None
        return received(CustodianEnrollResponse, reply.json(), "the enrollment")

    def federation_flow(self) -> Flow[FederationPublic]:
        reply = yield Call("GET", self._base)
        assert reply is not None
        federation = received(FederationPublic, reply.json(), "the federation")
        if federation.id != self.state.federation_id:
            raise ProtocolError("the server answered for another federation than this "
                                "custodian's; refusing to take part")
        seen = federation.model_dump(mode="json", include=set(PINNED))
        if self.state.federation_pin is None:
            self.state.federation_pin = seen
            self._save()
        if self.state.federation_pin != seen:
            raise ConfigError("the federation's settings changed since this custodian pinned "
                              "them; refusing to take part")
        return federation

    def context_flow(self, federation: FederationPublic, round_: RoundPublic
                     ) -> Flow[KeyContext]:
        live = yield from custodians_flow(self.state.federation_id)
        pinned = checked_custodians(live, self.state.custodian_pin, federation.custodians)
        if self.state.custodian_pin is None:
            self.state.custodian_pin = pinned
            self._save()
        return key_context(federation, round_, pinned)

    def client_roster_flow(self) -> Flow[dict[int, bytes]]:
        """Clients' identity keys, pinned: new clients join, a known one never changes."""
        reply = yield Call("GET", f"{self._base}/roster")
        assert reply is not None
        live = {str(r["client_id"]): str(r["identity_key"]) for r in reply.json()}
        changed = [cid for cid, key in self.state.client_pin.items() if live.get(cid) != key]
        if changed:
            raise ConfigError(f"the identity keys of clients {sorted(changed)} changed since "
                              "this custodian pinned them; refusing to decrypt")
        if live.keys() - self.state.client_pin.keys():
            self.state.client_pin = {**self.state.client_pin, **live}
            self._save()
        return {int(cid): base64url.decode(key, size=32) for cid, key in live.items()}

    def _round_flow(self, round_: RoundPublic, *, wait: float) -> Flow[RoundPublic]:
        reply = yield Call("GET", f"{self._base}/rounds/{round_.id}", timeout=wait + 30,
                           params={"after": round_.stage, "wait": wait})
        assert reply is not None
        return received(RoundPublic, reply.json(), "a round")

    def _commitments_flow(self, round_id: str) -> Flow[list[KeyCommitment]]:
        reply = yield Call("GET", f"{self._base}/rounds/{round_id}/custody/commitments")
        assert reply is not None
        listed = [received(KeyCommitmentMessage, c, "a commitment") for c in reply.json()]
        return [KeyCommitment(c.custodian_index, c.commitment, c.exchange_key, c.signature)
                for c in listed]

    def _confirm_flow(self, keygen: CustodianKeygen, round_: RoundPublic) -> Flow[None]:
        """Check the ceremony, keep this custodian's share, and confirm the key."""
        commitments = yield from self._commitments_flow(round_.id)
        committed = [c.index for c in commitments]
        reveals = []
        for index in committed:
            reply = yield Call("GET", f"{self._base}/rounds/{round_.id}/custody/reveals/"
                                      f"{index}")
            assert reply is not None
            reveals.append(decode_reveal(keygen.context, reply.content, committed))
        confirmation, share, _ = keygen.confirm(commitments, reveals)
        self.state.shares[round_.id] = base64url.encode(
            encode_residues(keygen.context.basis, share.point))
        self._save()  # the share is durable before the key is confirmed
        body = KeyConfirmationMessage(custodian_index=self.index,
                                      key_digest=confirmation.key_digest,
                                      confirmed_at=confirmation.confirmed_at,
                                      signature=confirmation.signature)
        yield Call("POST", f"{self._base}/rounds/{round_.id}/custody/confirmation",
                   json=body.model_dump(mode="json"))

    def _request_flow(self, round_: RoundPublic) -> Flow[DecryptionRequestPublic]:
        reply = yield Call("GET", f"{self._base}/rounds/{round_.id}/custody/decryption-request")
        assert reply is not None
        return received(DecryptionRequestPublic, reply.json(), "a decryption request")

    def _ledger(self, round_id: str) -> CustodianLedger:
        stored = self.state.ledgers.get(round_id)
        return CustodianLedger() if stored is None else CustodianLedger.from_json(stored)

    def _vote_flow(self, context: KeyContext, round_: RoundPublic) -> Flow[None]:
        """Vote for the round's contributor set, once: the ledger refuses another set."""
        request = yield from self._request_flow(round_)
        contributors = ContributorSet(tuple((c.client_id, c.upload_digest)
                                            for c in request.contributions))
        ledger, set_vote = vote(context, self._ledger(round_.id), self.index,
                                self.identity_key, contributors)
        self.state.ledgers[round_.id] = ledger.to_json()
        self._save()  # before the vote leaves: a restarted custodian cannot vote twice
        body = SetVoteMessage(custodian_index=self.index, set_digest=set_vote.set_digest,
                              signature=set_vote.signature)
        yield Call("POST", f"{self._base}/rounds/{round_.id}/custody/vote",
                   json=body.model_dump(mode="json"))

    def _decrypt_flow(self, federation: FederationPublic, context: KeyContext,
                      round_: RoundPublic, delivered: set[int]) -> Flow[None]:
        request = yield from self._request_flow(round_)
        if self.index not in request.active or request.attempt in delivered or \
                round_.id not in self.state.shares:  # no share: it missed the ceremony
            return
        roster = yield from self.client_roster_flow()
        uploads = []
        for c in request.contributions:
            reply = yield Call("GET", f"{self._base}/rounds/{round_.id}/custody/uploads/"
                                      f"{c.client_id}")
            assert reply is not None
            uploads.append(SignedUpload(c.client_id, reply.content, c.signature))
        basis = context.basis
        point = decode_residues(basis, base64url.decode(
            self.state.shares[round_.id], size=residues_size(basis)), what="the stored key share")
        certificate = tuple(SetVote(v.custodian_index, v.set_digest, v.signature)
                            for v in request.certificate)
        ledger, partial = decide_and_decrypt(
            context, ThresholdKeyShare(self.index, point), self._ledger(round_.id),
            DecryptionRequest(federation.dimension, tuple(request.active), tuple(uploads),
                              certificate),
            roster=roster, min_clients=federation.min_clients, rng=Csprng())
        self.state.ledgers[round_.id] = ledger.to_json()
        self._save()  # before the partial leaves: a crash cannot reset the ledger
        yield Call("PUT", f"{self._base}/rounds/{round_.id}/custody/partial",
                   content=encode_residues(basis, partial), params={"attempt": request.attempt},
                   headers={"Content-Type": "application/octet-stream"})
        delivered.add(request.attempt)

    def serve_round_flow(self, round_: RoundPublic, *, timeout: float = 3600.0
                         ) -> Flow[RoundPublic]:
        """Take this custodian's part in ``round_`` until it closes or aborts; resumes a
        round it took part in before a restart, and refuses one that is over.

        What this custodian accepted for a round (its ledger) is kept for good: a server
        that announced a finished round again, or the same round under other settings,
        would otherwise get a second vote and a second decryption of another set."""
        if round_.id in self.state.finished:
            raise ProtocolError(f"round {round_.number} is over for this custodian; a round "
                                "is never served twice")
        try:
            round_ = yield from self._round_flow(round_, wait=0.0)  # fresh, after a restart
            round_ = yield from self._serve_flow(round_, timeout)
        except Exception:  # an ordinary failure: drop the share if the round is over anyway
            yield from self._forget_if_over(round_)
            raise
        yield from self._forget_if_over(round_)
        yield from self.purge_flow()  # and any share an earlier failure left behind
        return round_

    def _forget_if_over(self, round_: RoundPublic) -> Flow[None]:
        """Drop the round's key share once the round is over (a later theft of this state
        file then opens no past round); keep it while the round may still need it."""
        if round_.stage not in FINISHED:
            try:
                round_ = yield from self._round_flow(round_, wait=0.0)
            except Exception:
                return
        if round_.stage in FINISHED:
            self.state.shares.pop(round_.id, None)
            if round_.id not in self.state.finished:
                self.state.finished.append(round_.id)
            self.state.last_round = max(self.state.last_round, round_.number)
            self._save()

    def round_failed(self, round_: RoundPublic, exc: BlindsumError,
                     on_failure: Callable[[RoundPublic, BlindsumError], None] | None) -> None:
        """A round this custodian could not finish: report it and never serve it again
        (re-raise when nobody listens)."""
        if on_failure is None:
            raise exc
        on_failure(round_, exc)
        if round_.id not in self.state.finished:
            self.state.finished.append(round_.id)
            self._save()

    def purge_flow(self) -> Flow[int]:
        """Drop the shares of rounds that are over (left by a crash); how many."""
        dropped = 0
        for round_id in list(self.state.shares):
            try:
                reply = yield Call("GET", f"{self._base}/rounds/{round_id}")
                assert reply is not None
                stage = received(RoundPublic, reply.json(), "a round").stage
            except NotFoundError:
                stage = Stage.ABORTED.value
            if stage in FINISHED:
                self.state.shares.pop(round_id)
                self.state.finished.append(round_id)
                dropped += 1
        if dropped:
            self._save()
        return dropped

    def _serve_flow(self, round_: RoundPublic, timeout: float) -> Flow[RoundPublic]:
        federation = yield from self.federation_flow()
        context = yield from self.context_flow(federation, round_)
        keygen = CustodianKeygen(context, self.index, self.identity_key, Csprng())
        committed = revealed = confirmed = voted = False
        delivered: set[int] = set()
        give_up = time.monotonic() + timeout
        while round_.stage not in FINISHED:
            if round_.stage == COMMIT and not committed:
                c = keygen.commit()
                body = KeyCommitmentMessage(custodian_index=self.index, commitment=c.commitment,
                                            exchange_key=c.exchange_key, signature=c.signature)
                yield Call("POST", f"{self._base}/rounds/{round_.id}/custody/commitment",
                           json=body.model_dump(mode="json"))
                committed = True
            elif round_.stage == REVEAL and committed and not revealed:
                reveal = keygen.reveal((yield from self._commitments_flow(round_.id)))
                yield Call("PUT", f"{self._base}/rounds/{round_.id}/custody/reveal",
                           content=encode_reveal(context, reveal),
                           headers={"Content-Type": "application/octet-stream"})
                revealed = True
            elif round_.stage == CONFIRM and revealed and not confirmed:
                yield from self._confirm_flow(keygen, round_)
                confirmed = True
            elif round_.stage == AGREE and not voted:
                yield from self._vote_flow(context, round_)
                voted = True
            elif round_.stage == DECRYPT:
                yield from self._decrypt_flow(federation, context, round_, delivered)
            if time.monotonic() >= give_up:
                raise ServiceUnavailableError(f"round {round_.number} did not finish within "
                                              f"{timeout:.0f} s")
            wait = min(LONG_POLL_SECONDS, max(0.0, give_up - time.monotonic()))
            round_ = yield from self._round_flow(round_, wait=wait)
        return round_

    def next_round_flow(self, *, timeout: float = 3600.0) -> Flow[RoundPublic]:
        """The next round newer than the last one served that is still running."""
        give_up = time.monotonic() + timeout
        while True:
            try:
                reply = yield Call("GET", f"{self._base}/rounds/current")
                assert reply is not None
                current: RoundPublic | None = received(RoundPublic, reply.json(), "a round")
            except NotFoundError:
                current = None
            if current is not None and current.number > self.state.last_round and \
                    current.stage not in FINISHED and current.id not in self.state.finished:
                return current
            if time.monotonic() >= give_up:
                raise ServiceUnavailableError(f"no new round opened within {timeout:.0f} s")
            yield Sleep(1.0)
