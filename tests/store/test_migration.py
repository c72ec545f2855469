"""Stores written by the previous release (schema version 2: a sequence for events and
another for costs) migrate in place to one store-wide sequence, losing nothing."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from m365_toolkit import Event, SessionManager
from m365_toolkit.costs.model import Cost, CostRecord, TokenUsage
from m365_toolkit.store import open_store
from m365_toolkit.store._pg_schema import CREATE_VERSION_TABLE, SET_VERSION
from m365_toolkit.store._schema import migrations
from m365_toolkit.store.postgres import SCHEMA_VERSION as PG_VERSION
from m365_toolkit.store.sqlite import SCHEMA_VERSION

# Written by release 0.1.0 (tests/store/fixtures): a session pruned after 400 days (its
# events 1-3 and cost 1 are gone), then three sessions; events 4-10, costs 2-4.
RELEASE_STORE = Path(__file__).parent / "fixtures" / "release-0.1.0.db"


def a_cost(session_id: str | None) -> CostRecord:
    return CostRecord(datetime(2026, 12, 1, tzinfo=UTC), session_id, "new@contoso.com", None,
                      "gpt-5", "chat", TokenUsage(10, 1), Cost(Decimal(1), Decimal(0),
                      Decimal(0), "override"))  # fmt: skip


def test_a_sqlite_store_of_the_previous_release_keeps_every_record_and_number(tmp_path):
    path = tmp_path / "sessions.db"
    shutil.copy(RELEASE_STORE, path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        before_events = conn.execute(
            "SELECT seq, type, description FROM events ORDER BY seq"
        ).fetchall()
        before_costs = conn.execute(
            "SELECT seq, user, model, total_cost FROM costs ORDER BY seq"
        ).fetchall()
        before_users = conn.execute("SELECT session_id, user FROM sessions ORDER BY id").fetchall()
    conn.close()
    with SessionManager(path) as manager:
        history = manager.get_session_history(days=None)
        assert sorted((s["session_id"], s["user"]) for s in history) == sorted(before_users)
        stored = sorted(
            (e["seq"], e["type"], e["description"]) for s in history for e in s["events"]
        )
        assert stored == before_events
        assert [seq for seq, _, _ in stored] == list(range(4, 11))
        active = next(s for s in history if s["status"] == "active")
        seq = manager.get_session(active["session_id"]).add_event("progress", "after").seq
        assert seq == 11  # above the highest ever given, events and costs alike
        heard = []
        manager.store.listen(heard.append)
        manager.store.costs.add(a_cost(active["session_id"]))
        assert heard[0].seq == 12
        audit = next(s for s in history if s["operation_type"] == "security_audit")
        assert manager.get_session(audit["session_id"]).cost["requests"] == 2
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        after = conn.execute(
            "SELECT seq, user_name, model, total_cost FROM costs WHERE seq < 12 ORDER BY seq"
        ).fetchall()
        assert after == before_costs
    conn.close()


def test_a_postgresql_store_of_the_previous_release_keeps_every_record_and_number(pg_schemas):
    url = pg_schemas.new()
    with psycopg.connect(url, autocommit=True) as conn:
        # The schema as the previous release made it: its first two files, version 2.
        for migration in migrations("postgresql")[:2]:
            conn.execute(migration.script)
        conn.execute(CREATE_VERSION_TABLE)
        conn.execute(SET_VERSION, (2,))
        ref = conn.execute(
            "INSERT INTO sessions (session_id, user_name, operation_type, metadata, start_time, "
            "status, host, pid) VALUES ('s1', 'admin@contoso.com', 'security_audit', '{}', "
            "'2026-11-01T09:00:00Z', 'active', 'h', 1) RETURNING id"
        ).fetchone()[0]
        for text in ("start", "one", "two", "gone"):
            conn.execute(
                "INSERT INTO events (session, timestamp, type, description, data) VALUES "
                "(%s, '2026-11-01T09:00:00Z', %s, %s, '{}')",
                (ref, "start" if text == "start" else "progress", text),
            )
        conn.execute("DELETE FROM events WHERE description = 'gone'")  # seq 4, never reused
        for session_id in ("s1", None):
            conn.execute(
                "INSERT INTO costs (timestamp, session_id, user_name, model, request_type, "
                "input_tokens, cached_tokens, output_tokens, reasoning_tokens, input_cost, "
                "cached_cost, output_cost, total_cost, price_source, metadata) VALUES "
                "('2026-11-01T09:00:00Z', %s, 'admin@contoso.com', 'gpt-5', 'chat', 1, 0, 1, 0, "
                "5, 0, 5, 10, 'override', '{}')",
                (session_id,),
            )
    with open_store(url) as store:
        got = store.get("s1")
        assert [(e["seq"], e["description"]) for e in got["events"]] == [
            (1, "start"), (2, "one"), (3, "two"),
        ]  # fmt: skip
        assert [e["model"] for e in store.costs.entries()] == ["gpt-5", "gpt-5"]
        assert store.append_event("s1", Event.new("progress", "x")) == 5
        heard = []
        store.listen(heard.append)
        store.costs.add(a_cost("s1"))
        assert heard[0].seq == 6
    with psycopg.connect(url) as conn:
        assert (
            conn.execute("SELECT version FROM toolkit_schema_version").fetchone()[0] == PG_VERSION
        )
        assert conn.execute("SELECT seq FROM costs ORDER BY seq").fetchall() == [(1,), (2,), (6,)]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_schema_files_are_numbered_and_split_into_whole_statements(dialect):
    found = migrations(dialect)
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    triggers = [s for m in found for s in m.statements() if s.startswith("CREATE TRIGGER")]
    if dialect == "sqlite":
        assert len(triggers) == 2 and all(t.endswith("END;") for t in triggers)


def test_a_migrated_sqlite_store_answers_a_period_cost_report_from_the_covering_index(tmp_path):
    path = tmp_path / "sessions.db"
    shutil.copy(RELEASE_STORE, path)
    with open_store(path) as store:
        store.costs.add(a_cost(None))
        since = datetime(2026, 11, 1, tzinfo=UTC)
        by_model = store.costs.summary(["model"], since)["model"]
        assert by_model == store.costs.report("model", since)
        assert ("gpt-5", 2) in [(g.key, g.totals.requests) for g in by_model]
        statement = store.sql.q(
            f"SELECT {store.sql.cost_groups['model']} AS g0, count(*) FROM costs "
            "WHERE timestamp >= ? GROUP BY g0"
        )
    with sqlite3.connect(path) as conn:
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "costs_by_time_covering" in indexes and "costs_by_time" not in indexes
        plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", ("",)))
        assert "COVERING INDEX costs_by_time_covering" in plan
    conn.close()


def test_a_migrated_postgresql_store_has_the_covering_cost_index(pg_schemas):
    url = pg_schemas.new()
    with open_store(url) as store:
        store.costs.add(a_cost(None))
        assert [g.key for g in store.costs.summary(["day"])["day"]] == ["2026-12-01"]
    with psycopg.connect(url) as conn:
        names = {row[0] for row in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'costs' "
            "AND schemaname = current_schema()"
        )}  # fmt: skip
        assert "costs_by_time_covering" in names and "costs_by_time" not in names
