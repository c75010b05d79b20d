"""On-disk cache of reference-image embeddings.

Why: every model is scored against the same reference images, so their features are computed
once per encoder and reused across models and runs. Files live under
``features_dir()/<encoder.fingerprint_id()>/<image sha256>.npy``: the directory names everything
that changes the embedding (checkpoint, revision, preprocessing, dtype), the file name the exact
image bytes, so a stale feature cannot be picked up. Writes are atomic (a kill leaves no half file).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from unified_bench import paths
from unified_bench.core.atomic import atomic_write_bytes
from unified_bench.data.base import ReferenceImage
from unified_bench.metrics.encoders.base import ImageEncoder

logger = logging.getLogger(__name__)

#: Reference images encoded per call to the encoder (the encoder batches further inside).
_CHUNK = 64


def feature_dir(encoder: ImageEncoder) -> Path:
    return paths.features_dir() / encoder.fingerprint_id()


def _read(path: Path) -> np.ndarray | None:
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("Ignoring unreadable cached feature %s (%s); recomputing it.", path, exc)
        return None
    return arr if arr.ndim == 1 and arr.dtype == np.float32 else None


def _write(path: Path, vector: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(vector, dtype=np.float32), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue(), durable=False)  # a cache: unreadable entries are misses


def embed_references(encoder: ImageEncoder, images: Sequence[ReferenceImage], progress: bool = True) -> np.ndarray:
    """(N, D) float32 features of ``images`` in order, encoding only those not cached yet."""
    return embed_references_all([encoder], images, progress)[encoder.name]


def embed_references_all(
    encoders: Sequence[ImageEncoder], images: Sequence[ReferenceImage], progress: bool = True
) -> dict[str, np.ndarray]:
    """``{encoder name: (N, D) features}`` for several encoders, decoding each image at most once.

    Why: decoding a full-size reference JPEG costs more than a tiny encoder's forward; with
    four encoders, per-encoder decoding would dominate the harness time of a cold run.
    """
    from tqdm.auto import tqdm

    images = list(images)
    if not images:
        return {enc.name: np.zeros((0, 0), dtype=np.float32) for enc in encoders}
    shas = [im.sha256 for im in images]
    dirs = {enc.name: feature_dir(enc) for enc in encoders}
    rows = {enc.name: [_read(dirs[enc.name] / f"{sha}.npy") for sha in shas] for enc in encoders}
    missing = sorted({i for per_enc in rows.values() for i, row in enumerate(per_enc) if row is None})
    for enc in encoders:
        n_missing = sum(row is None for row in rows[enc.name])
        logger.info("%s reference features: %d cached, %d to encode (%s)", enc.name,
                    len(images) - n_missing, n_missing, dirs[enc.name])
    with tqdm(total=len(missing), desc="reference features", unit="img",
              disable=not progress or not missing) as bar:
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            decoded = {i: images[i].open() for i in chunk}
            for enc in encoders:
                need = [i for i in chunk if rows[enc.name][i] is None]
                if not need:
                    continue
                feats = enc.embed([decoded[i] for i in need])
                for i, vec in zip(need, feats, strict=True):
                    _write(dirs[enc.name] / f"{shas[i]}.npy", vec)
                    rows[enc.name][i] = np.asarray(vec, dtype=np.float32)
            bar.update(len(chunk))
    return {name: np.stack(per_enc).astype(np.float32, copy=False) for name, per_enc in rows.items()}
