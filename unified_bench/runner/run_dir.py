"""The run-directory contract.

    RUN_DIR/
      run.json           what was asked (task, model spec, data set, settings, runtime); written first
      <stage>.jsonl      one keyed record per request of each stage of the task (e.g. caption.jsonl,
                         generate.jsonl); generated images where the task's requests say
                         (e.g. images/ID.png), their sha256 in the record
      scores.jsonl       one keyed record per judged sample
      (task files)       whatever the task writes besides (references/, CSV tables, a submission)
      results.json       versioned results (unified_bench.results.schema)
      report.html        the self-contained report
      COMPLETE           written last: the run is complete only when this exists

Why: anything can die at any moment; each file is either appended with fsync (jsonl) or
written atomically, so re-running the same command picks up exactly where it stopped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from unified_bench.core.atomic import atomic_write_text
from unified_bench.errors import RunDirError
from unified_bench.runner.store import RecordStore

#: Keys of run.json that must match for a directory to be resumed.
IDENTITY_KEYS = ("task", "model", "dataset")


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # -- layout ---------------------------------------------------------------------------
    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def results_json(self) -> Path:
        return self.path / "results.json"

    @property
    def complete_marker(self) -> Path:
        return self.path / "COMPLETE"

    def store(self, stage: str) -> RecordStore:
        return RecordStore(self.path / f"{stage}.jsonl")

    # -- lifecycle ------------------------------------------------------------------------
    def check(self, run_config: dict[str, Any], force: bool = False) -> None:
        """Everything ``prepare`` would refuse, checked before any model loads; writes nothing.

        Why: a model and four encoders take minutes to load; an --out that is a file, is not
        writable or holds another run must fail before that, with nothing left behind.
        """
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"--out '{self.path}' exists and is not a directory.", "Choose another --out.")
        existing = self.path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise RunDirError(
                f"--out '{self.path}' cannot be created: '{existing}' is not a writable directory.",
                "Choose an --out in a folder you can write to.",
            )
        self._check_same_run(run_config, force)

    def _check_same_run(self, run_config: dict[str, Any], force: bool) -> None:
        if self.run_json.exists() and not force:
            try:
                previous = json.loads(self.run_json.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                previous = {}
            diffs = [k for k in IDENTITY_KEYS if previous.get(k) != run_config.get(k)]
            if diffs:
                raise RunDirError(
                    f"Run directory '{self.path}' holds a different run (differs in: {', '.join(diffs)}).",
                    "Pass a new --out for this run, or --force to reuse the directory "
                    "(cached items are keyed by configuration, so nothing wrong is reused).",
                )

    def prepare(self, run_config: dict[str, Any], force: bool = False) -> None:
        """Create or reopen the directory. Refuse to mix a different run into it."""
        self.check(run_config, force)
        self.path.mkdir(parents=True, exist_ok=True)
        # A re-run rewrites results: the run is not complete until the marker is written again.
        if self.complete_marker.exists():
            self.complete_marker.unlink()
        atomic_write_text(self.run_json, json.dumps(run_config, indent=2, sort_keys=True, default=str))

    def mark_complete(self) -> None:
        atomic_write_text(self.complete_marker, "complete\n")
