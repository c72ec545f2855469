"""The default store: one SQLite file in WAL mode, shared safely by threads and processes."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from .._util.closing import Closing
from .._util.system import format_time, parse_time
from .._util.values import to_json
from ..errors import (
    ConfigError,
    CorruptStoreError,
    InvalidTransition,
    SchemaError,
    SessionNotFound,
    StoreError,
    ValidationError,
)
from ..sessions.model import Event, Session, Status
from ..sessions.query import SessionQuery, statistics_from_groups
from . import SCAN_BATCH, Finished, ImportResult, PruneResult, StoreCounts
from ._rows import event_dicts, no_gc, session_dicts
from ._sql import (
    APPEND_EVENT,
    APPLICATION_ID,
    EVENT_COLUMNS,
    INSERT_EVENT,
    INSERT_SESSION,
    MIGRATIONS,
    SCHEMA_VERSION,
    SESSION_COLUMNS,
    STATISTICS,
)
from .sqlite_costs import SQLiteCostLog

_HEADER = b"SQLite format 3\x00"
_SYNCHRONOUS = ("normal", "full", "extra")
_IMPORT_BATCH = 1000
# Set on every connection, after ``synchronous``. No memory map: an I/O error on a mapped
# file kills the process (SIGBUS) instead of raising an error we can report.
# - a page cache of up to 64 MiB (filled only as pages are read): it holds the indexes a
#   write touches and the pages a history query reads, even on a store of a million sessions;
# - a checkpoint every 4000 WAL pages (16 MB) instead of 1000: on a large store each commit
#   dirties pages all over the file, and fewer, larger checkpoints (each ends with an fsync)
#   write each of them back once.
CONNECTION_PRAGMAS = (
    "PRAGMA cache_size = -65536",
    "PRAGMA wal_autocheckpoint = 4000",
)


class SQLiteStore(Closing):
    """Sessions in a SQLite database file.

    Args:
        path: The database file; it and its folder are created if missing.
        synchronous: ``"normal"`` (default) keeps every commit through a process crash;
            ``"full"`` also through a power loss, at some cost in speed.
        busy_timeout: Seconds to wait for another writer before giving up.
    """

    def __init__(
        self, path: Path, *, synchronous: str = "normal", busy_timeout: float | str = 60.0
    ) -> None:
        if synchronous.lower() not in _SYNCHRONOUS:
            raise ConfigError(
                f"synchronous={synchronous!r} is not valid; use one of {', '.join(_SYNCHRONOUS)}."
            )
        self.path = path.expanduser().absolute()
        self.location = str(self.path)
        self._synchronous = synchronous.upper()
        self._timeout = float(busy_timeout)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._check_file()
        self._prepare()

    # -- connections -------------------------------------------------------------------------

    def _check_file(self) -> None:
        if self.path.is_dir():
            raise ConfigError(f"The store path {self.location!r} is a folder; name a file.")
        if self.path.exists():
            try:
                with self.path.open("rb") as file:
                    header = file.read(len(_HEADER))
            except OSError as exc:
                raise CorruptStoreError(
                    f"Cannot read the session store {self.location!r}: {exc.strerror}.",
                    self.location,
                ) from exc
            if header and header != _HEADER:
                raise CorruptStoreError(
                    f"{self.location!r} is not a SQLite database, so it cannot be a session "
                    "store. It was left untouched; move it away or name another store.",
                    self.location,
                )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        with self._mapped():
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            for pragma in CONNECTION_PRAGMAS:
                conn.execute(pragma)
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._lock:
            self._connections.append(conn)
        return conn

    @contextmanager
    def _mapped(self) -> Iterator[None]:
        """Turn driver errors into the toolkit's, naming the store."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            text = str(exc)
            if "not a database" in text or "malformed" in text:
                raise CorruptStoreError(
                    f"The session store {self.location!r} is corrupt ({text}). It was left "
                    "untouched; restore it from a backup or name another store.",
                    self.location,
                ) from exc
            if "locked" in text or "busy" in text:
                raise StoreError(
                    f"The session store {self.location!r} stayed locked by another writer for "
                    f"more than {self._timeout:g} s.",
                    self.location,
                ) from exc
            raise StoreError(f"The session store {self.location!r} failed: {text}.") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front, so it never fails half-way."""
        conn = self._conn()
        with self._mapped():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _prepare(self) -> None:
        """Check the file is a toolkit store of a known version; create or migrate it."""
        conn = self._conn()
        with self._mapped():
            if self._version(conn) < SCHEMA_VERSION:
                with self._write():
                    version = self._version(conn)  # another process may have migrated meanwhile
                    for script in MIGRATIONS[version:]:
                        for statement in filter(str.strip, script.split(";")):
                            conn.execute(statement)
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._enable_wal(conn)

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching modes takes an exclusive lock and fails at once, without the busy
        # handler, while another process switches too: retry until the busy timeout.
        deadline = time.monotonic() + self._timeout
        while conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def _version(self, conn: sqlite3.Connection) -> int:
        # One statement, so one snapshot: another process may create the schema meanwhile.
        app_id, version, tables = conn.execute(
            "SELECT (SELECT application_id FROM pragma_application_id()), "
            "(SELECT user_version FROM pragma_user_version()), "
            "(SELECT count(*) FROM sqlite_master)"
        ).fetchone()
        if app_id != APPLICATION_ID:
            if tables:
                raise CorruptStoreError(
                    f"{self.location!r} is a SQLite database of another application, not a "
                    "session store. It was left untouched; name another store.",
                    self.location,
                )
            return 0
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"The session store {self.location!r} has schema version {version}, newer than "
                f"this toolkit understands ({SCHEMA_VERSION}); upgrade m365-security-toolkit.",
                self.location,
            )
        return int(version)

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.location!r})"

    @property
    def costs(self) -> SQLiteCostLog:
        """The ``costs`` table of this database."""
        return SQLiteCostLog(self)

    # -- writes ------------------------------------------------------------------------------

    def create(self, session: Session) -> list[int]:
        with self._write() as conn:
            try:
                ref = _session_row(conn, session)
            except sqlite3.IntegrityError:
                raise ValidationError(
                    f"A session with id {session.session_id!r} already exists in {self.location!r}."
                ) from None
            return [_event_row(conn, ref, event) for event in session.events]

    def append_event(self, session_id: str, event: Event) -> int:
        conn = self._conn()
        with self._mapped():
            cursor = conn.execute(
                APPEND_EVENT,
                (format_time(event.timestamp), event.type, event.description,
                 to_json(event.data), session_id),
            )  # fmt: skip
        if cursor.rowcount == 1 and cursor.lastrowid is not None:
            return cursor.lastrowid
        self._raise_not_active(conn, session_id, "add an event to")
        raise AssertionError("unreachable")  # pragma: no cover

    def finish(
        self, session_id: str, status: Status, end_time: datetime, events: Sequence[Event]
    ) -> Finished:
        with self._write() as conn:
            row = conn.execute(
                "SELECT id, status, start_time FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            if row is None:
                raise SessionNotFound(session_id, self.location)
            ref, current, start_text = row
            if current != Status.ACTIVE.value:
                raise InvalidTransition(session_id, current, "complete")
            seqs = [_event_row(conn, ref, event) for event in events]
            duration = max(0.0, round((end_time - parse_time(start_text)).total_seconds(), 6))
            conn.execute(
                "UPDATE sessions SET status = ?, end_time = ?, duration_seconds = ? WHERE id = ?",
                (status.value, format_time(end_time), duration, ref),
            )
        return Finished(end_time, duration, seqs)

    def _raise_not_active(self, conn: sqlite3.Connection, session_id: str, action: str) -> None:
        with self._mapped():
            row = conn.execute(
                "SELECT status FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
        if row is None:
            raise SessionNotFound(session_id, self.location)
        raise InvalidTransition(session_id, row[0], action)

    def import_sessions(self, sessions: Iterable[Session]) -> ImportResult:
        imported = skipped = 0
        batch: list[Session] = []

        def flush() -> None:
            nonlocal imported, skipped
            with self._write() as conn:
                for session in batch:
                    ref = _session_row(conn, session, ignore_existing=True)
                    if ref is None:
                        skipped += 1
                        continue
                    imported += 1
                    for event in session.events:
                        _event_row(conn, ref, event)
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
        conn = self._conn()
        with self._mapped():
            row = conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            if row is None:
                return None
            events = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE session = ? ORDER BY seq", (row[0],)
            ).fetchall()
        _, session = session_dicts([row])[0]
        session["events"] = [event for _, event in event_dicts(events)]
        return session

    def history(self, query: SessionQuery) -> list[dict[str, Any]]:
        where, params = _where(query)
        limit = -1 if query.limit is None else query.limit
        selected = (
            f"SELECT {{columns}} FROM sessions {where} ORDER BY start_time DESC, id DESC LIMIT ?"
        )
        conn = self._conn()
        with self._mapped():
            rows = conn.execute(selected.format(columns=SESSION_COLUMNS), (*params, limit))
            with no_gc():
                found = session_dicts(rows)
            sessions = [session for _, session in found]
            if not query.with_events or not sessions:
                return sessions
            events = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE session IN "
                f"({selected.format(columns='id')}) ORDER BY session, seq",
                (*params, limit),
            )
            timelines: dict[int, list[dict[str, Any]]] = {}  # by the sessions' row id
            for session_ref, session in found:
                session["events"] = timelines[session_ref] = []
            ref, timeline = None, []
            with no_gc():
                event_rows = event_dicts(events)
            for session_ref, event in event_rows:
                if session_ref != ref:  # rows come grouped by session: look up once per group
                    ref, timeline = session_ref, timelines[session_ref]
                timeline.append(event)
        return sessions

    def statistics(self, since: datetime | None) -> dict[str, Any]:
        where, params = _where(SessionQuery(since=since))
        conn = self._conn()
        with self._mapped():
            groups = conn.execute(STATISTICS.format(where=where), params).fetchall()
        return statistics_from_groups(groups)

    def scan(
        self, since: datetime | None = None, batch: int = SCAN_BATCH
    ) -> Iterator[list[dict[str, Any]]]:
        if batch < 1:
            raise ValidationError(f"batch must be 1 or more, not {batch!r}.")
        start = "AND start_time >= ?" if since is not None else ""
        params: list[Any] = [format_time(since)] if since is not None else []
        after = 0
        while True:
            conn = self._conn()  # per batch: the caller may resume the scan in another thread
            with self._mapped():
                rows = conn.execute(
                    f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id > ? {start} "
                    "ORDER BY id LIMIT ?",
                    (after, *params, batch),
                ).fetchall()
                if not rows:
                    return
                found = session_dicts(rows)
                timelines: dict[int, list[dict[str, Any]]] = {}
                for ref, session in found:
                    session["events"] = timelines[ref] = []
                # A range on the index rather than an IN list: no limit on host parameters.
                events = conn.execute(
                    f"SELECT {EVENT_COLUMNS} FROM events WHERE session BETWEEN ? AND ? "
                    "ORDER BY session, seq",
                    (found[0][0], found[-1][0]),
                ).fetchall()
            for ref, event in event_dicts(events):
                timeline = timelines.get(ref)
                if timeline is not None:  # not a session that ``since`` left out
                    timeline.append(event)
            after = found[-1][0]
            yield [session for _, session in found]

    def prune(self, before: datetime, *, dry_run: bool = False) -> PruneResult:
        with self._write() as conn:
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS pruned (id INTEGER PRIMARY KEY, session_id TEXT)"
            )
            conn.execute("DELETE FROM temp.pruned")
            conn.execute(
                "INSERT INTO temp.pruned SELECT id, session_id FROM sessions "
                "WHERE start_time < ? AND status != 'active'",
                (format_time(before),),
            )
            sessions, events, costs = conn.execute(
                "SELECT (SELECT count(*) FROM temp.pruned), "
                "(SELECT count(*) FROM events WHERE session IN (SELECT id FROM temp.pruned)), "
                "(SELECT count(*) FROM costs WHERE session_id IN "
                "(SELECT session_id FROM temp.pruned))"
            ).fetchone()
            if not dry_run:
                for statement in (
                    "DELETE FROM events WHERE session IN (SELECT id FROM temp.pruned)",
                    "DELETE FROM costs WHERE session_id IN (SELECT session_id FROM temp.pruned)",
                    "DELETE FROM cost_sessions WHERE session_id IN "
                    "(SELECT session_id FROM temp.pruned)",
                    "DELETE FROM sessions WHERE id IN (SELECT id FROM temp.pruned)",
                ):
                    conn.execute(statement)
            conn.execute("DELETE FROM temp.pruned")
        return PruneResult(sessions, events, costs, dry_run)

    def counts(self) -> StoreCounts:
        with self._mapped():
            row = (
                self._conn()
                .execute(
                    "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM events), "
                    "(SELECT count(*) FROM costs)"
                )
                .fetchone()
            )
        return StoreCounts(*row)


def _where(query: SessionQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if query.operation_type is not None:
        clauses.append("operation_type = ?")
        params.append(query.operation_type)
    if query.user is not None:
        clauses.append("user = ?")
        params.append(query.user)
    if query.status is not None:
        # A literal (from the enum, never user text) lets SQLite use the partial index.
        clauses.append(f"status = '{Status(query.status).value}'")
    if query.since is not None:
        clauses.append("start_time >= ?")
        params.append(format_time(query.since))
    if query.until is not None:
        clauses.append("start_time < ?")
        params.append(format_time(query.until))
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _session_row(
    conn: sqlite3.Connection, session: Session, *, ignore_existing: bool = False
) -> int | None:
    sql = (
        INSERT_SESSION.replace("INSERT", "INSERT OR IGNORE", 1)
        if ignore_existing
        else INSERT_SESSION
    )
    cursor = conn.execute(
        sql,
        (
            session.session_id, session.user, session.operation_type, to_json(session.metadata),
            format_time(session.start_time),
            format_time(session.end_time) if session.end_time else None,
            session.status.value, session.duration_seconds, session.host, session.pid,
        ),
    )  # fmt: skip
    return cursor.lastrowid if cursor.rowcount == 1 else None


def _event_row(conn: sqlite3.Connection, ref: int | None, event: Event) -> int:
    cursor = conn.execute(
        INSERT_EVENT,
        (ref, format_time(event.timestamp), event.type, event.description, to_json(event.data)),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid
