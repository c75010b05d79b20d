"""Caption + QC stage: batches of ``batch_size`` through the captioner, then ``check_caption``.

Why batches: a local model is far faster per image in batches, and a served model is called with
bounded concurrency by its backend. The captioner is created through the factory, which caches
it per process, so each Dask worker loads the model once. A caption failure or a QC rejection
keeps its reason (``caption_error``, ``qc_too_short``, ...), with QC figures stored either way.
"""

from __future__ import annotations

import dataclasses
import functools
import io
from typing import TYPE_CHECKING

from data_pipeline.sample import ACCEPTED, Sample

if TYPE_CHECKING:
    from data_pipeline.captioners.base import Captioner, CaptionerConfig
    from data_pipeline.qc.config import CaptionQCConfig


@functools.lru_cache(maxsize=2)
def alignment_scorer(checkpoint: str):
    """The CLIP alignment scorer, loaded once per worker process (only when min_alignment is set)."""
    from data_pipeline.qc.alignment import AlignmentScorer

    return AlignmentScorer(checkpoint)


def caption_samples(samples: list[Sample], config: CaptionerConfig, qc: CaptionQCConfig,
                    captioner: Captioner | None = None) -> None:
    """Caption every pending sample in place; accepted only if QC passes.

    Samples whose request failed in transport (``CaptionResult.transport_error``: endpoint down,
    timeouts, circuit open) are not rejected: they are retried with growing pauses for up to
    ``config.outage_wait_s``; if some are still uncaptioned then, ``CaptionerUnavailable`` is raised
    so the shard is deferred, never committed with samples lost to an outage."""
    import random
    import time

    from data_pipeline.captioners.errors import CaptionerUnavailable
    from unified_bench.core.openai_client import backoff_delay

    if captioner is None:
        from data_pipeline.captioners.factory import get_captioner

        captioner = get_captioner(config)
    todo = [s for s in samples if s.pending]
    deadline = time.monotonic() + config.outage_wait_s
    base_s = float(config.extra.get("backoff_base_s", 0.5))
    max_s = float(config.extra.get("backoff_max_s", 30.0))
    rng = random.Random()
    round_ = 0
    while todo:
        failed: list[tuple[Sample, str]] = []
        for start in range(0, len(todo), max(1, config.batch_size)):
            failed += _caption_batch(todo[start:start + config.batch_size], captioner, qc)
        if not failed:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise CaptionerUnavailable(f"{len(failed)} sample(s) still uncaptioned after {config.outage_wait_s:.0f}s "
                                       f"of retries; last error: {failed[-1][1][:200]}")
        time.sleep(min(left, backoff_delay(round_, base_s, max_s, rng)))
        round_ += 1
        todo = [s for s, _ in failed]


def _caption_batch(batch: list[Sample], captioner: Captioner, qc: CaptionQCConfig) -> list[tuple[Sample, str]]:
    """Caption and judge one batch in place; returns (sample, error) of transport failures, left pending."""
    from PIL import Image

    from data_pipeline.qc.caption_qc import check_caption

    record = captioner.record()
    images = [Image.open(io.BytesIO(s.image_bytes)).convert("RGB") for s in batch]
    results = captioner.caption_batch(images)
    if len(results) != len(batch):
        raise RuntimeError(f"captioner returned {len(results)} results for {len(batch)} images")
    # The cheap text checks first; the CLIP alignment model only sees captions that passed them.
    text_qc = dataclasses.replace(qc, min_alignment=None)
    verdicts = [check_caption(r.text, r.finish_reason, text_qc) if r.text is not None and not r.error else None
                for r in results]
    if qc.min_alignment is not None:  # the recipe guarantees alignment_model is set
        ok = [i for i, v in enumerate(verdicts) if v is not None and v.passed]
        if ok:
            got = alignment_scorer(qc.alignment_model).score([images[i] for i in ok], [results[i].text for i in ok])
            for i, score in zip(ok, got, strict=True):
                verdicts[i] = check_caption(results[i].text, results[i].finish_reason, qc, alignment_score=score)
    failed: list[tuple[Sample, str]] = []
    for s, res, verdict in zip(batch, results, verdicts, strict=True):
        if res.transport_error:
            failed.append((s, res.error or "transport error"))
            continue
        s.captioner = res.record or record
        s.caption_finish_reason = res.finish_reason
        if verdict is None:
            s.reject("caption", "caption_error", (res.error or "no text")[:300])
            continue
        s.qc = dict(verdict.figures)
        s.caption = res.text  # kept in the parquet row even when QC rejects it, for inspection
        if verdict.passed:
            s.status = ACCEPTED
        else:
            s.reject("qc", f"qc_{verdict.reason or 'failed'}", "")
    return failed
