"""A team store: sessions in a PostgreSQL database, shared by every process that names it."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from .._util.closing import Closing
from .._util.values import to_json
from ..errors import InvalidTransition, SessionNotFound, ValidationError
from ..sessions.model import Event, Session, Status
from ..sessions.query import SessionQuery, statistics_from_groups
from . import SCAN_BATCH, Finished, ImportResult, PruneResult, StoreCounts
from ._pg_db import Connection, Database, UniqueViolation
from ._pg_sql import (
    APPEND_EVENT,
    COPY_EVENTS,
    EVENT_COLUMNS,
    FINISH_SESSION,
    IMPORT_SESSIONS,
    INSERT_EVENT,
    INSERT_SESSION,
    LOCK_SESSION,
    SESSION_COLUMNS,
    SESSION_STATUS,
    STATISTICS,
)
from ._rows import event_dicts, no_gc, session_dicts
from .postgres_costs import PostgresCostLog

_IMPORT_BATCH = 1000


class PostgresStore(Closing):
    """Sessions in a PostgreSQL database, shared by every process that names it.

    Tables live in the first schema of the connection's ``search_path`` (set it with
    ``?options=-csearch_path%3Dname`` in the URL). Every call commits before it returns.

    Args:
        url: A libpq URL, ``postgresql://user@host:5432/dbname?sslmode=require``. Query
            parameters go to libpq unchanged.
        min_size: Connections the pool keeps open.
        max_size: Connections the pool opens at most; callers beyond wait for one.
        timeout: Seconds to wait for a free connection before giving up.
        probe_after: Seconds a pooled connection may sit idle before it is checked with an
            empty query when next taken, so that connections a server restart or an idle
            timeout closed are replaced before a write is sent on them.
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int | str = 1,
        max_size: int | str = 8,
        timeout: float | str = 30.0,
        probe_after: float | str = 2.0,
    ) -> None:
        self._db = Database(
            url, min_size=min_size, max_size=max_size, timeout=timeout, probe_after=probe_after
        )
        self.location = self._db.location

    def close(self) -> None:
        """Close the pool and its connections."""
        self._db.close()

    def __repr__(self) -> str:
        return f"PostgresStore({self.location!r})"

    @property
    def costs(self) -> PostgresCostLog:
        """The ``costs`` table of this database."""
        return PostgresCostLog(self)

    # -- writes ------------------------------------------------------------------------------

    def create(self, session: Session) -> list[int]:
        with self._db.write() as conn:
            try:
                ref = _session_row(conn, session)
            except UniqueViolation:
                raise ValidationError(
                    f"A session with id {session.session_id!r} already exists in {self.location!r}."
                ) from None
            return [_event_row(conn, ref, event) for event in session.events]

    def append_event(self, session_id: str, event: Event) -> int:
        with self._db.mapped(writing=True), self._db.connection() as conn:
            row = conn.execute(
                APPEND_EVENT,
                (event.timestamp, event.type, event.description, to_json(event.data),
                 session_id),
            ).fetchone()  # fmt: skip
            if row is not None:
                return int(row[0])
            status = conn.execute(SESSION_STATUS, (session_id,)).fetchone()
        if status is None:
            raise SessionNotFound(session_id, self.location)
        raise InvalidTransition(session_id, status[0], "add an event to")

    def finish(
        self, session_id: str, status: Status, end_time: datetime, events: Sequence[Event]
    ) -> Finished:
        with self._db.write() as conn:
            row = conn.execute(LOCK_SESSION, (session_id,)).fetchone()
            if row is None:
                raise SessionNotFound(session_id, self.location)
            ref, current, start = row
            if current != Status.ACTIVE.value:
                raise InvalidTransition(session_id, current, "complete")
            seqs = [_event_row(conn, ref, event) for event in events]
            duration = max(0.0, round((end_time - start).total_seconds(), 6))
            conn.execute(FINISH_SESSION, (status.value, end_time, duration, ref))
        return Finished(end_time, duration, seqs)

    def import_sessions(self, sessions: Iterable[Session]) -> ImportResult:
        imported = skipped = 0
        batch: list[Session] = []

        def flush() -> None:
            nonlocal imported, skipped
            fresh: dict[str, Session] = {}  # the first of each id, in order
            for session in batch:
                fresh.setdefault(session.session_id, session)
            skipped += len(batch) - len(fresh)
            with self._db.write() as conn:
                refs = _import_session_rows(conn, list(fresh.values()))
                skipped += len(fresh) - len(refs)
                imported += len(refs)
                # COPY gives the events their seq in the order written: each imported
                # session's timeline, in the order the sessions came.
                with conn.cursor().copy(COPY_EVENTS) as copy:
                    for session_id, session in fresh.items():
                        ref = refs.get(session_id)
                        if ref is None:
                            continue
                        for event in session.events:
                            copy.write_row(
                                (ref, event.timestamp, event.type, event.description,
                                 to_json(event.data))
                            )  # fmt: skip
            batch.clear()

        for session in sessions:
            batch.append(session)
            if len(batch) >= _IMPORT_BATCH:
                flush()
        if batch:
            flush()
        return ImportResult(imported, skipped)

    # -- reads -------------------------------------------------------------------------------

    def get(self, session_id: str) -> dict[str, Any] | None:
        def work(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions WHERE session_id = %s", (session_id,)
            ).fetchone()
            if row is None:
                return None
            events = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE session = %s ORDER BY seq", (row[0],)
            ).fetchall()
            _, session = session_dicts([row])[0]
            session["events"] = [event for _, event in event_dicts(events)]
            return session

        return self._db.read(work)

    def history(self, query: SessionQuery) -> list[dict[str, Any]]:
        where, params = _where(query)

        def work(conn: Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions {where} "
                "ORDER BY start_time DESC, id DESC LIMIT %s",
                (*params, query.limit),
            ).fetchall()
            with no_gc():
                found = session_dicts(rows)
            sessions = [session for _, session in found]
            if not query.with_events or not sessions:
                return sessions
            timelines: dict[int, list[dict[str, Any]]] = {}  # by the sessions' row id
            for session_ref, session in found:
                session["events"] = timelines[session_ref] = []
            # By the ids found, not the query again: sessions started meanwhile stay out.
            events = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE session = ANY(%s) ORDER BY session, seq",
                (list(timelines),),
            ).fetchall()
            ref: int | None = None
            timeline: list[dict[str, Any]] = []
            with no_gc():
                event_rows = event_dicts(events)
            for session_ref, event in event_rows:
                if session_ref != ref:  # rows come grouped by session: look up once per group
                    ref, timeline = session_ref, timelines[session_ref]
                timeline.append(event)
            return sessions

        return self._db.read(work)

    def statistics(self, since: datetime | None) -> dict[str, Any]:
        where, params = _where(SessionQuery(since=since))

        def work(conn: Connection) -> dict[str, Any]:
            groups = conn.execute(STATISTICS.format(where=where), params).fetchall()
            return statistics_from_groups(groups)

        return self._db.read(work)

    def scan(
        self, since: datetime | None = None, batch: int = SCAN_BATCH
    ) -> Iterator[list[dict[str, Any]]]:
        if batch < 1:
            raise ValidationError(f"batch must be 1 or more, not {batch!r}.")
        start = "AND start_time >= %s" if since is not None else ""
        params: list[Any] = [since] if since is not None else []

        def work(conn: Connection, *, after: int) -> list[tuple[int, dict[str, Any]]]:
            rows = conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id > %s {start} "
                "ORDER BY id LIMIT %s",
                (after, *params, batch),
            ).fetchall()
            found = session_dicts(rows)
            timelines: dict[int, list[dict[str, Any]]] = {}
            for ref, session in found:
                session["events"] = timelines[ref] = []
            if found:
                events = conn.execute(
                    f"SELECT {EVENT_COLUMNS} FROM events WHERE session = ANY(%s) "
                    "ORDER BY session, seq",
                    (list(timelines),),
                ).fetchall()
                for ref, event in event_dicts(events):
                    timelines[ref].append(event)
            return found

        after = 0
        while True:
            # One pooled connection per batch, none held while the caller works on one.
            found = self._db.read(functools.partial(work, after=after))
            if not found:
                return
            after = found[-1][0]
            yield [session for _, session in found]

    def prune(self, before: datetime, *, dry_run: bool = False) -> PruneResult:
        with self._db.write() as conn:
            conn.execute(
                "CREATE TEMP TABLE pruned ON COMMIT DROP AS SELECT id, session_id FROM sessions "
                "WHERE start_time < %s AND status <> 'active'",
                (before,),
            )
            row = conn.execute(
                "SELECT (SELECT count(*) FROM pruned), "
                "(SELECT count(*) FROM events WHERE session IN (SELECT id FROM pruned)), "
                "(SELECT count(*) FROM costs WHERE session_id IN (SELECT session_id FROM pruned))"
            ).fetchone()
            assert row is not None
            if not dry_run:
                for statement in (
                    "DELETE FROM events WHERE session IN (SELECT id FROM pruned)",
                    "DELETE FROM costs WHERE session_id IN (SELECT session_id FROM pruned)",
                    "DELETE FROM cost_sessions WHERE session_id IN (SELECT session_id FROM pruned)",
                    "DELETE FROM sessions WHERE id IN (SELECT id FROM pruned)",
                ):
                    conn.execute(statement)
        sessions, events, costs = map(int, row)
        return PruneResult(sessions, events, costs, dry_run)

    def counts(self) -> StoreCounts:
        def work(conn: Connection) -> StoreCounts:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM events), "
                "(SELECT count(*) FROM costs)"
            ).fetchone()
            assert row is not None
            return StoreCounts(*map(int, row))

        return self._db.read(work)


