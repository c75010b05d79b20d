"""The unified benchmark: caption -> regenerate -> compare (the UAE / Unified-Bench protocol).

The model captions each reference image (understanding), regenerates an image from its own
caption (generation), and four vision encoders compare original and reconstruction (cosine of
L2-normalised embeddings). Per-encoder score = mean over *all* reference images x100, where a
missing caption or reconstruction scores 0 (the reference code silently shrank the
denominator); overall = unweighted mean of the four encoders, only when all four are present
(the reference code quietly averaged whatever encoders happened to load).

This module holds only what is specific to the benchmark: the two requests, encoder cosine +
pixel metrics, fail-as-0, the standard-protocol policy and the metric metadata. Batching, caching,
resume, seeds, artifacts and results assembly belong to the runner (``runner/evaluate.py``).
"""

from __future__ import annotations

import argparse
import io
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_bench.errors import SpecError
from unified_bench.metrics.encoders.base import STANDARD_ENCODERS, EncoderSpec
from unified_bench.metrics.functional.pixel import PIXEL_PREPROCESSING
from unified_bench.models.base import Capability, ModelAdapter
from unified_bench.results.schema import MetricInfo, SampleRecord
from unified_bench.specs import CaptionSettings, GenerationSettings, RuntimeOptions
from unified_bench.tasks.base import Outputs, Request, ScoreInput, Stage, Task

if TYPE_CHECKING:
    import numpy as np

    from unified_bench.data.base import ImageSet, ReferenceImage
    from unified_bench.metrics.encoders.base import ImageEncoder

log = logging.getLogger(__name__)

BENCHMARK_NAME = "unified"
BENCHMARK_VERSION = "1.0"
AUX_METRICS = ("lpips", "ssim", "psnr")
STANDARD_IMAGE_SET = "uae-100"
CAPTION_SOURCES = ("model", "reference")
UAE100_COUNT = 100


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
    #: "protocol": 1024x1024, or the model's native canvas where it has one (Janus, Emu3-Gen);
    #: "explicit": the user chose the size; "native": fitted to the model (set by ``bind_model``).
    size_policy: str = "protocol"
    #: "model": the model captions (the protocol); "reference": regenerate from the reference
    #: description each image came with (no captioner: measures the generator alone).
    caption_source: str = "model"

    def __post_init__(self) -> None:
        if self.caption_source not in CAPTION_SOURCES:
            raise SpecError(
                f"Unknown caption source '{self.caption_source}'.", f"Use one of: {', '.join(CAPTION_SOURCES)}."
            )

    def to_dict(self) -> dict[str, Any]:
        extra = {"caption_source": self.caption_source} if self.caption_source != "model" else {}
        return extra | {
            "caption": self.caption.to_dict(),
            "generation": self.generation.to_dict(),
            "size_policy": self.size_policy,
            "encoders": [{"name": e.name, "checkpoint": e.checkpoint} for e in self.encoders],
            "aux": list(self.aux),
            "lpips_net": self.lpips_net,
            "lpips_pretrained_trunk": self.lpips_pretrained_trunk,
            "encoder_batch_size": self.encoder_batch_size,
            "encoder_dtype": self.encoder_dtype,
        }


def non_standard_reasons(config: UnifiedConfig, image_set: ImageSet, limit: int | None, seed: int) -> list[str]:
    """Why a run is not the published protocol (empty list = standard)."""
    reasons = []
    if config.caption_source == "reference":
        reasons.append("captions are the data set's reference descriptions, not the model's")
    names = [e.name for e in config.encoders]
    if sorted(names) != sorted(STANDARD_ENCODERS):
        reasons.append(f"encoders {names} instead of all of {list(STANDARD_ENCODERS)}")
    for enc in config.encoders:
        if enc.name in STANDARD_ENCODERS and not enc.is_standard:
            reasons.append(f"encoder {enc.name} uses checkpoint {enc.checkpoint}")
    if config.encoder_dtype != "fp32":
        reasons.append(f"encoders run in {config.encoder_dtype} instead of fp32")
    if not is_standard_image_set(image_set.fingerprint()):
        reasons.append(
            f"image set '{image_set.name}' is not the published '{STANDARD_IMAGE_SET}' "
            f"(the built-in set, {UAE100_COUNT} images, verified archive digest)"
        )
    if limit is not None:
        reasons.append(f"--limit {limit}")
    if config.caption != CaptionSettings():
        reasons.append("caption prompt or decoding differs from the reference")
    generation = config.generation
    if config.size_policy == "native":  # the model's own canvas is the protocol for fixed-canvas models
        reference = GenerationSettings()
        generation = replace(generation, height=reference.height, width=reference.width)
    if generation != GenerationSettings():
        reasons.append("generation settings differ from the reference (1024x1024, 40 steps, guidance 5.0)")
    if seed != 42:
        reasons.append(f"seed {seed} instead of 42")
    return reasons


