"""Server-side update rules: how a round's average moves the global adapter.

FedAvg adds ``learning_rate * average``; FedAdam and FedYogi (Reddi et al.,
"Adaptive Federated Optimization", ICLR 2021) treat the average as a
pseudo-gradient with first and second moment estimates ``m`` and ``v``.
Pure numpy on float64 vectors, so every worker computes the same bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from blindsum.errors import ConfigError

__all__ = ["RULES", "UpdateRule", "apply_rule"]

RULES = ("fedavg", "fedadam", "fedyogi")
RuleName = Literal["fedavg", "fedadam", "fedyogi"]


@dataclass(frozen=True)
class UpdateRule:
    name: RuleName = "fedavg"
    learning_rate: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3

    def __post_init__(self) -> None:
        if self.name not in RULES:
            raise ConfigError(f"update rule must be one of {RULES}, got {self.name!r}")
        if not (self.learning_rate > 0 and 0 <= self.beta1 < 1 and 0 <= self.beta2 < 1
                and self.tau > 0):
            raise ConfigError("need learning_rate > 0, 0 <= beta1, beta2 < 1 and tau > 0")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def apply_rule(rule: UpdateRule, params: np.ndarray, average: np.ndarray,
               m: np.ndarray | None, v: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The new (params, m, v) after one round whose clients' mean update is ``average``."""
    if rule.name == "fedavg":
        return params + rule.learning_rate * average, None, None
    m = np.zeros_like(params) if m is None else m
    v = np.full_like(params, rule.tau**2) if v is None else v
    m = rule.beta1 * m + (1 - rule.beta1) * average
    squared = average * average
    if rule.name == "fedadam":
        v = rule.beta2 * v + (1 - rule.beta2) * squared
    else:  # fedyogi: v moves towards the squared update by a bounded step
        v = v - (1 - rule.beta2) * squared * np.sign(v - squared)
    return params + rule.learning_rate * m / (np.sqrt(v) + rule.tau), m, v
