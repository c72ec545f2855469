import csv
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner

from m365_toolkit import SessionManager, SessionQuery, open_store
from m365_toolkit.cli import cli
from m365_toolkit.costs.model import Cost, CostRecord, TokenUsage
from m365_toolkit.errors import StoreError
from m365_toolkit.store import StoreCounts
from m365_toolkit.transfer import (
    export_sessions,
    export_to_file,
    migrate,
)

from .conftest import FakeClock


def cost(session_id, when, model="gpt-5", tokens=1000):
    return CostRecord(
        when, session_id, "alice", "security_audit" if session_id else None, model, "chat",
        TokenUsage(tokens, 200, cached_input=100, reasoning=50),
        Cost(Decimal("0.00125"), Decimal("0.0000125"), Decimal("0.002"), "test"),
        {"purpose": "summary"},
    )  # fmt: skip


def seed(location, sessions=5, clock=None):
    """Finished sessions with events and costs, one active session and one cost without one."""
    clock = clock or FakeClock()
    with SessionManager(location, clock=clock) as manager:
        for number in range(sessions):
            session = manager.create_session("security_audit", user=f"user{number % 2}",
                                             metadata={"n": number})  # fmt: skip
            session.add_event("progress", f"step {number}", {"control": f"1.{number}"})
            manager.store.costs.add(cost(session.session_id, clock()))
            clock.advance(minutes=5)
            manager.complete_session(session.session_id, "success" if number % 3 else "error")
        manager.create_session("remediation", user="bob")
        manager.store.costs.add(cost(None, clock(), model="gpt-5-mini"))
        return manager.store.counts()


def stored(location):
    """Every session, keyed by id, without the store-given sequence numbers."""
    with open_store(location) as store:
        found = {}
        for record in store.history(SessionQuery()):
            record = dict(record)
            record["events"] = [
                {k: v for k, v in event.items() if k != "seq"} for event in record["events"]
            ]
            record.pop("cost", None)
            found[record["session_id"]] = record
        return found


def cost_entries(location):
    with open_store(location) as store:
        return sorted(store.costs.entries(), key=lambda entry: entry["timestamp"])


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# -- export ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_export_in_each_format_reads_back_as_the_history(store_path, tmp_path, fmt):
    seed(store_path)
    out = tmp_path / f"export.{fmt}"
    result = run("sessions", "export", "--format", fmt, "-o", str(out), "--store", str(store_path))
    assert result.exit_code == 0, result.output
    assert "Exported 6 session(s)" in result.output
    with open_store(store_path) as store:
        history = {s["session_id"]: s for s in store.history(SessionQuery())}
    text = out.read_text(encoding="utf-8")
    if fmt == "json":
        exported = json.loads(text)
    elif fmt == "jsonl":
        exported = [json.loads(line) for line in text.splitlines()]
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [row["session_id"] for row in rows] == list(reversed(history))  # oldest first
        for row in rows:
            expected = history[row["session_id"]]
            assert json.loads(row["metadata"]) == expected["metadata"]
            assert int(row["events"]) == len(expected["events"])
            for column in ("user", "operation_type", "status", "start_time"):
                assert row[column] == expected[column]
            assert row["end_time"] == (expected["end_time"] or "")
        return
    assert {s["session_id"]: s for s in exported} == history
    assert [s["session_id"] for s in exported] == list(reversed(history))  # oldest first


def test_export_to_stdout_and_of_the_last_days_only(store_path):
    clock = FakeClock(datetime.now(UTC) - timedelta(days=10))
    seed(store_path, sessions=2, clock=clock)
    clock.now = datetime.now(UTC)
    with SessionManager(store_path, clock=clock) as manager:
        recent = manager.create_session("recent").session_id
    everything = run("sessions", "export", "--format", "jsonl", "--store", str(store_path))
    assert len(everything.output.splitlines()) == 4
    last_day = run("sessions", "export", "--days", "1", "--store", str(store_path))
    assert [s["session_id"] for s in json.loads(last_day.output)] == [recent]


