"""The key ceremony: custodians make a collective key that no party, and no coalition of
fewer than t of them, can decrypt with (sans-I/O; the service relays the messages).

For one key (a round's, as keys rotate per round) with the federation's m enrolled
custodians:

1. **commit.** Each custodian j that takes part samples ``s_j`` and ``b_j = -a s_j + e_j``
   over the common random polynomial ``a`` (expanded from a seed that is a hash of the
   key's context: nobody chooses it) and a one-time X25519 key, and sends
   ``H(context, j, b_j)`` with that key's public half, signed.
2. **reveal.** Once it is shown the list of commitments (at least t, its own included),
   j sends ``b_j`` and its Shamir shares of ``s_j`` for every committed custodian (each
   in an AES-GCM envelope under the X25519 agreement of the two one-time keys), signed
   together with the list's digest.
3. **confirm.** Each committed custodian checks every reveal (signature, the same list,
   ``b_j`` opens the commitment), opens the envelopes addressed to it, keeps the sum of
   its shares, forgets its one-time key, and signs ``H(context, b)`` for ``b = sum b_j``.
   A custodian offline during 1 and 2 holds no share of this key: any t of the
   committed custodians decrypt with it.

The one-time keys give forward secrecy: after the ceremony nothing a custodian keeps
opens the envelopes the aggregator stored, so once the round is over and the share is
dropped, a later theft of the custodian's files opens no past round.

Why each step: committing before anyone reveals stops the rogue-key attack (a last
custodian choosing ``b_j = b* - sum of the others`` would know the key of ``b*``);
signing the list into the reveal stops a custodian from showing two commitments (an
honest custodian accepts only reveals made over the list it saw); at least t
contributors means at least one honest ``s_j`` in ``s`` when at most t - 1 custodians
collude; and a client encrypts only under a key at least t custodians confirmed
(:func:`check_collective_key`), so at least one honest custodian checked it.

Not checked (docs/threat-model.md): that a dealer's Shamir shares lie on one polynomial
of degree t - 1 with its ``s_j`` at zero. A dealer that cheats there makes decryption
give garbage (which the aggregator sees as out of range), not a key.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from blindsum.crypto.ckks.threshold import keys
from blindsum.crypto.ckks.threshold.params import ThresholdParams
from blindsum.crypto.ckks.threshold.residues import decode_residues, encode_residues
from blindsum.crypto.hazmat.canonical import canonical
from blindsum.crypto.hazmat.csprng import RandomSource
from blindsum.crypto.hazmat.kex import (
    check_public_key,
    derive_pair_key,
    generate_private_key,
    open_envelope,
    public_bytes,
    seal_envelope,
)
from blindsum.crypto.hazmat.rns import RnsBasis
from blindsum.crypto.hazmat.signing import identity_public_bytes, sign, verify_signature
from blindsum.errors import (
    ConfigError,
    DecryptionError,
    InvalidShareError,
    ProtocolError,
    ThresholdNotMetError,
)

__all__ = ["CustodianEntry", "CustodianKeygen", "KeyCommitment", "KeyConfirmation",
           "KeyContext", "KeyReveal", "assemble_collective_key", "check_collective_key",
           "key_digest", "verify_commitment", "verify_confirmation", "verify_reveal"]

_CONTEXT = b"ckks-threshold/key-context"
_COMMIT = b"ckks-threshold/key-commitment"
_LIST = b"ckks-threshold/key-commitments"
_REVEAL = b"ckks-threshold/key-reveal"
_RESHARE = b"ckks-threshold/reshare"
_KEY = b"ckks-threshold/collective-key"
_CONFIRM = b"ckks-threshold/key-confirmation"


@dataclass(frozen=True)
class CustodianEntry:
    """An enrolled custodian: its index (1..m) and public keys."""

    index: int
    identity_key: bytes  # Ed25519, signs its messages
    exchange_key: bytes  # X25519, receives re-shares


@dataclass(frozen=True)
class KeyContext:
    """What one collective key is for: the federation, the key's id, the parameters and
    the custodian roster. Every message of the ceremony is bound to its digest."""

    federation_id: str
    key_id: str
    params: ThresholdParams
    custodians: tuple[CustodianEntry, ...]
    round_number: int = 0  # the round's number, so a key cannot be re-announced as newer

    def __post_init__(self) -> None:
        indices = [c.index for c in self.custodians]
        if sorted(indices) != list(range(1, self.params.custodians + 1)):
            raise ConfigError(f"a key's roster is custodians 1..{self.params.custodians}, "
                              "each once")

    @cached_property
    def digest(self) -> bytes:
        p = self.params
        entries = [b for c in sorted(self.custodians, key=lambda c: c.index)
                   for b in (c.index, c.identity_key, c.exchange_key)]
        return hashlib.sha256(canonical(
            _CONTEXT, self.federation_id, self.key_id, self.round_number, p.ckks.fingerprint,
            p.custodians,
            p.threshold, p.flooding.statistical_bits, p.flooding.max_ciphertexts,
            p.flooding.max_clients, *entries)).digest()

    @property
    def seed(self) -> bytes:
        """The common random polynomial's seed: a hash, so no party chooses ``a``."""
        return hashlib.sha256(canonical(b"ckks-threshold/crp-seed", self.digest)).digest()

    def entry(self, index: int) -> CustodianEntry:
        for c in self.custodians:
            if c.index == index:
                return c
        raise ProtocolError(f"custodian {index} is not on this key's roster")

    @property
    def basis(self) -> RnsBasis:
        """Where re-shares live: the data primes."""
        return keys.data_basis(self.params.ckks)


