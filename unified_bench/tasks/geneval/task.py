"""The GenEval-style task on the shared runner.

One generate stage: every prompt gets ``images_per_prompt`` images (repeats 0..N-1, one seed each),
written in the official layout inside the run directory (``images/<00000>/metadata.jsonl`` and
``images/<00000>/samples/<00000>.png``) so the official scorer can score them too. ``--data DIR`` with a
folder in that layout scores existing images **without a model**: a missing image is judged wrong,
never dropped. Judging is ``GenevalScorer`` (batched detection + colour classification, the pure
``judge``); aggregation is the official summary: a tag's score is the mean over its images, the
overall is the unweighted mean of the six tag scores, plus the share of prompts with a correct image.
"""

from __future__ import annotations

import argparse
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unified_bench.data.dataset import Dataset
from unified_bench.errors import SpecError
from unified_bench.models.base import Capability
from unified_bench.results.aggregate import Aggregation, aggregate
from unified_bench.results.schema import MetricInfo, Results, SampleRecord
from unified_bench.specs import GenerationSettings
from unified_bench.tasks.base import Outputs, Request, ScoreInput, Stage, Task
from unified_bench.tasks.geneval.annotate import annotated_path
from unified_bench.tasks.geneval.judge import JudgeOptions
from unified_bench.tasks.geneval.layout import DEFAULT_IMAGES_PER_PROMPT

log = logging.getLogger(__name__)

IMAGES_DIR = "images"


@dataclass(frozen=True)
class GenevalConfig:
    """The protocol: 4 images per prompt, Mask2Former + CLIP ViT-L/14 (QuickGELU) colour, official rules."""

    generation: GenerationSettings = field(default_factory=lambda: GenerationSettings(height=512, width=512))
    images_per_prompt: int = DEFAULT_IMAGES_PER_PROMPT
    detector: str = "mask2former"
    detector_checkpoint: str | None = None
    colour_model: str = "ViT-L-14-quickgelu"
    colour_pretrained: str | None = "openai"
    detector_batch_size: int = 4
    judge: JudgeOptions = field(default_factory=JudgeOptions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation.to_dict(),
            "images_per_prompt": self.images_per_prompt,
            "detector": self.detector,
            "detector_checkpoint": self.detector_checkpoint,
            "colour_model": self.colour_model,
            "colour_pretrained": self.colour_pretrained,
            "detector_batch_size": self.detector_batch_size,
            "judge": self.judge.to_dict(),
        }


@dataclass(frozen=True)
class GenevalPrompt:
    """One prompt: its position in the prompt set (the official folder number) and its metadata."""

    index: int
    metadata: dict[str, Any] = field(hash=False)

    @property
    def id(self) -> str:
        return f"{self.index:05d}"


class PromptDataset(Dataset):
    """A validated prompt set, or the prompts of an existing official-layout folder (``layout``)."""

    def __init__(self, prompts: Sequence[GenevalPrompt], fingerprint: dict[str, Any], layout: Any = None,
                 n: int | None = None) -> None:
        self.prompts = tuple(prompts)
        self._fingerprint = fingerprint
        self.name = str(fingerprint.get("name", "geneval"))
        self.layout = layout
        self.n = n

    def __iter__(self) -> Iterator[GenevalPrompt]:
        return iter(self.prompts[: self.n] if self.n is not None else self.prompts)

    def __len__(self) -> int:
        return len(self.prompts) if self.n is None else min(self.n, len(self.prompts))

    def fingerprint(self) -> dict[str, Any]:
        return self._fingerprint | ({"limit": self.n} if self.n is not None else {})

    def limit(self, n: int | None) -> PromptDataset:
        return self if n is None else PromptDataset(self.prompts, self._fingerprint, self.layout, n)


def _item_id(prompt_index: int, repeat: int) -> str:
    sid = f"{prompt_index:05d}"
    return sid if repeat == 0 else f"{sid}#{repeat}"


