import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from m365_toolkit import SessionManager, SessionQuery
from m365_toolkit.cli import cli
from m365_toolkit.errors import ValidationError
from m365_toolkit.retention import parse_age, prune_sessions
from m365_toolkit.store import PruneResult, StoreCounts

from .test_transfer import cost

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def record(manager, clock, when, *, finish=True, events=1):
    clock.now = when
    session = manager.create_session("security_audit", user="alice")
    for number in range(events):
        session.add_event("progress", f"step {number}")
    manager.store.costs.add(cost(session.session_id, when))
    if finish:
        manager.complete_session(session.session_id)
    return session.session_id


@pytest.fixture
def aged(manager, clock):
    """Two finished sessions from two years ago, one still active, one finished last week."""
    ids = {
        "old": record(manager, clock, NOW - timedelta(days=800), events=2),
        "older": record(manager, clock, NOW - timedelta(days=900)),
        "old_active": record(manager, clock, NOW - timedelta(days=700), finish=False),
        "recent": record(manager, clock, NOW - timedelta(days=7)),
    }
    clock.now = NOW
    return ids


def test_prune_removes_old_finished_sessions_with_events_and_costs(manager, clock, aged):
    before = manager.store.counts()
    result = prune_sessions(manager.store, timedelta(days=365), clock=clock)
    # "old": start, 2 events, complete; "older": start, 1 event, complete; one cost each.
    assert result == PruneResult(sessions=2, events=7, costs=2)
    assert manager.store.counts() == StoreCounts(
        before.sessions - 2, before.events - 7, before.costs - 2
    )
    remaining = {s["session_id"] for s in manager.store.history(SessionQuery())}
    assert remaining == {aged["old_active"], aged["recent"]}
    assert manager.store.get(aged["old"]) is None
    totals = manager.store.costs.by_session([aged["old"], aged["older"], aged["recent"]])
    assert set(totals) == {aged["recent"]}
    assert {e["session_id"] for e in manager.store.costs.entries()} == {
        aged["old_active"],
        aged["recent"],
    }


def test_a_dry_run_counts_but_changes_nothing(manager, clock, aged):
    before = manager.store.counts()
    result = prune_sessions(manager.store, timedelta(days=365), dry_run=True, clock=clock)
    assert result == PruneResult(sessions=2, events=7, costs=2, dry_run=True)
    assert manager.store.counts() == before
    assert manager.store.get(aged["old"]) is not None


def test_active_sessions_are_never_pruned(manager, clock, aged):
    result = prune_sessions(manager.store, timedelta(seconds=1), clock=clock)
    assert result.sessions == 3
    assert [s["session_id"] for s in manager.store.history(SessionQuery())] == [aged["old_active"]]


def test_sequence_numbers_are_not_reused_after_pruning_the_newest_records(manager, clock):
    record(manager, clock, NOW - timedelta(days=1))
    # Recorded last, so it holds the highest sequence numbers, but started long ago.
    old = record(manager, clock, NOW - timedelta(days=1000), events=3)
    highest = max(event["seq"] for event in manager.store.get(old)["events"])
    clock.now = NOW
    assert prune_sessions(manager.store, timedelta(days=365), clock=clock).sessions == 1
    with SessionManager(manager.storage_path, clock=clock) as reopened:
        fresh = reopened.create_session("after_prune")
        event = fresh.add_event("progress", "numbered after the pruned records")
    assert min(fresh.events[0].seq, event.seq) > highest


def test_a_prune_age_must_be_positive_and_well_formed():
    assert parse_age("365d") == timedelta(days=365)
    assert parse_age(" 2w ") == timedelta(weeks=2)
    with pytest.raises(ValidationError):
        parse_age("a year")
    with pytest.raises(ValidationError):
        prune_sessions(None, timedelta(0))  # type: ignore[arg-type]


def test_sessions_prune_command_says_what_it_removed(store_path, clock):
    now = datetime.now(UTC)
    with SessionManager(store_path, clock=clock) as manager:
        old = record(manager, clock, now - timedelta(days=400))
        record(manager, clock, now - timedelta(days=400), finish=False)
    runner = CliRunner()
    dry = runner.invoke(cli, ["sessions", "prune", "--older-than", "365d", "--dry-run",
                              "--store", str(store_path)])  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert "Would remove 1 session(s), 3 event(s) and 1 cost record(s)" in dry.output
    done = runner.invoke(cli, ["sessions", "prune", "--older-than", "365d", "--json",
                               "--store", str(store_path)])  # fmt: skip
    assert json.loads(done.output) == {"dry_run": False, "sessions": 1, "events": 3, "costs": 1}
    with SessionManager(store_path) as manager:
        assert manager.store.get(old) is None
    bad = runner.invoke(cli, ["sessions", "prune", "--older-than", "soon",
                              "--store", str(store_path)])  # fmt: skip
    assert bad.exit_code == 2 and "not an age" in bad.output
