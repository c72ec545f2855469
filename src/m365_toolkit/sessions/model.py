"""The session model: a session, its events and its status. Pure: no storage here."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from .._util import system as _system
from .._util.values import clean_mapping, require_name
from ..errors import InvalidTransition, ValidationError


class Status(StrEnum):
    """Where a session stands. ``active`` until it is completed with one of the others."""

    ACTIVE = "active"
    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"


FINAL_STATUSES = (Status.SUCCESS, Status.ERROR, Status.CANCELLED)


def final_status(status: object) -> Status:
    """Check that ``status`` is one a session can be completed with."""
    if isinstance(status, str):
        for final in FINAL_STATUSES:
            if status == final.value:
                return final
    valid = ", ".join(repr(s.value) for s in FINAL_STATUSES)
    raise ValidationError(f"Invalid session status {status!r}; use one of {valid}.")


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a session's timeline.

    ``seq`` is the store-wide sequence number the store gave this record, or ``None`` for a
    session that lives in memory only.
    """

    timestamp: datetime
    type: str
    description: str
    data: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None

    @classmethod
    def new(
        cls,
        event_type: str,
        description: str,
        data: Mapping[str, Any] | None = None,
        *,
        clock: _system.Clock = _system.utc_now,
    ) -> Event:
        """Validate and redact a new event, stamped with the current time."""
        require_name(event_type, "event_type")
        if not isinstance(description, str):
            raise ValidationError(
                f"description must be a string, not {type(description).__name__}."
            )
        return cls(clock(), event_type, description, clean_mapping(data, "data"))

    def to_dict(self) -> dict[str, Any]:
        """The guide's storage format of an event."""
        out: dict[str, Any] = {
            "timestamp": _system.format_time(self.timestamp),
            "type": self.type,
            "description": self.description,
            "data": self.data,
        }
        if self.seq is not None:
            out["seq"] = self.seq
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Read an event from the guide's storage format."""
        try:
            return cls(
                _system.parse_time(data["timestamp"], "event timestamp"),
                require_name(data["type"], "event type"),
                str(data.get("description", "")),
                clean_mapping(data.get("data"), "event data"),
                data.get("seq"),
            )
        except KeyError as exc:
            raise ValidationError(f"Event record lacks the field {exc.args[0]!r}.") from None


class SessionRecorder(Protocol):
    """Where a session bound to a store sends its changes (implemented by the manager)."""

    def record_event(self, session: Session, event: Event) -> Event: ...

    def record_completion(self, session: Session, status: Status) -> None: ...


