"""Publishing a closed round: the sum, its contributors, and the global adapter's next step."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from blindsum.aggregator import global_model, ledger, rounds
from blindsum.aggregator.blobs import BlobStore
from blindsum.aggregator.models import FederationRow, RoundRow
from blindsum.crypto.secagg.distributed_dp import DDGParams

__all__ = ["publish"]


def publish(session: Session, blobs: BlobStore, round_row: RoundRow, total: np.ndarray,
            contributors: list[int]) -> None:
    """Store the sum (fsynced), apply the update rule to the average, close the round.

    The caller holds the stage lock and commits: all of it lands, or none.
    """
    data = np.ascontiguousarray(total, dtype="<f8").tobytes()
    round_row.result_blob = blobs.put([data], max_bytes=len(data))[0]
    round_row.contributors = sorted(contributors)
    federation = session.get(FederationRow, round_row.federation_id)
    assert federation is not None
    global_model.apply_round(session, blobs, federation, round_row,
                             np.asarray(total, dtype=np.float64) / len(contributors))
    if "ddg" in round_row.protocol:
        ddg = DDGParams.from_json(round_row.protocol["ddg"])
        ledger.record_client_level(session, federation, round_row, sorted(contributors),
                                   ddg.accounting_terms(), ddg.effective_noise_multiplier)
    rounds.advance(round_row, rounds.CLOSED, 0)