def is_standard_image_set(fingerprint: Mapping[str, Any]) -> bool:
    """Standard means *content*, not a name: the built-in ``uae-100`` as the project downloads it
    (named kind and source), exactly its image count, no limit, and an archive digest equal to the
    pinned one (or, until it is pinned, a recorded one). A user folder called "uae-100" is not."""
    from unified_bench.data.named import UAE100_SHA256

    digest = fingerprint.get("archive_sha256")
    return (
        fingerprint.get("kind") == "named"
        and fingerprint.get("source") == f"named:{STANDARD_IMAGE_SET}"
        and fingerprint.get("n_images") == UAE100_COUNT
        and fingerprint.get("limit") is None
        and isinstance(digest, str)
        and len(digest) == 64
        and (UAE100_SHA256 is None or digest == UAE100_SHA256)
    )


def reference_path(ref: ReferenceImage) -> str:
    """Where the run directory keeps its copy of a reference image (the report shows it)."""
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(ref.data)) as img:  # reads the header only
        fmt = (img.format or "PNG").lower()
    suffix = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "bmp": ".bmp"}.get(fmt, ".img")
    return f"references/{ref.id}{suffix}"


@dataclass
class UnifiedJudges:
    """The loaded scorers and, once ``prepare_scoring`` ran, the reference features per encoder."""

    encoders: list[ImageEncoder]
    lpips: Any = None
    device: str = "cpu"
    reference_features: dict[str, np.ndarray] = field(default_factory=dict)
    reference_row: dict[str, int] = field(default_factory=dict)


