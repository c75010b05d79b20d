"""GenEval prompt sets: the official metadata (pinned, cached, validated) and an offline generator.

Why: a GenEval score is only comparable if every model saw the same 553 prompts, so the official
``prompts/evaluation_metadata.jsonl`` is fetched from the official repository at a fixed commit,
checked against its sha256 and cached in the user cache (``UNIFIED_BENCH_CACHE``). A malformed line,
a misspelt class, colour or relation is reported with the file and line number before any image is
generated, instead of a ``KeyError`` deep inside scoring. Users without network access (and the tests)
get ``generate_prompts``: a deterministic prompt set in the same schema and phrasing, clearly named as
not the official set.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unified_bench.errors import UnifiedBenchError
from unified_bench.tasks.geneval.judge import COLORS, RELATIONS

#: The official repository and commit the metadata is pinned to.
OFFICIAL_REPO = "djghosh13/geneval"
OFFICIAL_COMMIT = "af4902f24d3ca90ebbb446dd9891a59e0f82725f"
OFFICIAL_URL = f"https://raw.githubusercontent.com/{OFFICIAL_REPO}/{OFFICIAL_COMMIT}/prompts/evaluation_metadata.jsonl"
OFFICIAL_SHA256 = "5c48e0813e812e3c373fa5c8ed07a8f0a483be30272b4427b0559c8048e67c13"
#: Prompts per tag in the official file (553 lines in all).
OFFICIAL_TAG_COUNTS: dict[str, int] = {
    "single_object": 80, "two_object": 99, "counting": 80, "colors": 94, "position": 100, "color_attr": 100,
}

#: The six tags (tasks), in the order the official file lists them.
TAGS: tuple[str, ...] = ("single_object", "two_object", "counting", "colors", "position", "color_attr")

#: GenEval's 80 class names, spelt and ordered as its ``object_names.txt`` (COCO order, GenEval spelling).
CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "computer mouse", "tv remote",
    "computer keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock",
    "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)
_CLASS_SET = frozenset(CLASSES)
_INCLUDE_KEYS = frozenset({"class", "count", "color", "position"})
_EXCLUDE_KEYS = frozenset({"class", "count"})


class PromptSetError(UnifiedBenchError):
    """A GenEval prompt-metadata file (or official-layout folder) that cannot be used as it is."""


@dataclass(frozen=True)
class PromptSet:
    """Validated metadata records in file order, where they came from, and the sha256 of the bytes read."""

    records: tuple[dict[str, Any], ...]
    source: str
    sha256: str
    official: bool = False

    def __len__(self) -> int:
        return len(self.records)

    def tag_counts(self) -> dict[str, int]:
        return dict(Counter(r["tag"] for r in self.records))

    def describe(self) -> dict[str, Any]:
        """What results record about the prompt set."""
        return {"source": self.source, "sha256": self.sha256, "official": self.official,
                "n_prompts": len(self.records), "tags": self.tag_counts()}


# -- validation ---------------------------------------------------------------------------------------------
def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def validate_record(record: Any, where: str = "metadata") -> dict[str, Any]:
    """Check one metadata record against the GenEval schema; raise PromptSetError naming ``where``."""

    def fail(problem: str, fix: str = "Correct this record; see prompts/evaluation_metadata.jsonl of "
             f"{OFFICIAL_REPO} for the schema.") -> PromptSetError:
        return PromptSetError(f"{where}: {problem}", fix)

    if not isinstance(record, dict):
        raise fail(f"expected a JSON object, got {type(record).__name__}.")
    tag = record.get("tag")
    if tag not in TAGS:
        raise fail(f"unknown tag {tag!r}.{_suggest(tag, TAGS)}", f"Use one of: {', '.join(TAGS)}.")
    if not isinstance(record.get("prompt"), str) or not record["prompt"].strip():
        raise fail("missing or empty 'prompt' text.")
    include = record.get("include")
    if not isinstance(include, list) or not include:
        raise fail("'include' must be a non-empty list of {class, count[, color][, position]} clauses.")
    exclude = record.get("exclude", [])
    if not isinstance(exclude, list):
        raise fail("'exclude' must be a list of {class, count} clauses.")
    for kind, clauses, allowed in (("include", include, _INCLUDE_KEYS), ("exclude", exclude, _EXCLUDE_KEYS)):
        for i, clause in enumerate(clauses):
            at = f"{kind}[{i}]"
            if not isinstance(clause, dict):
                raise fail(f"{at} must be an object, got {clause!r}.")
            extra = sorted(set(clause) - allowed)
            if extra:
                raise fail(f"{at} has unknown field(s) {', '.join(extra)}; allowed: {', '.join(sorted(allowed))}.")
            name = clause.get("class")
            if name not in _CLASS_SET:
                raise fail(
                    f"unknown class {name!r} in {at}.{_suggest(name, CLASSES)}",
                    "Use one of GenEval's 80 class names, spelt as in its object_names.txt "
                    "(e.g. 'computer mouse', 'tv remote', 'hair drier', 'dining table').",
                )
            if not _is_count(clause.get("count")):
                raise fail(f"{at} needs an integer 'count' >= 1, got {clause.get('count')!r}.")
            if "color" in clause and clause["color"] not in COLORS:
                raise fail(f"unknown colour {clause['color']!r} in {at}.{_suggest(clause['color'], COLORS)}",
                           f"Use one of: {', '.join(COLORS)}.")
            if "position" in clause:
                pos = clause["position"]
                if not (isinstance(pos, (list, tuple)) and len(pos) == 2):
                    raise fail(f"{at} 'position' must be [relation, clause index], got {pos!r}.")
                if pos[0] not in RELATIONS:
                    raise fail(f"unknown relation {pos[0]!r} in {at}.{_suggest(pos[0], RELATIONS)}",
                               f"Use one of: {', '.join(RELATIONS)}.")
                if not (isinstance(pos[1], int) and not isinstance(pos[1], bool) and 0 <= pos[1] < i):
                    raise fail(f"{at} 'position' targets clause {pos[1]!r}, which is not an earlier include "
                               f"clause (0..{i - 1}).")
    return record


def parse_metadata(text: str, source: str) -> list[dict[str, Any]]:
    """JSON-lines text -> validated records; blank lines are skipped, errors name ``source`` and the line."""
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source}, line {lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PromptSetError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}).",
                                 "Each line must be one JSON object (JSON Lines).") from exc
        records.append(validate_record(record, where))
    if not records:
        raise PromptSetError(f"{source} holds no prompt records.", "Point to a non-empty GenEval metadata file.")
    return records


def load_prompt_file(path: str | Path, *, official: bool = False) -> PromptSet:
    """Load and validate a local metadata ``.jsonl`` (the official file or one in its schema)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise PromptSetError(f"GenEval metadata file '{path}' does not exist.",
                             "Pass the path of an evaluation_metadata.jsonl, or 'official' to download it.")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PromptSetError(f"{path} is not UTF-8 text.", "Pass a JSON Lines metadata file.") from exc
    return PromptSet(tuple(parse_metadata(text, str(path))), str(path), hashlib.sha256(data).hexdigest(), official)


