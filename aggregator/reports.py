"""Privacy-budget reports: what was spent, by whom, under which assumptions.

Built from the ledger and the rounds only (never from updates). The JSON form
follows ``privacy_report.schema.json`` (version ``blindsum.privacy-report/v1``);
``report_html`` renders the same dictionary as one self-contained page.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from blindsum.accounting import CLIENT_LEVEL_ACCOUNTING, over_reported, under_reported
from blindsum.aggregator import ledger
from blindsum.aggregator.models import ClientRow, FederationRow, LedgerRow, RoundRow
from blindsum.aggregator.rounds import kind_of as rounds_kind_of
from blindsum.crypto.ckks.threshold.params import ThresholdParams

__all__ = ["SCHEMA_ID", "THREAT_MODELS", "build_report", "schema"]

SCHEMA_ID = "blindsum.privacy-report/v1"

THREAT_MODELS = {
    "secagg": ("Pairwise-mask secure aggregation (SecAgg+) against a malicious server: it sees "
               "only masked vectors and, even lying about dropouts and colluding with up to the "
               "round's assumed_colluders clients, unmasks at most one sum per round, over the "
               "honest clients of a survivor set a quorum certified (never a single update). "
               "Clients do not validate each other's inputs yet: one client can move the sum "
               "arbitrarily."),
    "ckks": ("CKKS homomorphic encryption in single-custodian mode (custody: local): the "
             "server adds ciphertexts it cannot read and key custody decrypts only closed "
             "rounds' sums of at least min_clients signed uploads, but the key lives in the "
             "aggregator's trust domain: whoever operates it can decrypt any single upload."),
    "ckks-threshold": (
        "CKKS homomorphic encryption under threshold custody: no party holds a decryption "
        "key. Each round's key is made by the custodians; any t of the m decrypt only that "
        "round's sum of at least min_clients signed uploads, after q of them agreed on its "
        "contributors, and t - 1 custodians with the aggregator learn nothing of an upload. "
        "Not yet defended: a client colluding with the server can upload a crafted "
        "ciphertext (proofs of well-formed uploads are pending; see docs/threat-model.md)."),
}

CAVEATS = [
    "Example-level epsilon assumes Poisson sampling of examples in DP-SGD; fixed-size or "
    "shuffled batches would give much weaker guarantees than stated. Client-level epsilon "
    "takes no credit for client sampling (see accounting).",
    "DP-SGD events are asserted and signed by each client; the server recomputes epsilon from "
    "them but cannot verify that the client trained with those parameters.",
    "Example-level epsilon protects one example of a client's dataset; client-level epsilon "
    "(distributed DP) protects a client's whole contribution. They are not comparable.",
    "Client-level epsilon is Kairouz et al. (2021)'s bound for a sum of discrete Gaussians "
    "(Proposition 14, with its tau term, in RDP): a proven upper bound for the mechanism "
    "clients run, a few percent above the continuous-Gaussian approximation. The discrete "
    "sampler itself works in float64 arithmetic, not the exact rational one.",
    "A client that contributed to a round without any DP accounting for it (no DP-SGD event, "
    "no distributed DP) has an unbounded epsilon: the report shows it as unknown and over "
    "budget.",
    "Secure aggregation hides individual updates from the server, not from the published sum: "
    "only differential privacy limits what the sum reveals.",
    "Distributed-DP noise is sized so that the honest survivors alone (min_survivors minus the "
    "round's assumed_colluders) carry the stated noise; more colluders than the federation's "
    "corruption rate declares would see less.",
    "No input validation yet: a client that skips clipping can move the sum (and so the model) "
    "arbitrarily within the ring, unseen; norm-bound proofs are a planned protection mode.",
]


def schema() -> dict[str, Any]:
    text = resources.files("blindsum.aggregator").joinpath("privacy_report.schema.json")
    return dict(json.loads(text.read_text()))


def _rounds(session: Session, federation_id: str) -> list[RoundRow]:
    return list(session.scalars(select(RoundRow).where(RoundRow.federation_id == federation_id)
                                .order_by(RoundRow.number)))


def _custody(federation: FederationRow) -> dict[str, Any] | None:
    """Who holds the ckks decryption key (None for secagg, which has no key to hold)."""
    if federation.mode != "ckks":
        return None
    if federation.custody != "threshold":
        return {"kind": "local", "custodians": 1, "threshold": 1, "set_quorum": 1}
    params = ThresholdParams.derive(max_clients=federation.max_clients,
                                    max_abs=federation.clip_norm,
                                    custodians=federation.custodians,
                                    threshold=federation.custodian_threshold)
    return {"kind": "threshold", "custodians": params.custodians,
            "threshold": params.threshold, "set_quorum": params.set_quorum}


def build_report(session: Session, federation: FederationRow) -> dict[str, Any]:
    rounds = _rounds(session, federation.id)
    rows = ledger.rows_of(session, federation.id)
    clients = list(session.scalars(select(ClientRow).where(
        ClientRow.federation_id == federation.id).order_by(ClientRow.id)))
    contributed: dict[int, set[int]] = {}
    for round_row in rounds:
        for c in round_row.contributors or []:
            contributed.setdefault(c, set()).add(round_row.number)
    per_client = [_client_entry(client, [r for r in rows if r.client_id == client.id],
                                contributed.get(client.id, set()), federation)
                  for client in clients]
    unbounded = [c for c in per_client if c["epsilon_unbounded"]]
    ranked = sorted(per_client, key=lambda c: float(c["worst_epsilon"] or 0.0), reverse=True)
    leaders = unbounded or ranked
    worst_client = leaders[0] if leaders else None
    mechanisms = sorted({r.mechanism for r in rows})
    return {
        "schema": SCHEMA_ID,
        "generated_at": datetime.now(UTC).isoformat(),
        "federation": {"id": federation.id, "name": federation.name, "mode": federation.mode,
                       "threat_model": THREAT_MODELS[rounds_kind_of(federation)],
                       "custody": _custody(federation),
                       "min_clients": federation.min_clients,
                       "max_clients": federation.max_clients,
                       "clip_norm": federation.clip_norm,
                       "client_dp": federation.client_dp},
        "budget": {"epsilon": federation.epsilon_budget, "delta": federation.delta},
        "units_of_privacy": sorted({r.unit for r in rows}),
        "mechanisms": mechanisms,
        "accountants": sorted({r.accountant for r in rows}),
        "accounting": {"client_level": CLIENT_LEVEL_ACCOUNTING},
        "rounds": [{"number": r.number, "stage": r.stage,
                    "contributors": len(r.contributors or []),
                    "assumed_colluders": r.protocol.get("max_corrupted"),
                    "excluded": len(r.offenders or {}),
                    "closed_at": r.closed_at.isoformat() if r.closed_at else None}
                   for r in rounds],
        "clients": per_client,
        "worst_case": {
            "epsilon": None if unbounded else (worst_client["worst_epsilon"]
                                               if worst_client else 0.0),
            "unbounded": bool(unbounded),
            "client_id": worst_client["client_id"] if worst_client else None},
        "caveats": CAVEATS,
    }


def _client_entry(client: ClientRow, mine: list[LedgerRow], contributed: set[int],
                  federation: FederationRow) -> dict[str, Any]:
    """One client's spend: per unit, the larger of the server's recomputation and the
    client's own signed figure (which also counts steps of rounds it dropped out of, steps
    that moved the model it goes on from). A round it contributed to with no DP row at all
    makes its epsilon unbounded: shown as unknown (null) and over budget, never as 0."""
    spent: dict[str, float] = {}
    for r in mine:
        spent[r.unit] = max(spent.get(r.unit, 0.0), r.epsilon_recomputed,
                            r.epsilon_reported or 0.0)
    without = sorted(contributed - {r.round_number for r in mine})
    unbounded = bool(without)
    worst = None if unbounded else max(spent.values(), default=0.0)
    return {
        "client_id": client.id, "label": client.label,
        "epsilon": {"example": spent.get("example"), "client": spent.get("client")},
        "worst_epsilon": worst,
        "epsilon_unbounded": unbounded,
        "budget_remaining": 0.0 if worst is None else max(0.0, federation.epsilon_budget - worst),
        "over_budget": worst is None or worst > federation.epsilon_budget,
        "rounds_contributed": sorted(contributed),
        "rounds_without_dp_event": without,
        "mismatches": sum(1 for r in mine if r.epsilon_reported is not None
                          and under_reported(r.epsilon_reported, r.epsilon_recomputed)),
        "over_reports": sum(1 for r in mine if r.epsilon_reported is not None
                            and over_reported(r.epsilon_reported, r.epsilon_recomputed)),
        "history": [{
            "round_number": r.round_number, "mechanism": r.mechanism, "unit": r.unit,
            "noise_multiplier": r.noise_multiplier, "sampling": r.sampling,
            "sample_rate": r.sample_rate, "steps": r.steps, "clip_norm": r.clip_norm,
            "delta": r.delta, "accountant": r.accountant,
            "epsilon_reported": r.epsilon_reported,
            "epsilon_recomputed": r.epsilon_recomputed,
            "mismatch": r.epsilon_reported is not None
            and under_reported(r.epsilon_reported, r.epsilon_recomputed),
            "signed_by_client": r.signature is not None,
        } for r in mine],
    }