class UnifiedTask(Task):
    """Caption -> regenerate -> score, over one image set."""

    name = BENCHMARK_NAME
    version = BENCHMARK_VERSION
    config_cls = UnifiedConfig
    default_data = STANDARD_IMAGE_SET
    report_view = "unified"

    def __init__(self, config: UnifiedConfig | None = None) -> None:
        super().__init__(config)
        self.score_batch_size = self.config.encoder_batch_size

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        from unified_bench.tasks.unified_cli import add_arguments

        add_arguments(parser)

    @classmethod
    def config_from_args(cls, args: argparse.Namespace) -> UnifiedConfig:
        from unified_bench.tasks.unified_cli import config_from_args

        return config_from_args(args)

    def bind_model(self, model: ModelAdapter) -> None:
        """Draw at the model's native canvas when the user chose no size (Janus, Emu3-Gen)."""
        native = model.native_generation_size()
        if self.config.size_policy == "protocol" and native is not None:
            height, width = native
            generation = replace(self.config.generation, height=height, width=width)
            self.config = replace(self.config, generation=generation, size_policy="native")
            log.info("generating at the model's native %dx%d (no --height/--width given)", width, height)

    # ------------------------------------------------------------------ data and requests
    def load_dataset(self, spec: str) -> ImageSet:
        from unified_bench.data.loader import load_image_set

        return load_image_set(spec)

    def stages(self) -> list[Stage]:
        return [
            Stage("caption", Capability.CAPTION, self.config.caption),
            Stage("generate", Capability.GENERATE, self.config.generation),
        ]

    def existing_outputs(self, stage: Stage, dataset: ImageSet) -> dict[str, dict[str, Any]] | None:
        """With ``caption_source="reference"`` the captions are the images' reference descriptions."""
        if stage.name != "caption" or self.config.caption_source != "reference":
            return None
        return reference_caption_records(dataset)

    def requests(self, stage: Stage, sample: ReferenceImage, prior: Outputs) -> Iterable[Request]:
        if stage.name == "caption":
            return [Request(sample.id, images=(sample.data,))]
        caption = prior.get("caption", {}).get(sample.id)
        if caption is None:  # failed caption: nothing to regenerate from (scores 0)
            return []
        return [Request(sample.id, text=caption["text"], output_path=f"images/{sample.id}.png")]

    # ------------------------------------------------------------------ judging
    def load_judges(self, runtime: RuntimeOptions) -> UnifiedJudges:
        """Every encoder (strict: any failure is an error) and the LPIPS scorer if asked.

        Called before any model work, so a missing or broken encoder fails first; but only
        described here (checkpoint resolved, weight files checked, preprocessing built): the
        weights load in ``prepare_scoring``, after the model left the device (see CONTRIBUTING.md).
        """
        from unified_bench.metrics.encoders.loader import load_encoder

        encoders = [
            load_encoder(
                spec, runtime.device, self.config.encoder_dtype, self.config.encoder_batch_size, defer_weights=True
            )
            for spec in self.config.encoders
        ]
        judges = UnifiedJudges(encoders, device=runtime.device)
        if "lpips" in self.config.aux and self.config.lpips_pretrained_trunk:
            judges.lpips = self._lpips(runtime.device)  # downloads the trunk now: fails before any work
        return judges

    def _lpips(self, device: str) -> Any:
        from unified_bench.metrics.lpips_metric import LpipsScorer

        return LpipsScorer(
            net=self.config.lpips_net,
            pretrained_trunk=self.config.lpips_pretrained_trunk,
            device=device,
            defer_device=True,
        )

    def judge_identity(self, judges: UnifiedJudges) -> dict[str, Any]:
        return {
            "encoders": [enc.fingerprint_id() for enc in judges.encoders],
            "aux": list(self.config.aux),
            "lpips": judges.lpips.details() if judges.lpips is not None else None,
        }

    def prepare_scoring(
        self, judges: UnifiedJudges, dataset: ImageSet, run_dir: Path, show_progress: bool = True
    ) -> None:
        """Embed every reference once (cached across runs) and copy it into the run directory."""
        from unified_bench.core.atomic import atomic_write_bytes
        from unified_bench.metrics.feature_cache import embed_references_all

        for enc in judges.encoders:  # the model under test has left the device by now
            load = getattr(enc, "load_weights", None)
            if load is not None:
                load()
        if "lpips" in self.config.aux and judges.lpips is None:
            # Random trunk (tests and the demo only): drawn from the run's global RNG stream, after
            # the model and encoder weights loaded, as it always was, so its numbers do not move.
            judges.lpips = self._lpips(judges.device)
        if judges.lpips is not None:
            judges.lpips.to_device()
        refs = list(dataset)
        judges.reference_features = embed_references_all(judges.encoders, refs, progress=show_progress)
        judges.reference_row = {ref.id: i for i, ref in enumerate(refs)}
        for ref in refs:
            target = run_dir / reference_path(ref)
            if not target.exists() or target.stat().st_size != len(ref.data):
                atomic_write_bytes(target, ref.data, durable=False)  # a copy; re-made if torn

    def score_input(self, sample: ReferenceImage, outputs: Outputs) -> ScoreInput | None:
        generated = outputs.get("generate", {}).get(sample.id)
        if generated is None:
            return None
        return ScoreInput(sample.id, (sample, generated), {"generation": generated["key"], "image": generated["sha256"], "reference": sample.sha256})

    def score_batch(self, judges: UnifiedJudges, batch: Sequence[ScoreInput], run_dir: Path) -> list[dict[str, Any]]:
        from PIL import Image as PILImage

        from unified_bench.metrics.functional.similarity import cosine_similarity_rows

        recons = []
        for item in batch:
            with PILImage.open(run_dir / item.payload[1]["image"]) as im:
                recons.append(im.convert("RGB"))
        scores: list[dict[str, float | None]] = [{} for _ in batch]
        rows = [judges.reference_row[item.sample_id] for item in batch]
        for enc in judges.encoders:
            sims = cosine_similarity_rows(judges.reference_features[enc.name][rows], enc.embed(recons))
            for s, v in zip(scores, sims, strict=True):
                s[enc.name] = float(v)
        if self.config.aux:
            ref_images = [item.payload[0].open() for item in batch]
            if judges.lpips is not None:
                for s, v in zip(scores, judges.lpips.score(ref_images, recons), strict=True):
                    s["lpips"] = float(v)
            if "ssim" in self.config.aux or "psnr" in self.config.aux:
                from unified_bench.metrics.functional.pixel import psnr, ssim

                for s, ref_im, rec_im in zip(scores, ref_images, recons, strict=True):
                    if "ssim" in self.config.aux:
                        s["ssim"] = float(ssim(ref_im, rec_im))
                    if "psnr" in self.config.aux:
                        s["psnr"] = float(psnr(ref_im, rec_im))
        return scores

    # ------------------------------------------------------------------ results
    def sample_record(
        self, sample: ReferenceImage, outputs: Outputs, scored: Mapping[str, Any] | None
    ) -> SampleRecord:
        return unified_sample_record(
            sample.id,
            reference_path(sample),
            sample.sha256,
            outputs,
            scored,
            [e.name for e in self.config.encoders],
            self.config.aux,
        )

    def metrics(self, judges: UnifiedJudges) -> list[MetricInfo]:
        full_set = sorted(e.name for e in self.config.encoders) == sorted(STANDARD_ENCODERS)
        metrics = [
            MetricInfo(
                name=enc.name,
                higher_is_better=True,
                lower_bound=-100.0,
                upper_bound=100.0,
                in_overall=full_set,
                scale=100.0,
                details={"scale": 100, **enc.fingerprint()},
            )
            for enc in judges.encoders
        ]
        lpips_details = judges.lpips.details() if judges.lpips is not None else {}
        return metrics + [aux_metric_info(name, lpips_details) for name in self.config.aux]

    def non_standard_reasons(self, dataset: ImageSet, limit: int | None, seed: int) -> list[str]:
        return non_standard_reasons(self.config, dataset, limit, seed)

    def output_summary(self, samples: Sequence[SampleRecord]) -> dict[str, Any]:
        """``n_prompts_truncated``: samples whose caption the generator's text encoder cut short
        (each sample's ``outputs.prompt_truncated_tokens`` says by how much); the report shows it."""
        return {"n_prompts_truncated": sum(1 for s in samples if (s.outputs.get("prompt_truncated_tokens") or 0) > 0)}