class Session:
    """One tracked operation: who ran what, when, and what happened.

    A session made directly is kept in memory; one made by a ``SessionManager`` writes every
    event and its completion to the manager's store before the call returns.
    """

    def __init__(
        self,
        session_id: str | None = None,
        user: str | None = None,
        operation_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        clock: _system.Clock = _system.utc_now,
    ) -> None:
        self.session_id = (
            require_name(session_id, "session_id") if session_id is not None else _new_id()
        )
        self.user = require_name(user, "user") if user is not None else _system.detect_user()
        self.operation_type = (
            require_name(operation_type, "operation_type")
            if operation_type is not None
            else "general"
        )
        self.metadata = clean_mapping(metadata, "metadata")
        self.start_time: datetime = clock()
        self.end_time: datetime | None = None
        self.status: Status = Status.ACTIVE
        self.duration_seconds: float | None = None
        self.host: str | None = _system.hostname()
        self.pid: int | None = os.getpid()
        self.cost: dict[str, Any] | None = None
        self._clock = clock
        self._recorder: SessionRecorder | None = None
        self.events: list[Event] = [
            Event(self.start_time, "start", f"Session started for {self.operation_type}")
        ]

    def __repr__(self) -> str:
        return (
            f"<Session {self.session_id} {self.operation_type!r} user={self.user!r} "
            f"status={self.status.value!r}>"
        )

    @property
    def is_active(self) -> bool:
        """True until the session is completed."""
        return self.status is Status.ACTIVE

    def add_event(
        self, event_type: str, description: str, data: Mapping[str, Any] | None = None
    ) -> Event:
        """Record an event on the session's timeline.

        Raises:
            InvalidTransition: The session has already finished.
            SerializationError: ``data`` holds a value that cannot be stored as JSON.
        """
        event = Event.new(event_type, description, data, clock=self._clock)
        if not self.is_active:
            raise InvalidTransition(self.session_id, self.status, "add an event to")
        if self._recorder is not None:
            event = self._recorder.record_event(self, event)
        self.events.append(event)
        return event

    def complete(self, status: str = "success") -> None:
        """Finish the session with ``success``, ``error`` or ``cancelled``.

        Raises:
            ValidationError: ``status`` is not one of those (a ``ValueError``).
            InvalidTransition: The session has already finished.
        """
        final = final_status(status)
        if not self.is_active:
            raise InvalidTransition(self.session_id, self.status, "complete")
        if self._recorder is not None:
            self._recorder.record_completion(self, final)
            return
        self.add_event("complete", f"Session completed with status: {final.value}")
        self._finish(final, self._clock())

    def get_duration(self) -> timedelta:
        """How long the session ran, or has run so far while active."""
        end = self.end_time if self.end_time is not None else self._clock()
        return end - self.start_time

    def to_dict(self) -> dict[str, Any]:
        """The guide's storage format, plus ``host``, ``pid`` and (when known) ``cost``."""
        out: dict[str, Any] = {
            "session_id": self.session_id,
            "user": self.user,
            "operation_type": self.operation_type,
            "metadata": self.metadata,
            "start_time": _system.format_time(self.start_time),
            "end_time": _system.format_time(self.end_time) if self.end_time else None,
            "status": self.status.value,
            "duration_seconds": self.duration_seconds,
            "host": self.host,
            "pid": self.pid,
            "events": [event.to_dict() for event in self.events],
        }
        if self.cost is not None:
            out["cost"] = self.cost
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Session:
        """Read a session from the guide's storage format (naive times are local time)."""
        try:
            session = cls(
                data["session_id"], data.get("user") or "unknown", data.get("operation_type")
            )
            session.metadata = clean_mapping(data.get("metadata"), "metadata")
            session.start_time = _system.parse_time(data["start_time"], "start_time")
        except KeyError as exc:
            raise ValidationError(f"Session record lacks the field {exc.args[0]!r}.") from None
        status = data.get("status") or Status.ACTIVE.value
        session.status = Status.ACTIVE if status == "active" else final_status(status)
        end_time = data.get("end_time")
        session.end_time = _system.parse_time(end_time, "end_time") if end_time else None
        duration = data.get("duration_seconds")
        if duration is None and session.end_time is not None:
            duration = (session.end_time - session.start_time).total_seconds()
        session.duration_seconds = float(duration) if duration is not None else None
        session.host = data.get("host")
        session.pid = int(data["pid"]) if data.get("pid") is not None else None
        session.events = [Event.from_dict(event) for event in data.get("events") or ()]
        session.cost = data.get("cost")
        return session

    def _finish(self, status: Status, end_time: datetime, duration: float | None = None) -> None:
        self.status = status
        self.end_time = end_time
        if duration is None:
            duration = duration_between(self.start_time, end_time)
        self.duration_seconds = duration

    def _bind(self, recorder: SessionRecorder) -> Session:
        self._recorder = recorder
        return self


def _new_id() -> str:
    """A UUIDv7 (RFC 9562): unique, and ordered by creation time to the millisecond.

    Time-ordered ids keep index inserts in one corner of a B-tree instead of all over it:
    on a store of a million sessions a lifecycle stays as fast as on an empty one.
    """
    unix_ms = time.time_ns() // 1_000_000
    rand_a, rand_b = secrets.randbits(12), secrets.randbits(62)
    value = (unix_ms & (1 << 48) - 1) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def duration_between(start: datetime, end: datetime) -> float:
    """A session's duration in seconds: never negative, to the microsecond."""
    return max(0.0, round((end - start).total_seconds(), 6))


def with_seq(event: Event, seq: int) -> Event:
    """The same event with the sequence number its store gave it."""
    return replace(event, seq=seq)
