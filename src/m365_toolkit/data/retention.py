"""Retention: delete finished sessions older than a cutoff, with their events and costs."""

from __future__ import annotations

import re
from datetime import timedelta

from .._util.system import Clock, utc_now
from ..errors import ValidationError
from ..sessions.query import moment_before
from ..store import PruneResult, Store

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """Read an age such as ``90s``, ``30m``, ``12h``, ``365d`` or ``2w``.

    Raises:
        ValidationError: The text is not such an age.
    """
    match = _AGE.match(text) if isinstance(text, str) else None
    if not match:
        raise ValidationError(f"{text!r:.60} is not an age such as 30m, 12h, 365d or 2w.")
    try:
        return timedelta(**{_UNITS[match[2]]: float(match[1])})
    except OverflowError:  # timedelta ends at 999,999,999 days
        raise ValidationError(
            f"{text.strip()[:40]!r} is longer than any age a session can have (before the year 1)."
        ) from None


def prune_sessions(
    store: Store, older_than: timedelta, *, dry_run: bool = False, clock: Clock = utc_now
) -> PruneResult:
    """Delete the finished sessions that started more than ``older_than`` ago, with their
    events, cost records and cost totals. Active sessions are kept, however old.

    Args:
        store: The store to prune.
        older_than: The age (before now) at which finished sessions go.
        dry_run: Only count what would be deleted.
        clock: Returns the current UTC time.

    Raises:
        ValidationError: ``older_than`` is not positive.
    """
    if older_than <= timedelta(0):
        raise ValidationError(
            f"The retention age must be more than 0 seconds, not "
            f"{older_than.total_seconds():g} seconds."
        )
    return store.prune(moment_before(older_than, clock), dry_run=dry_run)
