"""DP-LoRA training: Opacus' clipping and noise are what they claim, FFA-LoRA sums exactly,
the budget is refused before training, and the adapter saves as a standard PEFT adapter."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from torch.utils.data import TensorDataset

from blindsum.client_sdk.accountant import PrivacyAccountant, epsilon_for
from blindsum.client_sdk.lora import (
    adapter_parameters,
    apply_flat,
    flat_values,
    freeze_shared_a,
    parameter_spec,
)
from blindsum.client_sdk.trainer import DPConfig, DPLoRATrainer
from blindsum.errors import BudgetExhaustedError, ConfigError

SEED = b"federation-shared-seed-0123456789"


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.proj(x)))


def _lora(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return get_peft_model(Tiny(), LoraConfig(r=4, lora_alpha=4, target_modules=["proj", "head"]))


def _data(seed: int, n: int = 64) -> TensorDataset:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=gen)
    return TensorDataset(x, (x[:, 0] > 0).long() + (x[:, 1] > 1).long())


def _budget(eps: float = 50.0) -> PrivacyAccountant:
    return PrivacyAccountant(epsilon_budget=eps, delta=1e-5)


def _trainer(mode: str = "hooks", *, noise: float = 1.0, clip: float = 1.0, seed: int = 0,
             ffa: bool = True) -> DPLoRATrainer:
    cfg = DPConfig(noise_multiplier=noise, max_grad_norm=clip, batch_size=8,
                   grad_sample_mode=mode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus' notes on secure_mode and optimizer state
        return DPLoRATrainer(_lora(0), _data(seed), accountant=_budget(), config=cfg, ffa=ffa,
                             shared_seed=SEED)


def _reference() -> nn.Module:
    """The trainer's model as it starts, without Opacus' hooks: the plain-PyTorch baseline."""
    model = _lora(0)
    freeze_shared_a(model, SEED)
    for name, p in model.named_parameters():
        p.requires_grad_(".lora_B." in name)
    return model


def _per_example_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    params = [p for p in model.parameters() if p.requires_grad]
    out = []
    for i in range(len(x)):
        loss = nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1])
        out.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]))
    return out


def _dp_grad(trainer: DPLoRATrainer, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    trainer.optimizer.zero_grad()
    loss = trainer.criterion(trainer.private_model(x), y)
    loss.backward()
    trainer.optimizer.pre_step()  # clip, add noise, scale: what step() applies
    return torch.cat([p.grad.reshape(-1) for p in trainer.optimizer.params])


@pytest.mark.parametrize("mode", ["hooks", "functorch", "ew"])
def test_without_noise_or_clipping_dp_sgd_is_the_ordinary_gradient(mode) -> None:
    trainer = _trainer(mode, noise=0.0, clip=1e6)
    x, y = _data(0)[:8]
    plain = _per_example_grads(_reference(), x, y)
    expected = torch.stack(plain).mean(0)
    torch.testing.assert_close(_dp_grad(trainer, x, y), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["hooks", "functorch", "ew"])
def test_per_example_clipping_equals_a_loop_over_examples(mode) -> None:
    trainer = _trainer(mode, noise=0.0, clip=0.05)
    x, y = _data(1)[:8]
    clipped = [g * min(1.0, 0.05 / float(g.norm())) for g in
               _per_example_grads(_reference(), x, y)]
    expected = torch.stack(clipped).sum(0) / 8
    torch.testing.assert_close(_dp_grad(trainer, x, y), expected, rtol=1e-4, atol=1e-7)


def test_noise_has_the_stated_scale() -> None:
    trainer = _trainer(noise=2.0, clip=0.5)
    x, y = _data(2)[:8]
    samples = torch.stack([_dp_grad(trainer, x, y) for _ in range(200)])
    std = float(samples.std(0).mean())
    assert std == pytest.approx(2.0 * 0.5 / 8, rel=0.1)  # sigma * C / expected batch size


def test_ffa_trains_only_b_and_every_client_shares_the_same_frozen_a() -> None:
    a, b = _trainer(seed=1), _trainer(seed=2)
    for trainer in (a, b):
        for name, p in trainer.model.named_parameters():
            assert p.requires_grad == (".lora_B." in name), name
    a_values = [p for n, p in a.model.named_parameters() if ".lora_A." in n]
    b_values = [p for n, p in b.model.named_parameters() if ".lora_A." in n]
    for pa, pb in zip(a_values, b_values, strict=True):
        torch.testing.assert_close(pa, pb)
    assert [n for n, _ in parameter_spec(a.model)] == [
        n for n, _ in adapter_parameters(a.model) if ".lora_B." in n]


def _effective_updates(model: nn.Module) -> dict[str, torch.Tensor]:
    """B @ A for every LoRA layer: the weight change the adapter applies."""
    a = {n.replace(".lora_A.", "."): p for n, p in model.named_parameters() if ".lora_A." in n}
    b = {n.replace(".lora_B.", "."): p for n, p in model.named_parameters() if ".lora_B." in n}
    return {k: (b[k] @ a[k]).detach().double() for k in a}


def test_ffa_mean_of_b_deltas_is_exactly_the_mean_update() -> None:
    trainers = [_trainer(seed=s) for s in range(3)]
    start = _effective_updates(trainers[0].model)
    deltas, updates = [], []
    for t in trainers:
        deltas.append(t.train_round(3).delta)
        after = _effective_updates(t.model)
        updates.append({k: after[k] - start[k] for k in start})
    global_model = _trainer(seed=9).model  # same shared A, B = 0
    apply_flat(global_model, np.mean(deltas, axis=0))
    got = _effective_updates(global_model)
    for k in start:
        want = sum(u[k] for u in updates) / 3
        torch.testing.assert_close(got[k] - start[k], want, rtol=1e-5, atol=1e-6)


def test_round_is_refused_before_training_when_over_budget() -> None:
    trainer = _trainer(noise=0.8)
    trainer.accountant.epsilon_budget = trainer.planned_epsilon(5) * 0.99
    before = flat_values(trainer.model)
    with pytest.raises(BudgetExhaustedError, match="over the budget"):
        trainer.train_round(5)
    np.testing.assert_array_equal(flat_values(trainer.model), before)
    assert trainer.accountant.history == []
    update = trainer.train_round(4)  # a smaller round still fits
    assert update.event.epsilon_after <= trainer.accountant.epsilon_budget


def test_accountant_composes_rounds_and_matches_reference_values() -> None:
    assert epsilon_for([(1.0, 0.01, 1000)], 1e-5, "rdp") == pytest.approx(2.101, abs=2e-3)
    assert epsilon_for([(1.0, 0.01, 1000)], 1e-5, "prv") == pytest.approx(1.838, abs=1e-2)
    acc = PrivacyAccountant(epsilon_budget=8, delta=1e-5)
    for _ in range(4):
        acc.record(1.0, 0.01, 250)
    assert acc.epsilon == pytest.approx(epsilon_for([(1.0, 0.01, 1000)], 1e-5), abs=1e-2)
    assert PrivacyAccountant.from_json(acc.to_json()).epsilon == acc.epsilon
    with pytest.raises(ConfigError, match="GDP"):
        epsilon_for([(1.0, 0.01, 10)], 1e-5, "gdp")


def test_trained_adapter_saves_and_loads_as_a_peft_adapter(tmp_path) -> None:
    trainer = _trainer()
    trainer.train_round(2)
    trainer.model.save_pretrained(tmp_path / "adapter")  # type: ignore[operator]
    torch.manual_seed(123)
    loaded = PeftModel.from_pretrained(Tiny(), tmp_path / "adapter")
    np.testing.assert_allclose(flat_values(loaded, ffa=False),
                               flat_values(trainer.model, ffa=False))


def test_ghost_clipping_mode_trains() -> None:
    update = _trainer("ghost").train_round(2)
    assert update.delta.shape == (sum(p.numel() for _, p in adapter_parameters(_lora())),)
    assert np.any(update.delta != 0) and update.event.steps == 2


def test_plain_lora_is_available_with_a_warning() -> None:
    trainer = _trainer(ffa=False)
    with pytest.warns(UserWarning, match="not the mean"):
        spec = parameter_spec(trainer.model, ffa=False)
    assert any(".lora_A." in n for n, _ in spec)


def test_a_transformer_built_from_a_config_trains_with_dp_ffa_lora() -> None:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, num_labels=3,
                        max_position_embeddings=16)  # type: ignore[call-arg]
    model = get_peft_model(BertForSequenceClassification(config),
                           LoraConfig(r=2, target_modules=["query", "value"]))
    gen = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randint(0, 64, (32, 8), generator=gen),
                         torch.randint(0, 3, (32,), generator=gen))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = DPLoRATrainer(model, data, accountant=_budget(),
                                config=DPConfig(batch_size=8), shared_seed=SEED,
                                forward=lambda m, ids: m(input_ids=ids).logits)
    update = trainer.train_round(2)
    spec = parameter_spec(model)
    assert len(spec) == 2 and all(".lora_B." in n for n, _ in spec)
    assert update.delta.size == sum(int(np.prod(s)) for _, s in spec)
    assert np.all(np.isfinite(update.delta)) and np.any(update.delta != 0)
    assert update.event.epsilon_after == pytest.approx(trainer.accountant.epsilon)


def test_global_adapter_exports_as_a_peft_adapter_directory(tmp_path) -> None:
    from blindsum.client_sdk.lora import export_adapter

    trainer = _trainer()
    global_b = np.random.default_rng(0).normal(0, 0.1, flat_values(trainer.model).size)
    export_adapter(trainer.model, global_b, str(tmp_path / "global"))
    loaded = PeftModel.from_pretrained(Tiny(), tmp_path / "global")
    np.testing.assert_allclose(flat_values(loaded), global_b, rtol=1e-6)  # B, float32
    shared_a = [p for n, p in _reference().named_parameters() if ".lora_A." in n]
    loaded_a = [p for n, p in loaded.named_parameters() if ".lora_A." in n]
    for want, got in zip(shared_a, loaded_a, strict=True):
        torch.testing.assert_close(got, want)


def test_batches_are_sampled_at_exactly_the_accounted_rate() -> None:
    """Issue 12, item 6: N = 100, B = 32 reported q = 0.32 while Opacus sampled at
    1 / ceil(100 / 32) = 0.25. The sampler now draws at the rate the accountant is told."""
    cfg = DPConfig(batch_size=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = DPLoRATrainer(_lora(0), _data(0, n=100), accountant=_budget(), config=cfg,
                                shared_seed=SEED)
    assert trainer.sample_rate == 0.32
    sizes = [len(batch) for _ in range(200) for batch in trainer.loader.batch_sampler]
    assert np.mean(sizes) / 100 == pytest.approx(0.32, abs=0.01)  # 0.25 before


def test_sampling_and_noise_come_from_the_csprng_not_torch(monkeypatch) -> None:
    """Issue 12, item 8: torch's Mersenne Twister is never asked for a batch or for noise."""
    import opacus.optimizers.optimizer as opacus_optimizer
    from opacus.utils.uniform_sampler import UniformWithReplacementSampler

    def refuse(*args, **kwargs):
        raise AssertionError("torch-generator randomness used")

    monkeypatch.setattr(opacus_optimizer, "_generate_noise", refuse)
    monkeypatch.setattr(UniformWithReplacementSampler, "__iter__", refuse)
    trainer = _trainer(noise=1.0)
    update = trainer.train_round(3)
    assert np.any(update.delta != 0)