@dataclass(frozen=True)
class KeyCommitment:
    """``H(context, j, b_j)`` and the one-time X25519 key j receives this key's re-shares
    on, signed together."""

    index: int
    commitment: bytes
    exchange_key: bytes
    signature: bytes = field(repr=False)


@dataclass(frozen=True)
class KeyReveal:
    """``b_j`` and j's envelopes (holder index -> envelope), signed over the list seen."""

    index: int
    public_share: bytes = field(repr=False)
    envelopes: Mapping[int, bytes] = field(repr=False)
    signature: bytes = field(repr=False)


@dataclass(frozen=True)
class KeyConfirmation:
    """Custodian ``index``'s signature on the assembled key, and when it gave it (Unix
    seconds): a client refuses a key confirmed too long ago."""

    index: int
    key_digest: bytes
    confirmed_at: int
    signature: bytes = field(repr=False)


def _commitment(context: KeyContext, index: int, public_share: bytes) -> bytes:
    return hashlib.sha256(canonical(_COMMIT, context.digest, index, public_share)).digest()


def _commit_payload(context: KeyContext, index: int, commitment: bytes,
                    exchange_key: bytes) -> bytes:
    return canonical(_COMMIT, context.digest, index, commitment, exchange_key)


def _list_digest(context: KeyContext, commitments: Sequence[KeyCommitment]) -> bytes:
    parts = [b for c in sorted(commitments, key=lambda c: c.index)
             for b in (c.index, c.commitment)]
    return hashlib.sha256(canonical(_LIST, context.digest, *parts)).digest()


def _reveal_payload(context: KeyContext, index: int, public_share: bytes, list_digest: bytes,
                    envelopes: Mapping[int, bytes]) -> bytes:
    sealed = [b for i in sorted(envelopes) for b in (i, hashlib.sha256(envelopes[i]).digest())]
    return canonical(_REVEAL, context.digest, index, hashlib.sha256(public_share).digest(),
                     list_digest, *sealed)


def _reshare_aad(context: KeyContext, dealer: int, holder: int) -> bytes:
    return canonical(_RESHARE, context.digest, dealer, holder)


def key_digest(context: KeyContext, b: np.ndarray) -> bytes:
    """What a confirmation signs: the context and the collective key's ``b``."""
    return hashlib.sha256(canonical(_KEY, context.digest, encode_residues(
        keys.key_basis(context.params.ckks), b))).digest()


def verify_commitment(context: KeyContext, commitment: KeyCommitment) -> None:
    """One commitment is signed by the custodian it names (the service checks on receipt)."""
    check_public_key(commitment.exchange_key)
    verify_signature(context.entry(commitment.index).identity_key, commitment.signature,
                     _commit_payload(context, commitment.index, commitment.commitment,
                                     commitment.exchange_key))


def _checked_commitments(context: KeyContext,
                         commitments: Sequence[KeyCommitment]) -> dict[int, KeyCommitment]:
    """Each signed by its custodian, one per custodian, at least t of them."""
    out: dict[int, KeyCommitment] = {}
    for c in commitments:
        if c.index in out:
            raise ProtocolError(f"custodian {c.index} committed twice")
        verify_commitment(context, c)
        out[c.index] = c
    if len(out) < context.params.threshold:
        raise ThresholdNotMetError(
            f"{len(out)} custodians committed; a key needs at least "
            f"{context.params.threshold} contributors so that one of them is honest")
    return out


