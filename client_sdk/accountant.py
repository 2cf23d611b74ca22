"""A client's own privacy accountant: composes every DP-SGD step it ever took, refuses overspend.

PRV (Gopi et al. 2021) is the default: tight and, unlike the Gaussian-DP
approximation, not an underestimate (GDP is refused outright). RDP is the
conservative alternative. The history is plain JSON (noise multiplier, sample
rate, steps) so it survives restarts: with ``state_file`` set, every recorded step is
written there (atomically, fsynced) before :meth:`PrivacyAccountant.record` returns,
and :meth:`PrivacyAccountant.load` reads it back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blindsum.accounting import ACCOUNTANTS, AccountantName, client_level_epsilon, epsilon_for
from blindsum.client_sdk.state_files import write_json_atomically
from blindsum.errors import BudgetExhaustedError, ConfigError
from blindsum.wire import DPEvent

__all__ = ["ACCOUNTANTS", "DPEvent", "PrivacyAccountant", "client_level_epsilon", "epsilon_for"]



@dataclass
class PrivacyAccountant:
    """All rounds' steps of one client, against the federation's (epsilon, delta) budget."""

    epsilon_budget: float
    delta: float
    accountant: AccountantName = "prv"
    history: list[tuple[float, float, int]] = field(default_factory=list)
    state_file: Path | None = None

    def __post_init__(self) -> None:
        if self.accountant not in ACCOUNTANTS:
            raise ConfigError(f"accountant must be one of {ACCOUNTANTS}, got {self.accountant!r}")

    @property
    def epsilon(self) -> float:
        return epsilon_for(self.history, self.delta, self.accountant)

    def epsilon_if(self, noise_multiplier: float, sample_rate: float, steps: int) -> float:
        """The epsilon this client would reach after one more round of ``steps`` steps."""
        return epsilon_for([*self.history, (noise_multiplier, sample_rate, steps)], self.delta,
                           self.accountant)

    def check(self, noise_multiplier: float, sample_rate: float, steps: int) -> float:
        """Refuse (before any training) a round that would exceed the budget; else its epsilon."""
        if noise_multiplier <= 0:
            raise BudgetExhaustedError("a noise multiplier of 0 gives no privacy; this federation "
                                       f"has a budget of epsilon={self.epsilon_budget}")
        after = self.epsilon_if(noise_multiplier, sample_rate, steps)
        if after > self.epsilon_budget:
            raise BudgetExhaustedError(
                f"this round would bring epsilon to {after:.3f} (delta={self.delta:g}, "
                f"{self.accountant.upper()}), over the budget of {self.epsilon_budget:g}; "
                f"spent so far {self.epsilon:.3f}. Take fewer steps, sample less or add noise")
        return after

    def record(self, noise_multiplier: float, sample_rate: float, steps: int) -> None:
        """Add ``steps`` steps (merged into the last entry when the parameters repeat) and, with
        a ``state_file``, make them durable before returning: a step is recorded before it is
        taken, so a crash can over-count one step, never under-count."""
        last = self.history[-1] if self.history else None
        if last is not None and last[:2] == (noise_multiplier, sample_rate):
            self.history[-1] = (noise_multiplier, sample_rate, last[2] + steps)
        else:
            self.history.append((noise_multiplier, sample_rate, steps))
        if self.state_file is not None:
            write_json_atomically(self.state_file, self.to_json())

    def to_json(self) -> dict[str, Any]:
        return {"epsilon_budget": self.epsilon_budget, "delta": self.delta,
                "accountant": self.accountant, "history": [list(h) for h in self.history]}

    @classmethod
    def from_json(cls, data: dict[str, Any], *, state_file: Path | None = None
                  ) -> PrivacyAccountant:
        return cls(epsilon_budget=float(data["epsilon_budget"]), delta=float(data["delta"]),
                   accountant=data["accountant"],
                   history=[(float(s), float(q), int(t)) for s, q, t in data["history"]],
                   state_file=state_file)

    @classmethod
    def load(cls, state_file: Path) -> PrivacyAccountant:
        """The accountant persisted in ``state_file`` (it keeps writing there)."""
        return cls.from_json(json.loads(state_file.read_text()), state_file=state_file)
