"""A session's timeline vocabulary: its statuses and its events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from .._util import checks
from .._util import system as _system
from .._util.values import clean_mapping, redact_text, require_name
from ..errors import SerializationError, ValidationError


class Status(StrEnum):
    """Where a session stands. ``active`` until it is completed with one of the others."""

    ACTIVE = "active"
    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"


FINAL_STATUSES = (Status.SUCCESS, Status.ERROR, Status.CANCELLED)
_NEW_DICT: Any = object()  # Event.data's default: a new empty dict
_FINAL_BY_TEXT = {final.value: final for final in FINAL_STATUSES}
_COMPLETED = {final: f"Session completed with status: {final.value}" for final in Status}


def final_status(status: object) -> Status:
    """Check that ``status`` is one a session can be completed with."""
    if type(status) is Status:
        if status is not Status.ACTIVE:
            return status
    elif type(status) is str:  # the common cases: no loop
        found = _FINAL_BY_TEXT.get(status)
        if found is not None:
            return found
    elif isinstance(status, str):
        for final in FINAL_STATUSES:
            if status == final.value:
                return final
    valid = ", ".join(repr(s.value) for s in FINAL_STATUSES)
    raise ValidationError(f"Invalid session status {status!r}; use one of {valid}.")


@dataclass(frozen=True, slots=True, init=False)
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

    def __init__(
        self,
        timestamp: datetime,
        type: str,  # noqa: A002  # the field's name
        description: str,
        data: dict[str, Any] = _NEW_DICT,
        seq: int | None = None,
    ) -> None:
        # Set through the slots: a frozen dataclass's own __init__ calls object.__setattr__
        # for each field, which costs twice as much, on every event a lifecycle makes.
        _set_timestamp(self, timestamp)
        _set_type(self, type)
        _set_description(self, description)
        _set_data(self, {} if data is _NEW_DICT else data)
        _set_seq(self, seq)

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
        if type(event_type) is not str or not event_type.strip():
            require_name(event_type, "event_type")  # names what is wrong, or accepts a str subclass
        if not isinstance(description, str):
            raise ValidationError(
                f"description must be a string, not {type(description).__name__}."
            )
        return cls(
            clock(), event_type, redact_text(description),
            {} if data is None else clean_mapping(data, "data"),
        )  # fmt: skip

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
        """Read an event from the guide's storage format.

        Raises:
            ValidationError: A field is missing or holds a value of the wrong type or range;
                the message names the field.
        """
        if not isinstance(data, Mapping):
            raise ValidationError(f"An event must be an object, not {type(data).__name__}.")
        try:
            timestamp, event_type = data["timestamp"], data["type"]
        except KeyError as exc:
            raise ValidationError(f"Event record lacks the field {exc.args[0]!r}.") from None
        description = data.get("description")
        seq = data.get("seq")
        return cls(
            _system.parse_time(timestamp, "event timestamp"),
            require_name(event_type, "event type"),
            redact_text(checks.text(description, "event description"))
            if description is not None
            else "",
            clean_mapping(data.get("data"), "event data"),
            checks.whole(seq, "event seq") if seq is not None else None,
        )


_set_timestamp, _set_type, _set_description, _set_data, _set_seq = (
    Event.__dict__[name].__set__ for name in ("timestamp", "type", "description", "data", "seq")
)


def with_seq(event: Event, seq: int) -> Event:
    """The same event with the sequence number its store gave it."""
    # Built directly: dataclasses.replace costs several times more, on every stored event.
    return Event(event.timestamp, event.type, event.description, event.data, seq)


def duration_between(start: datetime, end: datetime) -> float:
    """The duration rule: seconds from ``start`` to ``end``, to the microsecond, never negative.

    A clock that steps back (NTP, another host's clock) must not produce a negative duration.
    """
    return max(0.0, round((end - start).total_seconds(), 6))


def start_event(operation_type: str, timestamp: datetime) -> Event:
    """The ``start`` event a manager's ``create_session`` opens a timeline with; a bare
    ``Session()`` starts with no events, as in the original toolkit."""
    return Event(timestamp, "start", f"Session started for {operation_type}")


def completion_event(status: Status, timestamp: datetime) -> Event:
    """The ``complete`` event that closes every session's timeline."""
    return Event(timestamp, "complete", _COMPLETED[status])


@dataclass(frozen=True, slots=True)
class Completion:
    """How a session finished, as recorded: the final state and its ``complete`` event."""

    status: Status
    end_time: datetime
    duration_seconds: float
    event: Event


def events_from(value: object) -> list[Event]:
    """A record's ``events``: a list of event objects, each error naming its position."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ValidationError(
            f"events must be a list of event objects, not {type(value).__name__}."
        )
    events = []
    for index, item in enumerate(value):
        try:
            events.append(Event.from_dict(item))
        except (ValidationError, SerializationError) as exc:
            raise ValidationError(f"events[{index}]: {exc}") from None
    return events


class SessionRecorder(Protocol):
    """Where a bound session sends its changes before applying them (the manager is one).

    A recorder only records: it never changes the session. The session applies what the
    recorder returns, so a change that fails to be recorded is not applied either.
    """

    def record_event(self, session_id: str, event: Event) -> Event:
        """Store ``event`` for the session; return it as stored (with its ``seq``).

        Raises:
            InvalidTransition: The stored session has already finished.
        """
        ...

    def record_completion(self, session_id: str, status: Status) -> Completion:
        """Store the session's completion with ``status``; return what was recorded.

        Raises:
            InvalidTransition: The stored session has already finished.
        """
        ...
