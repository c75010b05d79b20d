"""HTTP fetch on urllib3: redirects followed up to the cap, reasons for the failures the corpus
test does not cover, and a pooled connection left mid-body is never reused dirty."""

from __future__ import annotations

import socket

from data_pipeline.fetch import fetch_url
from data_pipeline.recipe import FetchConfig
from tests.data_pipeline.conftest import Route

CFG = FetchConfig(retries=0, connect_timeout_s=2.0, read_timeout_s=2.0, max_redirects=2, max_bytes=1000)


def test_redirects_are_followed_up_to_the_cap(http_server):
    body = b"\xff\xd8" + b"x" * 100
    target = http_server.add("/fetch/target.jpg", Route(body=body))
    http_server.add("/fetch/hop1", Route(status=302, headers={"Location": "/fetch/target.jpg"}))
    http_server.add("/fetch/hop2", Route(status=301, headers={"Location": "/fetch/hop1"}))
    http_server.add("/fetch/hop3", Route(status=307, headers={"Location": "/fetch/hop2"}))
    assert fetch_url(target, CFG).data == body
    assert fetch_url(http_server.base + "/fetch/hop2", CFG).data == body  # 2 redirects = the cap
    got = fetch_url(http_server.base + "/fetch/hop3", CFG)
    assert got.data is None and got.reason == "too_many_redirects"


def test_refused_connection_is_a_connection_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    got = fetch_url(f"http://127.0.0.1:{port}/x.jpg", CFG)
    assert got.data is None and got.reason == "connection_error"


def test_aborted_body_does_not_poison_the_next_fetch(http_server):
    big = http_server.add("/fetch/big.jpg", Route(body=b"y" * 5000))
    small = http_server.add("/fetch/small.jpg", Route(body=b"z" * 10))
    for _ in range(3):
        assert fetch_url(big, CFG).reason == "too_large"
        assert fetch_url(small, CFG).data == b"z" * 10
    got = fetch_url(http_server.base + "/fetch/missing.jpg", CFG)
    assert got.reason == "http_404"
