import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from m365_toolkit import (
    ConfigError,
    InvalidTransition,
    LegacyLogWarning,
    SessionManager,
    SessionNotFound,
    Status,
    complete_session,
    create_session,
    get_session_manager,
    session,
)

from .conftest import FakeClock


def reopen(manager: SessionManager) -> SessionManager:
    """A second manager on the same store, as another process would have."""
    return SessionManager(manager.storage_path)


def test_create_session_stores_the_session_with_its_start_event(manager):
    created = manager.create_session("security_audit", metadata={"tenant": "contoso"})
    stored = reopen(manager).get_session(created.session_id)
    assert stored is not None
    assert stored.operation_type == "security_audit"
    assert stored.metadata == {"tenant": "contoso"}
    assert stored.status is Status.ACTIVE
    assert [(e.type, e.description) for e in stored.events] == [
        ("start", "Session started for security_audit")
    ]
    assert manager.active_sessions == {created.session_id: created}


def test_every_event_is_stored_when_add_event_returns(manager):
    created = manager.create_session("sharepoint_analysis")
    created.add_event("progress", "Parsed export", {"rows": 10})
    stored = reopen(manager).get_session(created.session_id)
    assert stored.events[-1].description == "Parsed export"
    assert stored.events[-1].data == {"rows": 10}


def test_complete_session_records_status_duration_and_a_complete_event(manager, clock):
    created = manager.create_session("security_audit")
    clock.advance(seconds=135.2)
    manager.complete_session(created.session_id, status="success")
    assert manager.active_sessions == {}
    assert created.status is Status.SUCCESS and created.duration_seconds == 135.2
    stored = reopen(manager).get_session(created.session_id)
    assert stored.status is Status.SUCCESS
    assert stored.duration_seconds == 135.2
    assert stored.end_time == clock.now
    assert stored.events[-1].type == "complete"
    assert stored.events[-1].description == "Session completed with status: success"


def test_sequence_numbers_are_store_wide_and_increasing(manager):
    first = manager.create_session("a")
    second = manager.create_session("b")
    first.add_event("progress", "1")
    second.add_event("progress", "2")
    manager.complete_session(first.session_id)
    seqs = [e.seq for e in first.events] + [e.seq for e in second.events]
    assert sorted(seqs) == list(range(1, 6))
    assert [e.seq for e in reopen(manager).get_session(first.session_id).events] == [
        e.seq for e in first.events
    ]


def test_completing_with_an_invalid_status_changes_nothing(manager):
    created = manager.create_session("remediation")
    with pytest.raises(ValueError, match="'success', 'error', 'cancelled'"):
        manager.complete_session(created.session_id, status="active")
    assert reopen(manager).get_session(created.session_id).status is Status.ACTIVE


def test_completing_an_unknown_session_names_its_id(manager):
    with pytest.raises(SessionNotFound, match="'no-such-id'") as caught:
        manager.complete_session("no-such-id")
    assert isinstance(caught.value, KeyError)
    assert caught.value.session_id == "no-such-id"
    assert manager.get_session("no-such-id") is None


def test_completing_a_finished_session_names_its_status(manager):
    created = manager.create_session("remediation")
    manager.complete_session(created.session_id, status="error")
    with pytest.raises(InvalidTransition, match="'error'"):
        manager.complete_session(created.session_id)
    with pytest.raises(InvalidTransition, match="'error'"):
        reopen(manager).complete_session(created.session_id, "success")


def test_a_session_completed_elsewhere_refuses_more_events(manager):
    created = manager.create_session("security_audit")
    reopen(manager).complete_session(created.session_id, "cancelled")
    with pytest.raises(InvalidTransition, match="'cancelled'"):
        created.add_event("progress", "too late")
    assert created.status is Status.CANCELLED
    assert manager.active_sessions == {}


def test_metadata_secrets_are_never_stored(manager):
    created = manager.create_session(
        "security_audit", metadata={"tenant": "contoso", "auth": {"client_secret": "s3cr3t"}}
    )
    created.add_event("progress", "connect", {"access_token": "eyJ0", "max_tokens": 5})
    raw = reopen(manager).get_session(created.session_id).to_dict()
    assert "s3cr3t" not in json.dumps(raw) and "eyJ0" not in json.dumps(raw)
    assert raw["metadata"]["auth"]["client_secret"] == "[REDACTED]"
    assert raw["events"][-1]["data"]["max_tokens"] == 5


