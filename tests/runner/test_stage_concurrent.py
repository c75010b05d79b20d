"""run_stage with several batches in flight (``submit``) and a shared-output ``lookup``: same records,
same fixed batches, written in batch order, whatever order the batches finish in."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from unified_bench.runner.stage import StageItem, run_stage
from unified_bench.runner.store import RecordStore


def _items(n):
    return [StageItem(str(i), f"k{i}", i, meta={"sample_id": str(i)}) for i in range(n)]


def _compute(batch, index):
    if index == 0:
        time.sleep(0.2)  # the first batch finishes last
    return [{"value": b.payload * 10} for b in batch]


def test_in_flight_batches_give_the_synchronous_records_in_order(tmp_path):
    sync, _ = run_stage("t", _items(7), RecordStore(tmp_path / "sync.jsonl"), _compute, 2, False)
    seen = []
    with ThreadPoolExecutor(4) as pool:
        def submit(batch, index):
            seen.append([b.id for b in batch])
            return pool.submit(_compute, batch, index)

        out, summary = run_stage("t", _items(7), RecordStore(tmp_path / "par.jsonl"), _compute, 2, False,
                                 submit=submit, max_in_flight=3)
    assert seen == [["0", "1"], ["2", "3"], ["4", "5"], ["6"]]  # the fixed batches
    assert out == sync and summary.computed == 7
    written = [json.loads(line)["id"] for line in (tmp_path / "par.jsonl").read_text().splitlines()]
    assert written == [str(i) for i in range(7)]  # batch order, although batch 0 finished last


def test_a_failed_pending_batch_falls_back_to_single_items(tmp_path):
    class Failed:
        def result(self):
            raise RuntimeError("worker lost")

    def compute(batch, index):
        return [{"status": "failed", "error": "bad"} if b.payload == 1 else {"value": b.payload} for b in batch]

    out, summary = run_stage("t", _items(3), RecordStore(tmp_path / "s.jsonl"), compute, 3, False,
                             submit=lambda batch, index: Failed(), max_in_flight=2)
    assert out["0"]["value"] == 0 and out["2"]["value"] == 2 and out["1"]["status"] == "failed"
    assert summary.failed == 1


def test_shared_hits_are_not_computed_and_are_counted(tmp_path):
    shared = {"k0": {"value": 0}, "k1": {"value": 10}, "k2": {"value": 20}}
    calls = []

    def compute(batch, index):
        calls.append([b.id for b in batch])
        return [{"value": b.payload * 10} for b in batch]

    out, summary = run_stage("t", _items(4), RecordStore(tmp_path / "s.jsonl"), compute, 2, False,
                             lookup=lambda item: shared.get(item.key))
    assert calls == [["3"]]  # batch 0 entirely shared; in batch 1 only the miss is computed
    assert (summary.shared, summary.computed, summary.cached) == (3, 1, 0)
    assert out["0"]["shared"] is True and out["3"]["value"] == 30
    # The hits were written into this directory's store: a re-run needs neither the lookup nor a model.
    out2, summary2 = run_stage("t", _items(4), RecordStore(tmp_path / "s.jsonl"), compute, 2, False)
    assert (summary2.cached, summary2.computed, summary2.shared) == (4, 0, 0) and calls == [["3"]]
