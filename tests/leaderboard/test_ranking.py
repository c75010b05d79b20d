"""Rank bands by hand, and the table's view state (sort, filter, search, columns, permalinks)."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from leaderboard.ranking import Interval, rank_bands
from leaderboard.table import View, build_table, table_records


def iv(low: float, high: float) -> Interval:
    return Interval((low + high) / 2, low, high)


def test_rank_bands_by_hand_higher_is_better():
    # A [10, 12]  B [9, 11.5]  C [5, 8.9]  D [4, 6]  E missing
    # A: nobody's low exceeds 12 -> 1.   B: nobody's low exceeds 11.5 -> 1 (A overlaps B).
    # C: lows above 8.9 are A (10) and B (9) -> 3.   D: lows above 6 are A, B -> 3 (C overlaps D).
    assert rank_bands([iv(10, 12), iv(9, 11.5), iv(5, 8.9), iv(4, 6), None]) == [1, 1, 3, 3, None]


def test_rank_bands_by_hand_lower_is_better():
    # For an error score the band counts models whose interval lies entirely *below*:
    # A [0.10, 0.12] -> 1; B [0.11, 0.20] -> 1 (overlaps A); C [0.13, 0.14]: highs below 0.13 are A's -> 2.
    assert rank_bands([iv(0.10, 0.12), iv(0.11, 0.20), iv(0.13, 0.14)], higher_is_better=False) == [1, 1, 2]


def test_two_close_models_share_a_rank_and_separated_ones_do_not():
    close = rank_bands([Interval(80.2, 78.0, 82.4), Interval(80.0, 77.8, 82.2)])
    apart = rank_bands([Interval(80.2, 79.9, 80.5), Interval(70.0, 69.8, 70.2)])
    assert close == [1, 1] and apart == [1, 2]


def test_touching_intervals_overlap():
    # B.low == A.high is not "entirely above": equal endpoints share a band.
    assert rank_bands([iv(1, 2), iv(2, 3)]) == [1, 1]


@pytest.mark.parametrize("query", [
    "", "sort=clip&dir=desc", "q=janus&type=unified&min_params=1&max_params=30&version=1.0&standard=1",
    "cols=clip,lpips&sort=name",
])
def test_view_round_trips_through_its_permalink(query):
    view = View.from_params("unified", QueryParams(query))
    assert View.from_params("unified", QueryParams(view.query())) == view


def test_garbage_view_parameters_fall_back_to_defaults():
    view = View.from_params("unified", QueryParams("min_params=abc&max_params=nan&type=<b>&dir=up"))
    assert (view.min_params, view.max_params, view.type, view.desc) == (None, None, "", False)


@pytest.fixture
def seeded(sqlite_url):  # noqa: ANN201
    from leaderboard.demo import seed_demo
    from tests.leaderboard.conftest import make_app

    app = make_app(sqlite_url)
    with app.state.sessions() as s:
        seed_demo(s, n_models=12)
    yield app
    app.state.engine.dispose()


def table(app, query: str):  # noqa: ANN001, ANN201
    with app.state.sessions() as s:
        return build_table(s, View.from_params("unified", QueryParams(query)))


def test_default_order_is_by_mean_with_rank_bands(seeded):
    t = table(seeded, "")
    means = [r.overall.mean for r in t.rows]
    assert means == sorted(means, reverse=True) and len(t.rows) == 14
    assert t.rows[0].rank == 1
    assert rank_bands([r.overall for r in t.rows]) == [r.rank for r in t.rows]


def test_sort_filter_search_and_columns(seeded):
    by_clip = table(seeded, "sort=clip&dir=desc")
    clips = [r.aggregates["clip"]["mean"] for r in by_clip.rows]
    assert clips == sorted(clips, reverse=True)
    by_name = table(seeded, "sort=name")
    assert [r.name.casefold() for r in by_name.rows] == sorted(r.name.casefold() for r in by_name.rows)
    unified = table(seeded, "type=unified")
    assert unified.rows and {r.model_type for r in unified.rows} == {"unified"}
    sized = table(seeded, "min_params=2&max_params=20")
    assert sized.rows and all(2 <= r.params_b <= 20 for r in sized.rows)
    assert table(seeded, "standard=1").rows == []  # demo runs are all non-standard
    # Search hides rows but keeps the ranks of the unfiltered view.
    full = {r.id: r.rank for r in table(seeded, "").rows}
    found = table(seeded, "q=SYNTHETIC-JANUS-000")
    assert found.rows and all(full[r.id] == r.rank for r in found.rows)
    cols = table(seeded, "cols=lpips,clip,unknown")
    assert cols.shown == ["lpips", "clip"]
    assert set(table_records(cols)[0]) >= {"lpips", "clip_ci_low"} and "dinov2" not in table_records(cols)[0]


def test_ranks_are_recomputed_within_a_filter(seeded):
    unified = table(seeded, "type=unified")
    assert unified.rows[0].rank == 1
    assert rank_bands([r.overall for r in unified.rows]) == [r.rank for r in unified.rows]


def test_exports_and_plots_follow_the_view(seeded):
    import csv
    import io

    from fastapi.testclient import TestClient

    query = "type=composite&sort=clip&dir=desc&cols=clip"
    with TestClient(seeded) as client:
        expected = [r.id for r in table(seeded, query).rows]
        rows = list(csv.DictReader(io.StringIO(client.get(f"/tasks/unified/export.csv?{query}").text)))
        assert [int(r["id"]) for r in rows] == expected
        assert "clip_ci_high" in rows[0] and "lpips" not in rows[0]
        data = client.get(f"/tasks/unified/export.json?{query}").json()
        assert [r["id"] for r in data["rows"]] == expected
        assert data["view"] == View.from_params("unified", QueryParams(query)).query()
        api = client.get(f"/api/tasks/unified/leaderboard?{query}").json()
        assert [r["id"] for r in api["rows"]] == expected
        bars = client.get(f"/tasks/unified/bars.svg?{query}")
        assert bars.headers["content-type"].startswith("image/svg+xml")
        assert bars.text.count("<rect") == len(expected)
        sized = client.get("/tasks/unified/size.svg").text
        assert sized.count("<circle") == len(table(seeded, "").rows)  # every demo model states its size
