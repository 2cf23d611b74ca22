"""The demo's sites (tokenized topic silos) and its evaluator (the global adapter on
held-out tweets)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from blindsum.client_sdk.lora import apply_flat, export_adapter, freeze_shared_a, parameter_spec
from blindsum.demo.data import load_shards
from blindsum.demo.model import encode_texts, forward, load_tokenizer, make_model

__all__ = ["Evaluator", "Silo", "Sites", "site_datasets"]


class _Pairs:
    """A map-style dataset of ``((input_ids, attention_mask), label)``."""

    def __init__(self, ids: Any, mask: Any, labels: Any) -> None:
        self.ids, self.mask, self.labels = ids, mask, labels

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[tuple[Any, Any], Any]:
        return (self.ids[i], self.mask[i]), self.labels[i]


@dataclass(frozen=True)
class Silo:
    topic: str
    dataset: _Pairs


@dataclass(frozen=True)
class Sites:
    silos: list[Silo]
    test: _Pairs


def site_datasets(clients: int, per_client: int, test_per_topic: int) -> Sites:
    import torch

    shards = load_shards(clients, per_client, test_per_topic)
    tokenizer = load_tokenizer()

    def pairs(texts: list[str], labels: list[int]) -> _Pairs:
        ids, mask = encode_texts(tokenizer, texts)
        return _Pairs(ids, mask, torch.tensor(labels))

    silos = [Silo(topic, pairs(x, y)) for topic, (x, y) in zip(shards.topics, shards.train,
                                                              strict=True)]
    return Sites(silos, pairs(*shards.test))


class Evaluator:
    """Holds the global model: the shared frozen A, and the global B and head from the server."""

    def __init__(self, sites: Sites, shared_seed: bytes, *, rank: int) -> None:
        self.sites, self.shared_seed, self.rank = sites, shared_seed, rank
        self.model = self.fresh_model()
        freeze_shared_a(self.model, shared_seed)
        self.start = self._values()
        self.spec = parameter_spec(self.model)
        self.topics = [s.topic for s in sites.silos]
        self.test_size = len(sites.test)
        self.forward = forward

    def fresh_model(self) -> Any:
        return make_model(self.rank, seed=0)  # the same head and LoRA init on every site

    def _values(self) -> np.ndarray:
        from blindsum.client_sdk.lora import flat_values

        return flat_values(self.model)

    def evaluate(self, values: np.ndarray) -> tuple[float, float]:
        """Accuracy and loss on the held-out tweets of the adapter with these values."""
        import torch

        apply_flat(self.model, values, add=False)
        self.model.eval()
        test = self.sites.test
        logits = []
        with torch.no_grad():
            for i in range(0, len(test), 128):
                logits.append(forward(self.model, (test.ids[i:i + 128], test.mask[i:i + 128])))
        out = torch.cat(logits)
        accuracy = float((out.argmax(1) == test.labels).float().mean())
        loss = float(torch.nn.functional.cross_entropy(out, test.labels))
        return accuracy, loss

    def export(self, values: np.ndarray, directory: Path) -> None:
        export_adapter(self.model, values, str(directory))
