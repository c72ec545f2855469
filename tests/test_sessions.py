import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from m365_toolkit import Event, InvalidTransition, Session, Status, ValidationError
from m365_toolkit.errors import SerializationError

from .conftest import FakeClock


def test_a_standalone_session_has_defaults_and_a_start_event(monkeypatch):
    monkeypatch.setenv("M365_TOOLKIT_USER", "admin@contoso.com")
    session = Session()
    assert uuid.UUID(session.session_id).version == 7
    assert session.user == "admin@contoso.com"
    assert session.operation_type == "general"
    assert session.metadata == {}
    assert session.status is Status.ACTIVE and session.status == "active"
    assert [(e.type, e.description) for e in session.events] == [
        ("start", "Session started for general")
    ]


def test_session_ids_are_unique_uuid7_ordered_by_creation_time():
    ids = [Session().session_id for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert {p.version for p in parsed} == {7} and {p.variant for p in parsed} == {uuid.RFC_4122}
    milliseconds = [p.int >> 80 for p in parsed]
    assert milliseconds == sorted(milliseconds)
    assert abs(milliseconds[-1] - time.time_ns() // 1_000_000) < 60_000


def test_the_user_falls_back_to_the_os_user(monkeypatch):
    import getpass

    monkeypatch.delenv("M365_TOOLKIT_USER", raising=False)
    assert Session().user == getpass.getuser()


def test_duration_runs_while_active_and_stops_at_completion():
    clock = FakeClock()
    session = Session("s-1", "alice", "security_audit", clock=clock)
    clock.advance(seconds=5)
    assert session.get_duration() == timedelta(seconds=5)
    session.complete("success")
    clock.advance(seconds=60)
    assert session.get_duration() == timedelta(seconds=5)
    assert session.duration_seconds == 5.0
    assert session.events[-1].description == "Session completed with status: success"


def test_completing_with_an_invalid_status_lists_the_valid_ones():
    session = Session()
    for status in ("active", "done", "", None, "SUCCESS"):
        with pytest.raises(ValueError, match="'success', 'error', 'cancelled'"):
            session.complete(status)  # type: ignore[arg-type]
    assert session.is_active


def test_a_finished_session_refuses_events_and_a_second_completion():
    session = Session()
    session.complete("error")
    with pytest.raises(InvalidTransition, match="'error'"):
        session.add_event("progress", "late")
    with pytest.raises(InvalidTransition, match="already finished with status 'error'"):
        session.complete("success")


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_event_and_operation_types_must_be_non_empty_strings(bad):
    with pytest.raises(ValidationError):
        Session().add_event(bad, "description")
    if bad is not None:  # None means "general" for the operation type
        with pytest.raises(ValidationError):
            Session(operation_type=bad)


def test_event_data_is_validated_and_redacted_before_anything_changes():
    session = Session()
    with pytest.raises(SerializationError, match=r"data\['x'\]"):
        session.add_event("progress", "step", {"x": object()})
    assert len(session.events) == 1
    event = session.add_event("progress", "step", {"token": "abc", "count": 3})
    assert event.data == {"token": "[REDACTED]", "count": 3}


def test_to_dict_uses_the_guides_storage_format_with_utc_times():
    clock = FakeClock(datetime(2025, 11, 14, 10, 30, tzinfo=UTC))
    session = Session("550e8400", "admin@contoso.com", "security_audit", {"tenant": "c"},
                      clock=clock)  # fmt: skip
    clock.advance(seconds=135.2)
    session.complete("success")
    data = session.to_dict()
    assert data["session_id"] == "550e8400"
    assert data["start_time"] == "2025-11-14T10:30:00.000000+00:00"
    assert data["end_time"] == "2025-11-14T10:32:15.200000+00:00"
    assert data["duration_seconds"] == 135.2
    assert data["status"] == "success"
    assert data["events"][0] == {
        "timestamp": "2025-11-14T10:30:00.000000+00:00",
        "type": "start",
        "description": "Session started for security_audit",
        "data": {},
    }
    assert {"user", "operation_type", "metadata", "host", "pid"} <= data.keys()


def test_from_dict_reads_naive_times_as_local_time():
    naive = datetime(2025, 11, 14, 10, 30, 0)
    session = Session.from_dict(
        {
            "session_id": "old-1",
            "user": "admin@contoso.com",
            "operation_type": "security_audit",
            "metadata": {},
            "start_time": naive.isoformat(),
            "end_time": "2025-11-14T10:32:15",
            "status": "success",
            "duration_seconds": 135.2,
            "events": [
                {"timestamp": naive.isoformat(), "type": "start", "description": "x", "data": {}}
            ],
        }
    )
    assert session.start_time == naive.astimezone().astimezone(UTC)
    assert session.start_time.tzinfo is UTC
    assert session.events[0].timestamp == session.start_time
    assert session.host is None and session.pid is None


def test_from_dict_reports_a_missing_field_by_name():
    with pytest.raises(ValidationError, match="'start_time'"):
        Session.from_dict({"session_id": "x"})


def test_event_round_trips_through_a_dict():
    event = Event(datetime(2026, 1, 1, tzinfo=UTC), "progress", "step", {"n": 1}, seq=7)
    assert Event.from_dict(event.to_dict()) == event
