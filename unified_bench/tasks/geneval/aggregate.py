"""GenEval summary scores from per-image records, as the official ``summary_scores.py`` computes them.

Why a separate, torch-free module: it states the official summary rules over per-image records, in
the official's own terms, as an independent computation that the tests compare the task's aggregation
(``GenevalTask.aggregate``, with bootstrap CIs, which the leaderboard recomputes) against.
Rules (official): a tag's score is the mean ``correct`` over its images;
the overall score is the unweighted mean of the tag scores; prompt-level accuracy is the share of
prompts with at least one correct image. Unlike the official summary, missing or unreadable images are
records with ``correct`` false, so they are counted, and their numbers are reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from unified_bench.tasks.geneval.prompts import TAGS


def _prompt_key(record: Mapping[str, Any]) -> str:
    """Prompts are told apart by their metadata (as the official groupby) or an explicit prompt index."""
    if "prompt_index" in record:
        return f"#{record['prompt_index']}"
    meta = record.get("metadata")
    if meta is None:
        raise ValueError("a GenEval record needs 'prompt_index' or 'metadata' to group images by prompt")
    return meta if isinstance(meta, str) else json.dumps(meta, sort_keys=True)


def aggregate_geneval(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Records with ``tag``, ``correct`` and ``prompt_index`` (or ``metadata``) -> the summary.

    Returns ``overall`` (mean of the tag scores present), ``tags`` {tag: {score, n_images, n_correct}}
    in the official tag order, ``image_accuracy``, ``prompt_accuracy``, counts, and ``tags_missing``
    (an overall over fewer than six tags is not the GenEval overall).
    """
    per_tag: dict[str, list[bool]] = {}
    per_prompt: dict[str, bool] = {}
    n_missing = n_failed = 0
    n = 0
    for r in records:
        correct = bool(r["correct"])
        per_tag.setdefault(str(r["tag"]), []).append(correct)
        key = _prompt_key(r)
        per_prompt[key] = per_prompt.get(key, False) or correct
        n_missing += r.get("status") == "missing"
        n_failed += r.get("status") == "failed"
        n += 1
    if n == 0:
        raise ValueError("no GenEval records to aggregate")
    order = [t for t in TAGS if t in per_tag] + sorted(t for t in per_tag if t not in TAGS)
    tags = {t: {"score": sum(per_tag[t]) / len(per_tag[t]), "n_images": len(per_tag[t]),
                "n_correct": sum(per_tag[t])} for t in order}
    return {
        "overall": sum(v["score"] for v in tags.values()) / len(tags),
        "tags": tags,
        "tags_missing": [t for t in TAGS if t not in per_tag],
        "image_accuracy": sum(sum(v) for v in per_tag.values()) / n,
        "prompt_accuracy": sum(per_prompt.values()) / len(per_prompt),
        "n_images": n,
        "n_prompts": len(per_prompt),
        "n_missing": n_missing,
        "n_failed": n_failed,
    }
