"""The Store protocol, driven directly, on every store: memory, SQLite, JSON, PostgreSQL."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from m365_toolkit import InvalidTransition, SessionNotFound, ValidationError
from m365_toolkit.costs.model import Cost, CostRecord, TokenUsage
from m365_toolkit.sessions.event import start_event
from m365_toolkit.sessions.model import Event, Session, Status
from m365_toolkit.sessions.query import SessionQuery
from m365_toolkit.store import Store, open_store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def new_session(start: datetime = T0, **fields) -> Session:
    fields.setdefault("user", "admin@contoso.com")
    fields.setdefault("operation_type", "security_audit")
    session = Session(None, clock=lambda: start, **fields)
    session.events.append(start_event(session.operation_type, start))  # as create_session does
    return session


def event(at: datetime, text: str = "step", **data) -> Event:
    return Event.new("progress", text, data, clock=lambda: at)


def cost(session_id: str | None, at: datetime = T0, model: str = "gpt-5", tokens: int = 100):
    usage = TokenUsage(tokens, 10, 0, 0)
    price = Cost(Decimal("0.000125") * tokens, Decimal(0), Decimal("0.0001"), "override")
    return CostRecord(at, session_id, "admin@contoso.com", "security_audit", model, "chat",
                      usage, price)  # fmt: skip


def complete(at: datetime, status: str = "success") -> Event:
    return Event(at, "complete", f"Session completed with status: {status}")


def all_seqs(store: Store) -> list[int]:
    found = [e["seq"] for batch in store.scan() for s in batch for e in s["events"]]
    return found


def test_a_created_session_reads_back_with_its_numbered_events(store):
    session = new_session(metadata={"tenant": "contoso"})
    seqs = store.create(session)
    assert len(seqs) == 1
    got = store.get(session.session_id)
    assert got["user"] == "admin@contoso.com"
    assert got["metadata"] == {"tenant": "contoso"}
    assert got["status"] == "active"
    assert [e["type"] for e in got["events"]] == ["start"]
    assert got["events"][0]["seq"] == seqs[0]
    assert store.get("no-such-id") is None


def test_a_second_session_with_the_same_id_is_refused_by_name(store):
    session = new_session()
    store.create(session)
    with pytest.raises(ValidationError, match=f"{session.session_id}.*already exists"):
        store.create(session)
    assert store.counts().sessions == 1


def test_events_and_completion_follow_the_rules(store):
    session = new_session()
    store.create(session)
    seq = store.append_event(session.session_id, event(T0 + timedelta(seconds=1)))
    finished = store.finish(
        session.session_id, Status.SUCCESS, T0 + timedelta(seconds=2.5), [complete(T0)]
    )
    assert finished.duration_seconds == 2.5
    assert finished.seqs[0] > seq
    with pytest.raises(InvalidTransition, match="success"):
        store.append_event(session.session_id, event(T0))
    with pytest.raises(InvalidTransition):
        store.finish(session.session_id, Status.ERROR, T0, [complete(T0)])
    with pytest.raises(SessionNotFound):
        store.append_event("missing", event(T0))
    with pytest.raises(SessionNotFound):
        store.finish("missing", Status.ERROR, T0, [complete(T0)])
    got = store.get(session.session_id)
    assert (got["status"], got["duration_seconds"]) == ("success", 2.5)
    assert got["end_time"].startswith("2026-11-02T09:00:02.5")


def test_a_completion_before_the_start_lasts_zero_seconds(store):
    session = new_session()
    store.create(session)
    finished = store.finish(session.session_id, Status.ERROR, T0 - timedelta(seconds=5), [])
    assert finished.duration_seconds == 0.0


def test_every_record_events_and_costs_alike_takes_the_next_number_of_one_sequence(store):
    heard = []
    store.listen(heard.append)
    first, second = new_session(), new_session(T0 + timedelta(minutes=1))
    numbers = store.create(first)
    store.costs.add(cost(first.session_id))
    numbers += store.create(second)
    numbers.append(store.append_event(first.session_id, event(T0)))
    store.costs.add(cost(None))
    numbers.append(store.append_event(second.session_id, event(T0)))
    numbers += store.finish(first.session_id, Status.SUCCESS, T0, [complete(T0)]).seqs
    assert sorted(all_seqs(store)) == numbers
    assert [record.seq for record in heard] == list(range(1, 8))
    assert [record.seq for record in heard if record.kind == "cost"] == [2, 5]


def test_history_is_newest_first_with_filters_and_limits(store):
    sessions = [
        new_session(T0 + timedelta(hours=i), user=f"u{i % 2}", operation_type=f"t{i % 3}")
        for i in range(6)
    ]
    for session in sessions:
        store.create(session)
    store.finish(sessions[0].session_id, Status.ERROR, T0, [complete(T0, "error")])
    everything = store.history(SessionQuery())
    assert [s["session_id"] for s in everything] == [s.session_id for s in reversed(sessions)]
    assert all(s["events"] for s in everything)
    assert [s["user"] for s in store.history(SessionQuery(user="u1"))] == ["u1"] * 3
    assert len(store.history(SessionQuery(operation_type="t0"))) == 2
    assert [s["session_id"] for s in store.history(SessionQuery(status=Status.ERROR))] == [
        sessions[0].session_id
    ]
    window = store.history(
        SessionQuery(since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=4))
    )
    assert [s["session_id"] for s in window] == [sessions[3].session_id, sessions[2].session_id]
    bare = store.history(SessionQuery(limit=2, with_events=False))
    assert len(bare) == 2 and "events" not in bare[0]


def test_statistics_count_every_session_and_average_the_finished(store):
    a, b, c = (new_session(T0 + timedelta(minutes=i), user=u) for i, u in enumerate("xyx"))
    for session in (a, b, c):
        store.create(session)
    store.finish(a.session_id, Status.SUCCESS, T0 + timedelta(seconds=10), [])
    store.finish(b.session_id, Status.ERROR, T0 + timedelta(seconds=80), [])
    stats = store.statistics(None)
    assert stats["total_sessions"] == 3
    assert stats["active_sessions"] == 1
    assert stats["by_user"] == {"x": 2, "y": 1}
    assert stats["by_status"] == {"active": 1, "error": 1, "success": 1}
    assert stats["avg_duration_seconds"] == 15.0  # (10 + 20) / 2: the finished ones
    assert store.statistics(T0 + timedelta(minutes=5))["total_sessions"] == 0


def test_import_adds_new_sessions_once_and_numbers_their_events(store):
    done = new_session()
    done.apply_event(complete(T0 + timedelta(seconds=3)))
    done.mark_finished(Status.SUCCESS, T0 + timedelta(seconds=3))
    live = new_session(T0 + timedelta(minutes=1))
    result = store.import_sessions([done, live, done])
    assert (result.imported, result.skipped) == (2, 1)
    again = store.import_sessions([live])
    assert (again.imported, again.skipped) == (0, 1)
    seqs = all_seqs(store)
    assert len(seqs) == 3 and len(set(seqs)) == 3
    assert store.get(done.session_id)["status"] == "success"


def test_scan_hands_out_every_session_in_batches(store):
    for i in range(7):
        store.create(new_session(T0 + timedelta(minutes=i)))
    batches = list(store.scan(batch=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert all(s["events"] for b in batches for s in b)
    assert sum(len(b) for b in store.scan(T0 + timedelta(minutes=5))) == 2
    with pytest.raises(ValidationError, match="batch must be 1 or more"):
        list(store.scan(batch=0))


def test_prune_removes_old_finished_sessions_and_never_reuses_their_numbers(store):
    old, recent, running = new_session(), new_session(T0 + timedelta(days=10)), new_session()
    for session in (old, recent, running):
        store.create(session)
    store.costs.add(cost(old.session_id))
    store.finish(old.session_id, Status.SUCCESS, T0, [complete(T0)])
    store.finish(recent.session_id, Status.SUCCESS, T0, [complete(T0)])
    highest = max(all_seqs(store))
    cutoff = T0 + timedelta(days=1)
    planned = store.prune(cutoff, dry_run=True)
    assert (planned.sessions, planned.events, planned.costs, planned.dry_run) == (1, 2, 1, True)
    assert store.counts().sessions == 3
    assert store.prune(cutoff) == type(planned)(1, 2, 1)
    assert store.get(old.session_id) is None and store.get(running.session_id) is not None
    assert store.costs.by_session([old.session_id]) == {}
    assert store.append_event(running.session_id, event(T0)) > highest
    assert store.counts() == type(store.counts())(2, 4, 0)


def test_costs_add_up_exactly_and_report_by_group(store):
    session = new_session()
    store.create(session)
    totals = None
    for i in range(3):
        totals = store.costs.add(cost(session.session_id, T0 + timedelta(hours=i), tokens=100))
    assert totals.requests == 3 and totals.input == 300
    store.costs.add(cost(None, T0, model="gpt-5-mini", tokens=40))
    expected = (Decimal("0.000125") * 100 + Decimal("0.0001")) * 3
    assert store.costs.total(session_id=session.session_id) == expected
    assert store.costs.total(since=T0 + timedelta(hours=1)) == expected * 2 / 3
    report = store.costs.report("model")
    assert [g.key for g in report] == ["gpt-5", "gpt-5-mini"]
    assert store.costs.by_session([session.session_id])[session.session_id].requests == 3
    assert [e["model"] for e in store.costs.entries()] == ["gpt-5"] * 3 + ["gpt-5-mini"]
    records = [cost(session.session_id, T0 + timedelta(days=1)), cost(None, T0 + timedelta(days=2))]
    first = store.costs.import_records(records + records)
    assert (first.imported, first.skipped) == (2, 2)
    assert store.costs.import_records(records).imported == 0
    assert store.costs.by_session([session.session_id])[session.session_id].requests == 4


def test_a_summary_is_each_report_from_one_pass_over_the_window(store):
    session = new_session()
    store.create(session)
    records = [
        cost(session.session_id, T0 + timedelta(hours=i * 7), model=model, tokens=tokens)
        for i, (model, tokens) in enumerate(
            [("gpt-5", 100), ("gpt-5-mini", 40), ("gpt-5", 7), ("gpt-5-nano", 900), ("é", 40)]
        )
    ]  # fmt: skip
    store.costs.import_records([*records, cost(None, T0 + timedelta(days=3), tokens=3)])
    groups = ("day", "model", "type", "operation", "user", "session")
    for since, until in ((None, None), (T0 + timedelta(hours=7), T0 + timedelta(days=2))):
        summary = store.costs.summary([*groups, "model"], since, until)
        assert list(summary) == list(groups)
        for name in groups:
            assert summary[name] == store.costs.report(name, since, until), name
    by_session = store.costs.summary(["session"])["session"]
    assert {g.key: g.totals.requests for g in by_session} == {
        session.session_id: 5, "(no session)": 1,
    }  # fmt: skip
    window = store.costs.summary(["model"], T0 + timedelta(hours=7), T0 + timedelta(days=1))
    assert [(g.key, g.totals.requests) for g in window["model"]] == [
        ("gpt-5-nano", 1), ("gpt-5-mini", 1), ("gpt-5", 1),
    ]  # fmt: skip
    assert store.costs.summary([]) == {}
    with pytest.raises(ValidationError, match="Cannot group costs by 'colour'"):
        store.costs.summary(["model", "colour"])


def test_an_outline_has_each_session_of_the_window_in_five_columns(store):
    from m365_toolkit.store.outline import SessionOutline, outline

    late = T0.replace(hour=23, minute=30)
    done = new_session(late, user="bob@contoso.com", operation_type="remediation")
    running = new_session(T0 + timedelta(days=1))
    old = new_session(T0 - timedelta(days=3))
    for session in (done, running, old):
        store.create(session)
    store.finish(done.session_id, Status.ERROR, late + timedelta(seconds=90), [complete(late)])
    got = sorted(outline(store, T0 - timedelta(hours=1)))
    assert got == [
        SessionOutline("2026-11-02", "remediation", "bob@contoso.com", "error", 90.0),
        SessionOutline("2026-11-03", "security_audit", "admin@contoso.com", "active", None),
    ]  # fmt: skip
    assert len(list(outline(store))) == 3
    assert [o.day for o in outline(store, None, T0)] == ["2026-10-30"]


def test_a_listener_sees_every_committed_record_once_in_order(store):
    heard = []
    stop = store.listen(heard.append)
    session = new_session(metadata={"tenant": "contoso"})
    store.create(session)
    store.append_event(session.session_id, event(T0, "one"))
    store.costs.add(cost(session.session_id))
    with pytest.raises(ValidationError):
        store.create(session)  # refused: nothing to hear
    store.finish(session.session_id, Status.SUCCESS, T0 + timedelta(seconds=1), [complete(T0)])
    assert [(r.kind, r.session_id) for r in heard] == [
        ("start", session.session_id), ("event", session.session_id),
        ("cost", session.session_id), ("complete", session.session_id),
    ]  # fmt: skip
    assert [r.seq for r in heard] == sorted(r.seq for r in heard)
    assert heard[0].session["metadata"] == {"tenant": "contoso"}
    assert heard[0].event.seq == heard[0].seq
    assert heard[3].session["status"] == "success"
    assert heard[3].session["duration_seconds"] == 1.0
    assert heard[2].cost.model == "gpt-5"
    stop()
    store.create(new_session())
    assert len(heard) == 4


def test_a_listener_that_raises_is_logged_and_loses_nothing(store, caplog):
    def broken(record):
        raise RuntimeError("collector down")

    heard = []
    store.listen(broken)
    store.listen(heard.append)
    session = new_session()
    with caplog.at_level(logging.ERROR, logger="m365_toolkit.store"):
        store.create(session)
        store.append_event(session.session_id, event(T0))
    assert len(store.get(session.session_id)["events"]) == 2
    assert len(heard) == 2
    assert "collector down" in caplog.text


def test_listeners_hear_concurrent_writers_in_sequence_order(store):
    if store.location.endswith(".json"):
        writers, each = 3, 5  # every JSON write rewrites the file
    else:
        writers, each = 4, 25
    heard = []
    store.listen(lambda record: heard.append(record.seq))
    sessions = [new_session() for _ in range(writers)]
    for session in sessions:
        store.create(session)
    heard.clear()

    def write(session: Session) -> None:
        for i in range(each):
            store.append_event(session.session_id, event(T0, str(i)))

    threads = [threading.Thread(target=write, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(heard) == writers * each
    assert heard == sorted(set(heard))


def test_every_store_is_opened_by_location(location):
    with open_store(location) as store:
        assert isinstance(store, Store)
        assert store.counts().sessions == 0
