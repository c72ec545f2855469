"""Rows of the SQL backends as the guide's dicts: shared by the SQLite and PostgreSQL stores.

Both backends select the same columns in the same order, with timestamps already formatted
as ISO 8601 text and JSON values as text, so one decoder serves both.
"""

from __future__ import annotations

import gc
import json
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import CorruptStoreError, DamagedRecordWarning
from ..sessions.event import Status
from . import _columns


class no_gc:  # noqa: N801  # used like a function: ``with no_gc():``
    """Pause the cyclic garbage collector while building many acyclic dicts from rows.

    Each batch of new containers would otherwise trigger a collection that finds nothing to
    free; on a history of 20,000 events that was a tenth of the time. A class, not a
    generator: leaving a generator's block makes an exception object, and that allocation
    alone would start the collection at once, over everything just built.
    """

    __slots__ = ("_paused",)

    def __enter__(self) -> None:
        self._paused = gc.isenabled()
        if self._paused:
            gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._paused:
            gc.enable()


@dataclass(frozen=True, slots=True)
class Damage:
    """A stored session that cannot be read: which one, which field, what is wrong with it."""

    session_id: str
    field: str
    reason: str

    def message(self, location: str) -> str:
        return (
            f"Session {self.session_id!r} in {location!r} is damaged: its {self.field} "
            f"{self.reason}. It was left out and left untouched."
        )

    def error(self, location: str) -> CorruptStoreError:
        """The error of a read that asked for this session alone."""
        return CorruptStoreError(self.message(location), location)


def warn_damaged(damaged: Iterable[Damage], location: str) -> None:
    """One :class:`DamagedRecordWarning` per damaged session, for the caller to report."""
    for damage in damaged:
        warnings.warn(
            DamagedRecordWarning(damage.message(location), damage.session_id, damage.field),
            stacklevel=3,
        )


_STATUSES = frozenset(status.value for status in Status)
_SESSION_TEXT = ("session_id", "user", "operation_type", "start_time", "status")


def _problem(value: Any, field: str, *, optional: bool = False) -> str | None:
    """What is wrong with a text column's value, or ``None``."""
    if type(value) is str or (optional and value is None):
        return None
    if isinstance(value, bytes):
        return "is not valid UTF-8 text"
    return f"is a {type(value).__name__}, not text"


def _time_problem(value: Any) -> str | None:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return f"{value!r:.60} is not an ISO 8601 timestamp"
    return None


def session_problem(session: dict[str, Any]) -> tuple[str, str] | None:
    """``(field, what is wrong)`` for a stored session in the guide's format, else ``None``.

    Types only, and the timestamps: a stored row passed every check on its way in, so this
    finds what damage (a flipped bit, a hand edit) did to it since.
    """
    for field in _SESSION_TEXT:
        problem = _problem(session.get(field), field)
        if problem:
            return field, problem
    for field in ("end_time", "host"):
        problem = _problem(session.get(field), field, optional=True)
        if problem:
            return field, problem
    if session["status"] not in _STATUSES:
        return "status", f"{session['status']!r:.60} is not a session status"
    for field in ("start_time", "end_time"):
        value = session.get(field)
        if value is not None and (problem := _time_problem(value)):
            return field, problem
    if not isinstance(session.get("metadata"), dict):
        return "metadata", "is not a JSON object"
    duration = session.get("duration_seconds")
    if duration is not None and (
        isinstance(duration, bool)
        or not isinstance(duration, (int, float))
        or not math.isfinite(duration)
        or duration < 0
    ):
        return "duration_seconds", f"{duration!r:.60} is not a number of seconds"
    pid = session.get("pid")
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int)):
        return "pid", f"{pid!r:.60} is not a process id"
    return None


def event_problem(event: Any) -> tuple[str, str] | None:
    """``(field, what is wrong)`` for a stored event in the guide's format, else ``None``."""
    if not isinstance(event, dict):
        return "event", f"is a {type(event).__name__}, not an object"
    for field in ("timestamp", "type", "description"):
        problem = _problem(event.get(field), field)
        if problem:
            return f"event {field}", problem
    if problem := _time_problem(event["timestamp"]):
        return "event timestamp", problem
    if not isinstance(event.get("data"), dict):
        return "event data", "is not a JSON object"
    seq = event.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
        return "event seq", f"{seq!r:.60} is not a sequence number"
    return None


def record_problem(record: Any) -> tuple[str, str] | None:
    """:func:`session_problem` of a whole session record, its events included."""
    if not isinstance(record, dict):
        return "record", f"is a {type(record).__name__}, not an object"
    problem = session_problem(record)
    if problem:
        return problem
    events = record.get("events")
    if events is None:
        return None
    if not isinstance(events, list):
        return "events", "is not a list"
    for event in events:
        if problem := event_problem(event):
            return problem
    return None