def _where(query: SessionQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("operation_type = %s", query.operation_type),
        ("user_name = %s", query.user),
        ("start_time >= %s", query.since),
        ("start_time < %s", query.until),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if query.status is not None:
        # A literal (from the enum, never user text) lets the planner use the partial index.
        clauses.append(f"status = '{Status(query.status).value}'")
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _session_row(conn: Connection, session: Session) -> int:
    row = conn.execute(
        INSERT_SESSION,
        (
            session.session_id, session.user, session.operation_type, to_json(session.metadata),
            session.start_time, session.end_time, session.status.value,
            session.duration_seconds, session.host, session.pid,
        ),
    ).fetchone()  # fmt: skip
    assert row is not None
    return int(row[0])


def _import_session_rows(conn: Connection, sessions: list[Session]) -> dict[str, int]:
    """Insert, in one statement and in their order, the sessions whose ids are not stored
    yet; return the row id of each inserted, by session id."""
    if not sessions:
        return {}
    columns: tuple[list[Any], ...] = tuple([] for _ in range(10))
    for session in sessions:
        for column, value in zip(
            columns,
            (session.session_id, session.user, session.operation_type,
             to_json(session.metadata), session.start_time, session.end_time,
             session.status.value, session.duration_seconds, session.host, session.pid),
            strict=True,
        ):  # fmt: skip
            column.append(value)
    rows = conn.execute(IMPORT_SESSIONS, columns).fetchall()
    return {session_id: int(ref) for ref, session_id in rows}


def _event_row(conn: Connection, ref: int, event: Event) -> int:
    row = conn.execute(
        INSERT_EVENT, (ref, event.timestamp, event.type, event.description, to_json(event.data))
    ).fetchone()
    assert row is not None
    return int(row[0])
