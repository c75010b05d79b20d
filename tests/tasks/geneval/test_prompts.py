"""Prompt metadata: validation messages, the offline generator, and the pinned download (loopback server)."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections import Counter

import pytest

from unified_bench.errors import ImageSetError
from unified_bench.tasks.geneval.judge import COLORS, RELATIONS
from unified_bench.tasks.geneval.prompts import (
    CLASSES,
    OFFICIAL_TAG_COUNTS,
    TAGS,
    PromptSetError,
    generate_prompts,
    load_official_prompts,
    load_prompt_file,
    load_prompt_set,
    official_metadata_path,
    plural,
)


def test_constants():
    assert len(CLASSES) == len(set(CLASSES)) == 80
    # GenEval's own spellings (not COCO's "mouse", "remote", "keyboard", "hair dryer")
    for name in ("computer mouse", "tv remote", "computer keyboard", "hair drier", "dining table", "tv"):
        assert name in CLASSES
    assert CLASSES[0] == "person" and CLASSES[-1] == "toothbrush"
    assert len(COLORS) == 10 and RELATIONS == ("left of", "right of", "above", "below")
    assert sum(OFFICIAL_TAG_COUNTS.values()) == 553


def write(tmp_path, lines):
    path = tmp_path / "meta.jsonl"
    path.write_text("".join((json.dumps(x) if not isinstance(x, str) else x) + "\n" for x in lines))
    return path


GOOD = {"tag": "single_object", "include": [{"class": "dog", "count": 1}], "prompt": "a photo of a dog"}


@pytest.mark.parametrize(
    "bad, message",
    [
        ('{"tag": "single_object", "include": [', "line 2: not valid JSON"),
        ({**GOOD, "include": [{"class": "dgo", "count": 1}]}, "line 2: unknown class 'dgo' in include[0]. Did you "
                                                               "mean 'dog'?"),
        ({**GOOD, "include": [{"class": "mouse", "count": 1}]}, "unknown class 'mouse'"),
        ({**GOOD, "include": [{"class": "dog", "count": 1, "color": "grey"}]}, "unknown colour 'grey'"),
        ({"tag": "position", "prompt": "p", "include": [{"class": "dog", "count": 1},
                                                         {"class": "cat", "count": 1, "position": ["behind", 0]}]},
         "unknown relation 'behind' in include[1]"),
        ({"tag": "position", "prompt": "p", "include": [{"class": "cat", "count": 1, "position": ["above", 0]}]},
         "not an earlier include clause"),
        ({**GOOD, "tag": "colours"}, "unknown tag 'colours'. Did you mean 'colors'?"),
        ({**GOOD, "include": [{"class": "dog", "count": 0}]}, "integer 'count' >= 1"),
        ({**GOOD, "exclude": [{"class": "dog", "count": 2, "color": "red"}]}, "exclude[0] has unknown field(s) color"),
        ({**GOOD, "prompt": ""}, "empty 'prompt'"),
    ],
)
def test_malformed_metadata_names_file_and_line(tmp_path, bad, message):
    path = write(tmp_path, [GOOD, bad])
    with pytest.raises(PromptSetError) as err:
        load_prompt_file(path)
    assert str(err.value).startswith(f"{path}, line 2: ")
    assert message in str(err.value)
    assert err.value.fix


def test_unknown_class_error_says_how_to_fix(tmp_path):
    with pytest.raises(PromptSetError) as err:
        load_prompt_file(write(tmp_path, [{**GOOD, "include": [{"class": "hair dryer", "count": 1}]}]))
    assert "Did you mean 'hair drier'?" in err.value.problem
    assert "object_names.txt" in err.value.fix


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(PromptSetError, match="does not exist"):
        load_prompt_file(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(PromptSetError, match="holds no prompt records"):
        load_prompt_file(tmp_path / "empty.jsonl")


def test_generator_is_deterministic_valid_and_official_shaped(tmp_path):
    records = generate_prompts(seed=7)
    assert records == generate_prompts(seed=7) and records != generate_prompts(seed=8)
    assert Counter(r["tag"] for r in records) == OFFICIAL_TAG_COUNTS
    assert len({json.dumps(r, sort_keys=True) for r in records}) == 553
    # round trip through the validating loader
    path = write(tmp_path, records)
    assert list(load_prompt_file(path).records) == records
    # every class appears as a single object (80 distinct single_object prompts = all classes)
    assert {r["include"][0]["class"] for r in records if r["tag"] == "single_object"} == set(CLASSES)
    for r in records:
        if r["tag"] == "counting":
            n = r["include"][0]["count"]
            assert 2 <= n <= 4 and r["exclude"] == [{"class": r["include"][0]["class"], "count": n + 1}]
        if r["tag"] in ("colors", "color_attr"):
            assert all(c["class"] != "person" for c in r["include"])
        if r["tag"] == "position":
            a, b = r["include"][1]["class"], r["include"][0]["class"]
            rel = r["include"][1]["position"][0]
            assert r["prompt"].endswith(f"{rel} {'an' if b[0] in 'aeiou' else 'a'} {b}") and a in r["prompt"]


def test_generator_phrasing_and_small_sets():
    assert plural("knife") == "knives" and plural("bus") == "buses" and plural("dog") == "dogs"
    small = generate_prompts(seed=0, per_tag=2)
    assert [r["tag"] for r in small] == [t for t in TAGS for _ in range(2)]
    assert generate_prompts(per_tag={"colors": 3}, tags=["colors"])[0]["prompt"].startswith("a photo of a")
    assert len(load_prompt_set("generated:0:2")) == 12
    with pytest.raises(PromptSetError, match="at most 80"):
        generate_prompts(per_tag=81, tags=["single_object"])
    with pytest.raises(PromptSetError, match="generated:SEED"):
        load_prompt_set("generated:x")


@pytest.fixture
def loopback_server(tmp_path):
    """Serve ``tmp_path/www`` over HTTP on 127.0.0.1; yields (base URL, hit counter)."""
    www = tmp_path / "www"
    www.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def do_GET(self):  # noqa: N802 - http.server's naming
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_official_download_is_pinned_and_cached(loopback_server):
    www, base, hits = loopback_server
    body = "".join(json.dumps(r) + "\n" for r in generate_prompts(per_tag=1)).encode()
    (www / "evaluation_metadata.jsonl").write_bytes(body)
    digest = hashlib.sha256(body).hexdigest()
    url = f"{base}/evaluation_metadata.jsonl"
    first = load_official_prompts(url=url, sha256=digest)
    assert len(first) == 6 and first.sha256 == digest and hits == ["/evaluation_metadata.jsonl"]
    assert official_metadata_path().is_file()
    assert not first.official  # not the official digest: never labelled official
    # second load: from the cache, no request
    assert load_official_prompts(url=url, sha256=digest).records == first.records and len(hits) == 1


def test_official_download_refuses_other_bytes(loopback_server):
    www, base, _ = loopback_server
    (www / "evaluation_metadata.jsonl").write_text(json.dumps(GOOD) + "\n")
    with pytest.raises(ImageSetError, match="checksum mismatch"):
        load_official_prompts(url=f"{base}/evaluation_metadata.jsonl")  # the real pinned digest
    assert not official_metadata_path().exists()