def reference_caption_records(dataset: Iterable[ReferenceImage]) -> dict[str, dict[str, Any]]:
    """Caption records from the images' reference descriptions; an image without one is a failed
    caption (it scores 0, like a caption the model could not produce). No description at all is an
    error: the user asked for a column that cannot exist."""
    import hashlib

    records: dict[str, dict[str, Any]] = {}
    for ref in dataset:
        base = {"id": ref.id, "sample_id": ref.id, "repeat": 0, "source": "reference"}
        if ref.text:
            key = hashlib.sha256(ref.text.encode("utf-8")).hexdigest()
            records[ref.id] = base | {"key": key, "status": "ok", "text": ref.text}
        else:
            records[ref.id] = base | {"key": "", "status": "failed", "error": "no reference description"}
    if records and not any(r["status"] == "ok" for r in records.values()):
        raise SpecError(
            "Reference captions were asked for, but no image of the data set comes with a description.",
            "Put ID.txt next to each image of a folder, or use WebDataset shards with a txt member "
            "(as unified-data writes them); or drop the reference captions.",
        )
    return records


def aux_metric_info(name: str, lpips_details: Mapping[str, Any]) -> MetricInfo:
    """Metadata of the auxiliary pixel metrics (never in the overall)."""
    if name == "lpips":
        return MetricInfo(
            name="lpips", higher_is_better=False, lower_bound=0.0, upper_bound=None,
            details={"scale": 1, **lpips_details},
        )
    if name == "ssim":
        return MetricInfo(
            name="ssim", higher_is_better=True, lower_bound=-1.0, upper_bound=1.0,
            details={"scale": 1, **PIXEL_PREPROCESSING},
        )
    if name == "psnr":
        return MetricInfo(
            name="psnr", higher_is_better=True, lower_bound=0.0, upper_bound=None,
            details={"scale": 1, "unit": "dB", **PIXEL_PREPROCESSING,
                     "identical_images": "infinite PSNR, recorded as null"},
        )
    raise ValueError(f"unknown auxiliary metric {name!r}")


def unified_sample_record(
    sample_id: str,
    reference: str,
    reference_sha256: str,
    outputs: Outputs,
    scored: Mapping[str, Any] | None,
    encoders: Sequence[str],
    aux: Sequence[str],
) -> SampleRecord:
    """One reference image's row (pure): a missing caption, reconstruction or score is 0 on every
    encoder (never a smaller denominator); auxiliary metrics are then simply absent (null)."""
    caption = outputs.get("caption", {}).get(sample_id)
    generated = outputs.get("generate", {}).get(sample_id)
    error = None
    if caption is None:
        error = "caption failed"
    elif generated is None:
        error = "generation failed"
    elif scored is None:
        error = "scoring failed"
    raw = dict(scored.get("scores", {})) if scored is not None else {}
    scores: dict[str, float | None] = {name: float(raw.get(name, 0.0) or 0.0) for name in encoders}
    for name in aux:
        value = raw.get(name)
        # JSON has no infinity: identical images (PSNR = inf) are recorded as null.
        scores[name] = value if value is not None and math.isfinite(value) else None
    return SampleRecord(
        id=sample_id,
        status="ok" if scored is not None else "failed",
        error=error,
        outputs={
            "reference_path": reference,
            "reference_sha256": reference_sha256,
            "caption": caption["text"] if caption is not None else None,
            "generated_image": generated["image"] if generated is not None else None,
            "generated_sha256": generated["sha256"] if generated is not None else None,
            # Tokens of the caption the generator's text encoder cut off (0: none, or not reported).
            "prompt_truncated_tokens": int(generated.get("notes", {}).get("prompt_truncated_tokens", 0))
            if generated is not None else None,
        },
        scores=scores,
    )