def test_scan_yields_bounded_batches_oldest_first(store_path):
    seed(store_path, sessions=6)
    with open_store(store_path) as store:
        batches = list(store.scan(batch=3))
        history = store.history(SessionQuery())
    assert [len(batch) for batch in batches] == [3, 3, 1]
    assert [s["session_id"] for batch in batches for s in batch] == [
        s["session_id"] for s in reversed(history)
    ]
    assert all(s["events"] for batch in batches for s in batch)


def test_export_writes_each_batch_before_reading_the_next(store_path):
    seed(store_path, sessions=6)
    out = io.StringIO()
    written_before_batch = []
    with open_store(store_path) as store:
        scan = store.scan

        def watched_scan(since=None, batch=500):
            for found in scan(since, batch):
                written_before_batch.append(out.getvalue().count('"session_id"'))
                yield found

        store.scan = watched_scan  # type: ignore[method-assign]
        assert export_sessions(store, out, "json", batch=2) == 7
    assert written_before_batch == [0, 2, 4, 6]


def test_a_failed_export_leaves_the_previous_file_untouched(store_path, tmp_path):
    seed(store_path, sessions=3)
    out = tmp_path / "export.json"
    out.write_text("previous\n", encoding="utf-8")
    with open_store(store_path) as store:

        def failing_scan(since=None, batch=500):
            yield store.history(SessionQuery(limit=1))
            raise StoreError("the connection broke")

        store.scan = failing_scan  # type: ignore[method-assign]
        with pytest.raises(StoreError):
            export_to_file(store, out, "json")
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".export")] == []


# -- import ----------------------------------------------------------------------------------


def test_importing_jsonl_twice_adds_the_sessions_once(store_path, new_store, tmp_path):
    source = new_store("sqlite")
    seed(source)
    exported = tmp_path / "sessions.jsonl"
    with open_store(source) as store:
        export_to_file(store, exported, "jsonl")
    first = run("sessions", "import", str(exported), "--json", "--store", str(store_path))
    assert json.loads(first.output) == {"records": "sessions", "imported": 6, "skipped": 0}
    again = run("sessions", "import", str(exported), "--json", "--store", str(store_path))
    assert json.loads(again.output) == {"records": "sessions", "imported": 0, "skipped": 6}
    assert stored(store_path) == stored(source)


def test_importing_an_original_cost_log_twice_adds_its_entries_once(store_path, tmp_path):
    log = tmp_path / "original" / "gpt5_cost_log.json"
    log.parent.mkdir()
    log.write_text(json.dumps([
        {"timestamp": "2025-10-01T09:30:00.123456", "model": "gpt-5", "request_type": "analysis",
         "tokens": {"input": 1200, "cached_input": 200, "output": 300, "total": 1500},
         "cost": {"input": 0.00125, "cached_input": 2.5e-05, "output": 0.003, "total": 0.004275},
         "metadata": {"script": "audit"}},
        {"timestamp": "2025-10-01T09:31:00", "model": "gpt-5-mini", "request_type": "chat",
         "tokens": {"input": 100, "output": 50, "total": 150},
         "cost": {"input": 2.5e-05, "output": 0.0001, "total": 0.000125}, "metadata": {}},
    ]), encoding="utf-8")  # fmt: skip
    first = run("sessions", "import", str(log), "--store", str(store_path))
    assert first.exit_code == 0, first.output
    assert "Imported 2 cost record(s)" in first.output
    again = run("sessions", "import", str(log), "--json", "--store", str(store_path))
    assert json.loads(again.output) == {"records": "costs", "imported": 0, "skipped": 2}
    with open_store(store_path) as store:
        assert store.counts() == StoreCounts(0, 0, 2)
        assert store.costs.total() == Decimal("0.0044")
        entry = next(store.costs.entries())
    assert entry["tokens"]["cached_input"] == 200
    assert entry["user"] == "unknown"
    assert entry["metadata"] == {"script": "audit"}


def test_importing_costs_skips_only_the_records_already_stored(store_path):
    when = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    with open_store(store_path) as store:
        store.costs.add(cost("s-1", when))
        result = store.costs.import_records(
            [cost("s-1", when), cost("s-1", when + timedelta(seconds=1)), cost(None, when)]
        )
        assert (result.imported, result.skipped) == (2, 1)
        totals = store.costs.by_session(["s-1"])["s-1"]
    assert totals.requests == 2
    assert totals.cost == Decimal("0.0032625") * 2


