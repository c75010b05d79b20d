"""Streamed loader for multiple-choice question TSVs in the MMT-Bench / MMBench (VLMEvalKit) schema.

Why streamed: ``MMT-Bench_ALL.tsv`` is 6.2 GB of base64 images. The file is never held in
memory: it is read row by row with the ``csv`` module (field size limit raised; one row, a few MB
at most, is in memory at a time) and a question's images are read back from disk only when asked
for, by seeking to the byte offset of the row that holds them.

Schema (the reference harness's, ``vlmeval/dataset/image_base.py`` and ``image_mcq.py``):

- ``index`` (int), ``question``, options ``A``..``I`` (an empty or NaN cell = unused letter),
  ``answer`` (absent in the ALL split, or empty in a row: no key, the question is not scored
  locally), ``category`` (the subtask), ``l2-category`` (the meta-task), ``split``, optional ``hint``.
- ``image``: base64 image data; in ``_MI`` files a list (JSON or Python literal) of base64
  images. A value of 64 characters or fewer is the ``index`` of another row whose image to reuse;
  that row may be anywhere in the file and must itself hold image data (no chains), as the
  reference asserts. A row with an empty image is skipped, like the reference's ``skip_noimg``.
- Missing values follow pandas' ``read_csv`` (the reference loads the TSV with it): a cell that
  is exactly one of pandas' default NA strings (``NA_STRINGS``, e.g. ``""``, ``"nan"``, ``"None"``)
  is missing. So an option whose text is literally ``None`` is dropped, as in the reference.

Two passes: the first (on the first call of ``len``, ``fingerprint`` or iteration) checks every
row, computes the file's md5 and records the byte offset of each row holding image data; the
second (each iteration) yields ``Question`` records whose images resolve through that table.
"""

from __future__ import annotations

import ast
import base64
import binascii
import csv
import hashlib
import io
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from unified_bench.errors import ImageSetError

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

#: Option columns, in letter order (the reference reads up to I for MMT-Bench).
OPTION_LETTERS: tuple[str, ...] = tuple("ABCDEFGHI")

#: pandas' default NA strings (``pandas._libs.parsers.STR_NA_VALUES``, pandas 2.x/3.x).
NA_STRINGS: frozenset[str] = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
})

#: An ``image`` value this short is the ``index`` of the row whose image to reuse.
BACKREF_MAX_CHARS = 64

_REQUIRED = ("index", "question", "image")
_B64_HEAD = re.compile(r"[A-Za-z0-9+/=\s]*")
#: Largest accepted cell, in characters. Far above any real image cell (a few MB), and it bounds
#: memory: an unclosed quote would otherwise swallow the rest of a 6 GB file into one field.
MAX_FIELD_CHARS = 128 * 2**20


#: A cell pandas would parse as a number (simplified: decimal ints and floats).
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TEXT_COLUMNS = ("question", "hint", *OPTION_LETTERS)


class _NumericColumns:
    """Which text columns pandas would load as float, so the reference shows ``9`` as ``9.0``.

    Why: the reference reads the TSV with ``pandas.read_csv``, which types a column from all its
    cells; a column holding only numbers and at least one empty cell (or a decimal) becomes float,
    and its options are then shown and matched as ``"9.0"``. This loader keeps the file's text and
    warns when a file has such a column, since scores on it may differ from the reference's.
    """

    def __init__(self, header: _Header) -> None:
        self.candidates = {c: header.pos[c] for c in _TEXT_COLUMNS if c in header.pos}
        self.has_na: set[str] = set()
        self.has_value: set[str] = set()
        self.non_int: set[str] = set()

    def update(self, fields: list[str]) -> None:
        for name, i in list(self.candidates.items()):
            value = fields[i]
            if _missing(value):
                self.has_na.add(name)
            elif _NUMBER.fullmatch(value.strip()):
                self.has_value.add(name)
                if not value.strip().lstrip("+-").isdigit():
                    self.non_int.add(name)
            else:
                del self.candidates[name]

    def float_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.candidates if c in self.has_value and (c in self.has_na or c in self.non_int))


