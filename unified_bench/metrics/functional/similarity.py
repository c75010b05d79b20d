"""Cosine similarity of embedding rows.

Why: the reconstruction score of one encoder is the cosine of (reference, reconstruction)
embeddings. Encoders already return unit rows, but features may come from an on-disk cache or a
third-party encoder, so both sides are re-normalised here rather than trusted.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm (all-zero rows stay zero), as float64 for stable sums."""
    arr = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    return arr / np.maximum(norms, _EPS)


def cosine_similarity_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (N, D) arrays -> (N,), clipped to [-1, 1]."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"cosine_similarity_rows needs two (N, D) arrays of the same shape, got {a.shape} and {b.shape}")
    sims = np.einsum("nd,nd->n", l2_normalize(a), l2_normalize(b))
    return np.clip(sims, -1.0, 1.0)