class GenevalTask(Task):
    name = "geneval"
    version = "1.0"
    config_cls = GenevalConfig
    default_data = "official"
    report_view = "geneval"
    score_batch_size = 8  # prompts per judging batch (x images per prompt)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("geneval: generation (--data: official | FILE.jsonl | generated[:SEED[:N]] | "
                                      "an official-layout image folder, scored without --model)")
        g.add_argument("--images-per-prompt", type=int, default=DEFAULT_IMAGES_PER_PROMPT)
        g.add_argument("--height", type=int, default=512)
        g.add_argument("--width", type=int, default=512)
        g.add_argument("--steps", type=int, default=40)
        g.add_argument("--guidance", type=float, default=5.0)
        j = parser.add_argument_group("geneval: judging")
        j.add_argument("--detector", default="mask2former", help="mask2former (default) | owlv2 | mmdet")
        j.add_argument("--detector-checkpoint", default=None, help="hub id or local directory")
        j.add_argument("--colour-model", default="ViT-L-14-quickgelu",
                       help="open_clip model name, or local-dir:/path for a saved one")
        j.add_argument("--colour-pretrained", default="openai")
        j.add_argument("--detector-batch-size", type=int, default=4)

    @classmethod
    def config_from_args(cls, args: argparse.Namespace) -> GenevalConfig:
        for flag, value in (("--images-per-prompt", args.images_per_prompt), ("--height", args.height),
                            ("--width", args.width), ("--steps", args.steps),
                            ("--detector-batch-size", args.detector_batch_size)):
            if value < 1:
                raise SpecError(f"{flag} must be a positive integer (got {value}).", f"Pass {flag} 1 or more.")
        return GenevalConfig(
            generation=GenerationSettings(args.height, args.width, args.steps, args.guidance),
            images_per_prompt=args.images_per_prompt,
            detector=args.detector,
            detector_checkpoint=args.detector_checkpoint,
            colour_model=args.colour_model,
            colour_pretrained=args.colour_pretrained or None,
            detector_batch_size=args.detector_batch_size,
        )

    # ------------------------------------------------------------------ data and requests
    def load_dataset(self, spec: str) -> PromptDataset:
        from unified_bench.tasks.geneval.layout import read_layout
        from unified_bench.tasks.geneval.prompts import load_prompt_set

        path = Path(spec).expanduser()
        if path.is_dir():
            layout = read_layout(path, self.config.images_per_prompt)
            prompts = [GenevalPrompt(i, dict(m)) for i, m in layout.prompts]
            fp = {"name": path.name, "kind": "geneval-folder", "source": str(path.resolve()),
                  "n_prompts": len(prompts), **{k: v for k, v in layout.summary().items() if k != "root"}}
            return PromptDataset(prompts, fp, layout)
        prompt_set = load_prompt_set(spec)
        prompts = [GenevalPrompt(i, dict(r)) for i, r in enumerate(prompt_set.records)]
        fp = {"name": spec, "kind": "geneval-prompts", "source": prompt_set.source,
              "sha256": prompt_set.sha256, "official": prompt_set.official, "n_prompts": len(prompts),
              "tags": prompt_set.tag_counts()}
        return PromptDataset(prompts, fp)

    def stages(self) -> list[Stage]:
        return [Stage("generate", Capability.GENERATE, self.config.generation)]

    def requests(self, stage: Stage, sample: GenevalPrompt, prior: Outputs) -> Iterable[Request]:
        from unified_bench.tasks.geneval.layout import image_path

        for k in range(self.config.images_per_prompt):
            rel = image_path(Path(IMAGES_DIR), sample.index, k).as_posix()
            yield Request(sample.id, text=sample.metadata["prompt"], repeat=k, output_path=rel)

    def existing_outputs(self, stage: Stage, dataset: PromptDataset) -> dict[str, dict[str, Any]] | None:
        """An official-layout folder: its images are the outputs (absolute paths), missing ones failed."""
        if dataset.layout is None:
            return None
        from unified_bench.core.hashing import sha256_file

        wanted = {p.index for p in dataset}
        records: dict[str, dict[str, Any]] = {}
        extra = 0
        for im in dataset.layout.images:
            if im.prompt_index not in wanted:
                continue
            if im.image_index >= self.config.images_per_prompt:  # the protocol judges N images per prompt
                extra += 1
                continue
            iid = _item_id(im.prompt_index, im.image_index)
            base = {"id": iid, "sample_id": f"{im.prompt_index:05d}", "repeat": im.image_index}
            if im.missing:
                records[iid] = base | {"status": "failed", "error": "missing image"}
            else:
                path = Path(im.path).resolve()
                digest = sha256_file(path)  # the image's identity: its score key part and its record key
                records[iid] = base | {"status": "ok", "image": str(path), "sha256": digest, "key": digest}
        if extra:
            log.warning("%d image(s) beyond --images-per-prompt %d are not judged.", extra,
                        self.config.images_per_prompt)
        return records

    # ------------------------------------------------------------------ judging
    def load_judges(self, runtime: Any) -> Any:
        from unified_bench.tasks.geneval.scoring import make_scorer

        return make_scorer(
            detector=self.config.detector,
            detector_checkpoint=self.config.detector_checkpoint,
            colour_model=self.config.colour_model,
            colour_pretrained=self.config.colour_pretrained,
            device=runtime.device,
            detector_batch_size=self.config.detector_batch_size,
            options=self.config.judge,
        )

    def judge_identity(self, judges: Any) -> dict[str, Any]:
        return judges.identity()

    def prepare_scoring(
        self, judges: Any, dataset: PromptDataset, run_dir: Path, show_progress: bool = True
    ) -> None:
        """Generated images get their prompt's metadata.jsonl: the folder is then official-layout."""
        if dataset.layout is not None:
            return
        from unified_bench.tasks.geneval.layout import prompt_dir, write_metadata

        for prompt in dataset:
            if not (prompt_dir(run_dir / IMAGES_DIR, prompt.index) / "metadata.jsonl").is_file():
                write_metadata(run_dir / IMAGES_DIR, prompt.index, prompt.metadata)

    def _images(self, sample: GenevalPrompt, outputs: Outputs) -> list[dict[str, Any] | None]:
        generated = outputs.get("generate", {})
        return [generated.get(_item_id(sample.index, k)) for k in range(self.config.images_per_prompt)]

    def score_input(self, sample: GenevalPrompt, outputs: Outputs) -> ScoreInput | None:
        images = self._images(sample, outputs)
        keys = [im["sha256"] if im is not None else None for im in images]
        return ScoreInput(sample.id, (sample, images), {"metadata": sample.metadata, "images": keys})

    def score_batch(self, judges: Any, batch: Sequence[ScoreInput], run_dir: Path) -> list[dict[str, Any]]:
        items = []
        spans = []
        for item in batch:
            sample, images = item.payload
            start = len(items)
            items.extend((sample.metadata, run_dir / im["image"] if im is not None else None) for im in images)
            spans.append((start, len(items)))
        verdicts = judges.score_batch(items)
        return [{"verdicts": verdicts[a:b]} for a, b in spans]

    # ------------------------------------------------------------------ results
    def sample_record(self, sample: GenevalPrompt, outputs: Outputs, scored: Mapping[str, Any] | None) -> SampleRecord:
        images = self._images(sample, outputs)
        verdicts = list(scored["scores"]["verdicts"]) if scored is not None else []
        if not verdicts:
            verdicts = [{"correct": False, "reason": "not judged", "status": "failed", "kept": {}} for _ in images]
        correct = [bool(v["correct"]) for v in verdicts]
        return SampleRecord(
            id=sample.id,
            status="ok" if scored is not None else "failed",
            error=None if scored is not None else "not judged",
            outputs={
                "prompt": sample.metadata["prompt"],
                "tag": sample.metadata["tag"],
                "images": [im["image"] if im is not None else None for im in images],
                "verdicts": [{k: v.get(k) for k in ("correct", "reason", "status", "kept")} for v in verdicts],
                # Copies with the kept boxes drawn, written by ``write_files`` (the report shows them).
                "annotated": [annotated_path(sample.id, k) if v.get("status") == "ok" else None
                              for k, v in enumerate(verdicts)],
            },
            scores={"image_accuracy": sum(correct) / len(correct), "prompt_correct": float(any(correct))},
            groups={"tag": str(sample.metadata["tag"])},
        )

    def metrics(self, judges: Any) -> list[MetricInfo]:
        identity = judges.identity() if judges is not None else {}
        return [
            MetricInfo(name="image_accuracy", higher_is_better=True, lower_bound=0.0, upper_bound=100.0, scale=100.0,
                       details={"scale": 100, "rule": "share of correct images", **identity}),
            MetricInfo(name="prompt_correct", higher_is_better=True, lower_bound=0.0, upper_bound=100.0, scale=100.0,
                       details={"scale": 100, "rule": "share of prompts with at least one correct image"}),
        ]

    @classmethod
    def aggregate(
        cls,
        samples: Sequence[SampleRecord],
        metrics: Sequence[MetricInfo],
        settings: Mapping[str, Any],
        seed: int,
    ) -> Aggregation:
        """The official summary: tag score = mean over the tag's images; overall = unweighted mean of the
        tag scores. Every prompt has the same number of images, so a tag's image mean is the mean of its
        prompts' image accuracies, and the macro overall is the plain mean of ``acc * P / (T * P_tag)``
        (the bootstrap then resamples prompts)."""
        by_tag: dict[str, list[float]] = defaultdict(list)
        for s in samples:
            by_tag[s.groups.get("tag", "")].append(float(s.scores.get("image_accuracy") or 0.0))
        total, n_tags = len(samples), len(by_tag)
        weighted = [
            acc * total / (n_tags * len(by_tag[s.groups.get("tag", "")]))
            for s in samples
            for acc in [float(s.scores.get("image_accuracy") or 0.0)]
        ]
        aggregates = {
            m.name: aggregate([float(s.scores.get(m.name) or 0.0) for s in samples], m.scale, seed) for m in metrics
        }
        return Aggregation(
            aggregates=aggregates,
            overall=aggregate(weighted, 100.0, seed) if samples else None,
            groups={"tag": {tag: aggregate(v, 100.0, seed) for tag, v in sorted(by_tag.items())}},
        )

    def non_standard_reasons(self, dataset: PromptDataset, limit: int | None, seed: int) -> list[str]:
        reasons = []
        fp = dataset.fingerprint()
        if fp.get("kind") == "geneval-prompts" and not fp.get("official"):
            reasons.append(f"prompt set '{fp.get('name')}' is not the official 553-prompt metadata")
        if limit is not None:
            reasons.append(f"--limit {limit}")
        if self.config.images_per_prompt != DEFAULT_IMAGES_PER_PROMPT:
            reasons.append(f"{self.config.images_per_prompt} images per prompt instead of {DEFAULT_IMAGES_PER_PROMPT}")
        if self.config.detector != "mmdet":
            reasons.append(f"detector '{self.config.detector}' is not the official mmdet Mask2Former: scores are "
                           "not directly comparable with published GenEval numbers")
        if self.config.judge != JudgeOptions():
            reasons.append("judge thresholds differ from the official ones")
        return reasons

    def write_files(self, run_dir: Path, results: Results) -> dict[str, str]:
        """Annotated copies of the judged images (kept boxes drawn) for the report."""
        from unified_bench.tasks.geneval.annotate import write_annotated

        return write_annotated(run_dir, results)
