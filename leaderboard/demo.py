"""The seeded demo database, and synthetic models for tests and the benchmark.

The two base files in ``demo_data/`` are real ``unified`` runs of the demo models (random weights,
6 images). Synthetic models shift and jitter those per-sample scores and then *recompute* every
aggregate with the task's own function, so each one is a results file the server would accept.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from sqlalchemy.orm import Session

from leaderboard.db.models import Token
from leaderboard.submissions import insert
from unified_bench.results.schema import ComponentInfo, ModelInfo, Results, SampleRecord, load_results

DEMO_DATA = Path(__file__).resolve().parent / "demo_data"
BASES = ("janus", "composite")
BANNER = ("DEMO DATABASE: the models here have random weights or synthetic scores; the numbers show the "
          "site working, not any real model's quality.")


def base_results(which: str = "janus") -> Results:
    return load_results(DEMO_DATA / f"{which}.results.json")


def synthetic(base: Results, index: int, seed: int = 0) -> Results:
    """Model number ``index``: the base run's scores shifted by a per-model offset, then recomputed."""
    from unified_bench.results.recompute import recompute

    rng = random.Random(seed * 1_000_003 + index)
    shift = rng.gauss(0.0, 0.05)
    metric_scale = {m.name: m for m in base.metrics}
    samples = []
    for s in base.samples:
        scores = {}
        for name, value in s.scores.items():
            if value is None:
                scores[name] = None
                continue
            m = metric_scale.get(name)
            delta = (shift + rng.gauss(0.0, 0.02)) * (1.0 if m is None or m.higher_is_better else -0.5)
            new = value + delta * (abs(value) if name == "psnr" else 1.0)
            scores[name] = max(0.0, min(1.0, new)) if name not in ("psnr",) else max(0.0, new)
        samples.append(SampleRecord(**{**s.model_dump(), "scores": scores}))
    model = ModelInfo(
        spec=f"demo/synthetic-{index}",
        components=[ComponentInfo(role=c.role, source=f"demo/synthetic-{index}-{c.role}",
                                  revision=f"synthetic-{seed}-{index}", architecture=c.architecture)
                    for c in (base.model.components if base.model else [])],
    )
    draft = base.model_copy(update={"samples": samples, "model": model})
    agg = recompute(draft)
    return draft.model_copy(update={"aggregates": agg.aggregates, "overall": agg.overall, "groups": agg.groups})


def synthetic_params(index: int, seed: int = 0) -> float:
    """A plausible model size in billions (log-uniform 0.5B .. 70B)."""
    rng = random.Random(seed * 7_919 + index)
    return round(math.exp(rng.uniform(math.log(0.5), math.log(70.0))), 2)


def seed_demo(session: Session, n_models: int = 40, seed: int = 0) -> int:
    """Fill an empty database: the two real demo runs plus ``n_models`` synthetic ones, all published.

    Returns the number of rows stored. Idempotent enough for a demo: a second call adds nothing
    (the dedup key of every row already exists) and returns 0.
    """
    from sqlalchemy import select

    from leaderboard.submissions import Refusal
    from leaderboard.tokens import hash_token

    token = session.scalar(select(Token).where(Token.name == "demo"))
    if token is None:
        # A token nobody can use: its hash is of a random value thrown away here.
        import secrets

        token = Token(name="demo", token_hash=hash_token(secrets.token_hex(32)), revoked=True)
        session.add(token)
        session.commit()
    stored = 0
    entries: list[tuple[Results, str, float | None]] = [
        (base_results("janus"), "demo Janus (random weights)", 1.3),
        (base_results("composite"), "demo LLaVA + Stable Diffusion (random weights)", 7.9),
    ]
    for i in range(n_models):
        which = BASES[i % 2]
        name = f"synthetic-{which}-{i:04d}"
        entries.append((synthetic(base_results(which), i, seed), name, synthetic_params(i, seed)))
    for results, name, params in entries:
        try:
            insert(session, token, results, name, params, status="published")
            stored += 1
        except Refusal:
            continue
    return stored
