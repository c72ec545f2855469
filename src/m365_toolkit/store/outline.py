"""Sessions in outline: day, type, user, status and duration, without metadata or events.

The dashboard's operations section counts every session of its period; a SQL store reads
these five columns (and the id) in one query (3x faster than ``Store.history`` without events,
which builds each session's whole dict), any other store answers through ``Store.history``.
A damaged row is left out and named, as ``Store.history`` does: one
:class:`~m365_toolkit.errors.DamagedRecordWarning` each, after the others.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from .._util.system import parse_time
from ..sessions.event import Status
from ..sessions.query import SessionQuery
from . import Store
from ._rows import Damage, readable_id, session_problem, warn_damaged
from .sql import SQLStore

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_STATUSES = frozenset(status.value for status in Status)


class SessionOutline(NamedTuple):
    """One session in outline."""

    day: str
    """The UTC day it started, ``YYYY-MM-DD``."""
    operation_type: str
    user: str
    status: str
    duration_seconds: float | None


def outline(
    store: Store, since: datetime | None = None, until: datetime | None = None
) -> Iterator[SessionOutline]:
    """Every session started in ``[since, until)``, in no particular order, streamed.

    Raises:
        ValidationError: ``since`` or ``until`` is naive.
        StoreError: The store cannot be read.
    """
    query = SessionQuery(since=since, until=until, with_events=False)
    if isinstance(store, SQLStore):
        where, params = store.sql.where(query)
        statement = store.sql.q(
            f"SELECT session_id, {store.dialect.day('start_time')}, operation_type, user_name, "
            f"status, duration_seconds FROM sessions {where}"
        )
        # Read whole rather than streamed: the SQLite dialect reads again, handing damaged
        # text over as bytes, only around a whole read.
        rows = store.dialect.read(lambda conn: conn.execute(statement, params).fetchall())
        damaged: list[Damage] = []
        for row in rows:
            session_id, day, kind, user, status, duration = row
            if not _sound(day, kind, user, status, duration):
                damaged.append(_damage(row))
                continue
            yield SessionOutline(day, kind, user, status, duration)
        warn_damaged(damaged, store.location)
        return
    for record in store.history(query):
        duration = record.get("duration_seconds")
        yield SessionOutline(
            parse_time(record["start_time"]).astimezone(UTC).date().isoformat(),
            str(record["operation_type"]), str(record["user"]),
            str(record.get("status") or "active"),
            float(duration) if duration is not None else None,
        )  # fmt: skip


def _sound(day: Any, kind: Any, user: Any, status: Any, duration: Any) -> bool:
    return (
        type(day) is str and _DAY.match(day) is not None
        and type(kind) is str and type(user) is str and status in _STATUSES
        and (duration is None or (type(duration) in (float, int) and 0 <= duration < math.inf))
    )  # fmt: skip


def _damage(row: Sequence[Any]) -> Damage:
    """What is wrong with a row :func:`_sound` refused, in ``Store.history``'s words."""
    session_id, day, kind, user, status, duration = row
    start = f"{day}T00:00:00+00:00" if type(day) is str and _DAY.match(day) else day
    found = session_problem(
        {"session_id": session_id if type(session_id) is str else "?", "start_time": start,
         "operation_type": kind, "user": user, "status": status, "metadata": {},
         "duration_seconds": duration}
    )  # fmt: skip
    field, reason = found or ("start_time", f"{day!r:.60} is not an ISO 8601 timestamp")
    return Damage(readable_id(session_id), field, reason)
