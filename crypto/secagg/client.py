"""The client side of a SecAgg+ round, as a sans-I/O state machine.

Each public method is one stage: it takes what the server relayed and returns
the message to send back. Out-of-order calls raise
:class:`~blindsum.errors.RoundStateError`; anything a lying server or hostile
peer could cause raises a :class:`~blindsum.errors.ProtocolError` or
:class:`~blindsum.errors.CryptoError` and aborts this client's round for good,
dropping its secrets.

The rules that keep an honest client's input private from a server that lies
about who dropped out (the argument is in :mod:`blindsum.crypto.secagg.params`):

* it takes part only in a round whose parameters are at least the ones it derives
  itself (``required``), so a server cannot announce a weaker k, t or quorum;
* it uses only the graph drawn from the participants' seed commitments and reveals
  (:mod:`~blindsum.crypto.secagg.graph_seed`), never one the server names;
* for each neighbour it reveals *either* the share of the neighbour's self-mask
  seed (neighbour survived) *or* the share of its mask key (neighbour dropped),
  decided once, from the one survivor set it signed;
* a neighbour's envelope that does not open, or whose shares lie off the sender's
  commitments or rebuild another key than it advertised, gives it no shares of that
  neighbour, and the neighbour is accused before anyone masks: the server counts who
  holds usable shares of whom and excludes a client too few can hold (nobody then masks
  with it), instead of the round failing;
* it masks with every neighbour whose envelope arrived and that was not excluded, and
  with at least t of them;
* it reveals only when a quorum ``q`` of participants with ``2q > n + c`` signed
  that same set, so no second set can ever be certified, and only when both the
  survivors and the signers stay connected however the ``c`` tolerated colluders
  are removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from blindsum.crypto.hazmat import feldman, kex, shamir
from blindsum.crypto.hazmat.csprng import Csprng, RandomSource
from blindsum.crypto.hazmat.prg import MaskExpander
from blindsum.crypto.hazmat.signing import identity_public_bytes, sign, verify_signature
from blindsum.crypto.secagg import graph_seed
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.keys import (
    mask_key_matches,
    mask_private_key,
    random_mask_secret,
    self_mask_seed,
)
from blindsum.crypto.secagg.messages import (
    Accusations,
    ConsistencySignature,
    Exclusions,
    KeyAdvert,
    MaskedInput,
    SeedCommitment,
    ShareEnvelope,
    SharePair,
    SurvivorSet,
    UnmaskShares,
)
from blindsum.crypto.secagg.params import SecAggParams
from blindsum.crypto.secagg.stages import (
    ENVELOPE_PURPOSE,
    PAIR_MASK_DOMAIN,
    PAIR_MASK_PURPOSE,
    SELF_MASK_DOMAIN,
    Stage,
    StageMachine,
)
from blindsum.errors import (
    ConfigError,
    CryptoError,
    MalformedMessageError,
    ProtocolError,
    ThresholdNotMetError,
)

__all__ = ["SecAggClient"]


class SecAggClient:
    """One client's part in one SecAgg+ round.

    Args:
        context: the round's public context (checked by its constructor).
        client_id: this client's id; must be a participant.
        identity_key: this client's enrolled Ed25519 key, used to sign.
        roster: every participant's enrolled Ed25519 public key (32 raw bytes).
        required: the weakest parameters this client accepts, derived by the client itself
            (``SecAggParams.derive`` from the federation's declared rates); a round that
            announces less is refused with :class:`~blindsum.errors.ConfigError`.
        rng: CSPRNG for stochastic rounding; a fresh :class:`Csprng` by default.
    """

    def __init__(
        self,
        context: RoundContext,
        *,
        client_id: int,
        identity_key: Ed25519PrivateKey,
        roster: Mapping[int, bytes],
        required: SecAggParams,
        rng: RandomSource | None = None,
    ) -> None:
        weaker = context.params.weaker_than(required)
        if weaker:
            raise ConfigError("the round announces weaker SecAgg parameters than this client "
                              "derives from the federation's settings: " + "; ".join(weaker))
        keys = [roster[p] for p in context.participants if p in roster]
        if len(set(keys)) != len(keys):
            raise ConfigError("two participants share one identity key; refusing the roster")
        if client_id not in context.participants:
            raise ConfigError(f"client {client_id} is not a participant of this round")
        if any(p not in roster for p in context.participants):
            raise ConfigError("the roster lacks the identity key of a participant")
        if roster[client_id] != identity_public_bytes(identity_key):
            raise ConfigError("identity_key does not match this client's enrolled key")
        self.context = context
        """The round's context; from share-keys on, the one carrying the joint graph seed."""
        self.client_id = client_id
        self._identity_key = identity_key
        self._roster = dict(roster)
        self._rng = rng if rng is not None else Csprng()
        self._neighbours: frozenset[int] = frozenset()
        self._machine = StageMachine()
        self._seed_share: bytes | None = None
        self._committed: dict[int, bytes] = {}
        self._seen = b""
        self._advert: KeyAdvert | None = None
        self._cipher_key: X25519PrivateKey | None = None
        self._mask_key: X25519PrivateKey | None = None
        self._mask_secret: bytes | None = None
        self._self_secret: bytes | None = None
        self._self_seed: bytes | None = None
        self._adverts: dict[int, KeyAdvert] = {}
        self._held: dict[int, SharePair] = {}
        self._accused: set[int] = set()
        self._arrived: set[int] = set()
        self._masked_with: set[int] = set()
        self._survivor_set: SurvivorSet | None = None

    @property
    def stage(self) -> Stage:
        """The stage whose method is to be called next."""
        return self._machine.stage

    def commit_seed(self) -> SeedCommitment:
        """Stage 0: draw this client's share of the graph seed and commit to it."""
        with self._machine.step(Stage.COMMIT_SEED, Stage.ADVERTISE_KEYS):
            self._seed_share = graph_seed.draw_share()
            commitment = graph_seed.commitment_to(self.context, self.client_id, self._seed_share)
            payload = SeedCommitment.signed_payload(self.context.digest, self.client_id,
                                                    commitment)
            return SeedCommitment(self.client_id, commitment, sign(self._identity_key, payload))

    def advertise_keys(self, commitments: Sequence[SeedCommitment]) -> KeyAdvert:
        """Stage 1: check the commitments the server relayed (this client's among them), then
        generate the round's two X25519 key pairs and sign their public halves together with
        the seed reveal and the digest of those commitments."""
        with self._machine.step(Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS):
            assert self._seed_share is not None
            committed = graph_seed.check_commitments(self.context, self._roster, commitments)
            own = graph_seed.commitment_to(self.context, self.client_id, self._seed_share)
            if committed.get(self.client_id) != own:
                raise ProtocolError("the relayed seed commitments lack this client's own")
            self._committed = committed
            self._seen = graph_seed.commitments_digest(self.context, commitments)
            self._cipher_key = kex.generate_private_key()
            self._mask_secret = random_mask_secret()
            self._mask_key = mask_private_key(self._mask_secret)
            c_pk, s_pk = kex.public_bytes(self._cipher_key), kex.public_bytes(self._mask_key)
            payload = KeyAdvert.signed_payload(self.context.digest, self._seen, self.client_id,
                                               c_pk, s_pk, self._seed_share)
            self._advert = KeyAdvert(self.client_id, c_pk, s_pk, self._seed_share,
                                     sign(self._identity_key, payload))
            return self._advert

    def share_keys(self, adverts: Sequence[KeyAdvert]) -> tuple[ShareEnvelope, ...]:
        """Stage 2: check every advert the server relayed, draw the graph from their seed
        reveals, and send each advertising neighbour an envelope of shares."""
        with self._machine.step(Stage.SHARE_KEYS, Stage.CHECK_SHARES):
            self._adverts = self._verified_adverts(adverts)
            self._require(len(self._adverts), "neighbours advertised keys")
            assert self._mask_secret is not None
            self._self_secret = shamir.random_secret()
            self._self_seed = self_mask_seed(self._self_secret)
            holders = sorted(self._adverts)
            t = self.context.params.threshold
            b_shares, b_points = shamir.split_verifiable(self._self_secret, threshold=t,
                                                         xs=holders)
            k_shares, k_points = shamir.split_verifiable(self._mask_secret, threshold=t,
                                                         xs=holders)
            return tuple(self._seal(v, SharePair(self.client_id, v, b_shares[v], k_shares[v]),
                                    b_points, k_points) for v in holders)

    def check_shares(self, envelopes: Sequence[ShareEnvelope]) -> Accusations:
        """Stage 3: open the neighbours' envelopes and check every share; name the senders
        of the ones that fail (this client holds no shares of them)."""
        with self._machine.step(Stage.CHECK_SHARES, Stage.MASKED_INPUT):
            self._held, self._accused = self._open_envelopes(envelopes)
            self._arrived = set(self._held) | self._accused
            self._require(len(self._held), "neighbours sent valid key shares")
            return Accusations(self.client_id, tuple(sorted(self._accused)))

    def mask_update(self, exclusions: Exclusions, update: np.ndarray) -> MaskedInput:
        """Stage 4: clip, quantize and mask a float update (see :meth:`mask_encoded`)."""
        self._machine.require(Stage.MASKED_INPUT)
        return self.mask_encoded(exclusions, self.context.codec.quantize(update, self._rng))

    def mask_encoded(self, exclusions: Exclusions, encoded: np.ndarray) -> MaskedInput:
        """Stage 4: mask an already-encoded vector with every neighbour whose envelope
        arrived and that the server did not exclude (at least t of them)."""
        with self._machine.step(Stage.MASKED_INPUT, Stage.CONSISTENCY_CHECK):
            codec, dim = self.context.codec, self.context.dimension
            if encoded.dtype != codec.dtype or encoded.shape != (dim,):
                raise ValueError(f"encoded update must be {codec.dtype} of length {dim}")
            excluded = set(exclusions.excluded)
            if self.client_id in excluded:
                raise ProtocolError("the server excluded this client from the round")
            self._masked_with = self._arrived - excluded
            self._require(len(self._masked_with), "neighbours are left to mask with")
            return MaskedInput(self.client_id, self._masked(encoded))

    def consistency_check(self, survivor_set: SurvivorSet) -> ConsistencySignature:
        """Stage 4: check the server's survivor/dropped lists against this client's view; sign."""
        with self._machine.step(Stage.CONSISTENCY_CHECK, Stage.UNMASK):
            self._check_survivor_set(survivor_set)
            self._survivor_set = survivor_set
            payload = survivor_set.signed_payload(self.context.digest)
            return ConsistencySignature(self.client_id, sign(self._identity_key, payload))

    def unmask(self, signatures: Sequence[ConsistencySignature]) -> UnmaskShares:
        """Stage 5: check that a quorum signed this client's survivor set, then reveal one
        share per neighbour."""
        with self._machine.step(Stage.UNMASK, Stage.CLOSED):
            assert self._survivor_set is not None
            survivors = set(self._survivor_set.survivors)
            payload = self._survivor_set.signed_payload(self.context.digest)
            signers: set[int] = set()
            for sig in signatures:
                if sig.sender not in survivors or sig.sender in signers:
                    raise ProtocolError("consistency signatures from non-survivors or repeated")
                verify_signature(self._roster[sig.sender], sig.signature, payload)
                signers.add(sig.sender)
            params = self.context.params
            if len(signers) < params.quorum:
                raise ThresholdNotMetError(
                    f"only {len(signers)} participants signed the survivor set; revealing "
                    f"needs a quorum of {params.quorum}, so that no other set can be certified")
            if not self.context.stays_connected(signers):
                raise ProtocolError(
                    "the survivor set's signers would not stay connected if up to "
                    f"{params.max_corrupted} colluders among them were removed; partial sums "
                    "would leak")
            held, dropped = self._held.items(), set(self._survivor_set.dropped)
            revealed = UnmaskShares(
                self.client_id,
                self_mask_shares={v: p.self_mask_share for v, p in held if v in survivors},
                mask_key_shares={v: p.mask_key_share for v, p in held if v in dropped},
                pair_seeds={v: self._pair_seed(v) for v in self._masked_with & dropped},
            )
            self._forget_secrets()
            return revealed

    def abort(self, reason: str) -> None:
        """Abandon the round (the server said so, or a deadline passed)."""
        self._machine.abort(reason)
        self._forget_secrets()

    # -- helpers ---------------------------------------------------------------

    def _require(self, count: int, what: str) -> None:
        t = self.context.params.threshold
        if count < t:
            raise ThresholdNotMetError(f"only {count} {what}; the threshold is {t}")

    def _verified_adverts(self, adverts: Sequence[KeyAdvert]) -> dict[int, KeyAdvert]:
        """Check every advert (signed over the commitments this client saw, its reveal opening
        the sender's commitment), move to the context with the joint graph seed, and return
        the neighbours' adverts (keys all distinct)."""
        if self._advert not in adverts:
            raise ProtocolError("the relayed adverts lack this client's own")
        for advert in adverts:
            graph_seed.check_reveal(self.context, self._roster, self._seen, self._committed,
                                    advert)
        self.context = graph_seed.seeded_context(self.context, self._seen, self._committed,
                                                 adverts)
        self._neighbours = self.context.graph[self.client_id]
        out: dict[int, KeyAdvert] = {}
        assert self._cipher_key is not None and self._mask_key is not None
        seen_keys = {kex.public_bytes(self._cipher_key), kex.public_bytes(self._mask_key)}
        for advert in adverts:
            if advert.sender not in self._neighbours:
                continue
            keys = {advert.cipher_public_key, advert.mask_public_key}
            if len(keys) != 2 or keys & seen_keys:
                raise ProtocolError("advertised public keys are not all distinct")
            seen_keys |= keys
            out[advert.sender] = advert
        return out

    def _envelope_key(self, sender: int, recipient: int, peer: int) -> bytes:
        assert self._cipher_key is not None
        return kex.derive_pair_key(
            self._cipher_key, self._adverts[peer].cipher_public_key,
            purpose=ENVELOPE_PURPOSE, context=self.context.digest, first=sender, second=recipient,
        )

    def _seal(self, recipient: int, pair: SharePair, b_points: tuple[bytes, ...],
              k_points: tuple[bytes, ...]) -> ShareEnvelope:
        u = self.client_id
        aad = ShareEnvelope.associated_data(self.context.digest, u, recipient)
        sealed = kex.seal_envelope(self._envelope_key(u, recipient, recipient), pair.to_bytes(),
                                   aad)
        return ShareEnvelope(u, recipient, sealed, b_points, k_points)

    def _open_envelopes(self, envelopes: Sequence[ShareEnvelope]
                        ) -> tuple[dict[int, SharePair], set[int]]:
        """The share pairs that verify, and the senders whose envelopes did not."""
        u = self.client_id
        held: dict[int, SharePair] = {}
        accused: set[int] = set()
        for env in envelopes:
            if env.recipient != u or env.sender not in self._adverts \
                    or env.sender in held or env.sender in accused:
                raise ProtocolError("envelopes from unknown senders, misaddressed or repeated")
            try:
                held[env.sender] = self._opened(env)
            except (CryptoError, MalformedMessageError):
                accused.add(env.sender)
        return held, accused

    def _opened(self, env: ShareEnvelope) -> SharePair:
        """The envelope's shares, if it opens, both shares lie on the polynomials its sender
        committed to, and the committed mask secret is the key it advertised; raises
        otherwise. (Checking all here is what lets the server blame the holder, never the
        dealer, for a revealed share off its polynomial, and rebuild every dropped key.)"""
        u = self.client_id
        if len(env.self_mask_commitments) != self.context.params.threshold:
            raise MalformedMessageError("commitments to a polynomial of the wrong degree")
        if not mask_key_matches(env.mask_key_commitments[0],
                                self._adverts[env.sender].mask_public_key):
            raise MalformedMessageError("the sender's committed mask secret is not the key "
                                        "it advertised")
        aad = ShareEnvelope.associated_data(self.context.digest, env.sender, u)
        key = self._envelope_key(env.sender, u, env.sender)
        pair = SharePair.from_bytes(kex.open_envelope(key, env.ciphertext, aad))
        if (pair.sender, pair.recipient) != (env.sender, u):
            raise MalformedMessageError("envelope contents do not match its header")
        feldman.verify_share(env.self_mask_commitments, u, pair.self_mask_share)
        feldman.verify_share(env.mask_key_commitments, u, pair.mask_key_share)
        return pair

    def _pair_seed(self, v: int) -> bytes:
        """The seed of the pair mask between this client and neighbour ``v``."""
        assert self._mask_key is not None
        u = self.client_id
        return kex.derive_pair_key(
            self._mask_key, self._adverts[v].mask_public_key, purpose=PAIR_MASK_PURPOSE,
            context=self.context.digest, first=min(u, v), second=max(u, v))

    def _masked(self, encoded: np.ndarray) -> np.ndarray:
        """``y = x + PRG(b_u) + sum_v sign(u, v) PRG(s_uv)`` mod 2^bits, over every neighbour
        whose envelope arrived (usable or not) and that was not excluded."""
        assert self._self_seed is not None
        u = self.client_id
        acc = np.array(encoded, dtype=self.context.codec.dtype, copy=True)
        expander = MaskExpander(acc.size, dtype=acc.dtype, algorithm=self.context.params.prg)
        expander.add(acc, self._self_seed, domain=SELF_MASK_DOMAIN)
        for v in sorted(self._masked_with):
            seed = self._pair_seed(v)
            if u < v:
                expander.add(acc, seed, domain=PAIR_MASK_DOMAIN)
            else:
                expander.subtract(acc, seed, domain=PAIR_MASK_DOMAIN)
        return acc

    def _check_survivor_set(self, survivor_set: SurvivorSet) -> None:
        """Refuse lists that overlap, omit this client, or contradict its own envelopes."""
        survivors, dropped = set(survivor_set.survivors), set(survivor_set.dropped)
        participants = set(self.context.participants)
        if survivors & dropped or not (survivors | dropped) <= participants:
            raise ProtocolError("the server's survivor and dropped lists overlap or are unknown")
        if self.client_id not in survivors:
            raise ProtocolError("the server's survivor list omits this client")
        if (survivors | dropped) & self._neighbours != self._masked_with:
            raise ProtocolError("the server's lists contradict the envelopes this client got")
        if len(survivors) < self.context.params.min_survivors:
            raise ThresholdNotMetError(
                f"only {len(survivors)} survivors; at least "
                f"{self.context.params.min_survivors} are needed to publish a sum"
            )
        self._require(len(survivors & self._neighbours), "neighbours survived")
        params = self.context.params
        if not self.context.stays_connected(survivors):
            raise ProtocolError("the survivors would not stay connected if up to "
                                f"{params.max_corrupted} colluders among them were removed; "
                                "partial sums would leak")

    def _forget_secrets(self) -> None:
        self._seed_share = None
        self._cipher_key = self._mask_key = None
        self._mask_secret = self._self_secret = self._self_seed = None
        self._held = {}
        self._accused = set()
        self._arrived = set()
        self._masked_with = set()
