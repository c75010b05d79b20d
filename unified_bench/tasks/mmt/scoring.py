"""Pure, torch-free scoring of multiple-choice answers: overall, subtask and meta-task accuracy.

Why these three numbers: they are what VLMEvalKit's ``report_acc_MMT`` reports for MMT-Bench and
what papers quote. Overall is the micro mean over questions; a subtask (``category``) is the mean
over its questions; a meta-task (``l2-category``) is the unweighted mean of its subtasks (macro),
so a meta-task with one large subtask and one small one weighs both equally. All figures are in
percent with a seeded percentile-bootstrap 95% interval (``unified_bench.results.aggregate``).

The meta-task interval: the macro mean equals the plain mean of per-question values
``hit * N / (S * n_s)`` (``N`` questions in the meta-task, ``S`` subtasks, ``n_s`` questions in the
question's subtask), so the shared ``aggregate`` bootstraps exactly that mean by resampling
questions.

Questions without an answer key (the ALL split, or an empty ``answer`` cell) are not scored here:
they go to the evaluation server through the submission file (``write_submission_tsv``). The
reference counts an empty key in a file that has answers as wrong; this module leaves it out and
reports how many (``n_unscored``).

Imports only numpy, pydantic (via the results schema) and the standard library: the leaderboard
imports it without torch.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unified_bench.results.aggregate import aggregate
from unified_bench.results.schema import Aggregate
from unified_bench.tasks.mmt.extract import infer_from_text, infer_letter

#: Group name for questions whose file has no category / l2-category.
NO_GROUP = "(none)"

#: Meta-task abbreviations used in MMT-Bench tables (as in VLMEvalKit's ``MMT_abbrs``).
META_TASK_ABBREVIATIONS: dict[str, str] = {
    "visual_recognition": "VR", "localization": "Loc", "ocr": "OCR", "counting": "Count",
    "hallucination": "HLN", "image_retrieval": "IR", "threed": "3D", "visual_captioning": "VC",
    "visual_grounding": "VG", "doc_understanding": "DU", "action_recognition": "AR",
    "pixel_level_perception": "PLP", "image-to-image_translation": "I2IT", "relation_reasoning": "RR",
    "intelligence_quotient_test": "IQT", "emotion": "Emo", "visual_illusion": "VI",
    "meme_understanding": "MemU", "visual_prompt_understanding": "VPU", "anomaly_detection": "AND",
    "keypoint_detection": "KD", "visual_commonsense_reasoning": "VCR", "image_evaluation_judgement": "IEJ",
    "multiple_image_analysis": "MIA", "cross_image_matching": "CIM", "temporal_understanding": "TU",
    "visual_code": "VP", "medical_understanding": "MedU", "autonomous_driving": "AUD",
    "discipline_knowledge_reasoning": "DKR", "embodied_ai": "EA", "gui_navigation": "GN",
}

#: Subtasks unified-model papers quote next to generation scores, by theme. Names are MMT-Bench
#: subtask names as in the benchmark's task definitions (OpenGVLab's ``task_zoo``: the colour
#: subtask sits under visual_recognition, small objects under localization, and counting is a
#: meta-task of four subtasks). Matching ignores case, spaces and hyphens (``highlight_of``).
PAPER_HIGHLIGHTS: dict[str, tuple[str, ...]] = {
    "small objects": ("small_object_detection",),
    "colour": ("color_recognition",),
    "counting": ("counting_by_category", "counting_by_reasoning", "counting_by_visual_prompting",
                 "crowd_counting"),
}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


_HIGHLIGHT_BY_NAME = {_norm(sub): theme for theme, subs in PAPER_HIGHLIGHTS.items() for sub in subs}


def highlight_of(subtask: str) -> str | None:
    """The paper theme (``"small objects"``, ``"colour"``, ``"counting"``) a subtask belongs to, if any."""
    return _HIGHLIGHT_BY_NAME.get(_norm(subtask))


# ----------------------------------------------------------------------------- records and scores


@dataclass(frozen=True)
class ScoredQuestion:
    """One question's outcome. ``hit`` is None when the question has no answer key (not scored)."""

    index: int
    category: str | None
    l2_category: str | None
    split: str | None
    hit: bool | None


def is_hit(extracted: str, answer: str | None) -> bool | None:
    """Whether the extracted letter is the key (``"Z"`` never is); None without a key."""
    if answer is None:
        return None
    return extracted == answer