class QuestionFileError(ImageSetError):
    """A question TSV that is missing, malformed or fails verification."""


@dataclass(frozen=True)
class KnownFile:
    """An official TSV: where VLMEvalKit downloads it from and its pinned md5."""

    name: str
    url: str
    md5: str


_MMT_URL = "https://opencompass.openxlab.space/utils/benchmarks/MMT-Bench/{}.tsv"

#: The official MMT-Bench files (URLs and md5s as pinned in VLMEvalKit's ``ImageMCQDataset``).
KNOWN_FILES: dict[str, KnownFile] = {
    name: KnownFile(name, _MMT_URL.format(name), md5)
    for name, md5 in (
        ("MMT-Bench_VAL", "8dd4b730f53dbf9c3aed90ca31c928e0"),
        ("MMT-Bench_VAL_MI", "c7d7b998eb5cd9aa36c7d4f721472462"),
        ("MMT-Bench_ALL", "b273a2f4c596fe4f2605de0494cd632f"),
        ("MMT-Bench_ALL_MI", "5272157097e19cdd7cb41e412ab3b7c7"),
    )
}


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ImageRef:
    """Where a question's image data lives: the row at byte ``offset`` of ``path``, column ``column``."""

    path: str
    offset: int
    column: int
    row: int  # 1-based data-row number of that row (for error messages)


@dataclass(frozen=True)
class Question:
    """One multiple-choice question. Small and picklable: images are read from disk on demand.

    ``options`` maps each used letter to its text, in letter order. ``answer`` is None when the
    file has no answer for it (ALL split). ``row`` is the 1-based data-row number in the file.
    """

    index: int
    question: str
    options: dict[str, str] = field(hash=False)
    answer: str | None
    category: str | None
    l2_category: str | None
    split: str | None
    hint: str | None
    image_ref: ImageRef
    row: int

    @property
    def id(self) -> str:
        """The sample id the runner keys outputs by: the question's ``index``."""
        return str(self.index)

    def image_b64(self) -> list[str]:
        """The base64 strings of this question's images (one per image)."""
        return _read_images(self.image_ref)

    def image_bytes(self) -> list[bytes]:
        """The encoded image files (JPEG/PNG bytes), decoded from base64 now."""
        ref = self.image_ref
        out = []
        for i, b64 in enumerate(self.image_b64()):
            try:
                out.append(base64.b64decode(b64, validate=False))
            except (binascii.Error, ValueError) as exc:
                raise _row_error(ref.path, ref.row, "image", f"image {i} is not valid base64 ({exc})") from exc
        return out

    def images(self) -> list[Image]:
        """The images as RGB PIL images (the reference converts RGBA/P/LA to RGB; so do models)."""
        from PIL import Image as PILImage
        from PIL import UnidentifiedImageError

        ref = self.image_ref
        out = []
        for i, data in enumerate(self.image_bytes()):
            try:
                with PILImage.open(io.BytesIO(data)) as img:
                    out.append(img.convert("RGB"))
            except (UnidentifiedImageError, OSError) as exc:
                raise _row_error(ref.path, ref.row, "image", f"image {i} is not a readable image ({exc})") from exc
        return out


# ----------------------------------------------------------------------------- errors and parsing


def _row_error(path: str | Path, row: int, column: str | None, problem: str) -> QuestionFileError:
    where = f"{path}, row {row}" + (f", column '{column}'" if column else "")
    return QuestionFileError(
        f"Malformed question file: {where}: {problem}.",
        "Fix or re-download the file (the official TSVs are verified by md5); a hand-made file must "
        "follow the schema: index, question, A..I, answer, image (base64), category, l2-category, split.",
    )


def _missing(value: str) -> bool:
    return value in NA_STRINGS


def parse_image_field(value: str) -> list[str]:
    """The base64 images of one ``image`` cell: a list literal (``_MI`` files) or a single image.

    Raises ValueError when a list literal cannot be parsed or is not a non-empty list of strings.
    """
    text = value.strip()
    if len(text) > 1 and text[0] == "[" and text[-1] == "]":
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            try:
                items = ast.literal_eval(text)  # the reference evals Python list literals too
            except (ValueError, SyntaxError) as exc:
                raise ValueError(f"the image list cannot be parsed ({type(exc).__name__})") from exc
        if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
            raise ValueError("the image list must be a non-empty list of base64 strings")
        return [str(x) for x in items]
    return [value]


