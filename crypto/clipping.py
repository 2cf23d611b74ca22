"""Clipping to the federation's L2 norm: the sensitivity every privacy figure assumes."""

from __future__ import annotations

import numpy as np

__all__ = ["clip_to_norm"]


def clip_to_norm(update: np.ndarray, clip_norm: float) -> np.ndarray:
    """Scale ``update`` down (never up) to L2 norm at most ``clip_norm``, in float64.

    Raises:
        ValueError: the update contains NaN or infinity.
    """
    x = np.asarray(update, dtype=np.float64).ravel()
    if not np.all(np.isfinite(x)):
        raise ValueError("update contains NaN or infinity; refusing to encode it")
    norm = float(np.linalg.norm(x))
    if norm > clip_norm:
        x = x * (clip_norm / norm)
    return x