# -- migrate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source_kind", "target_kind"),
    [("sqlite", "postgres"), ("postgres", "json"), ("json", "sqlite")],
)
def test_migrate_copies_everything_and_a_rerun_copies_nothing(new_store, source_kind, target_kind):
    source, target = new_store(source_kind), new_store(target_kind)
    counts = seed(source, sessions=7)
    assert counts == StoreCounts(8, 7 * 3 + 1, 8)
    with open_store(source) as from_store, open_store(target) as to_store:
        result = migrate(from_store, to_store, batch=3)
        result.check()
        assert result.source == result.target == counts
        assert (result.sessions.imported, result.costs.imported) == (8, 8)
        again = migrate(from_store, to_store, batch=3)
    assert (again.sessions.imported, again.sessions.skipped) == (0, 8)
    assert (again.costs.imported, again.costs.skipped) == (0, 8)
    assert again.target == counts
    assert stored(target) == stored(source)
    assert cost_entries(target) == cost_entries(source)


def test_an_interrupted_migrate_resumes_with_what_is_missing(new_store):
    source, target = new_store("sqlite"), new_store("postgres")
    counts = seed(source, sessions=7)

    def interrupt(stage, done, total):
        if stage == "sessions" and done >= 2:
            raise KeyboardInterrupt

    with open_store(source) as from_store, open_store(target) as to_store:
        with pytest.raises(KeyboardInterrupt):
            migrate(from_store, to_store, batch=2, progress=interrupt)
        assert to_store.counts() == StoreCounts(2, 6, 0)
        resumed = migrate(from_store, to_store, batch=2)
    assert (resumed.sessions.imported, resumed.sessions.skipped) == (6, 2)
    assert resumed.costs.imported == 8
    assert resumed.target == counts
    assert stored(target) == stored(source)


def test_store_migrate_command_reports_counts_and_fails_on_a_mismatch(new_store):
    source, target = new_store("json"), new_store("sqlite")
    seed(source, sessions=3)
    result = run("store", "migrate", "--from", str(source), "--to", str(target))
    assert result.exit_code == 0, result.output
    assert "sessions" in result.output and "costs" in result.output
    report = json.loads(run("store", "migrate", "--from", str(source), "--to", str(target),
                            "--json").output)  # fmt: skip
    assert report["copied"] == {"sessions": 0, "costs": 0}
    assert report["source"] == report["target"] == {"sessions": 4, "events": 10, "costs": 4}
    # A target holding other sessions too (stores consolidated into one) is no mismatch:
    # the copy is verified by id, and only what the source has and the target lacks counts.
    with SessionManager(target) as manager:
        manager.create_session("extra")
    consolidated = run("store", "migrate", "--from", str(source), "--to", str(target), "--json")
    assert consolidated.exit_code == 0, consolidated.output
    assert json.loads(consolidated.output)["matches"] is True
    with sqlite3.connect(target) as conn:
        conn.execute("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events "
                     "WHERE description LIKE 'step%')")  # fmt: skip
    conn.close()
    mismatch = run("store", "migrate", "--from", str(source), "--to", str(target), "--json")
    assert mismatch.exit_code == 1
    assert "1 event(s) of session" in mismatch.output


def test_migrate_into_an_empty_target_checks_the_counts(new_store):
    source, target = new_store("sqlite"), new_store("json")
    seed(source, sessions=2)
    with open_store(source) as from_store, open_store(target) as to_store:
        result = migrate(from_store, to_store)
    assert result.matches and result.missing == ()


def test_store_migrate_refuses_a_missing_source_or_the_same_store(tmp_path):
    missing = run("store", "migrate", "--from", str(tmp_path / "nope.db"), "--to", "x.db")
    assert missing.exit_code == 1 and "does not exist" in missing.output
    assert not (tmp_path / "nope.db").exists()
    same = run("store", "migrate", "--from", "a.db", "--to", f"sqlite:///{tmp_path / 'a.db'}")
    assert same.exit_code == 1 and "same store" in same.output
