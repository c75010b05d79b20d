"""Progress bars for long loops (tqdm), silenced when not wanted."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def progress_bar(total: int | None, desc: str, enabled: bool = True) -> Iterator[Any]:
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="item", disable=not enabled, dynamic_ncols=True, leave=True)
    try:
        yield bar
    finally:
        bar.close()