def test_csprng_gaussian_has_the_stated_moments() -> None:
    from blindsum.client_sdk.dp_randomness import gaussian
    from blindsum.crypto.hazmat.csprng import Csprng

    draws = gaussian(200_001, 3.0, Csprng(bytes(32)))
    assert draws.size == 200_001
    assert abs(float(draws.mean())) < 0.03 and float(draws.std()) == pytest.approx(3.0, rel=0.01)
    assert float(np.mean(np.abs(draws) > 3 * 1.96)) == pytest.approx(0.05, abs=0.003)


def test_steps_of_an_interrupted_round_are_accounted_and_persisted(tmp_path) -> None:
    """Issue 12, item 5: a crash after 2 optimizer steps left the model moved and 0 steps
    accounted. Every step is now recorded, and written to the state file, before it runs."""
    state = tmp_path / "privacy.json"
    accountant = PrivacyAccountant(epsilon_budget=50.0, delta=1e-5, state_file=state)
    calls = []

    def crashing(model, inputs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the site lost power")
        return model(inputs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = DPLoRATrainer(_lora(0), _data(0), accountant=accountant,
                                config=DPConfig(batch_size=8), shared_seed=SEED, forward=crashing)
    before = flat_values(trainer.model)
    with pytest.raises(RuntimeError, match="lost power"):
        trainer.train_round(5)
    assert np.any(flat_values(trainer.model) != before)  # two steps moved the model
    assert sum(steps for *_, steps in accountant.history) == 3  # and three are accounted
    reloaded = PrivacyAccountant.load(state)
    assert reloaded.history == accountant.history
    assert reloaded.epsilon == pytest.approx(epsilon_for([(1.0, trainer.sample_rate, 3)], 1e-5))
