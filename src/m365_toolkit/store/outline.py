"""Sessions in outline: day, type, user, status and duration, without metadata or events.

The dashboard's operations section counts every session of its period; a SQL store streams
these five columns from one query (3x faster than ``Store.history`` without events, which
builds each session's whole dict), any other store answers through ``Store.history``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import NamedTuple

from .._util.system import parse_time
from ..sessions.query import SessionQuery
from . import Store
from .sql import SQLStore


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
            f"SELECT {store.dialect.day('start_time')}, operation_type, user_name, status, "
            f"duration_seconds FROM sessions {where}"
        )
        for day, kind, user, status, duration in store.dialect.stream(statement, params):
            yield SessionOutline(
                str(day), str(kind), str(user), str(status),
                float(duration) if duration is not None else None,
            )  # fmt: skip
        return
    for record in store.history(query):
        duration = record.get("duration_seconds")
        yield SessionOutline(
            parse_time(record["start_time"]).astimezone(UTC).date().isoformat(),
            str(record["operation_type"]), str(record["user"]),
            str(record.get("status") or "active"),
            float(duration) if duration is not None else None,
        )  # fmt: skip
