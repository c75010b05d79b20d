"""The streamed TSV loader on the frozen fixtures, checked against pandas (the reference's reader).

Also: back-references in both directions, the _MI list form, the answer-less ALL file, md5
verification (local and downloaded through a loopback server), and one clear error per kind of
malformed row, naming the file, the row and the column.
"""

from __future__ import annotations

import base64
import hashlib
import io
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from unified_bench.tasks.mmt.tsv import (
    KNOWN_FILES,
    NA_STRINGS,
    KnownFile,
    MCQDataset,
    QuestionFileError,
    open_mcq_tsv,
    parse_image_field,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mmt"
SINGLE, MI, ALL = (FIXTURES / n for n in ("mmt_fixture.tsv", "mmt_fixture_MI.tsv", "mmt_fixture_ALL.tsv"))
HEADER = "index\tquestion\tA\tB\tanswer\tcategory\tl2-category\tsplit\timage\n"


def _png(color=(200, 30, 30), size=8) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _write(tmp_path: Path, body: str, header: str = HEADER, name: str = "q.tsv") -> Path:
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- the fixtures


@pytest.mark.parametrize("path", [SINGLE, MI, ALL], ids=["single", "MI", "ALL"])
def test_fixture_matches_pandas_reading(path):
    """Every text field equals what pandas.read_csv (the reference's loader) sees in the file."""
    df = pd.read_csv(path, sep="\t")
    qs = list(MCQDataset(path))
    assert [q.index for q in qs] == list(df["index"])
    for q, (_, row) in zip(qs, df.iterrows(), strict=True):
        assert q.question == row["question"]
        ref_options = {c: row[c] for c in "ABCDEFGHI" if c in row and not pd.isna(row[c])}
        assert q.options == ref_options
        assert q.hint == (None if pd.isna(row["hint"]) else row["hint"])
        assert q.category == row["category"] and q.l2_category == row["l2-category"] and q.split == row["split"]
        if "answer" in df:
            assert q.answer == (None if pd.isna(row["answer"]) else row["answer"])
        else:
            assert q.answer is None


def test_fixture_contents_single():
    ds = MCQDataset(SINGLE)
    assert len(ds) == 16 and ds.has_answers
    qs = {q.index: q for q in ds}
    assert sorted(len(q.options) for q in qs.values())[0] == 2 and max(len(q.options) for q in qs.values()) == 9
    assert qs[9].answer is None  # the row with a missing answer
    assert qs[0].hint == "The photo was taken indoors." and qs[1].hint is None
    assert "\n" in qs[5].question and '"best"' in qs[5].question  # quoted multi-line field
    # back-references: 2 -> 0 (backwards), 4 -> 12 (forwards), 8 -> 6, 15 -> 13 (a multi-image row)
    for src, dst in ((2, 0), (4, 12), (8, 6), (15, 13)):
        assert qs[src].image_bytes() == qs[dst].image_bytes()
        assert qs[src].image_ref.row == qs[dst].row
    assert qs[1].image_bytes() != qs[0].image_bytes()
    # multi-image rows are one concatenated image in the single-image file
    assert [im.size for im in qs[13].images()] == [(64, 32)]
    assert [im.size for im in qs[14].images()] == [(96, 32)]
    assert all(im.mode == "RGB" for im in qs[0].images())


def test_fixture_contents_mi():
    qs = {q.index: q for q in MCQDataset(MI)}
    assert [im.size for im in qs[13].images()] == [(32, 32)] * 2
    assert [im.size for im in qs[14].images()] == [(32, 32)] * 3
    assert len(qs[15].images()) == 2 and qs[15].image_bytes() == qs[13].image_bytes()
    assert len(qs[0].images()) == 1
    # the single-image rows are identical in both files
    single = {q.index: q for q in MCQDataset(SINGLE)}
    assert qs[3].image_bytes() == single[3].image_bytes()


def test_fixture_all_split_has_no_answers():
    ds = MCQDataset(ALL)
    assert not ds.has_answers
    assert "answer" not in ds.columns
    qs = list(ds)
    assert len(qs) == 16 and all(q.answer is None for q in qs)
    assert {q.split for q in qs} == {"val", "test"}


def test_fingerprint_and_reiteration():
    ds = MCQDataset(SINGLE)
    fp = ds.fingerprint()
    assert fp["name"] == "mmt_fixture" and fp["md5"] == _md5(SINGLE)
    assert fp["size"] == SINGLE.stat().st_size and fp["n_rows"] == 16 and fp["has_answers"] is True
    assert [q.index for q in ds] == [q.index for q in ds]  # re-iterable


def test_questions_are_small_and_picklable():
    q = next(iter(MCQDataset(SINGLE)))
    clone = pickle.loads(pickle.dumps(q))
    assert clone == q and clone.image_bytes() == q.image_bytes()
    assert len(pickle.dumps(q)) < 2000  # no image data inside: it is read from disk on demand


def test_image_decoding_matches_base64_in_file():
    df = pd.read_csv(SINGLE, sep="\t")
    q = next(iter(MCQDataset(SINGLE)))
    assert q.image_b64() == [df["image"][0]]
    img = Image.open(io.BytesIO(base64.b64decode(df["image"][0])))
    np.testing.assert_array_equal(np.asarray(q.images()[0]), np.asarray(img.convert("RGB")))


# ----------------------------------------------------------------------------- schema rules


def test_na_strings_are_pandas_defaults():
    from pandas._libs.parsers import STR_NA_VALUES

    assert NA_STRINGS == frozenset(STR_NA_VALUES)


def test_na_option_cells_are_unused_and_rows_without_image_are_skipped(tmp_path):
    img = _png()
    body = (f"1\tq1\tyes\tNone\tA\tc\tm\tval\t{img}\n"   # option B literally 'None': missing, as in pandas
            f"2\tq2\tyes\tno\tB\tc\tm\tval\t\n"          # no image: skipped like the reference's skip_noimg
            f"3\tq3\tyes\tNaN\tA\tc\tm\tval\t1\n")
    ds = MCQDataset(_write(tmp_path, body))
    qs = list(ds)
    assert [q.index for q in qs] == [1, 3] and len(ds) == 2
    assert qs[0].options == {"A": "yes"} and qs[1].options == {"A": "yes"}
    assert ds.fingerprint()["n_skipped_no_image"] == 1


def test_columns_pandas_would_read_as_float_are_reported(tmp_path, caplog):
    img = _png()
    body = f"1\tq\t3\t4\tA\tc\tm\tval\t{img}\n2\tq\t5\t\tA\tc\tm\tval\t1\n"
    path = _write(tmp_path, body)
    with caplog.at_level("WARNING"):
        ds = MCQDataset(path)
        assert ds.reference_float_columns == ("B",)  # A is all integers without gaps: pandas keeps "3"
    assert "column(s) B hold only numbers" in caplog.text
    df = pd.read_csv(path, sep="\t")
    assert str(df["A"][0]) == "3" and str(df["B"][0]) == "4.0"  # what the reference would show
    assert [q.options for q in ds] == [{"A": "3", "B": "4"}, {"A": "5"}]  # this loader keeps the text
    assert MCQDataset(SINGLE).reference_float_columns == ()


def test_python_list_literal_images(tmp_path):
    a, b = _png((1, 2, 3)), _png((9, 8, 7))
    body = f"1\tq\tx\ty\tA\tc\tm\tval\t['{a}', '{b}']\n"
    (q,) = list(MCQDataset(_write(tmp_path, body)))
    assert q.image_b64() == [a, b]
    assert parse_image_field(f'["{a}"]') == [a]


def test_l2_category_and_hint_are_optional(tmp_path):
    header = "index\tquestion\tA\tB\timage\n"
    (q,) = list(MCQDataset(_write(tmp_path, f"7\tq\tx\ty\t{_png()}\n", header=header)))
    assert (q.category, q.l2_category, q.split, q.hint, q.answer) == (None, None, None, None, None)


# ----------------------------------------------------------------------------- malformed files


def _error(tmp_path, body, header=HEADER) -> str:
    path = _write(tmp_path, body, header=header)
    with pytest.raises(QuestionFileError) as err:
        ds = MCQDataset(path)
        len(ds)
    text = str(err.value)
    assert str(path) in text and "fix:" in text
    return text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("1\tq\tx\ty\tA\tc\tm\tval\n", ["row 1", "8 fields where the header has 9"]),
        ("1.5\tq\tx\ty\tA\tc\tm\tval\tIMG\n", ["row 1, column 'index'", "'1.5' is not an integer"]),
        ("1\tq\tx\ty\tA\tc\tm\tval\tIMG\n1\tq\tx\ty\tA\tc\tm\tval\tIMG\n",
         ["row 2, column 'index'", "index 1 already used by row 1"]),
        ("1\tq\tx\ty\tA\tc\tm\tval\t99\n", ["row 1, column 'image'", "index 99: no row of this file"]),
        ("1\tq\tx\ty\tA\tc\tm\tval\tIMG\n2\tq\tx\ty\tA\tc\tm\tval\t1\n3\tq\tx\ty\tA\tc\tm\tval\t2\n",
         ["row 3, column 'image'", "index 2: row 2, which holds no image data itself"]),
        ("1\tq\tx\ty\tA\tc\tm\tval\tabc\n", ["row 1, column 'image'", "too short to be image data"]),
        ("1\tq\tx\ty\tA\tc\tm\tval\t[1, 2]" + " " * 70 + "\n",
         ["row 1, column 'image'", "non-empty list of base64 strings"]),
        ("1\tq\tx\ty\tA\tc\tm\tval\t['" + "A" * 80 + "'\n", ["row 1, column 'image'", "does not start like base64"]),
        ("1\t\tx\ty\tA\tc\tm\tval\tIMG\n", ["row 1, column 'question'", "the question is empty"]),
        ('1\t"q\tx\ty\tA\tc\tm\tval\tIMG\n', ["row 1", "2 fields where the header has 9"]),
    ],
    ids=["fields", "index", "duplicate", "backref-missing", "backref-chain", "short-image", "bad-list",
         "not-base64", "empty-question", "unterminated-quote"],
)
def test_malformed_rows_give_one_clear_message(tmp_path, body, expected):
    text = _error(tmp_path, body.replace("IMG", _png()))
    for part in expected:
        assert part in text, f"{part!r} not in {text!r}"


