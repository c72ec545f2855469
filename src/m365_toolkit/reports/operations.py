"""The operations section: the period's sessions in outline, streamed.

:func:`~m365_toolkit.store.outline.outline` reads five columns of each session (day, type,
user, status, duration), no metadata and no event: on 100,000 sessions in SQLite that is 3x
faster than ``Store.history`` without events, which builds each whole session. Only
counters, one duration per finished session (for the percentiles) and the most recent
failed sessions (one more query, with events) are kept.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from .._util.system import Clock, parse_time, utc_now
from ..sessions.manager import SessionManager
from ..sessions.model import Status
from ..sessions.query import SessionQuery
from ..store import Store
from ..store.outline import outline
from .model import FailedSession, Operations, Percentiles, StaleSession

FAILED_SHOWN = 50
"""How many failed sessions the dashboard lists (the most recent); the total is counted."""


def percentile(sorted_values: list[float], percent: float) -> float:
    """The nearest-rank percentile of already sorted values (0.0 for none).

    Nearest rank always returns a duration that was measured, which reads better on a
    dashboard than an interpolated one: p95 of 20 runs is the 19th slowest.
    """
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def operations_section(
    store: Store,
    since: datetime | None,
    *,
    clock: Clock = utc_now,
    stale_after: timedelta | None = None,
) -> Operations:
    """Sessions of the period per day and status, type and user; durations; failures.

    Args:
        store: The store to read.
        since: The start of the period (``None``: every session).
        clock: The current time, for stale sessions of other hosts (see ``stale_after``).
        stale_after: Also count as stale an active session of another host or container
            that started longer ago than this (see :meth:`SessionManager.find_stale`).
    """
    by_day: defaultdict[str, Counter[str]] = defaultdict(Counter)
    by_type: defaultdict[str, Counter[str]] = defaultdict(Counter)
    by_user: defaultdict[str, Counter[str]] = defaultdict(Counter)
    durations: defaultdict[str, list[float]] = defaultdict(list)
    failed_total = total = 0
    for day, kind, user, status, duration in outline(store, since):
        total += 1
        by_day[day][status] += 1
        by_type[kind][status] += 1
        by_user[user][status] += 1
        if duration is not None and status != "active":
            durations[kind].append(duration)
        failed_total += status == "error"
    failed = store.history(SessionQuery(status=Status.ERROR, since=since, limit=FAILED_SHOWN))
    stale = SessionManager(store=store, clock=clock).find_stale(stale_after)
    return Operations(
        total=total,
        by_day={day: _statuses(by_day[day]) for day in sorted(by_day)},
        by_type=_busiest(by_type),
        by_user=_busiest(by_user),
        durations=tuple(
            _percentiles(kind, sorted(values)) for kind, values in sorted(durations.items())
        ),
        failed_total=failed_total,
        failed=tuple(_failed(record) for record in failed),
        stale=tuple(_stale(record) for record in stale),
    )


def _percentiles(kind: str, values: list[float]) -> Percentiles:
    return Percentiles(kind, len(values), percentile(values, 50), percentile(values, 95))


def _statuses(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items()))


def _busiest(groups: Mapping[str, Counter[str]]) -> dict[str, dict[str, int]]:
    order = sorted(groups.items(), key=lambda item: (-item[1].total(), item[0]))
    return {key: _statuses(counts) for key, counts in order}


def _failed(record: Mapping[str, Any]) -> FailedSession:
    events: Iterable[Mapping[str, Any]] = record.get("events") or ()
    return FailedSession(
        session_id=str(record["session_id"]),
        operation_type=str(record["operation_type"]),
        user=str(record["user"]),
        start_time=parse_time(record["start_time"]),
        errors=tuple(str(e.get("description", "")) for e in events if e.get("type") == "error"),
    )


def _stale(record: Mapping[str, Any]) -> StaleSession:
    pid = record.get("pid")
    return StaleSession(
        session_id=str(record["session_id"]),
        operation_type=str(record["operation_type"]),
        user=str(record["user"]),
        start_time=parse_time(record["start_time"]),
        host=str(record.get("host") or ""),
        pid=int(pid) if pid is not None else None,
    )
