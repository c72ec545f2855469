import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from m365_toolkit import Event, InvalidTransition, Session, SessionManager, Status, ValidationError
from m365_toolkit.errors import SerializationError
from m365_toolkit.sessions.event import start_event

from .conftest import FakeClock


def test_a_standalone_session_has_defaults_and_no_events_until_the_manager_starts_it(
    monkeypatch,
):
    monkeypatch.setenv("M365_TOOLKIT_USER", "admin@contoso.com")
    session = Session()
    assert uuid.UUID(session.session_id).version == 7
    assert session.user == "admin@contoso.com"
    assert session.operation_type == "general"
    assert session.metadata == {}
    assert session.status is Status.ACTIVE and session.status == "active"
    assert session.events == []  # as in the original toolkit: create_session adds `start`
    with SessionManager("memory:") as manager:
        created = manager.create_session("general")
    assert [(e.type, e.description, e.seq) for e in created.events] == [
        ("start", "Session started for general", 1)
    ]
    assert created.events[0].timestamp == created.start_time


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
    assert len(session.events) == 0
    event = session.add_event("progress", "step", {"token": "abc", "count": 3})
    assert event.data == {"token": "[REDACTED]", "count": 3}


def test_to_dict_uses_the_guides_storage_format_with_utc_times():
    clock = FakeClock(datetime(2025, 11, 14, 10, 30, tzinfo=UTC))
    session = Session("550e8400", "admin@contoso.com", "security_audit", {"tenant": "c"},
                      clock=clock)  # fmt: skip
    session.events.append(start_event(session.operation_type, session.start_time))
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


def _no_machine_facts(monkeypatch):
    """Make every clock, host and pid lookup fail, so from_dict proves it reads none."""
    from m365_toolkit._util import system

    def refuse(*_args):
        raise AssertionError("from_dict looked at the machine")

    monkeypatch.setattr(system, "utc_now", refuse)
    monkeypatch.setattr(system, "hostname", refuse)
    monkeypatch.setattr(system, "detect_user", refuse)
    monkeypatch.setattr("m365_toolkit.sessions.model.os.getpid", refuse)
    monkeypatch.setattr("m365_toolkit.sessions.model._new_id", refuse)
    return refuse


def test_from_dict_takes_everything_from_the_record_and_adds_no_event(monkeypatch):
    record = {
        "session_id": "s-7",
        "user": "alice",
        "operation_type": "security_audit",
        "metadata": {"tenant": "contoso"},
        "start_time": "2026-01-05T08:00:00.000000+00:00",
        "end_time": None,
        "status": "active",
        "duration_seconds": None,
        "host": "audit-host-1",
        "pid": 4242,
        "events": [
            {"timestamp": "2026-01-05T08:00:00.000000+00:00", "type": "start", "description": "x",
             "data": {}, "seq": 3},
        ],
    }  # fmt: skip
    refuse = _no_machine_facts(monkeypatch)
    session = Session.from_dict(record, clock=refuse)
    assert (session.host, session.pid) == ("audit-host-1", 4242)
    assert [(e.type, e.seq) for e in session.events] == [("start", 3)]
    assert session.is_active and session.end_time is None and session.duration_seconds is None
    assert session.to_dict() == record


def test_from_dict_keeps_a_record_without_events_and_machine_facts_empty(monkeypatch):
    refuse = _no_machine_facts(monkeypatch)
    session = Session.from_dict(
        {"session_id": "bare", "start_time": "2026-01-05T08:00:00.000000+00:00", "host": None},
        clock=refuse,
    )
    assert session.events == []
    assert session.host is None and session.pid is None
    assert (session.user, session.operation_type, session.status) == (
        "unknown", "general", Status.ACTIVE
    )  # fmt: skip


def test_from_dict_derives_a_missing_duration_by_the_duration_rule():
    from m365_toolkit.sessions.model import duration_between

    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    session = Session.from_dict(
        {"session_id": "d", "start_time": start.isoformat(), "status": "success",
         "end_time": (start + timedelta(seconds=12.5)).isoformat()}
    )  # fmt: skip
    assert session.duration_seconds == 12.5
    assert duration_between(start, start - timedelta(seconds=3)) == 0.0
    assert duration_between(start, start + timedelta(microseconds=1)) == 0.000001


def test_a_restored_session_uses_the_clock_it_is_given_for_new_events():
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    session = Session.from_dict(
        {"session_id": "c", "start_time": "2026-01-05T08:00:00.000000+00:00"}, clock=clock
    )
    assert session.add_event("progress", "step").timestamp == clock.now
    assert session.get_duration() == timedelta(hours=1)


def test_status_end_time_and_duration_change_only_through_transitions():
    clock = FakeClock()
    session = Session("s-2", "alice", "audit", clock=clock)
    with pytest.raises(AttributeError):
        session.status = Status.SUCCESS  # type: ignore[misc]
    clock.advance(seconds=2)
    session.mark_finished(Status.CANCELLED, clock.now)
    assert (session.status, session.end_time, session.duration_seconds) == (
        Status.CANCELLED, clock.now, 2.0
    )  # fmt: skip
    with pytest.raises(InvalidTransition):
        session.mark_finished(Status.SUCCESS, clock.now)
    with pytest.raises(InvalidTransition):
        session.apply_event(Event(clock.now, "progress", "late"))


class _Recorder:
    """A recorder that numbers what it records, and can play a store completed elsewhere."""

    def __init__(self, clock):
        self.clock = clock
        self.recorded: list[tuple[str, object]] = []
        self.finished_elsewhere = False

    def record_event(self, session_id, event):
        from dataclasses import replace

        if self.finished_elsewhere:
            raise InvalidTransition(session_id, "error", "add an event to")
        self.recorded.append((session_id, event.type))
        return replace(event, seq=len(self.recorded) + 1)  # the start event holds 1

    def record_completion(self, session_id, status):
        from m365_toolkit.sessions.model import Completion, completion_event

        self.recorded.append((session_id, status))
        event = completion_event(status, self.clock())
        return Completion(status, self.clock(), 99.0, event)


def test_a_bound_session_applies_what_its_recorder_returns():
    clock = FakeClock()
    recorder = _Recorder(clock)
    session = Session("s-3", "alice", "audit", clock=clock).bind(recorder)
    session.events.append(start_event("audit", session.start_time))  # as create_session does
    session.assign_seqs([1])
    assert session.add_event("progress", "step").seq == 2
    session.complete("success")
    assert recorder.recorded == [("s-3", "progress"), ("s-3", Status.SUCCESS)]
    assert session.duration_seconds == 99.0  # the recorder's figure, not recomputed
    assert [e.type for e in session.events] == ["start", "progress", "complete"]
    with pytest.raises(ValidationError, match="2 sequence number"):
        session.assign_seqs([1, 2])


def test_a_session_completed_elsewhere_takes_the_stored_status():
    recorder = _Recorder(FakeClock())
    session = Session("s-4", "alice", "audit").bind(recorder)
    recorder.finished_elsewhere = True
    with pytest.raises(InvalidTransition):
        session.add_event("progress", "step")
    assert session.status is Status.ERROR and len(session.events) == 0
