"""The data-set interface every task's data implements (image sets, prompt sets, question tables).

Why an interface: the runner iterates data without knowing what it is, and every run records the
data's ``fingerprint`` so results on different content are never mixed or compared.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any


class Dataset(ABC):
    """A lazy, ordered, finite collection of samples, each with a string ``id``.

    Why lazy: a question table may be 6 GB; the runner iterates it once per stage and never holds
    it whole. ``fingerprint()`` goes into run.json and results.json: runs on different content are
    never mixed or compared.
    """

    name: str = "dataset"

    @abstractmethod
    def __iter__(self) -> Iterator[Any]: ...

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]: ...

    @abstractmethod
    def limit(self, n: int | None) -> Dataset:
        """The first ``n`` samples (stable order); the fingerprint still names the full set."""

    def validate(self) -> None:  # noqa: B027 - optional: a dataset that cannot be checked up front
        """Check the whole data set before any model loads (e.g. decode every image once)."""
