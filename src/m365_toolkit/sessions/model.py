"""The session model: a session and its transitions, and the duration rule. Pure: no storage.

A bound session records each change through a :class:`SessionRecorder` (the manager) and
applies it only once recorded; neither side touches the other's internals.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from .._util import checks
from .._util import system as _system
from .._util.ids import new_session_id as _new_id
from .._util.values import clean_mapping, require_name
from ..errors import InvalidTransition, ValidationError
from .event import (
    FINAL_STATUSES,
    Completion,
    Event,
    SessionRecorder,
    Status,
    completion_event,
    duration_between,
    events_from,
    final_status,
    with_seq,
)

__all__ = [
    "FINAL_STATUSES",
    "Completion",
    "Event",
    "Session",
    "SessionRecorder",
    "Status",
    "completion_event",
    "duration_between",
    "final_status",
    "with_seq",
]


_T = TypeVar("_T")
_R = TypeVar("_R")
_ACTIVE = Status.ACTIVE


class Session:
    """One tracked operation: who ran what, when, and what happened.

    A session made directly is kept in memory; one made by a ``SessionManager`` is bound to
    it (see :meth:`bind`) and writes every event and its completion to the manager's store
    before the call returns.

    ``status``, ``end_time`` and ``duration_seconds`` change only through
    :meth:`complete` (or :meth:`mark_finished`); the other fields are plain attributes.
    """

    session_id: str
    user: str
    operation_type: str
    metadata: dict[str, Any]
    start_time: datetime
    host: str | None
    pid: int | None
    process: dict[str, Any] | None
    cost: dict[str, Any] | None
    events: list[Event]

    def __init__(
        self,
        session_id: str | None = None,
        user: str | None = None,
        operation_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        clock: _system.Clock = _system.utc_now,
    ) -> None:
        session_id = require_name(session_id, "session_id") if session_id is not None else _new_id()
        user = require_name(user, "user") if user is not None else _system.detect_user()
        operation_type = (
            require_name(operation_type, "operation_type")
            if operation_type is not None
            else "general"
        )
        cleaned = clean_mapping(metadata, "metadata")
        start_time = clock()
        self._assign(
            session_id,
            user,
            operation_type,
            cleaned,
            start_time=start_time,
            host=_system.hostname(),
            pid=os.getpid(),
            process=_system.process_identity(),
            events=[],  # the manager's create_session adds the start event
            clock=clock,
        )

    def _assign(
        self,
        session_id: str,
        user: str,
        operation_type: str,
        metadata: dict[str, Any],
        *,
        start_time: datetime,
        host: str | None,
        pid: int | None,
        events: list[Event],
        process: dict[str, Any] | None = None,
        clock: _system.Clock,
        status: Status = Status.ACTIVE,
        end_time: datetime | None = None,
        duration_seconds: float | None = None,
        cost: dict[str, Any] | None = None,
    ) -> None:
        # The one place that sets every field: a new session (__init__) and a stored one
        # (from_dict) differ only in where the values come from.
        self.session_id = session_id
        self.user = user
        self.operation_type = operation_type
        self.metadata = metadata
        self.start_time = start_time
        self._status = status
        self._end_time = end_time
        self._duration_seconds = duration_seconds
        self.host = host
        self.pid = pid
        self.process = process
        self.cost = cost
        self.events = events
        self._clock = clock
        self._recorder: SessionRecorder | None = None

    def __repr__(self) -> str:
        return (
            f"<Session {self.session_id} {self.operation_type!r} user={self.user!r} "
            f"status={self.status.value!r}>"
        )

    @property
    def status(self) -> Status:
        """``active`` until the session is completed, then how it ended."""
        return self._status

    @property
    def end_time(self) -> datetime | None:
        """When the session was completed; ``None`` while active."""
        return self._end_time

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to completion; ``None`` while active."""
        return self._duration_seconds

    @property
    def is_active(self) -> bool:
        """True until the session is completed."""
        return self._status is _ACTIVE

    def bind(self, recorder: SessionRecorder) -> Session:
        """Record every later event and the completion through ``recorder``; return ``self``.

        The manager binds the sessions it creates or loads; a bound session applies a change
        only after the recorder has stored it.
        """
        self._recorder = recorder
        return self

    def assign_seqs(self, seqs: Sequence[int]) -> None:
        """Give the session's events the sequence numbers its store gave them, in order.

        Raises:
            ValidationError: ``seqs`` does not hold one number per event.
        """
        if len(seqs) != len(self.events):
            raise ValidationError(
                f"Session {self.session_id!r} has {len(self.events)} event(s) but was given "
                f"{len(seqs)} sequence number(s)."
            )
        self.events = [with_seq(event, seq) for event, seq in zip(self.events, seqs, strict=True)]

    def add_event(
        self, event_type: str, description: str, data: Mapping[str, Any] | None = None
    ) -> Event:
        """Record an event on the session's timeline.

        Raises:
            InvalidTransition: The session has already finished.
            SerializationError: ``data`` holds a value that cannot be stored as JSON.
        """
        event = Event.new(event_type, description, data, clock=self._clock)
        if self._status is not _ACTIVE:
            raise InvalidTransition(self.session_id, self._status, "add an event to")
        if self._recorder is not None:
            event = self._record(self._recorder.record_event, event)
            if self._status is not _ACTIVE:  # apply_event, inline: it runs on every event
                raise InvalidTransition(self.session_id, self._status, "add an event to")
        self.events.append(event)
        return event

    def complete(self, status: str = "success") -> None:
        """Finish the session with ``success``, ``error`` or ``cancelled``.

        Raises:
            ValidationError: ``status`` is not one of those (a ``ValueError``).
            InvalidTransition: The session has already finished.
        """
        final = final_status(status)
        if self._status is not _ACTIVE:
            raise InvalidTransition(self.session_id, self._status, "complete")
        if self._recorder is not None:
            completion = self._record(self._recorder.record_completion, final)
        else:
            # A clock that stepped back (NTP) must not end a session before it started.
            end_time = max(self._clock(), self.start_time)
            completion = Completion(
                final,
                end_time,
                duration_between(self.start_time, end_time),
                completion_event(final, end_time),
            )
        self.apply_event(completion.event)
        self.mark_finished(completion.status, completion.end_time, completion.duration_seconds)

    def apply_event(self, event: Event) -> None:
        """Append an already recorded event: the transition :meth:`add_event` ends with.

        It validates and stores nothing; to record a new event, call :meth:`add_event`.

        Raises:
            InvalidTransition: The session has already finished.
        """
        if self._status is not _ACTIVE:
            raise InvalidTransition(self.session_id, self._status, "add an event to")
        self.events.append(event)

    def mark_finished(
        self, status: Status, end_time: datetime, duration_seconds: float | None = None
    ) -> None:
        """Move the session to its final ``status``: the transition :meth:`complete` ends with.

        Args:
            status: ``success``, ``error`` or ``cancelled``.
            end_time: When the session finished (timezone-aware).
            duration_seconds: As recorded by a store; by default :func:`duration_between`
                the start and ``end_time``.

        Raises:
            ValidationError: ``status`` is not a final status, ``end_time`` is naive or before
                the start, or ``duration_seconds`` is negative, NaN or infinite.
            InvalidTransition: The session has already finished.
        """
        final = final_status(status)
        if not isinstance(end_time, datetime) or end_time.tzinfo is None:
            raise ValidationError(f"end_time must be a timezone-aware datetime, not {end_time!r}.")
        if end_time < self.start_time:
            raise ValidationError(
                f"end_time {end_time.isoformat()} is before the start of session "
                f"{self.session_id!r} ({self.start_time.isoformat()})."
            )
        if duration_seconds is not None:
            duration_seconds = checks.seconds(duration_seconds, "duration_seconds")
        if self._status is not _ACTIVE:
            raise InvalidTransition(self.session_id, self._status, "complete")
        self._status = final
        self._end_time = end_time
        self._duration_seconds = (
            duration_seconds
            if duration_seconds is not None
            else duration_between(self.start_time, end_time)
        )

    def get_duration(self) -> timedelta:
        """How long the session ran, or has run so far while active."""
        end = self._end_time if self._end_time is not None else self._clock()
        return end - self.start_time

    def to_dict(self, *, events: bool = True) -> dict[str, Any]:
        """The guide's storage format, plus ``host``, ``pid`` and (when known) ``process``
        (what tells the process apart from a later one with the same pid) and ``cost``;
        without the ``events`` key when ``events`` is false."""
        out: dict[str, Any] = {
            "session_id": self.session_id,
            "user": self.user,
            "operation_type": self.operation_type,
            "metadata": self.metadata,
            "start_time": _system.format_time(self.start_time),
            "end_time": _system.format_time(self._end_time) if self._end_time else None,
            "status": self._status.value,
            "duration_seconds": self._duration_seconds,
            "host": self.host,
            "pid": self.pid,
        }
        if events:
            out["events"] = [event.to_dict() for event in self.events]
        if self.process is not None:
            out["process"] = self.process
        if self.cost is not None:
            out["cost"] = self.cost
        return out

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, clock: _system.Clock = _system.utc_now
    ) -> Session:
        """Read a session from the guide's storage format (naive times are local time).

        Everything comes from ``data``: no clock is read, no host or process is looked up
        and no event is added (a record without events has none).

        Args:
            data: One session in the storage format.
            clock: What the session reads later, for :meth:`get_duration` while active and
                for the timestamps of new events.

        Raises:
            ValidationError: A required field is missing or a value is not acceptable.
        """
        if not isinstance(data, Mapping):
            raise ValidationError(f"A session record must be an object, not {type(data).__name__}.")
        try:
            session_id = require_name(data["session_id"], "session_id")
            raw_start = data["start_time"]
        except KeyError as exc:
            raise ValidationError(f"Session record lacks the field {exc.args[0]!r}.") from None
        user = require_name(data.get("user") or "unknown", "user")
        operation_type = data.get("operation_type")
        operation_type = (
            require_name(operation_type, "operation_type")
            if operation_type is not None
            else "general"
        )
        metadata = clean_mapping(data.get("metadata"), "metadata")
        start_time = _system.parse_time(raw_start, "start_time")
        raw_status = data.get("status") or Status.ACTIVE.value
        status = Status.ACTIVE if raw_status == "active" else final_status(raw_status)
        raw_end = data.get("end_time")
        end_time = _system.parse_time(raw_end, "end_time") if raw_end not in (None, "") else None
        if end_time is not None:
            if status is Status.ACTIVE:
                raise ValidationError(
                    f"end_time is {raw_end!r} but the status is 'active': an active session "
                    "has not ended."
                )
            if end_time < start_time:
                raise ValidationError(f"end_time {raw_end!r} is before start_time {raw_start!r}.")
        duration = data.get("duration_seconds")
        if duration is not None:
            duration = checks.seconds(duration, "duration_seconds")
            if status is Status.ACTIVE:
                raise ValidationError(
                    f"duration_seconds is {duration!r} but the status is 'active': an active "
                    "session has no duration yet."
                )
        elif end_time is not None:
            duration = duration_between(start_time, end_time)
        pid = data.get("pid")
        cost = data.get("cost")
        if cost is not None and not isinstance(cost, Mapping):
            raise ValidationError(f"cost must be an object, not {type(cost).__name__}.")
        session = cls.__new__(cls)
        session._assign(
            session_id,
            user,
            operation_type,
            metadata,
            start_time=start_time,
            host=checks.optional_text(data.get("host"), "host"),
            pid=checks.whole(pid, "pid") if pid is not None else None,
            process=data["process"] if isinstance(data.get("process"), dict) else None,
            events=events_from(data.get("events")),
            clock=clock,
            status=status,
            end_time=end_time,
            duration_seconds=duration,
            cost=dict(cost) if cost is not None else None,
        )
        return session

    def _record(self, call: Callable[[str, _T], _R], change: _T) -> _R:
        try:
            return call(self.session_id, change)
        except InvalidTransition as exc:
            # Completed by another process meanwhile: the store's status is the truth.
            self._status = Status(exc.status)
            raise
