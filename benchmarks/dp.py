"""``blindsum bench dp``: the price of privacy on the client.

Times, on the same LoRA model (a BERT encoder built from a config, FFA-LoRA on
query/value) and the same batch size: a non-private SGD step, and a DP-SGD
step through :class:`~blindsum.client_sdk.trainer.DPLoRATrainer` for each
Opacus grad-sample mode; then the time to protect the round's update (SecAgg+
masking in a cohort of ``clients``, and CKKS encryption if TenSEAL is
installed) as a fraction of the round's local training time. Medians.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from blindsum.client_sdk.accountant import PrivacyAccountant
from blindsum.client_sdk.lora import freeze_shared_a
from blindsum.client_sdk.trainer import DPConfig, DPLoRATrainer

__all__ = ["DPBenchConfig", "run_dp_bench"]

Progress = Callable[[str], None]
SEED = b"blindsum-bench-shared-seed-0001"


@dataclass(frozen=True)
class DPBenchConfig:
    hidden: int = 256
    layers: int = 4
    seq_len: int = 64
    batch_size: int = 32
    rank: int = 8
    steps: int = 20
    local_steps: int = 10  # steps in one round, for the protect-time fraction
    clients: int = 10
    modes: tuple[str, ...] = ("hooks", "functorch", "ghost")


def _quiet(_: str) -> None:
    pass


def _model(cfg: DPBenchConfig) -> Any:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=2000, hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
                        num_attention_heads=4, intermediate_size=4 * cfg.hidden,
                        max_position_embeddings=cfg.seq_len)
    config.num_labels = 3
    return get_peft_model(BertForSequenceClassification(config),
                          LoraConfig(r=cfg.rank, target_modules=["query", "value"]))


def _data(cfg: DPBenchConfig, n: int) -> Any:
    import torch
    from torch.utils.data import TensorDataset

    gen = torch.Generator().manual_seed(1)
    return TensorDataset(torch.randint(0, 2000, (n, cfg.seq_len), generator=gen),
                         torch.randint(0, 3, (n,), generator=gen))


def _forward(model: Any, ids: Any) -> Any:
    return model(input_ids=ids).logits


def _plain_step_seconds(cfg: DPBenchConfig) -> float:
    import torch

    model = _model(cfg)
    freeze_shared_a(model, SEED)
    for name, p in model.named_parameters():
        p.requires_grad_(".lora_B." in name)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    ids, labels = _data(cfg, cfg.batch_size)[:]
    times = []
    for _ in range(cfg.steps + 2):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(_forward(model, ids), labels)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[2:])


def _dp_trainer(cfg: DPBenchConfig, mode: str) -> DPLoRATrainer:
    accountant = PrivacyAccountant(epsilon_budget=1e6, delta=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DPLoRATrainer(_model(cfg), _data(cfg, 1024), accountant=accountant,
                             config=DPConfig(batch_size=cfg.batch_size, grad_sample_mode=mode),
                             shared_seed=SEED, forward=_forward)


def _dp_step_seconds(trainer: DPLoRATrainer, steps: int) -> float:
    """One DP-SGD step (sample, forward, per-example grads, clip, noise, update); the
    once-per-round accountant check is timed apart."""
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps + 2):
            t0 = time.perf_counter()
            trainer._step()
            times.append(time.perf_counter() - t0)
    return statistics.median(times[2:])


def _accounting_seconds(trainer: DPLoRATrainer, local_steps: int) -> float:
    t0 = time.perf_counter()
    trainer.planned_epsilon(local_steps)
    return time.perf_counter() - t0


def _mask_seconds(delta: np.ndarray, clients: int) -> float:
    from blindsum.crypto.secagg.simulate import new_cohort, simulate_round

    cohort = new_cohort(clients, delta.size)
    result = simulate_round(cohort, {u: delta for u in cohort.context.participants})
    return statistics.median(result.client_mask_seconds.values())


def _encrypt_seconds(delta: np.ndarray, clients: int) -> float | None:
    if importlib.util.find_spec("tenseal") is None:
        return None
    from blindsum.crypto.ckks.custody import LocalKeyCustody
    from blindsum.crypto.ckks.encryptor import CkksEncryptor
    from blindsum.crypto.ckks.params import CkksParams

    params = CkksParams.for_clients(max(clients, 3))
    encryptor = CkksEncryptor(params, LocalKeyCustody.generate(params).public_context())
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        encryptor.encrypt(np.clip(delta, -1, 1))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_dp_bench(cfg: DPBenchConfig, progress: Progress = _quiet) -> dict[str, Any]:
    progress("non-private steps")
    plain = _plain_step_seconds(cfg)
    report: dict[str, Any] = {"config": asdict(cfg), "plain_step_seconds": plain, "dp": {}}
    delta = np.zeros(0)
    for mode in cfg.modes:
        progress(f"DP-SGD steps ({mode})")
        trainer = _dp_trainer(cfg, mode)
        seconds = _dp_step_seconds(trainer, cfg.steps)
        report["dp"][mode] = {"step_seconds": seconds, "over_plain": seconds / plain}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            delta = trainer.train_round(1).delta
        report["accounting_seconds_per_round"] = _accounting_seconds(trainer, cfg.local_steps)
    report["update_values"] = int(delta.size)
    best = min(report["dp"].values(), key=lambda r: r["step_seconds"])["step_seconds"]
    round_seconds = best * cfg.local_steps
    progress("protecting the update")
    mask = _mask_seconds(delta, cfg.clients)
    round_seconds += report["accounting_seconds_per_round"]
    report["protect"] = {"round_training_seconds": round_seconds,
                         "secagg_mask_seconds": mask,
                         "secagg_fraction_of_training": mask / round_seconds}
    encrypt = _encrypt_seconds(delta, cfg.clients)
    if encrypt is not None:
        report["protect"] |= {"ckks_encrypt_seconds": encrypt,
                              "ckks_fraction_of_training": encrypt / round_seconds}
    return report
