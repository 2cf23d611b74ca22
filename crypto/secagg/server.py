"""The server side of a SecAgg+ round, as a sans-I/O state machine.

``receive_*`` methods take one client's message: a malformed, out-of-stage or
hostile message is refused with an error and leaves the round as it was (one
client cannot end everyone's round). ``close_*`` methods end a stage (the
driver calls them when everyone answered or the stage deadline passed) and
return what to relay to each client; if too few clients remain they abort the
round with :class:`~blindsum.errors.ThresholdNotMetError` and say why.

Masked inputs are folded into one running sum as they arrive, so memory is
O(d) whatever the number of clients; the unmask stage then reconstructs the
self-mask seeds of survivors and the mask keys of dropped clients and removes
their masks. The server never holds an individual unmasked update.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from blindsum.crypto.hazmat import kex, shamir
from blindsum.crypto.hazmat.prg import MaskExpander
from blindsum.crypto.hazmat.signing import verify_signature
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.graph import survives_removal
from blindsum.crypto.secagg.messages import (
    ConsistencySignature,
    KeyAdvert,
    MaskedInput,
    ShareEnvelope,
    SurvivorSet,
    UnmaskShares,
)
from blindsum.crypto.secagg.stages import (
    PAIR_MASK_DOMAIN,
    PAIR_MASK_PURPOSE,
    SELF_MASK_DOMAIN,
    Stage,
    StageMachine,
)
from blindsum.errors import (
    ConfigError,
    InvalidShareError,
    ProtocolError,
    RoundStateError,
    ThresholdNotMetError,
)

__all__ = ["AggregateResult", "SecAggServer"]


@dataclass(frozen=True, eq=False)
class AggregateResult:
    """The unmasked sum of a round.

    Attributes:
        total: the modular sum of the contributors' encoded updates.
        contributors: the ids whose inputs the sum contains.
    """

    total: np.ndarray
    contributors: tuple[int, ...]


class SecAggServer:
    """The aggregator's part in one SecAgg+ round.

    Args:
        context: the round's public context.
        roster: every participant's enrolled Ed25519 public key (32 raw bytes).
    """

    def __init__(self, context: RoundContext, *, roster: Mapping[int, bytes]) -> None:
        if any(p not in roster for p in context.participants):
            raise ConfigError("the roster lacks the identity key of a participant")
        self.context = context
        self._roster = dict(roster)
        self._graph = context.graph
        self._machine = StageMachine()
        self._adverts: dict[int, KeyAdvert] = {}
        self._envelopes: dict[int, tuple[ShareEnvelope, ...]] = {}
        self._total = np.zeros(context.dimension, dtype=context.codec.dtype)
        self._masked_senders: set[int] = set()
        self._survivor_set: SurvivorSet | None = None
        self._signatures: dict[int, ConsistencySignature] = {}
        self._unmask: dict[int, UnmaskShares] = {}

    @property
    def stage(self) -> Stage:
        """The stage the round is in."""
        return self._machine.stage

    @property
    def abort_reason(self) -> str | None:
        """Why the round was aborted, if it was."""
        return self._machine.abort_reason

    # -- stage 1: advertise keys ---------------------------------------------------

    def receive_advert(self, advert: KeyAdvert) -> None:
        """Accept one client's signed key advert."""
        with self._machine.step(Stage.ADVERTISE_KEYS, fatal=False):
            self._check_new(advert.sender, self.context.participants, self._adverts, advert)
            payload = KeyAdvert.signed_payload(
                self.context.digest, advert.sender,
                advert.cipher_public_key, advert.mask_public_key,
            )
            verify_signature(self._roster[advert.sender], advert.signature, payload)
            self._adverts[advert.sender] = advert

    def close_advertise_keys(self) -> dict[int, tuple[KeyAdvert, ...]]:
        """End stage 1: for each advertiser, the adverts of its advertising neighbours."""
        with self._machine.step(Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS):
            self._require_cohort(len(self._adverts), "clients advertised keys")
            u1 = set(self._adverts)
            return {
                u: tuple(self._adverts[v] for v in sorted(self._graph[u] & u1)) for u in sorted(u1)
            }

    # -- stage 2: share keys -------------------------------------------------------

    def receive_shares(self, sender: int, envelopes: Sequence[ShareEnvelope]) -> None:
        """Accept one client's envelopes: exactly one per advertising neighbour."""
        with self._machine.step(Stage.SHARE_KEYS, fatal=False):
            batch = tuple(sorted(envelopes, key=lambda e: e.recipient))
            self._check_new(sender, self._adverts, self._envelopes, batch)
            expected = sorted(self._graph[sender] & set(self._adverts))
            if any(e.sender != sender for e in batch) or [e.recipient for e in batch] != expected:
                raise ProtocolError("envelopes must go to each advertising neighbour exactly once")
            self._envelopes[sender] = batch

    def close_share_keys(self) -> dict[int, tuple[ShareEnvelope, ...]]:
        """End stage 2: for each client that shared, the envelopes addressed to it."""
        with self._machine.step(Stage.SHARE_KEYS, Stage.MASKED_INPUT):
            self._require_cohort(len(self._envelopes), "clients shared their keys")
            inbox: dict[int, list[ShareEnvelope]] = {u: [] for u in self._envelopes}
            for batch in self._envelopes.values():
                for env in batch:
                    if env.recipient in inbox:
                        inbox[env.recipient].append(env)
            return {u: tuple(sorted(envs, key=lambda e: e.sender)) for u, envs in inbox.items()}

    # -- stage 3: masked input -------------------------------------------------------

    def receive_masked_input(self, masked: MaskedInput) -> None:
        """Fold one masked input into the running sum (O(d) memory for any n)."""
        with self._machine.step(Stage.MASKED_INPUT, fatal=False):
            if masked.sender not in self._envelopes:
                raise ProtocolError("masked input from a client that did not share keys")
            if masked.sender in self._masked_senders:
                raise RoundStateError("this client already sent its masked input")
            if masked.vector.dtype != self._total.dtype or masked.vector.shape != self._total.shape:
                raise ProtocolError(
                    f"masked input must be {self.context.dimension} {self._total.dtype} words"
                )
            np.add(self._total, masked.vector, out=self._total)
            self._masked_senders.add(masked.sender)

    def close_masked_input(self) -> SurvivorSet:
        """End stage 3: the survivor set every survivor must check and sign."""
        with self._machine.step(Stage.MASKED_INPUT, Stage.CONSISTENCY_CHECK):
            survivors = self._masked_senders
            self._require_cohort(len(survivors), "clients sent masked inputs")
            params = self.context.params
            if not survives_removal(self.context.ring, neighbours=params.neighbours,
                                    survivors=survivors, removed=params.max_corrupted):
                raise ThresholdNotMetError(
                    "the survivors would not stay connected if up to "
                    f"{params.max_corrupted} colluders among them were removed; no client "
                    "would unmask them")
            dropped = set(self._envelopes) - survivors
            self._survivor_set = SurvivorSet(tuple(sorted(survivors)), tuple(sorted(dropped)))
            return self._survivor_set

    # -- stage 4: consistency check ----------------------------------------------------

    def receive_consistency(self, signature: ConsistencySignature) -> None:
        """Accept one survivor's signature over the survivor set."""
        with self._machine.step(Stage.CONSISTENCY_CHECK, fatal=False):
            assert self._survivor_set is not None
            self._check_new(
                signature.sender, self._survivor_set.survivors, self._signatures, signature
            )
            payload = self._survivor_set.signed_payload(self.context.digest)
            verify_signature(self._roster[signature.sender], signature.signature, payload)
            self._signatures[signature.sender] = signature

    def close_consistency(self) -> tuple[ConsistencySignature, ...]:
        """End stage 4: the collected signatures (the certificate), relayed to every signer."""
        with self._machine.step(Stage.CONSISTENCY_CHECK, Stage.UNMASK):
            quorum = self.context.params.quorum
            if len(self._signatures) < quorum:
                raise ThresholdNotMetError(
                    f"only {len(self._signatures)} survivors signed the survivor set; "
                    f"the quorum is {quorum}"
                )
            return tuple(self._signatures[u] for u in sorted(self._signatures))

    # -- stage 5: unmask ----------------------------------------------------------------

    def receive_unmask(self, shares: UnmaskShares) -> None:
        """Accept one signer's revealed shares, checking each is one it may reveal."""
        with self._machine.step(Stage.UNMASK, fatal=False):
            assert self._survivor_set is not None
            self._check_new(shares.sender, self._signatures, self._unmask, shares)
            neighbours = self._graph[shares.sender]
            survivors, dropped = set(self._survivor_set.survivors), set(self._survivor_set.dropped)
            if set(shares.self_mask_shares) != neighbours & survivors - {shares.sender}:
                raise ProtocolError("self-mask shares must cover exactly the surviving neighbours")
            if set(shares.mask_key_shares) != neighbours & dropped:
                raise ProtocolError("mask-key shares must cover exactly the dropped neighbours")
            self._unmask[shares.sender] = shares

    def finalize(self) -> AggregateResult:
        """End the round: reconstruct the needed secrets and remove every mask."""
        with self._machine.step(Stage.UNMASK, Stage.DONE):
            assert self._survivor_set is not None
            self_seeds, mask_keys = self._reconstruct_secrets()
            total = self._total
            expander = MaskExpander(
                total.size, dtype=total.dtype, algorithm=self.context.params.prg
            )
            for seed in self_seeds.values():
                expander.subtract(total, seed, domain=SELF_MASK_DOMAIN)
            for v, key in mask_keys.items():
                self._remove_pair_masks(expander, v, key)
            return AggregateResult(total=total, contributors=self._survivor_set.survivors)

    def abort(self, reason: str) -> None:
        """Abort the round (a deadline passed, an operator said so)."""
        self._machine.abort(reason)

    # -- helpers ---------------------------------------------------------------------

    def _check_new(self, sender: int, allowed: object, seen: Mapping[int, object],
                   message: object) -> None:
        if sender not in allowed:  # type: ignore[operator]
            raise ProtocolError("a client not admitted to this stage sent a message")
        if sender in seen:
            if seen[sender] == message:
                raise RoundStateError("duplicate message (identical to the one already received)")
            raise ProtocolError("this client already sent a different message in this stage")

    def _require_cohort(self, count: int, what: str) -> None:
        need = self.context.params.min_survivors
        if count < need:
            raise ThresholdNotMetError(f"only {count} {what}; at least {need} are needed")

    def _reconstruct_secrets(self) -> tuple[dict[int, bytes], dict[int, bytes]]:
        """Combine shares: self-mask seeds of survivors, mask keys of the dropped."""
        assert self._survivor_set is not None
        t = self.context.params.threshold
        b_shares: dict[int, dict[int, int]] = defaultdict(dict)
        k_shares: dict[int, dict[int, int]] = defaultdict(dict)
        for holder, revealed in self._unmask.items():
            for owner, value in revealed.self_mask_shares.items():
                b_shares[owner][holder] = value
            for owner, value in revealed.mask_key_shares.items():
                k_shares[owner][holder] = value
        self_seeds: dict[int, bytes] = {}
        mask_keys: dict[int, bytes] = {}
        for owners, shares, out in (
            (self._survivor_set.survivors, b_shares, self_seeds),
            (self._survivor_set.dropped, k_shares, mask_keys),
        ):
            for owner in owners:
                if len(shares[owner]) < t:
                    raise ThresholdNotMetError(
                        f"only {len(shares[owner])} shares of client {owner}'s secret arrived; "
                        f"the threshold is {t}"
                    )
                out[owner] = shamir.combine(shares[owner], threshold=t)
        for v, key in mask_keys.items():
            if kex.public_bytes(kex.load_private_key(key)) != self._adverts[v].mask_public_key:
                raise InvalidShareError("reconstructed mask key does not match its advert")
        return self_seeds, mask_keys

    def _remove_pair_masks(self, expander: MaskExpander, v: int, key: bytes) -> None:
        """Cancel the masks each surviving neighbour ``w`` added for dropped client ``v``."""
        assert self._survivor_set is not None
        private = kex.load_private_key(key)
        for w in sorted(self._graph[v] & set(self._survivor_set.survivors)):
            seed = kex.derive_pair_key(
                private, self._adverts[w].mask_public_key, purpose=PAIR_MASK_PURPOSE,
                context=self.context.digest, first=min(v, w), second=max(v, w),
            )
            # w added +PRG(s_wv) if w < v, else -PRG(s_wv); undo it.
            if w < v:
                expander.subtract(self._total, seed, domain=PAIR_MASK_DOMAIN)
            else:
                expander.add(self._total, seed, domain=PAIR_MASK_DOMAIN)
