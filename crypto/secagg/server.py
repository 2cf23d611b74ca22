"""The server side of a SecAgg+ round, as a sans-I/O state machine.

``receive_*`` methods take one client's message: a malformed, out-of-stage or
hostile message is refused with an error and leaves the round as it was (one
client cannot end everyone's round). ``check_*`` methods make the same checks
without recording anything. ``close_*`` methods end a stage (the driver calls
them when everyone answered or the stage deadline passed) and return what to
relay to each client; if too few clients remain they abort the round with
:class:`~blindsum.errors.ThresholdNotMetError` and say why.

Hostile clients are identified and excluded rather than allowed to stop the
round, and before anyone masks. In the check-shares stage clients accuse the
neighbours whose envelopes failed (did not open, held shares off the sender's
committed polynomials, or of another key than it advertised); a client that
fewer than t neighbours can hold usable shares of is excluded, and so is one that
accuses more neighbours than it could have and still taken part, and one that
did not answer. Nobody masks with an excluded client, so its masks never need
removing. A share revealed at unmask that lies off its dealer's committed
polynomial is dropped and its holder named. One hostile accuser costs each
honest neighbour one share holder, and its place in the round only if ordinary
dropouts had already left it with exactly t (see docs/threat-model.md).
:attr:`SecAggServer.offenders` names every excluded offender, and its later
messages are refused.

Masked inputs are folded into one running sum as they arrive, so memory is
O(d) whatever the number of clients. The unmask stage then removes the masks
(:mod:`blindsum.crypto.secagg.unmasking`). The server never holds an individual
unmasked update.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from blindsum.crypto.secagg import admission, graph_seed
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.messages import (
    Accusations,
    ConsistencySignature,
    Exclusions,
    KeyAdvert,
    MaskedInput,
    SeedCommitment,
    ShareEnvelope,
    SurvivorSet,
    UnmaskShares,
)
from blindsum.crypto.secagg.stages import Stage, StageMachine
from blindsum.crypto.secagg.unmasking import Unmasker, check_revealed_shares
from blindsum.errors import (
    ConfigError,
    ProtocolError,
    RoundStateError,
    ThresholdNotMetError,
)

__all__ = ["AggregateResult", "SecAggServer"]

Commitments = tuple[tuple[bytes, ...], tuple[bytes, ...]]


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
        """The round's context; once advertise-keys closes, the one with the graph seed."""
        self._roster = dict(roster)
        self._graph: dict[int, frozenset[int]] = {}
        self._machine = StageMachine()
        self._commitments_in: dict[int, SeedCommitment] = {}
        self._committed: dict[int, bytes] = {}
        self._seen = b""
        self._adverts: dict[int, KeyAdvert] = {}
        self._advertised_keys: set[bytes] = set()
        self._envelopes: dict[int, tuple[ShareEnvelope, ...]] = {}
        self._commitments: dict[int, Commitments] = {}
        self._inbox: dict[int, dict[int, ShareEnvelope]] = {}
        self._accusations: dict[int, Accusations] = {}
        self._exclusions = Exclusions()
        self._maskers: set[int] = set()
        self._total = np.zeros(context.dimension, dtype=context.codec.dtype)
        self._masked_senders: set[int] = set()
        self._survivor_set: SurvivorSet | None = None
        self._signatures: dict[int, ConsistencySignature] = {}
        self._unmask: dict[int, UnmaskShares] = {}
        self._offenders: dict[int, str] = {}

    @property
    def stage(self) -> Stage:
        """The stage the round is in."""
        return self._machine.stage

    @property
    def abort_reason(self) -> str | None:
        """Why the round was aborted, if it was."""
        return self._machine.abort_reason

    @property
    def offenders(self) -> dict[int, str]:
        """Clients excluded for misbehaving, with the reason (no secrets in it)."""
        return dict(self._offenders)

    # -- stage 0: commit to the graph seed -------------------------------------------

    def check_commitment(self, commitment: SeedCommitment) -> None:
        """Refuse a commitment :meth:`receive_commitment` would refuse, recording nothing."""
        self._machine.require(Stage.COMMIT_SEED)
        self._check_new(commitment.sender, self.context.participants, self._commitments_in,
                        commitment)
        admission.check_commitment(self.context, self._roster[commitment.sender], commitment)

    def receive_commitment(self, commitment: SeedCommitment) -> None:
        """Accept one participant's signed commitment to its graph-seed share."""
        with self._machine.step(Stage.COMMIT_SEED, fatal=False):
            self.check_commitment(commitment)
            self._commitments_in[commitment.sender] = commitment

    def close_commit_seed(self) -> tuple[SeedCommitment, ...]:
        """End stage 0: every commitment, relayed to every committer (one list for all)."""
        with self._machine.step(Stage.COMMIT_SEED, Stage.ADVERTISE_KEYS):
            relayed = tuple(self._commitments_in[u] for u in sorted(self._commitments_in))
            self._committed = graph_seed.check_commitments(self.context, self._roster, relayed)
            self._seen = graph_seed.commitments_digest(self.context, relayed)
            return relayed

    # -- stage 1: advertise keys ---------------------------------------------------

    def check_advert(self, advert: KeyAdvert) -> None:
        """Refuse an advert that :meth:`receive_advert` would refuse, recording nothing: it must
        be signed over the relayed commitments, its reveal must open its sender's commitment,
        and its two keys must be usable, distinct, and unlike any advertised before (an honest
        neighbour would otherwise have to leave the round)."""
        self._machine.require(Stage.ADVERTISE_KEYS)
        self._check_new(advert.sender, self._committed, self._adverts, advert)
        admission.check_advert(self.context, self._roster, self._seen, self._committed, advert,
                               self._advertised_keys)

    def receive_advert(self, advert: KeyAdvert) -> None:
        """Accept one client's signed key advert."""
        with self._machine.step(Stage.ADVERTISE_KEYS, fatal=False):
            self.check_advert(advert)
            self._adverts[advert.sender] = advert
            self._advertised_keys |= {advert.cipher_public_key, advert.mask_public_key}

    def close_advertise_keys(self) -> tuple[KeyAdvert, ...]:
        """End stage 1: draw the graph from the reveals; every advert, relayed to every
        advertiser (each needs all reveals to draw the graph itself)."""
        with self._machine.step(Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS):
            self._require_cohort(len(self._adverts), "clients advertised keys")
            relayed = tuple(self._adverts[u] for u in sorted(self._adverts))
            self.context = graph_seed.seeded_context(self.context, self._seen, self._committed,
                                                     relayed)
            self._graph = self.context.graph
            return relayed

    # -- stage 2: share keys -------------------------------------------------------

    def check_shares(self, sender: int, envelopes: Sequence[ShareEnvelope]) -> None:
        """Refuse envelopes :meth:`receive_shares` would refuse: one per advertising neighbour,
        all with the same commitments to polynomials of the threshold's degree."""
        self._machine.require(Stage.SHARE_KEYS)
        batch = tuple(sorted(envelopes, key=lambda e: e.recipient))
        self._check_new(sender, self._adverts, self._envelopes, batch)
        admission.check_envelopes(self.context, sender, self._graph[sender] & set(self._adverts),
                                  batch)

    def receive_shares(self, sender: int, envelopes: Sequence[ShareEnvelope]) -> None:
        """Accept one client's envelopes."""
        with self._machine.step(Stage.SHARE_KEYS, fatal=False):
            self.check_shares(sender, envelopes)
            self._envelopes[sender] = tuple(sorted(envelopes, key=lambda e: e.recipient))
            self._commitments[sender] = envelopes[0].commitments

    def close_share_keys(self) -> dict[int, tuple[ShareEnvelope, ...]]:
        """End stage 2: for each client that shared, the envelopes addressed to it."""
        with self._machine.step(Stage.SHARE_KEYS, Stage.CHECK_SHARES):
            self._require_cohort(len(self._envelopes), "clients shared their keys")
            self._inbox = {u: {} for u in self._envelopes}
            for batch in self._envelopes.values():
                for env in batch:
                    if env.recipient in self._inbox:
                        self._inbox[env.recipient][env.sender] = env
            return {u: tuple(envs[v] for v in sorted(envs)) for u, envs in self._inbox.items()}

    # -- stage 3: check shares ---------------------------------------------------------

    def check_accusations(self, accusations: Accusations) -> None:
        """Refuse accusations :meth:`receive_accusations` would refuse, recording nothing: they
        may name only senders of envelopes relayed to the accuser, and no more of them than an
        honest client could make and still hold t usable shares."""
        self._machine.require(Stage.CHECK_SHARES)
        sender = accusations.sender
        self._check_new(sender, self._inbox, self._accusations, accusations)
        admission.check_accusations(accusations, self._inbox[sender])
        if self._accuses_too_many(sender, accusations.accused):
            raise ProtocolError("a client that accuses this many neighbours holds too few "
                                "shares to take part")

    def receive_accusations(self, accusations: Accusations) -> None:
        """Record whose envelopes a client could not use; an over-accuser is excluded."""
        with self._machine.step(Stage.CHECK_SHARES, fatal=False):
            sender = accusations.sender
            if sender in self._inbox and sender not in self._offenders \
                    and sender not in self._accusations \
                    and self._accuses_too_many(sender, accusations.accused):
                self._offenders[sender] = "excluded: accused more neighbours than it could have"
            self.check_accusations(accusations)
            self._accusations[sender] = accusations

    def close_check_shares(self) -> Exclusions:
        """End stage 3: exclude every over-accuser, every client that did not answer, and,
        until none is left, every client fewer than t of the others hold usable shares of
        (its self mask could never be removed); nobody masks with the excluded.

        A client fewer than t neighbours could use at all is named among the offenders
        (its envelopes failed, or its accusers lied: an accusation is no proof); one left
        short only by excluded or silent holders is excluded without blame."""
        with self._machine.step(Stage.CHECK_SHARES, Stage.MASKED_INPUT):
            t = self.context.params.threshold
            holders = self._usable_holders()
            for u, hs in holders.items():
                if len(hs) < t and u not in self._offenders:
                    self._offenders[u] = (
                        "excluded: fewer than the threshold of its neighbours could use its "
                        "key-share envelopes (they failed to open or to verify, or the "
                        "neighbours that said so lied)")
            excluded = set(self._offenders) | (set(self._inbox) - set(self._accusations))
            while short := {u for u in set(self._inbox) - excluded
                            if len(holders[u] - excluded) < t}:
                excluded |= short
            self._maskers = set(self._inbox) - excluded
            self._require_cohort(len(self._maskers), "clients are left to mask their inputs")
            self._exclusions = Exclusions(tuple(sorted(excluded & set(self._inbox))))
            return self._exclusions

    # -- stage 4: masked input -------------------------------------------------------

    def check_masked_input(self, masked: MaskedInput) -> None:
        """Refuse a masked input :meth:`receive_masked_input` would refuse, recording nothing."""
        self._machine.require(Stage.MASKED_INPUT)
        self._check_admitted(masked.sender, self._maskers)
        if masked.sender in self._masked_senders:
            raise RoundStateError("this client already sent its masked input")
        if masked.vector.dtype != self._total.dtype or masked.vector.shape != self._total.shape:
            raise ProtocolError(
                f"masked input must be {self.context.dimension} {self._total.dtype} words")

    def receive_masked_input(self, masked: MaskedInput) -> None:
        """Fold one masked input into the running sum (O(d) memory for any n)."""
        with self._machine.step(Stage.MASKED_INPUT, fatal=False):
            self.check_masked_input(masked)
            self._masked_senders.add(masked.sender)
            np.add(self._total, masked.vector, out=self._total)

    def close_masked_input(self) -> SurvivorSet:
        """End stage 4: the survivor set every survivor must check and sign."""
        with self._machine.step(Stage.MASKED_INPUT, Stage.CONSISTENCY_CHECK):
            survivors = set(self._masked_senders)
            self._require_cohort(len(survivors), "clients sent masked inputs")
            params = self.context.params
            if not self.context.stays_connected(survivors):
                raise ThresholdNotMetError(
                    "the survivors would not stay connected if up to "
                    f"{params.max_corrupted} colluders among them were removed; no client "
                    "would unmask them")
            dropped = self._maskers - survivors
            self._survivor_set = SurvivorSet(tuple(sorted(survivors)), tuple(sorted(dropped)))
            return self._survivor_set

    # -- stage 5: consistency check ----------------------------------------------------

    def check_consistency(self, signature: ConsistencySignature) -> None:
        """Refuse a signature :meth:`receive_consistency` would refuse, recording nothing."""
        self._machine.require(Stage.CONSISTENCY_CHECK)
        assert self._survivor_set is not None
        self._check_new(signature.sender, self._survivor_set.survivors, self._signatures,
                        signature)
        admission.check_survivor_signature(self.context, self._roster[signature.sender],
                                           self._survivor_set, signature)

    def receive_consistency(self, signature: ConsistencySignature) -> None:
        """Accept one survivor's signature over the survivor set."""
        with self._machine.step(Stage.CONSISTENCY_CHECK, fatal=False):
            self.check_consistency(signature)
            self._signatures[signature.sender] = signature

    def close_consistency(self) -> tuple[ConsistencySignature, ...]:
        """End stage 5: the collected signatures (the certificate), relayed to every signer."""
        with self._machine.step(Stage.CONSISTENCY_CHECK, Stage.UNMASK):
            quorum = self.context.params.quorum
            if len(self._signatures) < quorum:
                raise ThresholdNotMetError(
                    f"only {len(self._signatures)} survivors signed the survivor set; "
                    f"the quorum is {quorum}"
                )
            return tuple(self._signatures[u] for u in sorted(self._signatures))

    # -- stage 6: unmask ----------------------------------------------------------------

    def check_unmask(self, shares: UnmaskShares) -> None:
        """Refuse revealed shares :meth:`receive_unmask` would refuse, recording nothing:
        exactly the ones this signer may reveal (their values are checked at the end)."""
        self._machine.require(Stage.UNMASK)
        assert self._survivor_set is not None
        self._check_new(shares.sender, self._signatures, self._unmask, shares)
        check_revealed_shares(self._survivor_set, shares, set(self._usable_inbox(shares.sender)),
                              self._masked_with(shares.sender))

    def receive_unmask(self, shares: UnmaskShares) -> None:
        """Accept one signer's revealed shares."""
        with self._machine.step(Stage.UNMASK, fatal=False):
            self.check_unmask(shares)
            self._unmask[shares.sender] = shares

    def finalize(self) -> AggregateResult:
        """End the round: remove every mask from the running sum. Shares that lie off their
        dealer's committed polynomial are dropped and their holders added to ``offenders``."""
        with self._machine.step(Stage.UNMASK, Stage.CLOSED):
            assert self._survivor_set is not None
            holders = {u: self._masked_with(u) for u in self._survivor_set.survivors}
            unmasker = Unmasker(self.context, self._adverts, self._survivor_set, holders,
                                self._commitments)
            try:
                unmasker.remove_masks(self._total, self._unmask)
            finally:
                self._offenders.update(unmasker.offenders)
            return AggregateResult(total=self._total, contributors=self._survivor_set.survivors)

    def abort(self, reason: str) -> None:
        """Abort the round (a deadline passed, an operator said so)."""
        self._machine.abort(reason)

    # -- helpers ---------------------------------------------------------------------

    def _accuses_too_many(self, sender: int, accused: Collection[int]) -> bool:
        return admission.accuses_too_many(len(self._inbox[sender]), accused,
                                          self.context.params.threshold)

    def _usable_holders(self) -> dict[int, set[int]]:
        """For each client that shared, the neighbours that got its envelope and did not
        accuse it."""
        holders: dict[int, set[int]] = {u: set() for u in self._inbox}
        for h in self._inbox:
            for u in self._usable_inbox(h):
                if u in holders:
                    holders[u].add(h)
        return holders

    def _usable_inbox(self, u: int) -> dict[int, ShareEnvelope]:
        """The envelopes relayed to ``u`` that it did not accuse: the shares it holds."""
        accusations = self._accusations.get(u)
        accused = set(accusations.accused) if accusations else set()
        return {v: e for v, e in self._inbox.get(u, {}).items() if v not in accused}

    def _masked_with(self, u: int) -> set[int]:
        """Whom ``u`` masked with: the senders of envelopes relayed to it, less the excluded."""
        return set(self._inbox.get(u, {})) - set(self._exclusions.excluded)

    def _check_admitted(self, sender: int, allowed: Collection[int]) -> None:
        admission.check_admitted(sender, allowed, self._offenders)

    def _check_new(self, sender: int, allowed: Collection[int], seen: Mapping[int, object],
                   message: object) -> None:
        self._check_admitted(sender, allowed)
        admission.check_new(sender, seen, message)

    def _require_cohort(self, count: int, what: str) -> None:
        need = self.context.params.min_survivors
        if count < need:
            raise ThresholdNotMetError(f"only {count} {what}; at least {need} are needed")
