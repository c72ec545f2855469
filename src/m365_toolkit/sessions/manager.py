"""SessionManager: creates, completes and queries sessions in a store."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import settings
from .._util import system as _system
from .._util.closing import Closing
from .._util.importfile import is_cost_entry, numbered, read_array, read_each
from .._util.system import Clock, utc_now
from ..costs.model import CostTotals, usd_text
from ..errors import (
    ConfigError,
    InvalidTransition,
    SessionNotFound,
    ValidationError,
)
from ..store import ImportResult, Store, StoreLocation, _safe, open_store
from .event import start_event
from .formatting import format_statistics
from .model import Completion, Event, Session, Status, completion_event, final_status, with_seq
from .query import SessionQuery, moment_before, parse_status, window_start
from .scope import SessionScope as SessionScope  # re-exported: it lived here

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

LEGACY_LOG = "session_log.json"


class LegacyLogWarning(UserWarning):
    """A session log of the original toolkit lies beside a new store, not imported yet."""


class SessionManager(Closing):
    """Creates sessions, records their events and completion, and answers questions on them.

    Args:
        storage_path: Where sessions are kept: a path ending in ``.json`` (the guide's JSON
            file), any other path (a SQLite database) or a store URL. ``None`` means
            ``M365_TOOLKIT_STORE``, else ``output/sessions/sessions.db`` under the current
            directory.
        store: An already open store to use instead of ``storage_path``.
        clock: Returns the current UTC time; replace it in tests.
        otel: Live OpenTelemetry export of what this manager's store commits: ``True`` on
            the global tracer provider, a ``TracerProvider`` to use that one, ``False`` off;
            ``None`` (default) follows ``M365_TOOLKIT_OTEL`` (off unless set). Needs the
            ``otel`` extra.
    """

    def __init__(
        self,
        storage_path: str | os.PathLike[str] | None = None,
        *,
        store: Store | None = None,
        clock: Clock = utc_now,
        otel: bool | TracerProvider | None = None,
    ) -> None:
        if store is None:
            location = StoreLocation.parse(storage_path)
            fresh = (
                storage_path is None
                and location.scheme != "postgresql"
                and not location.path.exists()
            )
            store = open_store(storage_path)
            if fresh:
                _hint_legacy_log(location.path)
        self.store = store
        self.storage_path = store.location
        self.active_sessions: dict[str, Session] = {}
        self.clock = clock
        self._lock = threading.Lock()
        self._stop_export = _live_export(store, otel)

    def __repr__(self) -> str:
        return f"SessionManager({self.storage_path!r})"

    def close(self) -> None:
        """Close the store."""
        if self._stop_export is not None:
            self._stop_export()
        self.store.close()

    # -- lifecycle ---------------------------------------------------------------------------

    def create_session(
        self,
        operation_type: str,
        user: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Session:
        """Start a session and store it with its ``start`` event.

        Args:
            operation_type: What the operation is, e.g. ``"security_audit"``.
            user: Who runs it; by default ``M365_TOOLKIT_USER`` or the OS user.
            metadata: JSON-ready details; values under secret-looking keys are redacted.

        Raises:
            ValidationError: ``operation_type`` or ``user`` is empty.
            SerializationError: ``metadata`` holds a value JSON cannot store.
        """
        session = Session(None, user, operation_type or "", metadata, clock=self.clock)
        session.events.append(start_event(session.operation_type, session.start_time))
        session.assign_seqs(self.store.create(session))
        session.bind(self)
        with self._lock:
            self.active_sessions[session.session_id] = session
        return session

    def get_session(self, session_id: str) -> Session | None:
        """The session with this id, from this process or from the store; ``None`` if unknown."""
        with self._lock:
            session = self.active_sessions.get(session_id)
        if session is None:
            record = self.store.get(session_id)
            if record is None:
                return None
            session = Session.from_dict(record, clock=self.clock).bind(self)
        totals = self.store.costs.by_session([session_id]).get(session_id)
        session.cost = totals.to_dict() if totals is not None else None
        return session

    def complete_session(self, session_id: str, status: str = "success") -> None:
        """Complete a session with ``success``, ``error`` or ``cancelled``.

        Works on sessions started by other processes too.

        Raises:
            ValidationError: ``status`` is not one of those (a ``ValueError``).
            SessionNotFound: No session has this id (a ``KeyError``).
            InvalidTransition: The session has already finished.
        """
        final = final_status(status)
        with self._lock:
            session = self.active_sessions.get(session_id)
        if session is not None:
            session.complete(final)
        else:
            self._store_completion(session_id, final, [])

    def session(
        self,
        operation_type: str,
        user: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionScope:
        """A session for a ``with`` (or ``async with``) block.

        It completes with ``success`` when the block ends, ``error`` (with an ``error`` event
        naming the exception) when the block raises, and ``cancelled`` on KeyboardInterrupt
        or task cancellation. The exception still propagates.
        """
        return SessionScope(self, operation_type, user, metadata)

    # -- SessionRecorder: bound sessions record through these, then apply the result ---------

    def record_event(self, session_id: str, event: Event) -> Event:
        """Store an event of a bound session; return it with its sequence number.

        Raises:
            InvalidTransition: The session was completed meanwhile (e.g. by another process).
        """
        try:
            return with_seq(event, self.store.append_event(session_id, event))
        except InvalidTransition:
            self._forget(session_id)
            raise

    def record_completion(self, session_id: str, status: Status) -> Completion:
        """Store the completion of a bound session; return what the store recorded.

        Raises:
            InvalidTransition: The session was completed meanwhile (e.g. by another process).
        """
        return self._store_completion(session_id, status, [])

    def _store_completion(self, session_id: str, status: Status, extra: list[Event]) -> Completion:
        end_time = self.clock()
        event = completion_event(status, end_time)
        try:
            finished = self.store.finish(session_id, status, end_time, [*extra, event])
        finally:
            self._forget(session_id)
        return Completion(
            status,
            finished.end_time,
            finished.duration_seconds,
            with_seq(event, finished.seqs[-1]),
        )

    def _forget(self, session_id: str) -> None:
        with self._lock:
            self.active_sessions.pop(session_id, None)

    # -- queries -----------------------------------------------------------------------------

    def get_session_history(
        self,
        operation_type: str | None = None,
        user: str | None = None,
        days: float | None = 30,
        *,
        status: str | None = None,
        limit: int | None = None,
        since: datetime | None = None,
        with_costs: bool = False,
    ) -> list[dict[str, Any]]:
        """Sessions started in the last ``days`` days (or ``since``), newest first, as dicts.

        Active sessions are included. ``days=None`` means no time limit. ``with_costs`` adds
        each session's LLM requests, tokens and USD cost under ``"cost"``.
        """
        query = SessionQuery(
            operation_type=operation_type,
            user=user,
            status=parse_status(status),
            since=since if since is not None else window_start(days, self.clock),
            limit=limit,
        )
        history = self.store.history(query)
        if with_costs:
            totals = self.store.costs.by_session([item["session_id"] for item in history])
            for item in history:
                item["cost"] = totals.get(item["session_id"], CostTotals()).to_dict()
        return history

    def get_statistics(self, days: float | None = 30) -> dict[str, Any]:
        """Counts by operation type, user and status, and the average duration.

        Every session started in the window counts, active ones included; the average
        covers completed sessions only. ``total_cost_usd`` and ``cost_by_operation_type``
        cover the LLM requests made in the window.
        """
        since = window_start(days, self.clock)
        stats = self.store.statistics(since)
        by_operation = self.store.costs.report("operation", since)
        stats["total_cost_usd"] = usd_text(sum((g.totals.cost for g in by_operation), Decimal(0)))
        stats["cost_by_operation_type"] = {g.key: usd_text(g.totals.cost) for g in by_operation}
        return stats

    def print_statistics(self, days: float | None = 30) -> None:
        """Print :meth:`get_statistics` in the guide's report layout."""
        print(format_statistics(self.get_statistics(days), days))

    # -- maintenance -------------------------------------------------------------------------

    def find_stale(self, older_than: timedelta | None = None) -> list[dict[str, Any]]:
        """Active sessions whose process has ended without completing them.

        A session is stale when its process provably ended: it ran on this host, in this boot
        and this PID namespace, and its pid is gone or now belongs to a process that started
        later (a reused pid). A session whose process cannot be checked from here — another
        host, a container's PID namespace, a session of a release that did not record it —
        is stale only when ``older_than`` is given and it started longer ago than that.
        """
        cutoff = moment_before(older_than, self.clock) if older_than is not None else None
        stale = []
        for record in self.store.history(SessionQuery(status=Status.ACTIVE, with_events=False)):
            pid = record.get("pid")
            gone = _system.process_gone(
                record.get("host"), int(pid) if pid is not None else None, record.get("process")
            )
            if gone is None:
                gone = cutoff is not None and _system.parse_time(record["start_time"]) < cutoff
            if gone:
                stale.append(record)
        return stale

    def reap_stale(self, older_than: timedelta | None = None) -> list[str]:
        """Complete stale sessions (see :meth:`find_stale`) as ``error``; return their ids."""
        reaped = []
        for record in self.find_stale(older_than):
            note = Event(
                self.clock(),
                "error",
                f"Process {record.get('pid')} on {record.get('host')} ended without completing "
                "the session",
                {"pid": record.get("pid"), "host": record.get("host")},
            )
            try:
                self._store_completion(record["session_id"], Status.ERROR, [note])
            except (InvalidTransition, SessionNotFound):
                continue  # completed or removed by someone else meanwhile
            reaped.append(record["session_id"])
        return reaped

    def import_json(self, path: str | os.PathLike[str]) -> ImportResult:
        """Import a session log in the guide's JSON format; sessions already stored are skipped.

        Naive timestamps are read as local time; secrets in metadata are redacted. The file
        is imported whole or not at all. A cost log is refused (``import_file`` takes it).

        Raises:
            CorruptStoreError: The file cannot be read as a JSON array of objects (not UTF-8,
                invalid JSON, too deep, ...); the message names where.
            ValidationError: A session in it lacks a required field or holds an invalid
                value (the message names the record and the field), or the file is a cost log.
        """
        source = Path(path)
        records = read_array(source)
        if records and all(map(is_cost_entry, records)):
            raise ValidationError(
                f"Cannot import {str(source)!r} as sessions: it is a cost log. Import it with "
                "`m365-toolkit sessions import` or m365_toolkit.transfer.import_file."
            )
        return self.store.import_sessions(read_each(numbered(records), Session.from_dict, source))


