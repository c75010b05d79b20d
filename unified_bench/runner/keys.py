"""Cache keys and derived seeds.

Why: a cached item is reused only if *everything* that changes it is identical: which model
component answered (ids + resolved revisions), the inputs, decoding/generation settings, seed,
device type and dtype. The batch size is not a part: every item is seeded on its own. The key is the sha256
of the canonical JSON of those parts, so adding a part can never collide with an old key.
"""

from __future__ import annotations

import hashlib
from typing import Any

from unified_bench.core.hashing import canonical_json


def cache_key(**parts: Any) -> str:
    return hashlib.sha256(canonical_json(parts).encode("utf-8")).hexdigest()


def derive_seed(base_seed: int, *parts: Any) -> int:
    """A 31-bit seed that depends only on ``base_seed`` and ``parts`` (stable across runs)."""
    digest = hashlib.sha256(canonical_json([base_seed, *parts]).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
