"""``unified-data inspect DIR``: counts, rejection reasons and a caption-length histogram as text.

Reads the per-shard parquet tables (one row per input), so it also works on a partial build.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from data_pipeline.errors import OutputDirError


def inspect_dir(out_dir: str | Path) -> str:
    import pyarrow.parquet as pq

    from data_pipeline.card import text_histogram
    from data_pipeline.writers.shard import read_committed_stats

    out = Path(out_dir)
    idx = sorted(int(p.name.split("_")[0]) for p in out.glob("[0-9]*_stats.json"))
    stats = [st for i in idx if (st := read_committed_stats(out, i)) is not None]
    if not stats:
        raise OutputDirError(f"'{out}' holds no committed shard (no valid NNNNN_stats.json).",
                             "pass the --out folder of a `unified-data build` run")
    status: Counter = Counter()
    reasons: Counter = Counter()
    stages: Counter = Counter()
    words: list[int] = []
    for st in stats:
        t = pq.read_table(out / st["parquet"]["name"], columns=["status", "stage", "reason"])
        cols = t.to_pydict()
        status.update(cols["status"])
        reasons.update(r for r in cols["reason"] if r)
        stages.update(s for s, r in zip(cols["stage"], cols["reason"], strict=True) if r)
        words.extend(st.get("caption_words", []))
    planned = ""
    from data_pipeline.plan import PLAN_HEAD

    plan = out / PLAN_HEAD  # the plan's head only (its shard files are never read here)
    if plan.exists():
        import json

        n = json.loads(plan.read_text(encoding="utf-8")).get("n_inputs")
        planned = f" of {n} planned"
    total = sum(status.values())
    lines = [f"{out}: {len(stats)} committed shard(s), {total} inputs{planned}",
             f"  accepted: {status.get('accepted', 0)}", f"  rejected: {status.get('rejected', 0)}", "",
             "rejection reasons:"]
    lines += [f"  {r:<24} {c:>8}  ({100 * c / max(1, total):.1f}%)" for r, c in reasons.most_common()] or ["  (none)"]
    lines += ["", "rejections by stage:"]
    lines += [f"  {s:<24} {c:>8}" for s, c in stages.most_common()] or ["  (none)"]
    lines += ["", f"caption length (words), {len(words)} captions:", text_histogram(words)]
    return "\n".join(lines)
