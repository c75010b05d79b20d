"""Reference descriptions that come with images (sidecar ID.txt, WebDataset txt) and the unified
task's reference-caption column built from them."""

from __future__ import annotations

import pytest

from unified_bench.data.loader import load_image_set
from unified_bench.errors import SpecError
from unified_bench.tasks.unified import UnifiedConfig, UnifiedTask

from .conftest import encode_image


def test_folder_sidecar_text_is_the_reference_description(tmp_path):
    for name in ("0", "1"):
        (tmp_path / f"{name}.png").write_bytes(encode_image((10, 20, 30), "PNG"))
    (tmp_path / "0.txt").write_text("  a red square on grey\n", encoding="utf-8")
    iset = load_image_set(str(tmp_path))
    assert {im.id: im.text for im in iset} == {"0": "a red square on grey", "1": None}
    assert [im.text for im in iset.limit(1)] == ["a red square on grey"]


def test_webdataset_txt_member_is_the_reference_description(tmp_path):
    import webdataset as wds

    with wds.TarWriter(str(tmp_path / "shard-000.tar")) as sink:
        sink.write({"__key__": "a", "png": encode_image((1, 2, 3), "PNG"), "txt": "a long description"})
        sink.write({"__key__": "b", "png": encode_image((4, 5, 6), "PNG")})
    iset = load_image_set(f"wds:{tmp_path}/shard-000.tar")
    assert {im.id: im.text for im in iset} == {"a": "a long description", "b": None}


def test_reference_caption_source_replaces_the_caption_stage(tmp_path):
    for name in ("0", "1"):
        (tmp_path / f"{name}.png").write_bytes(encode_image((10, 20, 30), "PNG"))
    (tmp_path / "0.txt").write_text("a red square", encoding="utf-8")
    iset = load_image_set(str(tmp_path))
    model_task = UnifiedTask(UnifiedConfig())
    caption = model_task.stages()[0]
    assert model_task.existing_outputs(caption, iset) is None  # the protocol: the model captions

    task = UnifiedTask(UnifiedConfig(caption_source="reference"))
    records = task.existing_outputs(caption, iset)
    assert records["0"]["status"] == "ok" and records["0"]["text"] == "a red square"
    assert records["1"]["status"] == "failed" and records["1"]["error"] == "no reference description"
    assert task.existing_outputs(task.stages()[1], iset) is None  # generation still runs the model
    assert any("reference descriptions" in r for r in task.non_standard_reasons(iset, None, 42))
    assert task.settings_record()["caption_source"] == "reference"
    assert "caption_source" not in model_task.settings_record()  # protocol runs: settings unchanged

    (tmp_path / "0.txt").unlink()
    with pytest.raises(SpecError, match="no image of the data set comes with a description"):
        task.existing_outputs(caption, load_image_set(str(tmp_path)))
    with pytest.raises(SpecError, match="Unknown caption source"):
        UnifiedConfig(caption_source="human")
