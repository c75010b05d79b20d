"""The MMT-Bench-style multiple-choice task on the shared runner.

One answer stage: each question is asked once with the reference prompt (images first, then
``[Hint: ...]Question: ...Options: ...``), or, with ``--circular``, once per rotation of its options
(rotation 0 is the reference prompt, so the standard score is always there). Scoring is the
reference harness's deterministic extraction chain (``extract.extract_choice``), never a random
guess; a question whose answer is missing counts as wrong. Aggregation is ``scoring.score_questions``:
overall micro, subtask mean, meta-task macro. Files: the two CSV tables, and for an answer-less file
(the ALL split) the submission TSV the evaluation server expects.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unified_bench.data.dataset import Dataset
from unified_bench.errors import SpecError
from unified_bench.models.base import Capability
from unified_bench.results.aggregate import Aggregation, per_metric_aggregates
from unified_bench.results.schema import MetricInfo, Results, SampleRecord
from unified_bench.specs import AnswerSettings
from unified_bench.tasks.base import Outputs, Request, ScoreInput, Stage, Task
from unified_bench.tasks.mmt.scoring import ScoredQuestion, score_questions

DEFAULT_DATA = "MMT-Bench_VAL"


@dataclass(frozen=True)
class MMTConfig:
    """The protocol: greedy answers (images first), the reference extraction, no rotations."""

    answer: AnswerSettings = field(default_factory=lambda: AnswerSettings(max_new_tokens=64))
    circular: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer.to_dict(), "circular": self.circular}


class QuestionTable(Dataset):
    """A streamed question TSV as the runner's data set (sample id = the question's ``index``)."""

    def __init__(self, table: Any, n: int | None = None) -> None:
        self.table = table
        self.name = table.name
        self.n = n

    def __iter__(self) -> Iterator[Any]:
        it = iter(self.table)
        return itertools.islice(it, self.n) if self.n is not None else it

    def __len__(self) -> int:
        total = len(self.table)
        return min(total, self.n) if self.n is not None else total

    def fingerprint(self) -> dict[str, Any]:
        return self.table.fingerprint() | ({"limit": self.n} if self.n is not None else {})

    def limit(self, n: int | None) -> QuestionTable:
        return self if n is None else QuestionTable(self.table, n)

    def validate(self) -> None:
        """The loader's first pass checks every row (and the md5 of official files) up front."""
        len(self.table)