def _live_export(store: Store, otel: bool | TracerProvider | None) -> Callable[[], None] | None:
    """Hang the OpenTelemetry exporter on the store's append path, if asked."""
    if otel is None:
        otel = settings.otel()
    if otel is False:
        return None
    try:  # an adapter of the trail, loaded only when asked for
        from ..exporters.otel import LiveExporter
    except ImportError as exc:
        raise ConfigError(
            "Live OpenTelemetry export needs the otel extra: "
            "pip install 'm365-security-toolkit[otel]'."
        ) from exc
    return store.listen(LiveExporter(None if otel is True else otel))


def _hint_legacy_log(store_path: Path) -> None:
    legacy = store_path.with_name(LEGACY_LOG)
    if legacy.exists() and legacy != store_path:
        warnings.warn(
            f"Found {str(legacy)!r} from the original toolkit beside the new store "
            f"{str(store_path)!r}. Import it with `m365-toolkit sessions import {legacy}` or "
            f"SessionManager().import_json({str(legacy)!r}).",
            LegacyLogWarning,
            stacklevel=3,
        )


# -- one manager per process -----------------------------------------------------------------

_manager: SessionManager | None = None
_manager_key: str | None = None
_manager_lock = threading.Lock()


def get_session_manager(storage_path: str | os.PathLike[str] | None = None) -> SessionManager:
    """This process's shared manager. The first call fixes its store.

    Raises:
        ConfigError: A later call names a different store.
    """
    global _manager, _manager_key
    with _manager_lock:
        if _manager is None:
            _manager = SessionManager(storage_path)
            _manager_key = StoreLocation.parse(storage_path).key
        elif storage_path is not None and StoreLocation.parse(storage_path).key != _manager_key:
            raise ConfigError(
                f"The session manager of this process already uses {_manager.storage_path!r}; "
                f"it cannot switch to {_safe(os.fspath(storage_path))!r}. Create a SessionManager "
                "for another store."
            )
        return _manager


def create_session(operation_type: str, metadata: Mapping[str, Any] | None = None) -> Session:
    """Start a session on the shared manager (see :meth:`SessionManager.create_session`)."""
    return get_session_manager().create_session(operation_type, metadata=metadata)


def complete_session(session_id: str, status: str = "success") -> None:
    """Complete a session on the shared manager (see :meth:`SessionManager.complete_session`)."""
    get_session_manager().complete_session(session_id, status)


def session(
    operation_type: str, user: str | None = None, metadata: Mapping[str, Any] | None = None
) -> SessionScope:
    """A ``with`` block session on the shared manager (see :meth:`SessionManager.session`)."""
    return get_session_manager().session(operation_type, user, metadata)


def _reset_session_manager() -> None:
    """Close and forget the shared manager (for tests)."""
    global _manager, _manager_key
    with _manager_lock:
        if _manager is not None:
            _manager.close()
        _manager = _manager_key = None