def _decode_all(records: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Replace each record's JSON text under ``key`` by its value, in one parser call; return
    the records whose text is not JSON (their ``key`` is left as it was).

    One ``json.loads`` of a joined array costs far less than one call per row, which
    dominates reading thousands of rows. Only when it fails is each record parsed alone, to
    find the damaged ones.
    """
    if not records:
        return []
    try:
        values = json.loads("[" + ",".join([record[key] for record in records]) + "]")
        if len(values) == len(records):  # text like `1,2` would parse as two values
            for record, value in zip(records, values, strict=True):
                record[key] = value
            return []
    except (TypeError, ValueError, RecursionError):
        pass
    bad = []
    for record in records:
        try:
            record[key] = json.loads(record[key])
        except (TypeError, ValueError, RecursionError):
            bad.append(record)
    return bad


def json_reason(value: Any) -> str:
    if isinstance(value, bytes):
        return "is not valid UTF-8 text"
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not JSON text"
    return f"is not valid JSON ({value[:40]!r})"


def session_dicts(
    rows: Iterable[Sequence[Any]], damaged: list[Damage] | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """Session rows (``SESSION_COLUMNS``) as ``(row id, the guide's session dict)``. A list
    of rows may be emptied on the way.

    A row that damage made unreadable is left out and, with ``damaged``, noted there.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    found = _columns.sessions(rows)  # the common case: no damage, whole columns at once
    if found is not None:
        return found
    sessions, pending, processes = [], [], []
    for (ref, session_id, user, operation_type, metadata, start, end, status, duration, host,
         pid, process) in rows:  # fmt: skip
        session = {
            "session_id": session_id,
            "user": user,
            "operation_type": operation_type,
            "metadata": metadata,
            "start_time": start,
            "end_time": end,
            "status": status,
            "duration_seconds": duration,
            "host": host,
            "pid": pid,
        }
        if process is not None:
            session["process"] = process
            processes.append(session)
        pending.append(session)
        sessions.append((ref, session))
    bad = {id(session) for session in _decode_all(pending, "metadata")}
    for session in _decode_all(processes, "process"):  # not needed to read the rest
        del session["process"]
    good = []
    for ref, session in sessions:
        if id(session) in bad:
            problem: tuple[str, str] | None = ("metadata", json_reason(session["metadata"]))
        elif type(ref) is not int:  # a damaged schema can shift a row's columns
            problem = ("row id", f"{ref!r:.40} is not a number")
        else:
            problem = session_problem(session)
        if problem is None:
            good.append((ref, session))
        elif damaged is not None:
            damaged.append(Damage(readable_id(session["session_id"]), *problem))
    return good


def timelines(
    rows: Iterable[Sequence[Any]], damaged: dict[int, tuple[str, str]] | None = None
) -> dict[Any, list[dict[str, Any]]]:
    """Event rows (``EVENT_COLUMNS``, ordered by session) as each session row id's list of
    the guide's event dicts. A list of rows may be emptied on the way.

    An event that damage made unreadable is left out and, with ``damaged``, noted there
    under its session's row id (see :func:`attach_events`).
    """
    rows = rows if isinstance(rows, list) else list(rows)
    found = _columns.timelines(rows)  # the common case: no damage, whole columns at once
    if found is not None:
        return found
    events = []
    for ref, seq, timestamp, event_type, description, data in rows:
        event = {
            "timestamp": timestamp,
            "type": event_type,
            "description": description,
            "data": data,
            "seq": seq,
        }
        events.append((ref, event))
    bad = {id(event) for event in _decode_all([event for _, event in events], "data")}
    found = {}
    for ref, event in events:
        if id(event) in bad:
            problem: tuple[str, str] | None = ("event data", json_reason(event["data"]))
        else:
            problem = event_problem(event)
        if problem is None:
            found.setdefault(ref, []).append(event)
        elif damaged is not None:
            damaged.setdefault(ref, (f"{problem[0]} (seq {event['seq']})", problem[1]))
    return found


FETCH_ROWS = 1024  # event rows decoded at a time: see read_timelines


def read_timelines(
    cursor: Any, damaged: dict[int, tuple[str, str]] | None = None
) -> dict[Any, list[dict[str, Any]]]:
    """:func:`timelines` of all the rows of a query's ``cursor``, fetched and decoded
    :data:`FETCH_ROWS` at a time.

    Each batch is decoded while its rows are fresh in the CPU's cache, and freed before the
    next is fetched: the memory of its rows serves the next one's, where reading them all
    first would ask the system for megabytes of new pages on every history. The rows come
    ordered by session, so only a session's run of events that crosses a batch's start is
    found in two batches; its two parts are joined.
    """
    found: dict[Any, list[dict[str, Any]]] = {}
    while rows := cursor.fetchmany(FETCH_ROWS):
        part = timelines(rows, damaged)
        if found and part:
            first = next(iter(part))
            if first in found:
                found[first] += part.pop(first)
        found.update(part)
    return found


def attach_events(
    sessions: list[tuple[int, dict[str, Any]]],
    timelines: dict[Any, list[dict[str, Any]]],
    damaged_events: dict[int, tuple[str, str]] | None = None,
    damaged: list[Damage] | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """Give each ``(row id, session)`` its events from ``timelines`` (by session row id).

    Returns the sessions whose whole timeline could be read: one with a damaged event
    (``damaged_events``, from :func:`timelines`) is left out and noted in ``damaged``.
    """
    for ref, session in sessions:
        session["events"] = timelines.get(ref) or []
    if not damaged_events:
        return sessions
    good = []
    for ref, session in sessions:
        problem = damaged_events.get(ref)
        if problem is None:
            good.append((ref, session))
        elif damaged is not None:
            damaged.append(Damage(session["session_id"], *problem))
    return good


def readable_id(value: Any) -> str:
    """A damaged id as text to name it by."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else repr(value)