class MMTTask(Task):
    name = "mmt"
    version = "1.0"
    config_cls = MMTConfig
    default_data = DEFAULT_DATA
    report_view = "mmt"
    score_batch_size = 64

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("mmt: answering (reference: greedy, images first)")
        g.add_argument("--max-new-tokens", type=int, default=64)
        g.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (reference)")
        g.add_argument("--circular", action="store_true",
                       help="also ask every rotation of the options; a question counts only if all are right "
                            "(reported separately as circular_accuracy)")

    @classmethod
    def config_from_args(cls, args: argparse.Namespace) -> MMTConfig:
        if args.max_new_tokens < 1:
            raise SpecError(f"--max-new-tokens must be positive (got {args.max_new_tokens}).", "Pass 1 or more.")
        return MMTConfig(
            answer=AnswerSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature),
            circular=args.circular,
        )

    # ------------------------------------------------------------------ data and requests
    def load_dataset(self, spec: str) -> QuestionTable:
        from unified_bench.tasks.mmt.tsv import open_mcq_tsv

        return QuestionTable(open_mcq_tsv(spec))

    def stages(self) -> list[Stage]:
        return [Stage("answer", Capability.ANSWER, self.config.answer)]

    def _rotations(self, question: Any) -> range:
        return range(len(question.options)) if self.config.circular and question.options else range(1)

    def requests(self, stage: Stage, sample: Any, prior: Outputs) -> Iterable[Request]:
        from unified_bench.tasks.mmt.prompt import rotated_prompt

        images = tuple(sample.image_bytes())
        for k in self._rotations(sample):
            text, _shown, _rotation = rotated_prompt(sample.question, sample.options, sample.hint, k)
            yield Request(sample.id, images=images, text=text, repeat=k)

    # ------------------------------------------------------------------ judging (pure extraction)
    def score_input(self, sample: Any, outputs: Outputs) -> ScoreInput | None:
        answers = outputs.get("answer", {})
        sid = sample.id
        texts = []
        for k in self._rotations(sample):
            rec = answers.get(sid if k == 0 else f"{sid}#{k}")
            if rec is None:
                return None  # a missing answer: the question counts as wrong
            texts.append(rec["text"])
        keys = [answers[sid if k == 0 else f"{sid}#{k}"]["key"] for k in self._rotations(sample)]
        return ScoreInput(sid, (sample, texts), {"answers": keys, "key": sample.answer})

    def score_batch(self, judges: Any, batch: Sequence[ScoreInput], run_dir: Path) -> list[dict[str, Any]]:
        from unified_bench.tasks.mmt.extract import extract_choice
        from unified_bench.tasks.mmt.prompt import rotated_prompt

        out = []
        for item in batch:
            question, texts = item.payload
            letters = []
            for k, text in enumerate(texts):
                _prompt, shown, rotation = rotated_prompt(question.question, question.options, question.hint, k)
                letters.append(rotation.original_letter(extract_choice(text, shown)))
            out.append({"letters": letters, "images": _save_question_images(run_dir, question)})
        return out

    # ------------------------------------------------------------------ results
    def sample_record(self, sample: Any, outputs: Outputs, scored: Mapping[str, Any] | None) -> SampleRecord:
        sid = sample.id
        answer = outputs.get("answer", {}).get(sid)
        letters = list(scored["scores"]["letters"]) if scored is not None else []
        letter = letters[0] if letters else "Z"
        key = sample.answer
        scores: dict[str, float | None] = {"accuracy": None if key is None else float(letter == key)}
        if self.config.circular:
            scores["circular_accuracy"] = (
                None if key is None else float(bool(letters) and all(x == key for x in letters))
            )
        groups = {k: v for k, v in (("category", sample.category), ("l2_category", sample.l2_category),
                                    ("split", sample.split)) if v is not None}
        return SampleRecord(
            id=sid,
            status="ok" if scored is not None else "failed",
            error=None if scored is not None else "no answer",
            outputs={
                "question": sample.question,
                "hint": sample.hint,
                "options": dict(sample.options),
                "answer": key,
                "prediction": answer["text"] if answer is not None else None,
                "letter": letter,
                "rotation_letters": letters if self.config.circular else None,
                # Copies kept by scoring for the report; none when the question was never answered.
                "images": list(scored["scores"].get("images", [])) if scored is not None else [],
            },
            scores=scores,
            groups=groups,
        )

    def metrics(self, judges: Any) -> list[MetricInfo]:
        details = {"scale": 100, "extraction": "VLMEvalKit exact-matching chain (no LLM judge)"}
        metrics = [MetricInfo(name="accuracy", higher_is_better=True, lower_bound=0.0, upper_bound=100.0,
                              in_overall=True, scale=100.0, details=details)]
        if self.config.circular:
            metrics.append(MetricInfo(name="circular_accuracy", higher_is_better=True, lower_bound=0.0,
                                      upper_bound=100.0, scale=100.0,
                                      details={**details, "rule": "correct only if every rotation is"}))
        return metrics

    @classmethod
    def aggregate(
        cls,
        samples: Sequence[SampleRecord],
        metrics: Sequence[MetricInfo],
        settings: Mapping[str, Any],
        seed: int,
    ) -> Aggregation:
        """Overall = micro mean over answered-key questions; groups: subtask means, meta-task macro
        means (unweighted over subtasks) and per split, all from ``scoring.score_questions``."""
        scored = score_questions(_scored_questions(samples), seed=seed)
        aggregates = per_metric_aggregates(samples, [m for m in metrics if m.name != "accuracy"], seed)
        if scored.subtasks:  # answer keys exist (the ALL split has none: the server scores it)
            aggregates = {"accuracy": scored.overall, **aggregates}
        groups = {
            "category": {name: sub.score for name, sub in scored.subtasks.items()},
            "l2_category": {name: meta.score for name, meta in scored.meta_tasks.items()},
            "split": dict(scored.by_split),
        }
        return Aggregation(
            aggregates=aggregates,
            overall=aggregates.get("accuracy"),
            groups={k: v for k, v in groups.items() if v},
        )

    def non_standard_reasons(self, dataset: QuestionTable, limit: int | None, seed: int) -> list[str]:
        from unified_bench.tasks.mmt.tsv import KNOWN_FILES

        reasons = []
        fp = dataset.fingerprint()
        known = KNOWN_FILES.get(fp.get("name", ""))
        if known is None or fp.get("md5") != known.md5:
            reasons.append(f"question file '{fp.get('name')}' is not an official MMT-Bench file (md5 checked)")
        if limit is not None:
            reasons.append(f"--limit {limit}")
        if self.config.answer != AnswerSettings(max_new_tokens=64):
            reasons.append("answer decoding differs from the reference (greedy, 64 new tokens)")
        return reasons

    def write_files(self, run_dir: Path, results: Results) -> dict[str, str]:
        from unified_bench.tasks.mmt.scoring import write_metatask_csv, write_subtask_csv

        files: dict[str, str] = {}
        scores = score_questions(_scored_questions(results.samples), seed=results.provenance.seed)
        if scores.subtasks:
            write_subtask_csv(run_dir / "subtasks.csv", scores)
            write_metatask_csv(run_dir / "meta_tasks.csv", scores)
            files |= {"subtasks": "subtasks.csv", "meta_tasks": "meta_tasks.csv"}
        if results.dataset.get("has_answers") is False:  # the ALL split: scored by the evaluation server
            files["submission"] = self._write_submission(run_dir, results)
        return files

    def _write_submission(self, run_dir: Path, results: Results) -> str:
        from unified_bench.tasks.mmt.scoring import SubmissionRow, write_submission_tsv

        rows = [
            SubmissionRow(
                index=int(s.id), question=s.outputs["question"], options=s.outputs["options"],
                category=s.groups.get("category"), l2_category=s.groups.get("l2_category"),
                split=s.groups.get("split"), hint=s.outputs.get("hint"),
                prediction=s.outputs.get("prediction") or "", opt=s.outputs.get("letter") or "Z",
            )
            for s in results.samples
        ]
        columns = results.dataset["columns"]  # the source file's header: the server expects its order
        write_submission_tsv(run_dir / "submission.tsv", rows, columns)
        return "submission.tsv"


def _scored_questions(samples: Sequence[SampleRecord]) -> list[ScoredQuestion]:
    """Each sample's outcome for ``scoring.score_questions`` (no key: None, not scored)."""
    return [
        ScoredQuestion(
            index=int(s.id) if s.id.lstrip("-").isdigit() else i,
            category=s.groups.get("category"),
            l2_category=s.groups.get("l2_category"),
            split=s.groups.get("split"),
            hit=None if s.scores.get("accuracy") is None else bool(s.scores["accuracy"]),
        )
        for i, s in enumerate(samples)
    ]


def _save_question_images(run_dir: Path, question: Any) -> list[str]:
    """Keep each question's images in the run directory for the report (once; re-made if torn) and
    return their paths. One read of the question's row."""
    from unified_bench.core.atomic import atomic_write_bytes

    paths = []
    for i, data in enumerate(question.image_bytes()):
        rel = f"questions/{question.index}-{i}.img"
        target = run_dir / rel
        if not target.exists() or target.stat().st_size != len(data):
            atomic_write_bytes(target, data, durable=False)
        paths.append(rel)
    return paths