def test_oversized_field_is_a_syntax_error(tmp_path, monkeypatch):
    import csv

    monkeypatch.setattr("unified_bench.tasks.mmt.tsv.MAX_FIELD_CHARS", 1000)
    previous = csv.field_size_limit()
    try:
        text = _error(tmp_path, f"1\tq\tx\ty\tA\tc\tm\tval\t{_png()}\n2\t\"q\tx\ty\tA\tc\tm\tval\t{'A' * 2000}\n")
    finally:
        csv.field_size_limit(previous)  # the limit is process-wide
    assert "row 2: CSV syntax error (field larger than field limit" in text


def test_missing_columns_are_named(tmp_path):
    text = _error(tmp_path, "1\tq\tx\n", header="index\tquestion\tA\n")
    assert "missing column(s) 'image'" in text
    text = _error(tmp_path, f"1\tq\t{_png()}\n", header="index\tquestion\timage\n")
    assert "no option column 'A'" in text


def test_non_utf8_names_the_line(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_bytes(HEADER.encode() + b"1\tq\xff\tx\ty\tA\tc\tm\tval\tIMG\n")
    with pytest.raises(QuestionFileError, match=r"line 2: not UTF-8"):
        len(MCQDataset(path))


def test_corrupt_image_data_fails_when_decoded_naming_row_and_column(tmp_path):
    body = f"1\tq\tx\ty\tA\tc\tm\tval\t{_png()}\n2\tq\tx\ty\tA\tc\tm\tval\t{'QUJD' * 30}\n"
    qs = list(MCQDataset(_write(tmp_path, body)))
    assert len(qs[0].images()) == 1
    with pytest.raises(QuestionFileError, match=r"row 2, column 'image': image 0 is not a readable image"):
        qs[1].images()


def test_missing_file(tmp_path):
    with pytest.raises(QuestionFileError, match="does not exist"):
        open_mcq_tsv(tmp_path / "nope.tsv")


# ----------------------------------------------------------------------------- md5 and download


def test_known_files_pin_the_issue_md5s():
    assert {k: v.md5 for k, v in KNOWN_FILES.items()} == {
        "MMT-Bench_VAL": "8dd4b730f53dbf9c3aed90ca31c928e0",
        "MMT-Bench_VAL_MI": "c7d7b998eb5cd9aa36c7d4f721472462",
        "MMT-Bench_ALL": "b273a2f4c596fe4f2605de0494cd632f",
        "MMT-Bench_ALL_MI": "5272157097e19cdd7cb41e412ab3b7c7",
    }


def test_local_file_with_a_known_name_is_md5_checked(tmp_path):
    copy = tmp_path / "MMT-Bench_VAL.tsv"
    copy.write_bytes(SINGLE.read_bytes())
    with pytest.raises(QuestionFileError, match="Checksum mismatch for MMT-Bench_VAL"):
        len(open_mcq_tsv(copy))
    assert len(open_mcq_tsv(copy, verify_md5=False)) == 16
    known = {"mmt_fixture": KnownFile("mmt_fixture", "http://127.0.0.1:9/unused", _md5(SINGLE))}
    assert len(open_mcq_tsv(SINGLE, known=known)) == 16


def test_a_truncated_pinned_file_reports_the_checksum_not_the_row(tmp_path):
    data = SINGLE.read_bytes()
    cut = tmp_path / "mmt_fixture.tsv"
    cut.write_bytes(data[: len(data) // 2])  # ends inside a row
    with pytest.raises(QuestionFileError, match=r"row \d+"):
        len(MCQDataset(cut))
    with pytest.raises(QuestionFileError, match="Checksum mismatch for mmt_fixture") as err:
        len(MCQDataset(cut, expected_md5=_md5(SINGLE)))
    assert _md5(cut) in str(err.value)
    # the right bytes with a row this loader rejects: the row error, not a false checksum alarm
    with pytest.raises(QuestionFileError, match=r"row \d+") as err:
        len(MCQDataset(cut, expected_md5=_md5(cut)))
    assert "Checksum" not in str(err.value)


def test_download_by_name_through_loopback(tmp_path):
    from tests.data.conftest import LoopbackServer

    server = LoopbackServer()
    server.files["/mmt_fixture_MI.tsv"] = MI.read_bytes()
    server.files["/broken.tsv"] = MI.read_bytes() + b"\n"
    server.start()
    try:
        good = KnownFile("fixture_MI", f"{server.base_url}/mmt_fixture_MI.tsv", _md5(MI))
        bad = KnownFile("broken", f"{server.base_url}/broken.tsv", _md5(MI))
        known = {"fixture_MI": good, "broken": bad}
        ds = open_mcq_tsv("fixture_MI", known=known)
        assert len(ds) == 16 and ds.fingerprint()["md5"] == _md5(MI)
        assert len(server.requests) == 1
        assert len(open_mcq_tsv("fixture_MI", known=known)) == 16  # cached: no second request
        assert len(server.requests) == 1
        with pytest.raises(QuestionFileError, match="Checksum mismatch for broken downloaded from"):
            open_mcq_tsv("broken", known=known)
        assert not any(p.name.startswith("broken") for p in ds.path.parent.iterdir())  # nothing half-trusted
    finally:
        server.stop()