def circular_hits(rotation_hits: Iterable[tuple[int, bool]],
                  n_rotations: Mapping[int, int] | None = None) -> dict[int, bool]:
    """Per question index: True only if every one of its rotations was answered correctly.

    ``rotation_hits`` holds one ``(index, hit)`` per asked rotation (a failed sample is a miss).
    With ``n_rotations`` (index -> number of options), a question with a missing or extra rotation
    raises ValueError: a circular score over incomplete rotations would be silently too high.
    """
    hits: dict[int, bool] = {}
    counts: dict[int, int] = defaultdict(int)
    for index, hit in rotation_hits:
        hits[index] = hits.get(index, True) and bool(hit)
        counts[index] += 1
    if n_rotations is not None:
        bad = {i: (counts.get(i, 0), n) for i, n in n_rotations.items() if counts.get(i, 0) != max(1, n)}
        bad.update({i: (c, 0) for i, c in counts.items() if i not in n_rotations})
        if bad:
            i, (got, want) = next(iter(sorted(bad.items())))
            raise ValueError(f"question {i}: {got} rotation results for {want} rotations "
                             f"({len(bad)} question(s) incomplete)")
    return hits


@dataclass(frozen=True)
class SubtaskScore:
    name: str
    meta_tasks: tuple[str, ...]  # normally one; the reference lets a subtask name recur across meta-tasks
    score: Aggregate
    highlight: str | None


@dataclass(frozen=True)
class MetaTaskScore:
    name: str
    abbreviation: str | None
    subtasks: tuple[str, ...]
    score: Aggregate  # macro: unweighted mean of the subtask means


@dataclass(frozen=True)
class MCQScores:
    overall: Aggregate  # micro mean over scored questions, percent
    by_split: dict[str, Aggregate]
    subtasks: dict[str, SubtaskScore]
    meta_tasks: dict[str, MetaTaskScore]
    n_unscored: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``Aggregate`` as dicts) for results files and the report."""
        return {
            "overall": self.overall.model_dump(),
            "by_split": {k: v.model_dump() for k, v in self.by_split.items()},
            "subtasks": {k: {"meta_tasks": list(v.meta_tasks), "highlight": v.highlight, **v.score.model_dump()}
                         for k, v in self.subtasks.items()},
            "meta_tasks": {k: {"abbreviation": v.abbreviation, "subtasks": list(v.subtasks), **v.score.model_dump()}
                           for k, v in self.meta_tasks.items()},
            "n_unscored": self.n_unscored,
        }


def score_questions(questions: Iterable[ScoredQuestion], seed: int = 0) -> MCQScores:
    """Overall (micro), per-subtask and per-meta-task (macro) accuracy in percent, with bootstrap CIs.

    Groups are sorted by name. A subtask's accuracy is over all its questions, as in the reference.
    """
    scored = []
    n_unscored = 0
    for q in questions:
        if q.hit is None:
            n_unscored += 1
        else:
            scored.append(q)
    return _score(scored, n_unscored, seed)


def _score(scored: Sequence[ScoredQuestion], n_unscored: int, seed: int) -> MCQScores:
    hits_by_sub: dict[str, list[float]] = defaultdict(list)
    subs_by_meta: dict[str, list[str]] = defaultdict(list)
    metas_by_sub: dict[str, list[str]] = defaultdict(list)
    hits_by_split: dict[str, list[float]] = defaultdict(list)
    for q in scored:
        sub = q.category if q.category is not None else NO_GROUP
        meta = q.l2_category if q.l2_category is not None else NO_GROUP
        hits_by_sub[sub].append(float(q.hit))
        if sub not in subs_by_meta[meta]:
            subs_by_meta[meta].append(sub)
        if meta not in metas_by_sub[sub]:
            metas_by_sub[sub].append(meta)
        hits_by_split[q.split if q.split is not None else NO_GROUP].append(float(q.hit))

    subtasks = {
        sub: SubtaskScore(sub, tuple(sorted(metas_by_sub[sub])), aggregate(hits_by_sub[sub], 100.0, seed),
                          highlight_of(sub))
        for sub in sorted(hits_by_sub)
    }
    meta_tasks = {}
    for meta in sorted(subs_by_meta):
        subs = sorted(subs_by_meta[meta])
        total = sum(len(hits_by_sub[s]) for s in subs)
        weighted = [h * total / (len(subs) * len(hits_by_sub[s])) for s in subs for h in hits_by_sub[s]]
        meta_tasks[meta] = MetaTaskScore(meta, META_TASK_ABBREVIATIONS.get(meta), tuple(subs),
                                         aggregate(weighted, 100.0, seed))
    return MCQScores(
        overall=aggregate([float(q.hit) for q in scored], 100.0, seed),
        by_split={s: aggregate(v, 100.0, seed) for s, v in sorted(hits_by_split.items())},
        subtasks=subtasks,
        meta_tasks=meta_tasks,
        n_unscored=n_unscored,
    )


# ----------------------------------------------------------------------------- CSV tables

_SUBTASK_COLUMNS = ("subtask", "meta_task", "n", "accuracy", "ci_low", "ci_high", "highlight")
_META_COLUMNS = ("meta_task", "abbreviation", "n_subtasks", "n", "accuracy", "ci_low", "ci_high")


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def subtask_csv(scores: MCQScores) -> str:
    """The per-subtask table as CSV text (accuracy and CI bounds in percent)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(_SUBTASK_COLUMNS)
    for s in scores.subtasks.values():
        a = s.score
        w.writerow([s.name, "|".join(s.meta_tasks), a.n, _fmt(a.mean), _fmt(a.ci_low), _fmt(a.ci_high),
                    s.highlight or ""])
    return buf.getvalue()


