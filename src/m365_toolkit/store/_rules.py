"""The stores' rules that no database changes: written once, used by every backend."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

from ..errors import ValidationError

T = TypeVar("T")

IMPORT_BATCH = 1000
"""Sessions or cost records written per transaction by an import."""


def duplicate_session(session_id: str, location: str) -> ValidationError:
    """The error for a new session whose id the store already holds."""
    return ValidationError(f"A session with id {session_id!r} already exists in {location!r}.")


def check_batch(batch: int) -> int:
    """A scan's batch size: 1 or more."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValidationError(f"batch must be 1 or more, not {batch!r}.")
    return batch


def batches(items: Iterable[T], size: int = IMPORT_BATCH) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last may be shorter)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