def official_metadata_path() -> Path:
    """Where the downloaded official file is cached (under the user cache, keyed by the commit)."""
    from unified_bench.paths import cache_root

    return cache_root() / "geneval" / f"evaluation_metadata-{OFFICIAL_COMMIT[:12]}.jsonl"


def load_official_prompts(url: str = OFFICIAL_URL, sha256: str = OFFICIAL_SHA256) -> PromptSet:
    """The official 553-prompt metadata: downloaded once (verified against ``sha256``), then cached.

    ``url``/``sha256`` exist for mirrors and tests; a file whose bytes differ is refused.
    """
    from unified_bench.data.download import fetch_verified

    dest = official_metadata_path()
    fetch_verified(url, dest, sha256, label="GenEval evaluation_metadata.jsonl")
    loaded = load_prompt_file(dest, official=sha256 == OFFICIAL_SHA256)
    return PromptSet(loaded.records, url, loaded.sha256, loaded.official)


def load_prompt_set(source: str) -> PromptSet:
    """``official`` (download + cache), ``generated[:SEED[:PER_TAG]]`` (offline generator) or a path."""
    text = str(source).strip()
    if text == "official":
        return load_official_prompts()
    if text == "generated" or text.startswith("generated:"):
        parts = text.split(":")[1:]
        try:
            seed = int(parts[0]) if parts else 0
            per_tag = int(parts[1]) if len(parts) > 1 else None
        except ValueError as exc:
            raise PromptSetError(f"Cannot read prompt-set spec '{text}'.",
                                 "Write generated, generated:SEED or generated:SEED:PER_TAG (integers).") from exc
        records = generate_prompts(seed=seed, per_tag=per_tag)
        blob = "".join(json.dumps(r) + "\n" for r in records).encode()
        return PromptSet(tuple(records), text, hashlib.sha256(blob).hexdigest(), False)
    return load_prompt_file(text)


