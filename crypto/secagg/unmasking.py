"""Removing every mask from a round's running sum, from what the survivors revealed.

For each survivor ``u`` the server rebuilds its self-mask secret from t shares and
checks it against ``u``'s Feldman commitment (one scalar multiplication). Only if
that fails does it check each share on its own, drop the ones that do not lie on
the committed polynomial and name their holders as offenders, then rebuild from
the rest. For each dropped client ``v`` it removes the pair masks that surviving
neighbours added for ``v``: from ``v``'s rebuilt mask key when t shares of it
arrive and the key matches ``v``'s advert, and otherwise from the pair seeds the
survivors revealed (needed when fewer than t of ``v``'s share holders answer;
holders refuse shares of another key than the advertised one before anyone
masks, so a dealer cannot force this by lying).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from blindsum.crypto.hazmat import feldman, kex, shamir
from blindsum.crypto.hazmat.prg import MaskExpander
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.keys import mask_key_matches, pair_secret, self_mask_seed
from blindsum.crypto.secagg.messages import KeyAdvert, SurvivorSet, UnmaskShares
from blindsum.crypto.secagg.stages import PAIR_MASK_DOMAIN, PAIR_MASK_PURPOSE, SELF_MASK_DOMAIN
from blindsum.errors import InvalidShareError, ProtocolError, ThresholdNotMetError

__all__ = ["Unmasker", "check_revealed_shares"]

_BAD_SHARE = "revealed a share that does not lie on its dealer's committed polynomial"


def check_revealed_shares(survivor_set: SurvivorSet, shares: UnmaskShares,
                          held: Collection[int], masked_with: Collection[int]) -> None:
    """Refuse shares other than the ones the sender may reveal: for each neighbour whose
    shares it holds (``held``), the self-mask share if the neighbour survived and the
    mask-key share if it dropped; and the pair seed of every dropped neighbour it masked
    with (``masked_with``: whose envelopes reached it)."""
    survivors, dropped = set(survivor_set.survivors), set(survivor_set.dropped)
    if set(shares.self_mask_shares) != set(held) & survivors:
        raise ProtocolError("self-mask shares must cover exactly the surviving neighbours")
    if set(shares.mask_key_shares) != set(held) & dropped:
        raise ProtocolError("mask-key shares must cover exactly the dropped neighbours")
    if set(shares.pair_seeds) != set(masked_with) & dropped:
        raise ProtocolError("pair seeds must cover exactly the dropped neighbours masked with")


class Unmasker:
    """Rebuilds the secrets a round needs and removes the masks they stand for.

    Args:
        context: the round's public context.
        adverts: every advertised key, by client.
        survivor_set: the certified survivor set.
        holders: for each survivor, the neighbours it masked with (whose envelopes reached it).
        commitments: for each dealer, its (self-mask, mask-key) Feldman commitments.
    """

    def __init__(self, context: RoundContext, adverts: Mapping[int, KeyAdvert],
                 survivor_set: SurvivorSet, holders: Mapping[int, set[int]],
                 commitments: Mapping[int, tuple[tuple[bytes, ...], tuple[bytes, ...]]]) -> None:
        self.context = context
        self._adverts = adverts
        self._survivors = survivor_set.survivors
        self._dropped = survivor_set.dropped
        self._holders = holders
        self._commitments = commitments
        self.offenders: dict[int, str] = {}

    def remove_masks(self, total: np.ndarray, revealed: Mapping[int, UnmaskShares]) -> None:
        """Subtract every self mask and every pair mask left with a dropped client, in place."""
        expander = MaskExpander(total.size, dtype=total.dtype, algorithm=self.context.params.prg)
        for u in self._survivors:
            shares = {h: m.self_mask_shares[u] for h, m in revealed.items()
                      if u in m.self_mask_shares}
            secret = self._recover(u, shares, self._commitments[u][0], "self-mask seed")
            expander.subtract(total, self_mask_seed(secret), domain=SELF_MASK_DOMAIN)
        for v in self._dropped:
            added = [w for w in self._survivors if v in self._holders[w]]
            if added:
                for w, seed in self._pair_seeds(v, added, revealed).items():
                    # w added +PRG(s_wv) if w < v, else -PRG(s_wv); undo it.
                    (expander.subtract if w < v else expander.add)(total, seed,
                                                                   domain=PAIR_MASK_DOMAIN)

    def _pair_seeds(self, v: int, added: list[int],
                    revealed: Mapping[int, UnmaskShares]) -> dict[int, bytes]:
        """The seeds of the masks survivors ``added`` for dropped ``v``: from ``v``'s rebuilt
        mask secret when t valid shares arrived, else as the survivors revealed them.

        The secret gives each pair's X25519 secret directly (:func:`keys.pair_secret`, no
        clamping), so it works for whatever scalar behind ``v``'s advertised key ``v``
        shared: holders checked on receipt that the committed secret is that key."""
        shares = {h: m.mask_key_shares[v] for h, m in revealed.items() if v in m.mask_key_shares}
        try:
            if not mask_key_matches(self._commitments[v][1][0], self._adverts[v].mask_public_key):
                self.offenders[v] = "dealt shares of another key than the one it advertised"
                raise InvalidShareError("the committed mask secret is not the advertised key")
            secret = self._recover(v, shares, self._commitments[v][1], "mask key")
            digest = self.context.digest
            return {w: kex.key_from_shared(pair_secret(secret, self._commitments[w][1][0]),
                                           purpose=PAIR_MASK_PURPOSE, context=digest,
                                           first=min(v, w), second=max(v, w)) for w in added}
        except (InvalidShareError, ThresholdNotMetError, ValueError):
            missing = [w for w in added if w not in revealed or v not in revealed[w].pair_seeds]
            if missing:
                raise ThresholdNotMetError(
                    f"client {v}'s mask key cannot be rebuilt and {len(missing)} survivors "
                    "that masked with it did not reveal their pair seeds") from None
            return {w: revealed[w].pair_seeds[v] for w in added}

    def _recover(self, owner: int, shares: dict[int, int], points: tuple[bytes, ...],
                 what: str) -> bytes:
        """The committed secret from ``shares``; shares off the polynomial are dropped and
        their holders named."""
        t = self.context.params.threshold
        if len(shares) >= t:
            secret = shamir.combine(dict(sorted(shares.items())[:t]), threshold=t)
            try:
                feldman.verify_secret(points, int.from_bytes(secret, "big"))
                return secret
            except InvalidShareError:
                pass
            for holder, value in list(shares.items()):
                try:
                    feldman.verify_share(points, holder, value)
                except InvalidShareError:
                    self.offenders[holder] = _BAD_SHARE
                    del shares[holder]
        if len(shares) < t:
            raise ThresholdNotMetError(
                f"only {len(shares)} valid shares of client {owner}'s {what} arrived; the "
                f"threshold is {t}")
        secret = shamir.combine(dict(sorted(shares.items())[:t]), threshold=t)
        feldman.verify_secret(points, int.from_bytes(secret, "big"))
        return secret