class _Lines:
    """Binary line iterator that feeds ``csv.reader`` text lines and tracks the byte offset.

    ``csv.reader`` pulls exactly the lines of one record (quoted fields may span lines), so the
    offset before each ``next(reader)`` is the start of that record.
    """

    def __init__(self, fh: IO[bytes], path: str, md5: Any = None) -> None:
        self.fh = fh
        self.path = path
        self.pos = fh.tell()
        self.md5 = md5
        self.line = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.fh.readline()
        if not raw:
            raise StopIteration
        self.pos += len(raw)
        self.line += 1
        if self.md5 is not None:
            self.md5.update(raw)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise QuestionFileError(
                f"Malformed question file: {self.path}, line {self.line}: not UTF-8 text ({exc.reason}).",
                "Save the TSV as UTF-8.",
            ) from exc


def _reader(lines: _Lines) -> Any:
    csv.field_size_limit(MAX_FIELD_CHARS)  # base64 images are far above the 128 KB default
    return csv.reader(lines, delimiter="\t", quotechar='"', doublequote=True, strict=False)


def _data_rows(lines: _Lines, reader: Any, path: str) -> Iterator[tuple[int, int, list[str]]]:
    """(1-based data-row number, byte offset where the row starts, fields) for every non-blank row
    after the header; a CSV syntax error names the row. Both passes over a file read rows this way."""
    row = 0
    while True:
        offset = lines.pos
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _row_error(path, row + 1, None, f"CSV syntax error ({exc})") from exc
        if not fields:
            continue  # blank line
        row += 1
        yield row, offset, fields


@dataclass(frozen=True)
class _Header:
    names: tuple[str, ...]
    pos: dict[str, int]

    def get(self, fields: list[str], name: str) -> str | None:
        i = self.pos.get(name)
        if i is None:
            return None
        value = fields[i]
        return None if _missing(value) else value


def _parse_header(fields: list[str], path: str) -> _Header:
    names = tuple(f.strip() for f in fields)
    pos: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in pos:
            raise QuestionFileError(
                f"Malformed question file: {path}, header: column '{name}' appears twice.",
                "Give every column a unique name.",
            )
        pos[name] = i
    if "l2_category" in pos and "l2-category" not in pos:
        pos["l2-category"] = pos["l2_category"]
    missing = [c for c in _REQUIRED if c not in pos]
    if missing:
        raise QuestionFileError(
            f"Malformed question file: {path}, header: missing column(s) {', '.join(repr(c) for c in missing)} "
            f"(found: {', '.join(names) or 'nothing'}).",
            "A question TSV needs at least index, question and image (base64) columns, tab-separated, "
            "with the column names in the first line.",
        )
    if "A" not in pos:
        raise QuestionFileError(
            f"Malformed question file: {path}, header: no option column 'A' (found: {', '.join(names)}).",
            "Multiple-choice files have option columns A, B, ... (up to I).",
        )
    return _Header(names, pos)


@dataclass(frozen=True)
class _Row:
    """One parsed data row, before its image reference is resolved."""

    index: int
    question: str
    options: dict[str, str]
    answer: str | None
    category: str | None
    l2_category: str | None
    split: str | None
    hint: str | None
    image: str  # the raw image cell (data, list literal, or a back-reference)
    row: int


