"""Rows of the SQL backends as the guide's dicts: shared by the SQLite and PostgreSQL stores.

Both backends select the same columns in the same order, with timestamps already formatted
as ISO 8601 text and JSON values as text, so one decoder serves both.
"""

from __future__ import annotations

import gc
import json
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import CorruptStoreError, DamagedRecordWarning
from ..sessions.event import Status


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic dicts from rows.

    Each batch of new containers would otherwise trigger collections that find nothing to
    free; on a history of 20,000 events that is a tenth of the time.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
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


def _json_reason(value: Any) -> str:
    if isinstance(value, bytes):
        return "is not valid UTF-8 text"
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not JSON text"
    return f"is not valid JSON ({value[:40]!r})"


def session_dicts(
    rows: Iterable[Sequence[Any]], damaged: list[Damage] | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """Session rows (``SESSION_COLUMNS``) as ``(row id, the guide's session dict)``.

    A row that damage made unreadable is left out and, with ``damaged``, noted there.
    """
    sessions, pending, processes = [], [], []
    for (
        ref,
        session_id,
        user,
        operation_type,
        metadata,
        start,
        end,
        status,
        duration,
        host,
        pid,
        process,
    ) in rows:
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
        if metadata == "{}":
            session["metadata"] = {}
        else:
            pending.append(session)
        sessions.append((ref, session))
    bad = {id(session): "metadata" for session in _decode_all(pending, "metadata")}
    for session in _decode_all(processes, "process"):  # not needed to read the rest
        del session["process"]
    if not bad and _sessions_sound(sessions):  # the common case: no per-row calls
        return sessions
    good = []
    for ref, session in sessions:
        if id(session) in bad:
            problem: tuple[str, str] | None = ("metadata", _json_reason(session["metadata"]))
        elif type(ref) is not int:  # a damaged schema can shift a row's columns
            problem = ("row id", f"{ref!r:.40} is not a number")
        else:
            problem = session_problem(session)
        if problem is None:
            good.append((ref, session))
        elif damaged is not None:
            damaged.append(Damage(_readable(session["session_id"]), *problem))
    return good


def event_dicts(
    rows: Iterable[Sequence[Any]], damaged: dict[int, tuple[str, str]] | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """Event rows (``EVENT_COLUMNS``) as ``(session row id, the guide's event dict)``.

    An event that damage made unreadable is left out and, with ``damaged``, noted there
    under its session's row id (see :func:`attach_events`).
    """
    events, pending = [], []
    for ref, seq, timestamp, event_type, description, data in rows:
        event = {
            "timestamp": timestamp,
            "type": event_type,
            "description": description,
            "data": data,
            "seq": seq,
        }
        if data == "{}":
            event["data"] = {}
        else:
            pending.append(event)
        events.append((ref, event))
    bad = {id(event) for event in _decode_all(pending, "data")}
    if not bad and _all_sound(events):  # the common case: one pass in C, no per-row calls
        return events
    good = []
    for ref, event in events:
        if id(event) in bad:
            problem: tuple[str, str] | None = ("event data", _json_reason(event["data"]))
        else:
            problem = event_problem(event)
        if problem is None:
            good.append((ref, event))
        elif damaged is not None:
            damaged.setdefault(ref, (f"{problem[0]} (seq {event['seq']})", problem[1]))
    return good


def _sessions_sound(sessions: list[tuple[int, dict[str, Any]]]) -> bool:
    """Whether every session passes :func:`session_problem`: the same checks, in one loop
    (a damaged store takes the slow path, row by row, which names what is wrong)."""
    fromiso, statuses = datetime.fromisoformat, _STATUSES
    try:
        for ref, s in sessions:
            end, duration, pid = s["end_time"], s["duration_seconds"], s["pid"]
            if (
                type(ref) is not int
                or type(s["session_id"]) is not str
                or type(s["user"]) is not str
                or type(s["operation_type"]) is not str
                or type(s["metadata"]) is not dict
                or s["status"] not in statuses
                or not (s["host"] is None or type(s["host"]) is str)
                or not (pid is None or type(pid) is int)
                or not (
                    duration is None
                    or (type(duration) in (int, float) and 0 <= duration < math.inf)
                )
            ):
                return False
            fromiso(s["start_time"])
            if end is not None:
                fromiso(end)
    except (TypeError, ValueError):
        return False
    return True


def _all_sound(events: list[tuple[int, dict[str, Any]]]) -> bool:
    """Whether every event has the types and timestamp :func:`event_problem` checks: the
    same checks, run in bulk (a damaged store takes the slow path, row by row)."""
    try:
        for _, event in events:
            # str.__len__ and fromisoformat refuse anything but text; dict() anything else
            if (
                type(event["type"]) is not str
                or type(event["description"]) is not str
                or type(event["data"]) is not dict
                or type(event["seq"]) is not int
            ):
                return False
            datetime.fromisoformat(event["timestamp"])
    except (TypeError, ValueError):
        return False
    return True


def attach_events(
    sessions: list[tuple[int, dict[str, Any]]],
    events: list[tuple[int, dict[str, Any]]],
    damaged_events: dict[int, tuple[str, str]] | None = None,
    damaged: list[Damage] | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """Give each ``(row id, session)`` its ``events`` from ``(session row id, event)`` pairs
    grouped by session; events of other sessions are left out.

    Returns the sessions whose whole timeline could be read: one with a damaged event
    (``damaged_events``, from :func:`event_dicts`) is left out and noted in ``damaged``.
    """
    timelines: dict[int, list[dict[str, Any]]] = {}
    for ref, session in sessions:
        session["events"] = timelines[ref] = []
    current: int | None = None
    timeline: list[dict[str, Any]] | None = None
    for session_ref, event in events:
        if session_ref != current:  # rows come grouped by session: look up once per group
            current, timeline = session_ref, timelines.get(session_ref)
        if timeline is not None:
            timeline.append(event)
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


def _readable(value: Any) -> str:
    """A damaged id as text to name it by."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else repr(value)
