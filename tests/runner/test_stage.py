import pytest

from unified_bench.errors import UnifiedBenchError
from unified_bench.runner.stage import StageItem, run_stage
from unified_bench.runner.store import RecordStore


def _items(n, key="k"):
    return [StageItem(str(i), f"{key}{i}", i) for i in range(n)]


def test_fixed_batches_and_resume_compute_only_missing(tmp_path):
    calls = []

    def compute(batch, index):
        calls.append((index, [b.id for b in batch]))
        return [{"value": b.payload * 10} for b in batch]

    store = RecordStore(tmp_path / "s.jsonl")
    out, summary = run_stage("t", _items(5), store, compute, batch_size=2, show_progress=False)
    assert calls == [(0, ["0", "1"]), (1, ["2", "3"]), (2, ["4"])]
    assert [out[str(i)]["value"] for i in range(5)] == [0, 10, 20, 30, 40]
    assert summary.computed == 5

    calls.clear()
    out, summary = run_stage("t", _items(5), RecordStore(tmp_path / "s.jsonl"), compute, 2, False)
    assert calls == [] and summary.cached == 5
    # A changed key for one item recomputes exactly that item (in its fixed batch), not its neighbour:
    # items are seeded one by one, so a finished neighbour is never computed (or rewritten) again.
    items = _items(5)
    items[3] = StageItem("3", "changed", 3)
    out, summary = run_stage("t", items, RecordStore(tmp_path / "s.jsonl"), compute, 2, False)
    assert calls == [(1, ["3"])] and summary.computed == 1 and summary.cached == 4


def test_failing_batch_falls_back_to_single_items(tmp_path):
    def compute(batch, index):
        if any(b.payload == 2 for b in batch):
            raise ValueError("bad item 2")
        return [{"value": b.payload} for b in batch]

    out, summary = run_stage("t", _items(4), RecordStore(tmp_path / "s.jsonl"), compute, 4, False)
    assert out["2"]["status"] == "failed" and "bad item 2" in out["2"]["error"]
    assert all(out[i]["status"] == "ok" for i in ("0", "1", "3"))
    assert summary.failed == 1


def test_failed_items_are_retried_next_run(tmp_path):
    state = {"fail": True}

    def compute(batch, index):
        if state["fail"]:
            raise ValueError("transient")
        return [{"value": 1} for _ in batch]

    items = _items(2)
    with pytest.raises(UnifiedBenchError):  # every item failed: systemic, not per-sample
        run_stage("t", items, RecordStore(tmp_path / "s.jsonl"), compute, 1, False)
    state["fail"] = False
    out, summary = run_stage("t", items, RecordStore(tmp_path / "s.jsonl"), compute, 1, False)
    assert summary.computed == 2 and all(r["status"] == "ok" for r in out.values())


def test_validate_rejects_stale_cache(tmp_path):
    calls = []

    def compute(batch, index):
        calls.append(index)
        return [{"value": 1} for _ in batch]

    run_stage("t", _items(2), RecordStore(tmp_path / "s.jsonl"), compute, 1, False)
    calls.clear()
    run_stage("t", _items(2), RecordStore(tmp_path / "s.jsonl"), compute, 1, False,
              validate=lambda rec: rec["id"] != "1")
    assert calls == [1]


def test_a_failed_item_is_retried_alone_on_the_next_run(tmp_path):
    calls = []
    broken = {"2"}

    def compute(batch, index):
        calls.append([b.id for b in batch])
        if broken & {b.id for b in batch}:
            raise ValueError("bad item 2")
        return [{"value": b.payload} for b in batch]

    out, _ = run_stage("t", _items(4), RecordStore(tmp_path / "s.jsonl"), compute, 4, False)
    assert out["2"]["status"] == "failed"
    calls.clear()
    broken.clear()
    out, summary = run_stage("t", _items(4), RecordStore(tmp_path / "s.jsonl"), compute, 4, False)
    assert calls == [["2"]] and summary.computed == 1 and summary.cached == 3
    assert out["2"] == {"id": "2", "key": "k2", "value": 2, "status": "ok"}