def test_bad_metadata_raises_type_error_and_writes_nothing(manager):
    with pytest.raises(TypeError, match=r"metadata\['when'\]\['x'\]"):
        manager.create_session("security_audit", metadata={"when": {"x": object()}})
    assert manager.get_statistics(days=None)["total_sessions"] == 0
    for bad in ("", None):
        with pytest.raises(ValueError, match="operation_type"):
            manager.create_session(bad)  # type: ignore[arg-type]


def _seed(manager: SessionManager, clock: FakeClock) -> dict[str, str]:
    ids = {}
    plan = [
        ("old", "security_audit", "alice", "success", 40),
        ("audit", "security_audit", "alice", "error", 3),
        ("sp", "sharepoint_analysis", "bob", "success", 2),
        ("live", "security_audit", "bob", None, 1),
    ]
    start = clock.now
    for name, operation, user, status, days_ago in plan:
        clock.now = start - timedelta(days=days_ago)
        created = manager.create_session(operation, user=user)
        ids[name] = created.session_id
        if status:
            clock.advance(seconds=10 if name != "sp" else 0)
            manager.complete_session(created.session_id, status)
    clock.now = start
    return ids


def test_history_is_newest_first_with_active_sessions_and_filters(manager, clock):
    ids = _seed(manager, clock)
    history = manager.get_session_history(days=30)
    assert [s["session_id"] for s in history] == [ids["live"], ids["sp"], ids["audit"]]
    assert history[0]["status"] == "active" and history[0]["events"][0]["type"] == "start"
    assert [s["session_id"] for s in manager.get_session_history(days=None)][-1] == ids["old"]
    assert [
        s["session_id"] for s in manager.get_session_history(operation_type="security_audit")
    ] == [ids["live"], ids["audit"]]
    assert [s["session_id"] for s in manager.get_session_history(user="bob", days=7)] == [
        ids["live"], ids["sp"]
    ]  # fmt: skip
    failed = manager.get_session_history("security_audit", "alice", 30, status="error")
    assert [s["session_id"] for s in failed] == [ids["audit"]]
    assert len(manager.get_session_history(days=None, limit=2)) == 2
    since = clock.now - timedelta(days=2, hours=1)
    assert [s["session_id"] for s in manager.get_session_history(since=since)] == [
        ids["live"], ids["sp"]
    ]  # fmt: skip
    with pytest.raises(ValueError, match="status"):
        manager.get_session_history(status="finished")
    with pytest.raises(ValueError, match="days"):
        manager.get_session_history(days=-1)


def test_statistics_count_active_sessions_and_average_completed_ones(manager, clock):
    _seed(manager, clock)
    stats = manager.get_statistics(days=30)
    assert stats == {
        "total_sessions": 3,
        "active_sessions": 1,
        "avg_duration_seconds": 5.0,  # (10 + 0) / 2: zero durations count, active do not
        "by_operation_type": {"security_audit": 2, "sharepoint_analysis": 1},
        "by_user": {"bob": 2, "alice": 1},
        "by_status": {"active": 1, "error": 1, "success": 1},
        "total_cost_usd": "0",
        "cost_by_operation_type": {},
    }
    assert manager.get_statistics(days=None)["total_sessions"] == 4
    empty = manager.get_statistics(days=0)
    assert empty["total_sessions"] == 0 and empty["avg_duration_seconds"] == 0.0


def test_print_statistics_uses_the_guides_layout(manager, clock, capsys):
    _seed(manager, clock)
    manager.print_statistics(days=30)
    assert capsys.readouterr().out == "\n".join(
        [
            "=" * 80,
            "  Session Statistics - Last 30 Days",
            "=" * 80,
            "",
            "📊 Overview:",
            "   Total Sessions: 3",
            "   Active Sessions: 1",
            "   Average Duration: 5.0 seconds",
            "",
            "🔧 By Operation Type:",
            "   security_audit: 2",
            "   sharepoint_analysis: 1",
            "",
            "👤 By User:",
            "   bob: 2",
            "   alice: 1",
            "",
            "✅ By Status:",
            "   active: 1",
            "   error: 1",
            "   success: 1",
            "=" * 80,
            "",
        ]
    )


def test_session_block_completes_with_success(manager):
    with manager.session("security_audit", metadata={"tenant": "contoso"}) as current:
        current.add_event("progress", "step")
    stored = reopen(manager).get_session(current.session_id)
    assert stored.status is Status.SUCCESS
    assert [e.type for e in stored.events] == ["start", "progress", "complete"]