def _parse_row(fields: list[str], header: _Header, path: str, row: int) -> _Row:
    if len(fields) != len(header.names):
        raise _row_error(path, row, None, f"{len(fields)} fields where the header has {len(header.names)} "
                         "(an unquoted tab, newline or quote inside a value?)")
    raw_index = fields[header.pos["index"]].strip()
    try:
        index = int(raw_index)
    except ValueError:
        raise _row_error(path, row, "index", f"'{raw_index[:40]}' is not an integer") from None
    question = header.get(fields, "question")
    if question is None:
        raise _row_error(path, row, "question", "the question is empty")
    options = {
        letter: fields[header.pos[letter]]
        for letter in OPTION_LETTERS
        if letter in header.pos and not _missing(fields[header.pos[letter]])
    }
    answer = header.get(fields, "answer")
    if answer is not None:
        answer = answer.strip()
    return _Row(
        index=index,
        question=question,
        options=options,
        answer=answer,
        category=header.get(fields, "category"),
        l2_category=header.get(fields, "l2-category"),
        split=header.get(fields, "split"),
        hint=header.get(fields, "hint"),
        image=fields[header.pos["image"]],
        row=row,
    )


def _read_row_at(path: str, offset: int, row: int) -> list[str]:
    with open(path, "rb") as fh:
        fh.seek(offset)
        try:
            fields = next(_reader(_Lines(fh, path)))
        except (StopIteration, csv.Error) as exc:
            raise _row_error(path, row, None, f"cannot be read back at byte {offset} ({exc}); "
                             "the file changed after it was indexed") from exc
    return fields


def _read_images(ref: ImageRef) -> list[str]:
    fields = _read_row_at(ref.path, ref.offset, ref.row)
    if ref.column >= len(fields):
        raise _row_error(ref.path, ref.row, "image", "the row changed after the file was indexed")
    try:
        return parse_image_field(fields[ref.column])
    except ValueError as exc:
        raise _row_error(ref.path, ref.row, "image", str(exc)) from exc


# ----------------------------------------------------------------------------- the dataset


@dataclass(frozen=True)
class _Index:
    md5: str
    size: int
    n_questions: int
    n_skipped_no_image: int
    has_answer_column: bool
    header: _Header
    image_rows: dict[int, tuple[int, int]]  # index -> (byte offset, row) of rows holding image data
    float_columns: tuple[str, ...]  # text columns pandas (the reference) would load as float


