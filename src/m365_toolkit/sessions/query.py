"""What a history query asks for, as plain data that every store understands."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .._util.system import Clock, utc_now
from ..errors import DamagedRecordWarning, ValidationError
from .model import Status


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """Filters for session history. ``None`` means "any"; results are newest first."""

    operation_type: str | None = None
    user: str | None = None
    status: Status | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None
    with_events: bool = True

    def __post_init__(self) -> None:
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 0):
            raise ValidationError(f"limit must be a whole number of 0 or more, not {self.limit!r}.")
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValidationError(f"{name} must be timezone-aware, not {moment!r}.")


def window_start(days: float | None, clock: Clock = utc_now) -> datetime | None:
    """The start of a window of ``days`` days ending now (``None`` for no limit).

    Raises:
        ValidationError: ``days`` is not a finite number of 0 or more, or reaches back
            before the year 1 (``None`` means "all time").
    """
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, (int, float)):
        raise ValidationError(f"days must be a number of 0 or more, not {days!r:.60}.")
    if isinstance(days, float) and not math.isfinite(days):
        raise ValidationError(
            f"days must be a finite number, not {days!r}; leave it out (None) for all time."
        )
    if days < 0:
        raise ValidationError(f"days must be a number of 0 or more, not {days!r:.60}.")
    now = clock()
    try:
        return now - timedelta(days=days)
    except OverflowError:
        raise ValidationError(
            f"days={days:.6g} reaches back before the year 1; leave it out (None) for all time."
            if isinstance(days, float)
            else "days reaches back before the year 1; leave it out (None) for all time."
        ) from None


def moment_before(age: timedelta, clock: Clock = utc_now) -> datetime:
    """The moment ``age`` before now (the cutoff of ``prune`` and ``reap --older-than``).

    Raises:
        ValidationError: That moment would be before the year 1.
    """
    try:
        return clock() - age
    except OverflowError:
        raise ValidationError(
            f"An age of {age.days:,} days reaches back before the year 1."
        ) from None


def parse_status(status: str | None) -> Status | None:
    """Read a status filter; any of the four statuses is allowed."""
    if status is None:
        return None
    try:
        return Status(status)
    except ValueError:
        valid = ", ".join(repr(s.value) for s in Status)
        raise ValidationError(f"Invalid status {status!r}; use one of {valid}.") from None


def empty_statistics() -> dict[str, Any]:
    """Statistics of a window with no sessions in it."""
    return {
        "total_sessions": 0,
        "active_sessions": 0,
        "avg_duration_seconds": 0.0,
        "by_operation_type": {},
        "by_user": {},
        "by_status": {},
    }


def statistics_from_groups(groups: list[tuple[str, str, str, int, float, int]]) -> dict[str, Any]:
    """Fold ``(operation_type, user, status, count, duration_sum, durations)`` groups."""
    stats = empty_statistics()
    by_type: dict[str, int] = {}
    by_user: dict[str, int] = {}
    by_status: dict[str, int] = {}
    total = timed = 0
    duration_sum = 0.0
    for operation_type, user, status, count, group_duration, group_timed in groups:
        operation_type, user, status = (
            _text(operation_type, "operation type"),
            _text(user, "user"),
            _text(status, "status"),
        )
        total += count
        if group_duration is not None and math.isfinite(group_duration):
            timed += group_timed
            duration_sum += group_duration
        elif group_duration is not None:
            _warn_damaged("duration", group_duration)
        by_type[operation_type] = by_type.get(operation_type, 0) + count
        by_user[user] = by_user.get(user, 0) + count
        by_status[status] = by_status.get(status, 0) + count
    stats["total_sessions"] = total
    stats["active_sessions"] = by_status.get(Status.ACTIVE.value, 0)
    stats["avg_duration_seconds"] = round(duration_sum / timed, 3) if timed else 0.0
    stats["by_operation_type"] = _by_count(by_type)
    stats["by_user"] = _by_count(by_user)
    stats["by_status"] = _by_count(by_status)
    return stats


def _text(value: Any, what: str) -> str:
    """A group key as text: damage can leave bytes or a number where text was stored."""
    if isinstance(value, str):
        return value
    shown = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    _warn_damaged(what, value, shown)
    return shown


def _warn_damaged(what: str, value: Any, shown: str | None = None) -> None:
    counted = f"; counted as {shown!r:.60}" if shown is not None else "; left out of the average"
    warnings.warn(
        DamagedRecordWarning(
            f"A stored session's {what} is damaged ({value!r:.60}){counted}.", "", what
        ),
        stacklevel=3,
    )


def _by_count(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