def _checked_reveals(context: KeyContext, committed: Mapping[int, KeyCommitment],
                     reveals: Sequence[KeyReveal]) -> dict[int, np.ndarray]:
    """Every committed custodian's ``b_j``, each opening its commitment under this list."""
    listed = _list_digest(context, list(committed.values()))
    by_index = {}
    for r in reveals:
        if r.index in by_index:
            raise ProtocolError(f"custodian {r.index} revealed twice")
        by_index[r.index] = r
    if set(by_index) != set(committed):
        raise ProtocolError("the reveals are not exactly the committed custodians'; the "
                            "ceremony must start again without the missing ones")
    return {index: _checked_reveal(context, committed, listed, r)
            for index, r in by_index.items()}


def _checked_reveal(context: KeyContext, committed: Mapping[int, KeyCommitment],
                    listed: bytes, reveal: KeyReveal) -> np.ndarray:
    index = reveal.index
    if index not in committed:
        raise ProtocolError(f"custodian {index} revealed without having committed")
    verify_signature(context.entry(index).identity_key, reveal.signature,
                     _reveal_payload(context, index, reveal.public_share, listed,
                                     reveal.envelopes))
    if _commitment(context, index, reveal.public_share) != committed[index].commitment:
        raise ProtocolError(f"custodian {index}'s key share does not open its commitment")
    if set(reveal.envelopes) != set(committed) - {index}:
        raise ProtocolError(f"custodian {index} did not deal a share to every committed "
                            "custodian")
    return decode_residues(keys.key_basis(context.params.ckks), reveal.public_share,
                           what="a custodian's public key share")


def verify_reveal(context: KeyContext, commitments: Sequence[KeyCommitment],
                  reveal: KeyReveal) -> None:
    """One reveal opens its sender's commitment under this list (checked on receipt)."""
    committed = _checked_commitments(context, commitments)
    _checked_reveal(context, committed, _list_digest(context, list(committed.values())), reveal)


def assemble_collective_key(context: KeyContext, commitments: Sequence[KeyCommitment],
                            reveals: Sequence[KeyReveal]) -> keys.CollectiveKey:
    """``(sum b_j, a)`` from checked messages: what the aggregator publishes (no secret)."""
    shares = _checked_reveals(context, _checked_commitments(context, commitments), reveals)
    b = keys.collective_public_key(context.params.ckks,
                                   [keys.PublicKeyShare(shares[i]) for i in sorted(shares)])
    return keys.CollectiveKey(context.params.ckks, context.seed, b)


def check_collective_key(context: KeyContext, key: keys.CollectiveKey,
                         confirmations: Sequence[KeyConfirmation], *,
                         max_age: float | None = None, now: float | None = None) -> None:
    """A client's check before it encrypts: at least t distinct custodians signed this very
    key (so at least one honest custodian checked it is the committed contributors' sum),
    each within ``max_age`` seconds of ``now`` if given (a finished round's key,
    re-announced later, is refused)."""
    if key.seed != context.seed or key.params != context.params.ckks:
        raise ProtocolError("the key was not made over this context's common polynomial")
    digest = key_digest(context, key.b)
    now = time.time() if now is None else now
    signers = set()
    for c in confirmations:
        if c.key_digest != digest:
            continue
        if max_age is not None and not -300 <= now - c.confirmed_at <= max_age:
            continue  # stale (or from a clock far ahead)
        verify_confirmation(context, c)
        signers.add(c.index)
    if len(signers) < context.params.threshold:
        raise ThresholdNotMetError(
            f"{len(signers)} custodians confirmed this key recently; clients encrypt only "
            f"under a key at least {context.params.threshold} confirmed")


def _confirm_payload(context: KeyContext, index: int, digest: bytes, confirmed_at: int) -> bytes:
    return canonical(_CONFIRM, context.digest, index, digest, confirmed_at)


def verify_confirmation(context: KeyContext, confirmation: KeyConfirmation) -> None:
    verify_signature(context.entry(confirmation.index).identity_key, confirmation.signature,
                     _confirm_payload(context, confirmation.index, confirmation.key_digest,
                                      confirmation.confirmed_at))