# -- offline generator ---------------------------------------------------------------------------------------
_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_PLURALS = {"sheep": "sheep", "skis": "skis", "knife": "knives", "computer mouse": "computer mice",
            "scissors": "scissors", "bus": "buses", "wine glass": "wine glasses", "couch": "couches",
            "sandwich": "sandwiches", "toothbrush": "toothbrushes", "hair drier": "hair driers"}


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def plural(name: str) -> str:
    """English plural of a class name (regular -s, with the irregular ones of the 80 classes)."""
    return _PLURALS.get(name, f"{name}es" if name.endswith(("s", "x", "ch", "sh")) else f"{name}s")


def _one(rng: random.Random, tag: str) -> dict[str, Any]:
    """One record of ``tag`` in the official schema and phrasing."""
    coloured = [c for c in CLASSES if c != "person"]  # GenEval asks for no "[colour] person"
    if tag == "single_object":
        name = rng.choice(CLASSES)
        return {"tag": tag, "include": [{"class": name, "count": 1}], "prompt": f"a photo of {_a(name)}"}
    if tag == "two_object":
        a, b = rng.sample(CLASSES, 2)
        return {"tag": tag, "include": [{"class": a, "count": 1}, {"class": b, "count": 1}],
                "prompt": f"a photo of {_a(a)} and {_a(b)}"}
    if tag == "counting":
        name, n = rng.choice(CLASSES), rng.randint(2, 4)
        return {"tag": tag, "include": [{"class": name, "count": n}], "exclude": [{"class": name, "count": n + 1}],
                "prompt": f"a photo of {_NUMBERS[n]} {plural(name)}"}
    if tag == "colors":
        name, colour = rng.choice(coloured), rng.choice(COLORS)
        return {"tag": tag, "include": [{"class": name, "count": 1, "color": colour}],
                "prompt": f"a photo of {_a(colour)} {name}"}
    if tag == "position":
        a, b = rng.sample(CLASSES, 2)
        rel = rng.choice(RELATIONS)
        return {"tag": tag, "include": [{"class": b, "count": 1}, {"class": a, "count": 1, "position": [rel, 0]}],
                "prompt": f"a photo of {_a(a)} {rel} {_a(b)}"}
    if tag == "color_attr":
        (a, b), (ca, cb) = rng.sample(coloured, 2), rng.sample(COLORS, 2)
        return {"tag": tag, "include": [{"class": a, "count": 1, "color": ca}, {"class": b, "count": 1, "color": cb}],
                "prompt": f"a photo of {_a(ca)} {a} and {_a(cb)} {b}"}
    raise ValueError(f"unknown tag {tag!r}")


def generate_prompts(
    seed: int = 0, per_tag: int | Mapping[str, int] | None = None, tags: Sequence[str] = TAGS
) -> list[dict[str, Any]]:
    """A deterministic GenEval-schema prompt set (NOT the official one: scores are not comparable).

    ``per_tag``: prompts per tag (an int for all, a mapping per tag, or None for the official counts).
    Records are distinct; the same arguments always give the same list (Python's ``random`` with
    ``seed``, independent of numpy/torch state).
    """
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for tag in tags:
        if tag not in TAGS:
            raise PromptSetError(f"unknown tag {tag!r}.{_suggest(tag, TAGS)}", f"Use one of: {', '.join(TAGS)}.")
        want = per_tag.get(tag, 0) if isinstance(per_tag, Mapping) else (
            per_tag if per_tag is not None else OFFICIAL_TAG_COUNTS[tag])
        limit = len(CLASSES) if tag == "single_object" else 10_000
        if want > limit:
            raise PromptSetError(f"cannot generate {want} distinct {tag} prompts (at most {limit}).",
                                 f"Ask for {limit} or fewer.")
        made = 0
        while made < want:
            record = _one(rng, tag)
            key = json.dumps(record, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            records.append(record)
            made += 1
    return records