class MCQDataset:
    """A lazy, re-iterable view of one question TSV: iteration yields ``Question`` records.

    Nothing is read until ``len()``, ``fingerprint()`` or iteration. ``expected_md5`` (set for
    the official files) is checked on the first pass, which reads every byte anyway.
    """

    def __init__(self, path: str | Path, *, name: str | None = None, expected_md5: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or self.path.stem
        self.expected_md5 = expected_md5.lower() if expected_md5 else None
        self._index: _Index | None = None
        self._hashed = 0  # bytes fed to the md5 by the first pass (to finish it after a parse error)
        if not self.path.is_file():
            raise QuestionFileError(
                f"Question file {self.path} does not exist.",
                f"Pass the path of a TSV, or one of the official names: {', '.join(KNOWN_FILES)}.",
            )

    # -- first pass

    def _ensure_indexed(self) -> _Index:
        if self._index is None:
            self._index = self._build_index()
        return self._index

    def _build_index(self) -> _Index:
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            return self._scan(md5)
        except QuestionFileError as exc:
            # A pinned file that fails to parse is most likely truncated or corrupt: say that instead.
            if self.expected_md5:
                with open(self.path, "rb") as fh:
                    fh.seek(self._hashed)
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        md5.update(chunk)
                self._check_md5(md5.hexdigest())
            raise exc

    def _check_md5(self, got: str) -> None:
        if self.expected_md5 and got != self.expected_md5:
            raise QuestionFileError(
                f"Checksum mismatch for {self.name} ({self.path}): md5 {got}, expected {self.expected_md5}.",
                f"Delete {self.path} and download it again; if it still differs, the published file changed.",
            )

    def _scan(self, md5: Any) -> _Index:
        path = str(self.path)
        self._hashed = 0
        with open(path, "rb") as fh:
            lines = _Lines(fh, path, md5)
            try:
                return self._scan_rows(lines, md5)
            finally:
                self._hashed = lines.pos  # every byte before this was fed to md5

    def _scan_rows(self, lines: _Lines, md5: Any) -> _Index:
        path = str(self.path)
        image_rows: dict[int, tuple[int, int]] = {}
        backrefs: list[tuple[int, int, str]] = []  # (row, index, target)
        seen: dict[int, int] = {}
        n_questions = n_skipped = 0
        odd_answers: list[int] = []  # rows whose key is not an option: always scored wrong, as in the reference
        reader = _reader(lines)
        header = self._read_header(reader, path)
        numeric = _NumericColumns(header)
        for row, offset, fields in _data_rows(lines, reader, path):
            rec = _parse_row(fields, header, path, row)
            numeric.update(fields)
            if rec.index in seen:
                raise _row_error(path, row, "index", f"index {rec.index} already used by row {seen[rec.index]}")
            seen[rec.index] = row
            if _missing(rec.image):
                n_skipped += 1
                continue
            n_questions += 1
            if rec.answer is not None and rec.answer not in rec.options:
                odd_answers.append(row)
            if len(rec.image) <= BACKREF_MAX_CHARS:
                backrefs.append((row, rec.index, rec.image))
                continue
            try:
                images = parse_image_field(rec.image)
            except ValueError as exc:
                raise _row_error(path, row, "image", str(exc)) from exc
            for i, b64 in enumerate(images):
                if not _B64_HEAD.fullmatch(b64[:BACKREF_MAX_CHARS]):
                    raise _row_error(path, row, "image", f"image {i} does not start like base64 data")
            image_rows[rec.index] = (offset, row)
        for row, index, target in backrefs:
            self._check_backref(path, row, index, target, image_rows, seen)
        got = md5.hexdigest()
        self._check_md5(got)
        float_columns = numeric.float_columns()
        if float_columns:
            log.warning("%s: column(s) %s hold only numbers with gaps or decimals; the reference harness "
                        "(pandas) shows them as floats (e.g. '9.0') in prompts and matching, this loader keeps "
                        "the file's text, so scores on these questions may differ", path, ", ".join(float_columns))
        if odd_answers:
            log.warning("%s: %d row(s) have an answer that is not one of their options (first: row %d); "
                        "they can never be answered correctly", path, len(odd_answers), odd_answers[0])
        if n_skipped:
            log.warning("%s: skipped %d row(s) without an image (as the reference harness does)", path, n_skipped)
        return _Index(
            md5=got, size=os.path.getsize(path), n_questions=n_questions, n_skipped_no_image=n_skipped,
            has_answer_column="answer" in header.pos, header=header, image_rows=image_rows,
            float_columns=float_columns,
        )

    @staticmethod
    def _read_header(reader: Any, path: str) -> _Header:
        try:
            fields = next(reader)
        except StopIteration:
            raise QuestionFileError(f"Question file {path} is empty.", "Pass a TSV with a header line.") from None
        except csv.Error as exc:
            raise QuestionFileError(f"Malformed question file: {path}, header: {exc}.", "Fix the header.") from exc
        return _parse_header(fields, path)

    @staticmethod
    def _check_backref(path: str, row: int, index: int, target: str, image_rows: Mapping[int, Any],
                       seen: Mapping[int, int]) -> None:
        try:
            target_index = int(target.strip())
        except ValueError:
            target_index = None
        if target_index is None or str(target_index) != target.strip():
            raise _row_error(path, row, "image", f"'{target}' is too short to be image data ({len(target)} "
                             f"characters) and is not the index of another row")
        if target_index not in image_rows:
            what = (f"row {seen[target_index]}, which holds no image data itself (no chains)"
                    if target_index in seen else "no row of this file")
            raise _row_error(path, row, "image", f"refers to the image of index {target_index}: {what}")

    # -- public surface

    def __len__(self) -> int:
        """Number of questions (rows with an image)."""
        return self._ensure_indexed().n_questions

    @property
    def has_answers(self) -> bool:
        """False for answer-less files (the ALL split): score on the evaluation server instead."""
        return self._ensure_indexed().has_answer_column

    @property
    def columns(self) -> tuple[str, ...]:
        """The header, as written in the file (the submission file keeps this order)."""
        return self._ensure_indexed().header.names

    @property
    def reference_float_columns(self) -> tuple[str, ...]:
        """Option/question/hint columns the reference would render as floats (see ``_NumericColumns``)."""
        return self._ensure_indexed().float_columns

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the question set in cache keys and results: name, path, md5, size, rows."""
        idx = self._ensure_indexed()
        return {
            "kind": "mcq-tsv",
            "name": self.name,
            "path": str(self.path.resolve()),
            "md5": idx.md5,
            "size": idx.size,
            "n_rows": idx.n_questions,
            "n_skipped_no_image": idx.n_skipped_no_image,
            "has_answers": idx.has_answer_column,
            "columns": list(idx.header.names),  # the submission file keeps the source's column order
        }

    def __iter__(self) -> Iterator[Question]:
        idx = self._ensure_indexed()
        path = str(self.path)
        header = idx.header
        column = header.pos["image"]
        with open(path, "rb") as fh:
            lines = _Lines(fh, path)
            reader = _reader(lines)
            next(reader)
            for row, offset, fields in _data_rows(lines, reader, path):
                rec = _parse_row(fields, header, path, row)
                if _missing(rec.image):
                    continue
                if len(rec.image) <= BACKREF_MAX_CHARS:
                    ref_offset, ref_row = idx.image_rows[int(rec.image.strip())]
                else:
                    ref_offset, ref_row = offset, row
                yield Question(
                    index=rec.index, question=rec.question, options=rec.options, answer=rec.answer,
                    category=rec.category, l2_category=rec.l2_category, split=rec.split, hint=rec.hint,
                    image_ref=ImageRef(path=path, offset=ref_offset, column=column, row=ref_row), row=row,
                )


# ----------------------------------------------------------------------------- resolving a source


def _md5_file(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_known(name: str, *, known: Mapping[str, KnownFile] | None = None,
                   dest_dir: Path | None = None) -> Path:
    """Make sure the official file ``name`` is in the download cache (md5-verified) and return its path.

    Downloads through ``unified_bench.data.download.fetch_verified`` (atomic, streamed) only when
    the file is absent; a freshly downloaded file is md5-checked at once and deleted on mismatch.
    A file already in place is checked later, by the loader's first pass (which reads it anyway),
    so a 6 GB file is not hashed twice per run.
    """
    from unified_bench.data.download import fetch_verified, sidecar_path
    from unified_bench.paths import downloads_dir

    table = KNOWN_FILES if known is None else known
    entry = table[name]
    dest = (dest_dir or downloads_dir() / "mmt") / f"{entry.name}.tsv"
    if dest.is_file():
        return dest
    fetch_verified(entry.url, dest, label=entry.name)
    got = _md5_file(dest)
    if got != entry.md5:
        dest.unlink()
        sidecar_path(dest).unlink(missing_ok=True)
        raise QuestionFileError(
            f"Checksum mismatch for {entry.name} downloaded from {entry.url}: md5 {got}, expected {entry.md5}.",
            "Retry the download; if it differs again, the published file changed: check the URL.",
        )
    return dest


def open_mcq_tsv(source: str | Path, *, known: Mapping[str, KnownFile] | None = None,
                 verify_md5: bool = True) -> MCQDataset:
    """Open a question TSV: an official name (``MMT-Bench_VAL``, ...; downloaded once) or a local path.

    A local file whose name is an official one (``MMT-Bench_VAL.tsv``) is md5-checked too unless
    ``verify_md5`` is False, so a modified copy is never scored as the benchmark.
    """
    table = KNOWN_FILES if known is None else known
    text = str(source)
    if text in table:
        path = download_known(text, known=table)
        return MCQDataset(path, name=text, expected_md5=table[text].md5 if verify_md5 else None)
    path = Path(text).expanduser()
    if not path.exists():
        raise QuestionFileError(
            f"Question file '{text}' does not exist and is not an official name.",
            f"Pass a TSV path or one of: {', '.join(table)}.",
        )
    entry = table.get(path.stem)
    md5 = entry.md5 if entry is not None and verify_md5 else None
    return MCQDataset(path, name=path.stem, expected_md5=md5)
