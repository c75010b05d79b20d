"""The unified benchmark: caption -> regenerate -> compare (the UAE / Unified-Bench protocol).

The model captions each reference image (understanding), regenerates an image from its own
caption (generation), and four vision encoders compare original and reconstruction (cosine of
L2-normalised embeddings). Per-encoder score = mean over *all* reference images x100, where a
missing caption or reconstruction scores 0 (the reference code silently shrank the
denominator); overall = unweighted mean of the four encoders, only when all four are present
(the reference code quietly averaged whatever encoders happened to load).

Stages run through ``runner.stage.run_stage`` so every output is cached by everything that
changes it and a killed run resumes without recomputing finished work.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from unified_bench.metrics.encoders.base import STANDARD_ENCODERS, EncoderSpec
from unified_bench.metrics.functional.pixel import PIXEL_PREPROCESSING
from unified_bench.models.base import Capability, ModelAdapter, check_capabilities
from unified_bench.results.aggregate import aggregate
from unified_bench.results.schema import (
    Aggregate,
    BenchmarkInfo,
    Coverage,
    MetricInfo,
    ModelInfo,
    Results,
    SampleRecord,
)
from unified_bench.runner.atomic import atomic_write_bytes
from unified_bench.runner.keys import cache_key, derive_seed
from unified_bench.runner.run_dir import RunDir
from unified_bench.runner.stage import StageItem, run_stage
from unified_bench.specs import CaptionSettings, GenerationSettings, RuntimeOptions

if TYPE_CHECKING:
    from PIL.Image import Image

    from unified_bench.data.base import ImageSet, ReferenceImage
    from unified_bench.metrics.encoders.base import ImageEncoder

log = logging.getLogger(__name__)

BENCHMARK_NAME = "unified"
BENCHMARK_VERSION = "1.0"
NEEDS = frozenset({Capability.CAPTION, Capability.GENERATE})
AUX_METRICS = ("lpips", "ssim", "psnr")
STANDARD_IMAGE_SET = "uae-100"


def standard_encoder_specs() -> tuple[EncoderSpec, ...]:
    return tuple(EncoderSpec(name) for name in STANDARD_ENCODERS)


@dataclass(frozen=True)
class UnifiedConfig:
    """Everything the unified task needs besides the model and the image set."""

    caption: CaptionSettings = field(default_factory=CaptionSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    encoders: tuple[EncoderSpec, ...] = field(default_factory=standard_encoder_specs)
    aux: tuple[str, ...] = AUX_METRICS
    lpips_net: str = "alex"
    lpips_pretrained_trunk: bool = True
    encoder_batch_size: int = 16
    # Scores are compared across labs and GPUs: encoders run in fp32 unless asked otherwise,
    # whatever dtype the model under test uses (they are a small fraction of the compute).
    encoder_dtype: str = "fp32"
    notice: str | None = None  # shown prominently in the report (e.g. "random weights")

    def to_dict(self) -> dict[str, Any]:
        return {
            "caption": self.caption.to_dict(),
            "generation": self.generation.to_dict(),
            "encoders": [{"name": e.name, "checkpoint": e.checkpoint} for e in self.encoders],
            "aux": list(self.aux),
            "lpips_net": self.lpips_net,
            "lpips_pretrained_trunk": self.lpips_pretrained_trunk,
            "encoder_batch_size": self.encoder_batch_size,
            "encoder_dtype": self.encoder_dtype,
            "notice": self.notice,
        }


def non_standard_reasons(config: UnifiedConfig, image_set: ImageSet, limit: int | None, seed: int) -> list[str]:
    """Why a run is not the published protocol (empty list = standard)."""
    reasons = []
    names = [e.name for e in config.encoders]
    if sorted(names) != sorted(STANDARD_ENCODERS):
        reasons.append(f"encoders {names} instead of all of {list(STANDARD_ENCODERS)}")
    for enc in config.encoders:
        if enc.name in STANDARD_ENCODERS and not enc.is_standard:
            reasons.append(f"encoder {enc.name} uses checkpoint {enc.checkpoint}")
    if config.encoder_dtype != "fp32":
        reasons.append(f"encoders run in {config.encoder_dtype} instead of fp32")
    if image_set.name != STANDARD_IMAGE_SET:
        reasons.append(f"image set '{image_set.name}' instead of '{STANDARD_IMAGE_SET}'")
    if limit is not None:
        reasons.append(f"--limit {limit}")
    if config.caption != CaptionSettings():
        reasons.append("caption prompt or decoding differs from the reference")
    if config.generation != GenerationSettings():
        reasons.append("generation settings differ from the reference (1024x1024, 40 steps, guidance 5.0)")
    if seed != 42:
        reasons.append(f"seed {seed} instead of 42")
    return reasons


def _png_bytes(image: Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def _suffix_for(ref: ReferenceImage) -> str:
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(ref.data)) as img:
        fmt = (img.format or "PNG").lower()
    return {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "bmp": ".bmp"}.get(fmt, ".img")


class UnifiedTask:
    """Caption -> regenerate -> score, over one image set, for one model adapter."""

    name = BENCHMARK_NAME
    version = BENCHMARK_VERSION
    needs = NEEDS

    def __init__(self, config: UnifiedConfig) -> None:
        self.config = config

    # ------------------------------------------------------------------ scoring resources
    def load_scorers(self, runtime: RuntimeOptions) -> tuple[list[ImageEncoder], Any]:
        """Load every encoder (strict: any failure is an error) and the LPIPS scorer if asked."""
        from unified_bench.metrics.encoders.loader import load_encoder

        encoders = [
            load_encoder(spec, runtime.device, self.config.encoder_dtype, self.config.encoder_batch_size)
            for spec in self.config.encoders
        ]
        lpips_scorer = None
        if "lpips" in self.config.aux:
            from unified_bench.metrics.lpips_metric import LpipsScorer

            lpips_scorer = LpipsScorer(
                net=self.config.lpips_net,
                pretrained_trunk=self.config.lpips_pretrained_trunk,
                device=runtime.device,
            )
        return encoders, lpips_scorer

    # ------------------------------------------------------------------ the run
    def run(
        self,
        adapter: ModelAdapter,
        image_set: ImageSet,
        runtime: RuntimeOptions,
        run_dir: RunDir,
        limit: int | None = None,
        show_progress: bool = True,
        scorers: tuple[list[ImageEncoder], Any] | None = None,
    ) -> tuple[Results, dict[str, Any]]:
        """Run all stages; return the results (not yet written) and the stage summaries.

        ``scorers`` are the loaded encoders and LPIPS scorer (``load_scorers``); the CLI loads
        them before creating the run directory so a missing encoder leaves nothing behind.
        """
        check_capabilities(adapter, self.needs, self.name)
        identity = adapter.identity().to_dict()
        # Settings the backend cannot honour (e.g. Janus draws at its native size) are recorded.
        not_honoured = adapter.generation_notes(self.config.generation)
        for setting, note in not_honoured.items():
            log.warning("%s: GenerationSettings.%s %s (recorded in results.json).", identity.get("spec"), setting, note)
        refs = list(image_set)
        bench = f"{self.name}@{self.version}"
        common = {
            "benchmark": bench,
            "model": identity,
            "seed": runtime.seed,
            "batch_size": runtime.batch_size,
            "device": runtime.device.split(":")[0],
            "dtype": runtime.dtype,
        }

        # Scorers first: a missing encoder must fail before hours of generation.
        encoders, lpips_scorer = scorers if scorers is not None else self.load_scorers(runtime)
        from unified_bench.metrics.feature_cache import embed_references_all

        ref_features = embed_references_all(encoders, refs, progress=show_progress)
        ref_index = {ref.id: i for i, ref in enumerate(refs)}
        ref_paths = {ref.id: run_dir.save_reference(ref.id, ref.data, _suffix_for(ref)) for ref in refs}

        # Stage 1: captions.
        cap_settings = self.config.caption
        cap_items = [
            StageItem(
                ref.id,
                cache_key(stage="caption", image=ref.sha256, settings=cap_settings.to_dict(), **common),
                ref,
            )
            for ref in refs
        ]

        def caption_batch(batch: Sequence[StageItem[Any]], index: int) -> list[dict[str, Any]]:
            images = [item.payload.open() for item in batch]
            seeds = [derive_seed(runtime.seed, "caption", index, item.id) for item in batch]
            texts = adapter.caption(images, cap_settings, seeds)
            return [{"caption": str(t)} for t in texts]

        captions, cap_summary = run_stage(
            "caption", cap_items, run_dir.store("captions"), caption_batch, runtime.batch_size, show_progress
        )

        # Stage 2: regenerate from the model's own caption.
        gen_settings = self.config.generation
        gen_items = [
            StageItem(
                ref.id,
                cache_key(
                    stage="generate",
                    prompt=captions[ref.id]["caption"],
                    settings=gen_settings.to_dict(),
                    **common,
                ),
                captions[ref.id]["caption"],
            )
            for ref in refs
            if captions.get(ref.id, {}).get("status") == "ok"
        ]

        def generate_batch(batch: Sequence[StageItem[Any]], index: int) -> list[dict[str, Any]]:
            seeds = [derive_seed(runtime.seed, "generate", index, item.id) for item in batch]
            images = adapter.generate([item.payload for item in batch], gen_settings, seeds)
            out = []
            for item, image in zip(batch, images, strict=True):
                data = _png_bytes(image)
                rel = f"images/{item.id}.png"
                # Not fsynced: the fsynced record holds its sha256, checked on resume.
                atomic_write_bytes(run_dir.path / rel, data, durable=False)
                out.append({"image": rel, "sha256": hashlib.sha256(data).hexdigest(), "size": list(image.size)})
            return out

        def image_on_disk(record: dict[str, Any]) -> bool:
            path = run_dir.path / record.get("image", "")
            return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == record.get("sha256")

        generations, gen_summary = run_stage(
            "generate",
            gen_items,
            run_dir.store("generations"),
            generate_batch,
            runtime.batch_size,
            show_progress,
            validate=image_on_disk,
        )
        adapter.close()

        # Stage 3: score reconstructions against the cached reference features.
        scorer_id = {
            "encoders": [enc.fingerprint_id() for enc in encoders],
            "aux": list(self.config.aux),
            "lpips": lpips_scorer.details() if lpips_scorer is not None else None,
        }
        score_items = [
            StageItem(
                ref.id,
                cache_key(stage="score", generation=gen["key"], reference=ref.sha256, scorers=scorer_id),
                (ref, gen),
            )
            for ref in refs
            if (gen := generations.get(ref.id)) is not None and gen.get("status") == "ok"
        ]

        def score_batch(batch: Sequence[StageItem[Any]], index: int) -> list[dict[str, Any]]:
            from PIL import Image as PILImage

            from unified_bench.metrics.functional.similarity import cosine_similarity_rows

            recons = []
            for item in batch:
                with PILImage.open(run_dir.path / item.payload[1]["image"]) as im:
                    recons.append(im.convert("RGB"))
            scores: list[dict[str, float | None]] = [{} for _ in batch]
            rows = [ref_index[item.id] for item in batch]
            for enc in encoders:
                recon_feats = enc.embed(recons)
                sims = cosine_similarity_rows(ref_features[enc.name][rows], recon_feats)
                for s, v in zip(scores, sims, strict=True):
                    s[enc.name] = float(v)
            if self.config.aux:
                ref_images = [item.payload[0].open() for item in batch]
                if lpips_scorer is not None:
                    for s, v in zip(scores, lpips_scorer.score(ref_images, recons), strict=True):
                        s["lpips"] = float(v)
                if "ssim" in self.config.aux or "psnr" in self.config.aux:
                    from unified_bench.metrics.functional.pixel import psnr, ssim

                    for s, ref_im, rec_im in zip(scores, ref_images, recons, strict=True):
                        if "ssim" in self.config.aux:
                            s["ssim"] = float(ssim(ref_im, rec_im))
                        if "psnr" in self.config.aux:
                            s["psnr"] = float(psnr(ref_im, rec_im))
            return [{"scores": s} for s in scores]

        scored, score_summary = run_stage(
            "score",
            score_items,
            run_dir.store("scores"),
            score_batch,
            self.config.encoder_batch_size,
            show_progress,
        )

        summaries = {s.name: s.__dict__ for s in (cap_summary, gen_summary, score_summary)}
        results = self._build_results(
            identity, image_set, refs, ref_paths, captions, generations, scored, encoders, lpips_scorer,
            runtime, limit, not_honoured,
        )
        return results, summaries

    # ------------------------------------------------------------------ results
    def _build_results(
        self,
        identity: dict[str, Any],
        image_set: ImageSet,
        refs: list[ReferenceImage],
        ref_paths: dict[str, str],
        captions: dict[str, dict[str, Any]],
        generations: dict[str, dict[str, Any]],
        scored: dict[str, dict[str, Any]],
        encoders: list[ImageEncoder],
        lpips_scorer: Any,
        runtime: RuntimeOptions,
        limit: int | None,
        not_honoured: dict[str, str],
    ) -> Results:
        from unified_bench.results.provenance import build_provenance

        enc_names = [enc.name for enc in encoders]
        samples: list[SampleRecord] = []
        per_metric: dict[str, list[float]] = {name: [] for name in [*enc_names, *self.config.aux]}
        per_sample_overall: list[float] = []
        full_set = sorted(enc_names) == sorted(STANDARD_ENCODERS)
        n_captioned = n_generated = n_scored = 0
        for ref in refs:
            cap = captions.get(ref.id, {})
            gen = generations.get(ref.id, {})
            sc = scored.get(ref.id, {})
            error = None
            if cap.get("status") == "ok":
                n_captioned += 1
            else:
                error = f"caption failed: {cap.get('error', 'not computed')}"
            if gen.get("status") == "ok":
                n_generated += 1
            elif error is None:
                error = f"generation failed: {gen.get('error', 'not computed')}"
            ok = sc.get("status") == "ok"
            if ok:
                n_scored += 1
            elif error is None:
                error = f"scoring failed: {sc.get('error', 'not computed')}"
            raw_scores: dict[str, float | None] = dict(sc.get("scores", {})) if ok else {}
            # A missing reconstruction scores 0 on every encoder; aux metrics are simply absent.
            scores: dict[str, float | None] = {name: float(raw_scores.get(name, 0.0) or 0.0) for name in enc_names}
            for aux in self.config.aux:
                value = raw_scores.get(aux)
                # JSON has no infinity: identical images (PSNR = inf) are recorded as null.
                scores[aux] = value if value is not None and np.isfinite(value) else None
            for name in enc_names:
                per_metric[name].append(scores[name])  # type: ignore[arg-type]
            for aux in self.config.aux:
                if scores[aux] is not None:
                    per_metric[aux].append(scores[aux])  # type: ignore[arg-type]
            if full_set:
                per_sample_overall.append(float(np.mean([scores[n] for n in STANDARD_ENCODERS])))
            samples.append(
                SampleRecord(
                    id=ref.id,
                    status="ok" if ok else "failed",
                    error=error,
                    outputs={
                        "reference_path": ref_paths[ref.id],
                        "reference_sha256": ref.sha256,
                        "caption": cap.get("caption") if cap.get("status") == "ok" else None,
                        "generated_image": gen.get("image") if gen.get("status") == "ok" else None,
                        "generated_sha256": gen.get("sha256") if gen.get("status") == "ok" else None,
                    },
                    scores=scores,
                )
            )

        aggregates: dict[str, Aggregate] = {}
        metrics: list[MetricInfo] = []
        for enc in encoders:
            aggregates[enc.name] = aggregate(per_metric[enc.name], scale=100.0, seed=runtime.seed)
            metrics.append(
                MetricInfo(
                    name=enc.name,
                    higher_is_better=True,
                    lower_bound=-100.0,
                    upper_bound=100.0,
                    in_overall=full_set,
                    details={"scale": 100, **enc.fingerprint()},
                )
            )
        aux_info = {
            "lpips": MetricInfo(
                name="lpips",
                higher_is_better=False,
                lower_bound=0.0,
                upper_bound=None,
                details={"scale": 1, **(lpips_scorer.details() if lpips_scorer is not None else {})},
            ),
            "ssim": MetricInfo(
                name="ssim", higher_is_better=True, lower_bound=-1.0, upper_bound=1.0,
                details={"scale": 1, **PIXEL_PREPROCESSING},
            ),
            "psnr": MetricInfo(
                name="psnr", higher_is_better=True, lower_bound=0.0, upper_bound=None,
                details={"scale": 1, "unit": "dB", **PIXEL_PREPROCESSING,
                         "identical_images": "infinite PSNR, recorded as null"},
            ),
        }
        for aux in self.config.aux:
            metrics.append(aux_info[aux])
            if per_metric[aux]:  # an aux metric with no value at all has no aggregate
                aggregates[aux] = aggregate(per_metric[aux], scale=1.0, seed=runtime.seed)
        overall = aggregate(per_sample_overall, scale=100.0, seed=runtime.seed) if full_set else None
        reasons = non_standard_reasons(self.config, image_set, limit, runtime.seed)
        settings = self.config.to_dict() | {
            "limit": limit,
            "generation_not_honoured": not_honoured,
        }
        return Results(
            benchmark=BenchmarkInfo(name=self.name, version=self.version),
            model=ModelInfo.model_validate(identity),
            image_set=image_set.fingerprint(),
            settings=settings,
            metrics=metrics,
            standard=not reasons,
            non_standard_reasons=reasons,
            aggregates=aggregates,
            overall=overall,
            coverage=Coverage(
                n_references=len(refs), n_captioned=n_captioned, n_generated=n_generated, n_scored=n_scored
            ),
            samples=samples,
            provenance=build_provenance(runtime, wall_time_s=0.0),
        )


def finalize_results(results: Results, wall_time_s: float) -> Results:
    """Stamp the wall time once everything (including writing images) is done."""
    prov = results.provenance.model_copy(update={"wall_time_s": round(wall_time_s, 3)})
    return results.model_copy(update={"provenance": prov})