def metatask_csv(scores: MCQScores) -> str:
    """The per-meta-task table (macro means) as CSV text, after an ``Overall (micro)`` row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(_META_COLUMNS)
    o = scores.overall
    w.writerow(["Overall (micro)", "", len(scores.subtasks), o.n, _fmt(o.mean), _fmt(o.ci_low), _fmt(o.ci_high)])
    for m in scores.meta_tasks.values():
        a = m.score
        w.writerow([m.name, m.abbreviation or "", len(m.subtasks), a.n, _fmt(a.mean), _fmt(a.ci_low),
                    _fmt(a.ci_high)])
    return buf.getvalue()


def write_subtask_csv(path: str | Path, scores: MCQScores) -> Path:
    from unified_bench.core.atomic import atomic_write_text

    atomic_write_text(Path(path), subtask_csv(scores))
    return Path(path)


def write_metatask_csv(path: str | Path, scores: MCQScores) -> Path:
    from unified_bench.core.atomic import atomic_write_text

    atomic_write_text(Path(path), metatask_csv(scores))
    return Path(path)


# ----------------------------------------------------------------------------- submission file

#: Log text for an answer the chain could not map (the reference's exact-matching message).
UNRESOLVED_LOG = "Failed in Prefetch, no GPT-based answer matching under `exact_matching` policy."

_SUBMISSION_SOURCE_COLUMNS = ("index", "question", *"ABCDEFGHI", "answer", "hint", "category", "l2-category",
                              "split")


@dataclass(frozen=True)
class SubmissionRow:
    """One answered question for the evaluation server: its fields, the raw output and the letter."""

    index: int
    question: str
    options: Mapping[str, str]
    category: str | None
    l2_category: str | None
    split: str | None
    hint: str | None
    prediction: str
    opt: str


def submission_tsv(rows: Iterable[SubmissionRow], source_columns: Sequence[str]) -> str:
    """The MMT-Bench ALL submission as TSV text, shaped like VLMEvalKit's ``MMTBench_result_transfer``.

    Columns: the source file's columns in their order (the image column dropped, only the schema's
    columns kept), then ``prediction`` (raw output), ``opt`` (the extracted letter the server
    scores) and ``log``; rows sorted by ``index``; every field quoted, tab-separated, UTF-8.
    """
    keep = [c for c in source_columns if c in _SUBMISSION_SOURCE_COLUMNS]
    if "index" not in keep:
        keep.insert(0, "index")
    columns = [*keep, "prediction", "opt", "log"]
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(columns)
    for r in sorted(rows, key=lambda r: r.index):
        resolved = infer_letter(r.prediction, r.options) or infer_from_text(r.prediction, r.options)
        values = {
            "index": str(r.index), "question": r.question, "hint": r.hint or "", "category": r.category or "",
            "l2-category": r.l2_category or "", "split": r.split or "", "answer": "",
            "prediction": r.prediction, "opt": r.opt, "log": r.prediction if resolved else UNRESOLVED_LOG,
        }
        values.update({letter: r.options.get(letter, "") for letter in "ABCDEFGHI"})
        w.writerow([values[c] for c in columns])
    return buf.getvalue()


def write_submission_tsv(path: str | Path, rows: Iterable[SubmissionRow], source_columns: Sequence[str]) -> Path:
    from unified_bench.core.atomic import atomic_write_text

    atomic_write_text(Path(path), submission_tsv(rows, source_columns))
    return Path(path)
