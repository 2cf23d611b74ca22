"""Threshold custody's last steps: which custodians decrypt, and what their partials add
up to. No key here: the aggregator fuses partial decryptions, checks the result is a sum
honest contributors could give, and decodes it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np

from blindsum.aggregator.models import FederationRow
from blindsum.crypto.ckks.accumulator import EncryptedSumAccumulator
from blindsum.crypto.ckks.threshold.decryption import decode, fuse
from blindsum.crypto.ckks.threshold.keys import data_basis
from blindsum.crypto.ckks.threshold.params import ThresholdParams
from blindsum.crypto.ckks.threshold.residues import decode_residues
from blindsum.errors import ProtocolError, RoundStateError

__all__ = ["MAX_DECRYPT_ATTEMPTS", "check_in_range", "fused_sum", "next_active_set"]

MAX_DECRYPT_ATTEMPTS: Final = 3
"""Active sets tried before a round gives up on its custodians (each costs flooding budget)."""


def next_active_set(state: Mapping[str, Any], holders: Sequence[int], threshold: int
                    ) -> dict[str, Any]:
    """The round's custody state with the next attempt's t custodians named, among the
    ``holders`` of the key's shares: first those that answered the last attempt, then
    those that voted (they are online) and were not tried, then the rest."""
    attempt = int(state.get("attempt", 0)) + 1
    if attempt > MAX_DECRYPT_ATTEMPTS:
        raise RoundStateError(f"{MAX_DECRYPT_ATTEMPTS} sets of custodians failed to decrypt "
                              "in time; open a new round when custodians are online")
    answered = sorted(int(i) for i in state.get("partials", {}))
    tried = set(state.get("tried", []))
    voted = [i for i in state.get("voted", []) if i in holders]
    everyone = sorted(holders)
    order = answered + [i for i in voted if i not in tried] + \
        [i for i in everyone if i not in tried] + everyone
    active = list(dict.fromkeys(order))[:threshold]
    return {**state, "attempt": attempt, "active": sorted(active), "partials": {},
            "tried": sorted(tried | set(active))}


def fused_sum(params: ThresholdParams, federation: FederationRow, round_id: bytes,
              uploads: Sequence[tuple[int, bytes, bytes]], partials: Mapping[int, bytes]
              ) -> tuple[np.ndarray, list[int]]:
    """The decoded sum of ``uploads`` (client, upload, signature) from the active
    custodians' ``partials``, and its contributors; refused if out of range."""
    accumulator = EncryptedSumAccumulator(params.ckks, federation.dimension, round_id=round_id)
    for client_id, upload, signature in uploads:
        accumulator.add(upload, client_id=client_id, signature=signature)
    accumulator.close()
    ciphertexts = accumulator.ciphertext_sum().reshape(-1, params.ckks.words_per_chunk)
    chunks = params.ckks.chunks(federation.dimension)
    fused = fuse(params.ckks, ciphertexts, {
        index: decode_residues(data_basis(params.ckks), data, chunks, what="a partial decryption")
        for index, data in partials.items()})
    total = decode(params.ckks, fused, federation.dimension)
    contributors = list(accumulator.contributions)
    check_in_range(total, len(contributors), federation.clip_norm, params.value_error)
    return total, contributors


def check_in_range(total: np.ndarray, contributors: int, clip_norm: float,
                   value_error: float) -> None:
    """Refuse a fused sum no honest round gives: each update's L2 norm is at most the clip
    norm (clients clip), so the sum's is at most ``contributors * clip_norm``, plus the
    flooding's error (8 standard deviations per value). A custodian that adds anything
    larger to its partial is caught here; a smaller shift is not (docs/threat-model.md)."""
    bound = contributors * clip_norm + 8 * value_error * float(np.sqrt(total.size))
    if not np.all(np.isfinite(total)) or float(np.linalg.norm(total)) > bound:
        raise ProtocolError("the fused sum is out of range for its contributors (a custodian "
                            "sent a wrong partial decryption); nothing is published")
