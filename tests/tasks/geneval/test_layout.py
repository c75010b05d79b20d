"""The official folder layout: written as the official generator does, read with missing images kept."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from unified_bench.tasks.geneval.layout import image_path, read_layout, write_image, write_layout
from unified_bench.tasks.geneval.prompts import PromptSetError, generate_prompts

RECORDS = generate_prompts(seed=1, per_tag=1)  # 6 prompts, one per tag


def _img():
    return Image.new("RGB", (8, 8), "red")


def test_write_then_read_full_folder(tmp_path):
    write_layout(tmp_path, RECORDS)
    for p in range(len(RECORDS)):
        for i in range(2):
            write_image(tmp_path, p, i, _img())
    assert image_path(tmp_path, 3, 1) == tmp_path / "00003" / "samples" / "00001.png"
    assert json.loads((tmp_path / "00002" / "metadata.jsonl").read_text()) == RECORDS[2]
    folder = read_layout(tmp_path, images_per_prompt=2)
    assert [m for _, m in folder.prompts] == RECORDS
    assert len(folder.images) == 12 and folder.missing == ()
    assert folder.images[5].key == "00002/00001" and folder.images[5].metadata == RECORDS[2]


def test_missing_images_are_listed_never_dropped(tmp_path):
    write_layout(tmp_path, RECORDS[:2])
    write_image(tmp_path, 0, 0, _img())
    write_image(tmp_path, 0, 3, _img())
    (tmp_path / "00000" / "samples" / "notes.txt").write_text("ignored")
    (tmp_path / "00000" / "samples" / "00002.png.bak").write_text("ignored")
    (tmp_path / "extra").mkdir()  # not all digits: ignored, as by the official walk
    folder = read_layout(tmp_path, images_per_prompt=4)
    # 2 prompts x 4 expected images; prompt 0 has images 0 and 3, prompt 1 none
    assert len(folder.images) == 8
    assert [im.key for im in folder.missing] == ["00000/00001", "00000/00002", "00001/00000", "00001/00001",
                                                 "00001/00002", "00001/00003"]
    assert folder.summary()["n_missing"] == 6


def test_extra_images_are_scored_too(tmp_path):
    write_layout(tmp_path, RECORDS[:1])
    for i in (0, 1, 7):
        write_image(tmp_path, 0, i, _img())
    folder = read_layout(tmp_path, images_per_prompt=2)
    assert [(im.image_index, im.missing) for im in folder.images] == [(0, False), (1, False), (7, False)]


def test_absent_prompt_folder_counts_against_the_expected_set(tmp_path):
    write_layout(tmp_path, RECORDS)
    (tmp_path / "00004" / "metadata.jsonl").unlink()
    (tmp_path / "00004" / "samples").rmdir()
    (tmp_path / "00004").rmdir()
    folder = read_layout(tmp_path, images_per_prompt=1, expected=RECORDS)
    assert len(folder.images) == 6 and len(folder.missing) == 6
    assert folder.images[4].metadata == RECORDS[4]


def test_mismatching_metadata_is_an_error(tmp_path):
    write_layout(tmp_path, RECORDS)
    with pytest.raises(PromptSetError, match="holds a different prompt"):
        read_layout(tmp_path, expected=RECORDS[1:] + RECORDS[:1])


def test_malformed_or_absent_metadata(tmp_path):
    write_layout(tmp_path, RECORDS[:2])
    (tmp_path / "00001" / "metadata.jsonl").write_text('{"tag": "counting", "include": [{"class": "cta"')
    with pytest.raises(PromptSetError, match=r"00001/metadata.jsonl: not valid JSON"):
        read_layout(tmp_path)
    bad = {**RECORDS[1], "include": [{"class": "unicorn", "count": 1}]}
    (tmp_path / "00001" / "metadata.jsonl").write_text(json.dumps(bad))
    with pytest.raises(PromptSetError, match=r"00001/metadata.jsonl: unknown class 'unicorn'"):
        read_layout(tmp_path)
    (tmp_path / "00001" / "metadata.jsonl").unlink()
    with pytest.raises(PromptSetError, match="has no metadata.jsonl"):
        read_layout(tmp_path)
    with pytest.raises(PromptSetError, match="does not exist"):
        read_layout(tmp_path / "nope")
    with pytest.raises(PromptSetError, match="no prompt folders"):
        read_layout(tmp_path / "00000" / "samples")
