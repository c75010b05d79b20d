from unified_bench.runner.store import RecordStore


def test_last_record_wins_and_key_must_match(tmp_path):
    store = RecordStore(tmp_path / "s.jsonl")
    store.put_many([{"id": "a", "key": "k1", "v": 1}])
    store.put_many([{"id": "a", "key": "k2", "v": 2}])
    reopened = RecordStore(tmp_path / "s.jsonl")
    assert reopened.get("a", "k2")["v"] == 2
    assert reopened.get("a", "k1") is None


def test_torn_last_line_is_ignored_and_appends_continue(tmp_path):
    path = tmp_path / "s.jsonl"
    RecordStore(path).put_many([{"id": "a", "key": "k", "v": 1}])
    with path.open("a") as fh:
        fh.write('{"id": "b", "key": "k", "v"')  # killed mid-write
    store = RecordStore(path)
    assert store.get("a", "k")["v"] == 1 and store.get("b", "k") is None
    store.put_many([{"id": "b", "key": "k", "v": 2}])
    assert RecordStore(path).get("b", "k")["v"] == 2
