"""50 concurrent submissions over real HTTP: every valid run stored exactly once, tampering refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from leaderboard.db.models import Submission
from tests.leaderboard.conftest import base_raw, new_token, synthetic_raw


def post(url: str, secret: str, payload: dict) -> int:
    req = urllib.request.Request(f"{url}/api/submissions", data=json.dumps(payload).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_fifty_concurrent_submissions(app, live):
    secret = new_token(app)
    distinct = [synthetic_raw(i) for i in range(24)]
    tampered = base_raw()
    tampered["aggregates"]["ssim"]["mean"] *= 1.01
    # 24 runs submitted twice each (48) + the same tampered file twice = 50 requests at once.
    payloads = [{"results": r, "name": f"m{i}"} for i, r in enumerate(distinct)] * 2
    payloads += [{"results": tampered}] * 2
    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(lambda p: post(live.url, secret, p), payloads))
    assert codes.count(201) == 24, codes
    assert codes.count(409) == 24, codes
    assert codes[-2:] == [422, 422]
    with app.state.sessions() as s:
        assert s.scalar(select(func.count(Submission.id))) == 24
        keys = list(s.scalars(select(Submission.dedup_key)))
        assert len(set(keys)) == 24