class CustodianKeygen:
    """Custodian ``index``'s side of one ceremony. Its secret and its one-time exchange key
    exist only in this object: once it confirmed the key, nothing it keeps (its identity
    key, its state file) opens the re-shares the aggregator stored."""

    def __init__(self, context: KeyContext, index: int, identity_key: Ed25519PrivateKey,
                 rng: RandomSource) -> None:
        if context.entry(index).identity_key != identity_public_bytes(identity_key):
            raise ProtocolError("the roster this key is made for does not list this custodian's "
                                "own keys at its index; refusing to take part")
        self.context, self.index = context, index
        self._identity, self._rng = identity_key, rng
        self._exchange: X25519PrivateKey | None = None
        self._secret: keys.KeyShare | None = None
        self._public_share = b""
        self._own_share: np.ndarray | None = None

    def commit(self) -> KeyCommitment:
        if self._public_share:
            raise ProtocolError("a custodian commits once per key")
        ckks = self.context.params.ckks
        a = keys.common_random_polynomial(ckks, self.context.seed)
        self._secret = keys.sample_secret(ckks, self._rng)
        public = keys.public_key_share(ckks, self._secret, a, self._rng)
        self._public_share = encode_residues(keys.key_basis(ckks), public.b)
        self._exchange = generate_private_key()
        exchange = public_bytes(self._exchange)
        commitment = _commitment(self.context, self.index, self._public_share)
        return KeyCommitment(self.index, commitment, exchange, sign(
            self._identity, _commit_payload(self.context, self.index, commitment, exchange)))

    def _pair_key(self, committed: Mapping[int, KeyCommitment], dealer: int,
                  holder: int) -> bytes:
        """The key of the dealer's envelope to the holder: X25519 of this custodian's
        one-time key with the other's, as committed."""
        assert self._exchange is not None
        peer = holder if dealer == self.index else dealer
        return derive_pair_key(self._exchange, committed[peer].exchange_key,
                               purpose=_RESHARE, context=self.context.digest,
                               first=dealer, second=holder)

    def reveal(self, commitments: Sequence[KeyCommitment]) -> KeyReveal:
        if self._secret is None:  # also after a first reveal: one reveal per key
            raise ProtocolError("commit (once) before revealing (once)")
        committed = _checked_commitments(self.context, commitments)
        mine = committed.get(self.index)
        if mine is None or mine.commitment != _commitment(self.context, self.index,
                                                          self._public_share):
            raise ProtocolError("the list of commitments leaves out this custodian's own")
        p = self.context.params
        dealt = keys.reshare(p.ckks, self._secret, sorted(committed), p.threshold, self._rng)
        basis = self.context.basis
        self._own_share = dealt.pop(self.index)
        envelopes = {i: seal_envelope(self._pair_key(committed, self.index, i),
                                      encode_residues(basis, v),
                                      _reshare_aad(self.context, self.index, i))
                     for i, v in dealt.items()}
        self._secret = None  # only the Shamir shares are needed from here on
        payload = _reveal_payload(self.context, self.index, self._public_share,
                                  _list_digest(self.context, list(committed.values())), envelopes)
        return KeyReveal(self.index, self._public_share, envelopes, sign(self._identity, payload))

    def confirm(self, commitments: Sequence[KeyCommitment], reveals: Sequence[KeyReveal]
                ) -> tuple[KeyConfirmation, keys.ThresholdKeyShare, keys.CollectiveKey]:
        """Check the whole ceremony, keep this custodian's point and confirm the key; then
        forget the one-time exchange key. Only a custodian that committed and revealed
        holds a share (one that was offline then takes no part in decrypting this key)."""
        committed = _checked_commitments(self.context, commitments)
        if self.index not in committed or self._own_share is None or self._exchange is None:
            raise ProtocolError("this custodian did not commit and reveal in this key's "
                                "ceremony, so it holds no share of it")
        key = assemble_collective_key(self.context, commitments, reveals)
        basis = self.context.basis
        received = {self.index: self._own_share}
        for r in reveals:
            if r.index != self.index:
                try:
                    plain = open_envelope(self._pair_key(committed, r.index, self.index),
                                          r.envelopes[self.index],
                                          _reshare_aad(self.context, r.index, self.index))
                except DecryptionError:
                    raise InvalidShareError(
                        f"custodian {r.index}'s re-share to custodian {self.index} does not "
                        "open: that custodian dealt it wrongly, so this key cannot be "
                        "confirmed") from None
                received[r.index] = decode_residues(basis, plain, what="a re-share")
        share = keys.combine_reshares(self.context.params.ckks, self.index, received)
        self._own_share = self._exchange = None  # forward secrecy: the envelopes stay shut
        digest = key_digest(self.context, key.b)
        confirmed_at = int(time.time())
        confirmation = KeyConfirmation(self.index, digest, confirmed_at, sign(
            self._identity, _confirm_payload(self.context, self.index, digest, confirmed_at)))
        return confirmation, share, key
