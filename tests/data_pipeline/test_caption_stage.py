"""Caption + QC stage through the real factory with a tiny random-weight LLaVA saved to disk."""

from __future__ import annotations

import glob

import pyarrow.parquet as pq
import pytest

from data_pipeline.captioners.base import Captioner, CaptionResult
from data_pipeline.executor import run_build
from data_pipeline.recipe import recipe_from_dict
from tests.data_pipeline.conftest import FIXTURE_IMAGES


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    from unified_bench.demo.models import build_demo_vlm

    return build_demo_vlm(tmp_path_factory.mktemp("llava") / "model")


def test_build_with_local_captioner_records_captions_and_qc(tiny_llava, tmp_path, dask_client):
    from data_pipeline.qc.caption_qc import check_caption
    from data_pipeline.qc.config import CaptionQCConfig

    qc = {"min_words": 1, "max_words": 1000, "max_repeated_ngram_ratio": 1.0, "require_final_punctuation": False,
          "reject_refusals": False}
    recipe = recipe_from_dict({
        "sources": [{"type": "folder", "path": str(FIXTURE_IMAGES)}], "sharding": {"samples_per_shard": 4},
        "image": {"size": 32}, "filters": {"exact_dedup": True},
        "captioner": {"backend": "transformers", "model": str(tiny_llava), "max_new_tokens": 8, "batch_size": 3,
                      "temperature": 0.0, "device": "cpu", "dtype": "float32"},
        "qc": qc}, base_dir=tmp_path)
    summary = run_build(recipe, tmp_path / "out", client=dask_client)
    rows = [r for p in sorted((tmp_path / "out").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert len(rows) == 8
    captioned = [r for r in rows if r["stage"] != "dedup"]
    assert all(r["caption"] is not None and r["captioner"] for r in captioned)
    for r in captioned:  # the stage's verdict equals QC's own verdict on the same text
        verdict = check_caption(r["caption"], r["caption_finish_reason"], CaptionQCConfig(**qc))
        assert (r["status"] == "accepted") == verdict.passed
        assert r["status"] == "accepted" or r["reason"] == f"qc_{verdict.reason}"
    # a random-weight model never emits EOS: every caption hits max_new_tokens and QC calls it truncated
    assert {r["reason"] for r in captioned} == {"qc_truncated"} and summary.n_accepted == 0
    assert all(r["caption_finish_reason"] == "length" for r in captioned)
    tars = sorted(glob.glob(str(tmp_path / "out" / "*.tar")))
    assert tars == []  # nothing accepted: no empty tar that would break webdataset and datasets
    from data_pipeline.validate import validate_dir

    assert validate_dir(tmp_path / "out") == []


class WordCaptioner(Captioner):
    """A real (deterministic, model-free) implementation of the interface: n words per image width."""

    def __init__(self, words_per_px: float) -> None:
        self.words_per_px = words_per_px

    def record(self) -> dict:
        return {"model": "word-captioner", "words_per_px": self.words_per_px}

    def caption_batch(self, images):
        out = []
        for im in images:
            n = int(im.size[0] * self.words_per_px)
            if n == 0:
                out.append(CaptionResult(text=None, error="blank image"))
            else:
                out.append(CaptionResult(text=" ".join(f"w{i}" for i in range(n)) + ".", finish_reason="stop",
                                         record=self.record()))
        return out


def test_caption_stage_batches_accepts_and_rejects_with_reasons():
    import io

    from PIL import Image

    from data_pipeline.captioners.base import CaptionerConfig
    from data_pipeline.qc.config import CaptionQCConfig
    from data_pipeline.records import InputRecord
    from data_pipeline.sample import Sample
    from data_pipeline.stages.caption import caption_samples

    def sample(i, width):
        buf = io.BytesIO()
        Image.new("RGB", (width, 8)).save(buf, format="JPEG")
        return Sample(record=InputRecord(id=f"k{i}", kind="path", locator="x", source="t"), image_bytes=buf.getvalue())

    widths = [40, 10, 0 + 1, 60, 25]
    samples = [sample(i, w) for i, w in enumerate(widths)]
    samples[4].reject("fetch", "http_404")
    calls = []
    cap = WordCaptioner(0.5)
    real = cap.caption_batch
    cap.caption_batch = lambda ims: calls.append(len(ims)) or real(ims)
    caption_samples(samples, CaptionerConfig(batch_size=2), CaptionQCConfig(min_words=10), captioner=cap)
    assert calls == [2, 2]  # 4 pending samples in batches of batch_size
    assert [(s.status, s.reason) for s in samples] == [
        ("accepted", None), ("rejected", "qc_too_short"), ("rejected", "caption_error"), ("accepted", None),
        ("rejected", "http_404")]
    assert samples[0].qc["word_count"] == 20 and samples[0].captioner["model"] == "word-captioner"
    assert samples[1].caption is not None and samples[1].image_bytes is None


def test_alignment_model_scores_only_captions_that_pass_the_text_checks(monkeypatch):
    import io

    from PIL import Image

    import data_pipeline.stages.caption as caption_stage
    from data_pipeline.captioners.base import CaptionerConfig
    from data_pipeline.qc.config import CaptionQCConfig
    from data_pipeline.records import InputRecord
    from data_pipeline.sample import Sample

    scored: list[str] = []

    class FakeScorer:
        def score(self, images, texts):
            scored.extend(texts)
            return [0.9 if len(t.split()) > 25 else 0.1 for t in texts]

    monkeypatch.setattr(caption_stage, "alignment_scorer", lambda checkpoint: FakeScorer())

    def sample(i, width):
        buf = io.BytesIO()
        Image.new("RGB", (width, 8)).save(buf, format="JPEG")
        return Sample(record=InputRecord(id=f"a{i}", kind="path", locator="x", source="t"), image_bytes=buf.getvalue())

    samples = [sample(0, 10), sample(1, 40), sample(2, 60)]  # 5, 20 and 30 words
    qc = CaptionQCConfig(min_words=10, min_alignment=0.5, alignment_model="clip")
    caption_stage.caption_samples(samples, CaptionerConfig(batch_size=3), qc, captioner=WordCaptioner(0.5))
    assert [len(t.split()) for t in scored] == [20, 30]  # the 5-word caption was never scored
    assert [s.reason for s in samples] == ["qc_too_short", "qc_low_alignment", None]
    assert samples[0].qc["alignment"] is None and samples[2].qc["alignment"] == 0.9