def test_session_block_records_the_error_and_lets_it_propagate(manager):
    with (
        pytest.raises(RuntimeError, match="access denied"),
        manager.session("remediation") as current,
    ):
        raise RuntimeError("access denied")
    stored = reopen(manager).get_session(current.session_id)
    assert stored.status is Status.ERROR
    error = stored.events[-2]
    assert (error.type, error.description) == ("error", "RuntimeError: access denied")
    assert error.data == {"exception_type": "RuntimeError", "message": "access denied"}


def test_session_block_is_cancelled_by_keyboard_interrupt(manager):
    with pytest.raises(KeyboardInterrupt), manager.session("security_audit") as current:
        raise KeyboardInterrupt
    assert reopen(manager).get_session(current.session_id).status is Status.CANCELLED


def test_async_session_block_is_cancelled_with_its_task(manager):
    started = []

    async def operation() -> None:
        async with manager.session("security_audit") as current:
            started.append(current)
            await asyncio.sleep(3600)

    async def main() -> None:
        task = asyncio.create_task(operation())
        while not started:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert reopen(manager).get_session(started[0].session_id).status is Status.CANCELLED


def test_a_block_may_complete_its_session_itself(manager):
    with manager.session("security_audit") as current:
        manager.complete_session(current.session_id, "cancelled")
    assert current.status is Status.CANCELLED


def test_import_json_reads_the_original_log_once(manager, tmp_path):
    legacy = tmp_path / "session_log.json"
    legacy.write_text(
        json.dumps(
            [
                {
                    "session_id": "550e8400-e29b-41d4-a716-446655440000",
                    "user": "admin@contoso.com",
                    "operation_type": "security_audit",
                    "metadata": {"tenant": "contoso.onmicrosoft.com", "password": "hunter2"},
                    "start_time": "2025-11-14T10:30:00",
                    "end_time": "2025-11-14T10:32:15",
                    "status": "success",
                    "duration_seconds": 135.2,
                    "events": [
                        {"timestamp": "2025-11-14T10:30:00", "type": "start",
                         "description": "Session started for security_audit", "data": {}},
                        {"timestamp": "2025-11-14T10:32:15", "type": "complete",
                         "description": "Session completed with status: success", "data": {}},
                    ],
                }
            ]
        ),
        encoding="utf-8",
    )  # fmt: skip
    result = manager.import_json(legacy)
    assert (result.imported, result.skipped) == (1, 0)
    again = manager.import_json(legacy)
    assert (again.imported, again.skipped) == (0, 1)
    stored = manager.get_session("550e8400-e29b-41d4-a716-446655440000")
    assert stored.start_time == datetime(2025, 11, 14, 10, 30).astimezone().astimezone(UTC)
    assert stored.metadata["password"] == "[REDACTED]"
    assert stored.duration_seconds == 135.2 and len(stored.events) == 2
    assert manager.get_statistics(days=None)["total_sessions"] == 1


def test_a_legacy_log_beside_a_new_default_store_is_pointed_out_once(tmp_path):
    folder = tmp_path / "output" / "sessions"
    folder.mkdir(parents=True)
    (folder / "session_log.json").write_text("[]", encoding="utf-8")
    with pytest.warns(LegacyLogWarning, match="sessions import"):
        SessionManager().close()
    assert (folder / "sessions.db").exists()
    SessionManager().close()  # the store exists now: no second warning (warnings are errors)


def test_the_default_store_lives_under_the_current_directory(tmp_path):
    with SessionManager() as manager:
        assert manager.storage_path == str(tmp_path / "output" / "sessions" / "sessions.db")


def test_the_environment_variable_chooses_the_store(tmp_path, monkeypatch):
    monkeypatch.setenv("M365_TOOLKIT_STORE", str(tmp_path / "elsewhere" / "trail.json"))
    with SessionManager() as manager:
        assert manager.storage_path == str(tmp_path / "elsewhere" / "trail.json")


def test_module_helpers_share_one_manager_per_process(tmp_path):
    first = get_session_manager()
    assert get_session_manager() is first
    assert get_session_manager("output/sessions/sessions.db") is first
    with pytest.raises(ConfigError, match="already uses"):
        get_session_manager(tmp_path / "other.db")
    created = create_session("security_audit", metadata={"tenant": "contoso"})
    complete_session(created.session_id, status="success")
    with pytest.raises(ZeroDivisionError), session("remediation") as failing:
        1 / 0  # noqa: B018
    statuses = {s["session_id"]: s["status"] for s in first.get_session_history()}
    assert statuses == {created.session_id: "success", failing.session_id: "error"}
