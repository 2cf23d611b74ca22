"""DP-SGD on a PEFT LoRA model with Opacus: one round of local training -> (delta, DP event).

Only LoRA parameters train (with FFA-LoRA, only B; A is frozen from the shared
seed). Batches are Poisson-sampled at exactly ``batch_size / len(dataset)`` (the
rate reported and accounted), per-example gradients are clipped to
``max_grad_norm`` and Gaussian noise of ``noise_multiplier * max_grad_norm`` is
added, as the accountant assumes. Before a round starts, the client's own
accountant checks the round fits the budget and refuses it otherwise; each step
is then recorded (and persisted, if the accountant has a state file) *before* it
is taken, so an interrupted round is never under-accounted.

Randomness: Poisson sampling and noise come from the ChaCha20 keystream
(:mod:`blindsum.client_sdk.dp_randomness`, which states the floating-point caveat),
not from torch's Mersenne Twister.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from blindsum.client_sdk.accountant import DPEvent, PrivacyAccountant
from blindsum.client_sdk.dp_randomness import PoissonBatches, install_secure_noise
from blindsum.client_sdk.lora import adapter_parameters, apply_flat, flat_values, freeze_shared_a
from blindsum.crypto.randomness import Csprng
from blindsum.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["DPConfig", "DPLoRATrainer", "LocalUpdate"]

GRAD_SAMPLE_MODES = ("hooks", "functorch", "ew", "ghost")
Forward = Callable[["torch.nn.Module", Any], "torch.Tensor"]


@dataclass(frozen=True)
class DPConfig:
    noise_multiplier: float = 1.0
    max_grad_norm: float = 1.0
    batch_size: int = 32  # expected size of a Poisson-sampled batch
    learning_rate: float = 0.05
    grad_sample_mode: str = "hooks"

    def __post_init__(self) -> None:
        if self.grad_sample_mode not in GRAD_SAMPLE_MODES:
            raise ConfigError(f"grad_sample_mode must be one of {GRAD_SAMPLE_MODES}")
        if self.max_grad_norm <= 0 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ConfigError("max_grad_norm, batch_size and learning_rate must be positive")


@dataclass(frozen=True)
class LocalUpdate:
    """One round's result: the adapter delta (federation order) and what it spent."""

    delta: np.ndarray
    event: DPEvent
    mean_loss: float


def _collate_with_empty(dataset: Any) -> Any:
    """Default collation that also turns an empty Poisson batch into zero-length tensors."""
    from opacus.data_loader import dtype_safe, shape_safe, wrap_collate_with_empty
    from torch.utils.data.dataloader import default_collate

    first = dataset[0]
    return wrap_collate_with_empty(
        collate_fn=default_collate, sample_empty_shapes=[(0, *shape_safe(x)) for x in first],
        dtypes=[dtype_safe(x) for x in first])


def _default_forward(model: torch.nn.Module, inputs: Any) -> torch.Tensor:
    return model(inputs)  # type: ignore[no-any-return]


class DPLoRATrainer:
    """Wraps ``model`` (a PEFT LoRA model) and ``dataset`` (items ``(inputs, label)``) once."""

    def __init__(self, model: torch.nn.Module, dataset: Any, *, accountant: PrivacyAccountant,
                 config: DPConfig | None = None, ffa: bool = True,
                 shared_seed: bytes | None = None, forward: Forward | None = None) -> None:
        import torch
        from opacus import PrivacyEngine

        self.config = config or DPConfig()
        self.accountant = accountant
        self.ffa = ffa
        self.forward = forward or _default_forward
        if ffa:
            if shared_seed is None or len(shared_seed) < 16:
                raise ConfigError("FFA-LoRA needs the federation's shared seed (>= 16 bytes) so "
                                  "every client freezes the same A")
            freeze_shared_a(model, shared_seed)
        trainable = {id(p) for _, p in adapter_parameters(model, ffa=ffa)}
        if not trainable:
            raise ConfigError("the model has no LoRA parameters (wrap it with peft.get_peft_model)")
        for p in model.parameters():
            p.requires_grad_(id(p) in trainable)
        self.model = model
        self.dataset_size = len(dataset)
        self._rng = Csprng()
        batches = PoissonBatches(self.dataset_size,
                                 min(1.0, self.config.batch_size / self.dataset_size),
                                 rng=self._rng)
        self.sample_rate = batches.sample_rate  # the rate sampled is the rate accounted
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=self.config.learning_rate)
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches,
                                             collate_fn=_collate_with_empty(dataset))
        criterion = torch.nn.CrossEntropyLoss()
        with warnings.catch_warnings():  # "Secure RNG turned off": noise is ours (ChaCha20)
            warnings.filterwarnings("ignore", message="Secure RNG turned off")
            engine = PrivacyEngine(accountant="prv")
            wrapped = engine.make_private(
                module=model, optimizer=optimizer, data_loader=loader, criterion=criterion,
                noise_multiplier=self.config.noise_multiplier,
                max_grad_norm=self.config.max_grad_norm, poisson_sampling=False,
                grad_sample_mode=self.config.grad_sample_mode)
        if self.config.grad_sample_mode == "ghost":
            self.private_model, self.optimizer, self.criterion, self.loader = wrapped
        else:
            self.private_model, self.optimizer, self.loader = wrapped
            self.criterion = criterion
        install_secure_noise(self.optimizer, self._rng)
        self._batches: Iterator[Any] = iter(())

    def _next_batch(self) -> Any:
        try:
            return next(self._batches)
        except StopIteration:
            self._batches = iter(self.loader)
            return next(self._batches)

    def _step(self) -> float:
        inputs, labels = self._next_batch()
        self.optimizer.zero_grad()
        loss = self.criterion(self.forward(self.private_model, inputs), labels)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def planned_epsilon(self, steps: int) -> float:
        """The epsilon this client would reach after ``steps`` more steps (no training)."""
        return self.accountant.epsilon_if(self.config.noise_multiplier, self.sample_rate, steps)

    def train_round(self, steps: int) -> LocalUpdate:
        """Refuse if over budget; else train ``steps`` DP-SGD steps and return the delta."""
        if steps < 1:
            raise ConfigError("a round needs at least one local step")
        cfg = self.config
        epsilon_after = self.accountant.check(cfg.noise_multiplier, self.sample_rate, steps)
        before = flat_values(self.model, ffa=self.ffa)
        self.private_model.train()
        losses = []
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            for _ in range(steps):  # accounted (and persisted) before the step can touch data
                self.accountant.record(cfg.noise_multiplier, self.sample_rate, 1)
                losses.append(self._step())
        delta = flat_values(self.model, ffa=self.ffa) - before
        event = DPEvent(mechanism="dp-sgd", unit="example",
                        noise_multiplier=cfg.noise_multiplier, sample_rate=self.sample_rate,
                        sampling="poisson", steps=steps, max_grad_norm=cfg.max_grad_norm,
                        delta=self.accountant.delta, accountant=self.accountant.accountant,
                        epsilon_after=epsilon_after)
        return LocalUpdate(delta=delta, event=event, mean_loss=float(np.mean(losses)))

    def load_global(self, flat: np.ndarray) -> None:
        """Set the adapter to the federation's global values (after each round)."""
        apply_flat(self.model, flat, ffa=self.ffa, add=False)

    def adapter(self) -> np.ndarray:
        return flat_values(self.model, ffa=self.ffa)
