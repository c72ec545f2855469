"""What only the PostgreSQL store does: server connections, schemas, migrations under a lock."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
from contextlib import suppress
from typing import Any

import pytest

from m365_toolkit import SessionManager
from m365_toolkit.errors import (
    ConfigError,
    CorruptStoreError,
    InvalidTransition,
    SchemaError,
    StoreError,
    ValidationError,
)
from m365_toolkit.sessions.model import Event
from m365_toolkit.store import StoreLocation, open_store
from m365_toolkit.store.postgres import SCHEMA_VERSION

from .conftest import FakeClock, PostgresSchemas

PROCESSES = 4


@pytest.fixture
def admin(postgres_server: tuple[str, Any]) -> Any:
    return postgres_server[1]


def _schema_of(url: str) -> str:
    return url.rsplit("%3D", 1)[1]


def _spawn(target: Any, *args: Any) -> list[str]:
    """Run ``target(barrier, failures, *args)`` in PROCESSES spawned processes; their errors."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    failures = context.Queue()
    workers = [
        context.Process(target=target, args=(barrier, failures, *args)) for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    errors = [error for _ in workers for error in failures.get(timeout=120)]
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    failures.close()
    failures.join_thread()
    return errors


def _open_new_stores(barrier: Any, failures: Any, urls: list[str]) -> None:  # spawned
    errors = []
    for url in urls:
        barrier.wait()
        try:
            open_store(url).close()
        except Exception as exc:
            errors.append(f"{url}: {type(exc).__name__}: {exc} (cause: {exc.__cause__!r})")
    failures.put(errors)


def test_processes_migrating_an_empty_database_at_once_all_succeed(pg_schemas, admin):
    urls = [pg_schemas.new() for _ in range(15)]
    assert _spawn(_open_new_stores, urls) == []
    for url in urls:
        schema = _schema_of(url)
        rows = admin.execute(f"SELECT version FROM {schema}.toolkit_schema_version").fetchall()
        assert rows == [(SCHEMA_VERSION,)]
        with SessionManager(url) as manager:
            assert manager.get_session_history(days=None) == []


def _write_lifecycles(barrier: Any, failures: Any, url: str, shared_id: str) -> None:  # spawned
    from m365_toolkit.cost_tracker import GPT5CostTracker

    errors = []
    with SessionManager(url) as manager:
        tracker = GPT5CostTracker(manager=manager, session_id=shared_id)
        barrier.wait()
        try:
            for n in range(40):
                session = manager.create_session("pg_concurrency", metadata={"n": n})
                session.add_event("step", f"step {n}")
                manager.complete_session(session.session_id)
                with suppress(InvalidTransition):  # once another process completed it
                    manager.store.append_event(shared_id, Event(manager.clock(), "shared", ""))
                if n == 20:
                    with suppress(InvalidTransition):
                        manager.complete_session(shared_id)
                tracker.track_request("gpt-5-mini", 1000, 100, 400)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    failures.put(errors)


def test_seq_numbers_stay_unique_and_ordered_under_writers_in_several_processes(postgres_url):
    with SessionManager(postgres_url) as manager:
        shared = manager.create_session("shared")
    assert _spawn(_write_lifecycles, postgres_url, shared.session_id) == []
    with SessionManager(postgres_url) as manager:
        history = manager.get_session_history(days=None)
        seqs = [event["seq"] for record in history for event in record["events"]]
        assert len(seqs) == len(set(seqs)), "seq numbers are not unique"
        own_lifecycles = [r for r in history if r["session_id"] != shared.session_id]
        assert sum(len(r["events"]) for r in own_lifecycles) == PROCESSES * 40 * 3
        for record in history:
            own = [event["seq"] for event in record["events"]]
            assert own == sorted(own)
            # The race of appends with the completion never leaves an event after 'complete'.
            assert record["events"][-1]["type"] == "complete", record["session_id"]
        costs = list(manager.store.costs.entries())
        assert len(costs) == PROCESSES * 40
        totals = manager.store.costs.by_session([shared.session_id])[shared.session_id]
        assert totals.requests == PROCESSES * 40 and totals.cached_input == 400 * PROCESSES * 40


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://admin:s3cret-pw@127.0.0.1:1/trail",
        "postgresql://admin@127.0.0.1:1/trail?password=s3cret-pw",
        "postgres://admin:s3cret%2Dpw@127.0.0.1:1/trail?connect_timeout=2",
    ],
)
def test_an_unreachable_server_is_a_store_error_that_hides_the_password(url):
    with pytest.raises(StoreError, match="Cannot connect to the session store") as caught:
        open_store(url)
    assert "s3cret" not in str(caught.value)
    assert "s3cret" not in repr(caught.value.__cause__)
    assert "127.0.0.1" in str(caught.value)


def test_a_bad_url_or_a_missing_database_is_explained_without_the_password(postgres_server):
    with pytest.raises(ConfigError, match="not a valid PostgreSQL location") as bad:
        open_store("postgresql://admin:s3cret@db/trail?sslmode=sometimes&colour=blue")
    assert "s3cret" not in str(bad.value)
    server_url = postgres_server[0]
    with pytest.raises(StoreError, match="no_such_db") as missing:
        open_store(server_url.rsplit("/", 1)[0] + "/no_such_db")
    assert "does not exist" in str(missing.value)


def test_the_location_masks_the_password_and_names_the_same_store(postgres_url):
    with_password = postgres_url.replace("://postgres@", "://postgres:ignored-pw@")
    with open_store(with_password) as store:  # trust auth: the password is not checked
        assert store.location == postgres_url.replace("://postgres@", "://postgres:***@")
        assert "ignored-pw" not in repr(store)
    assert StoreLocation.parse(with_password).key == StoreLocation.parse(postgres_url).key
    assert StoreLocation.parse(postgres_url.replace("postgresql:", "postgres:")).scheme == (
        "postgresql"
    )


def test_a_newer_schema_version_is_refused(postgres_url, admin):
    open_store(postgres_url).close()
    table = f"{_schema_of(postgres_url)}.toolkit_schema_version"
    admin.execute(f"UPDATE {table} SET version = {SCHEMA_VERSION + 7}")
    with pytest.raises(SchemaError, match=f"schema version {SCHEMA_VERSION + 7}, newer"):
        open_store(postgres_url)


def test_a_schema_of_another_application_is_left_alone(postgres_url, admin):
    admin.execute(f"CREATE TABLE {_schema_of(postgres_url)}.sessions (id int)")
    with pytest.raises(CorruptStoreError, match="did not create"):
        open_store(postgres_url)


def test_a_search_path_without_an_existing_schema_is_a_config_error(postgres_server):
    url = postgres_server[0] + "?options=-csearch_path%3Dno_such_schema_here"
    with pytest.raises(ConfigError, match="names no schema that exists"):
        open_store(url)


def test_each_schema_is_a_store_of_its_own(pg_schemas: PostgresSchemas, admin):
    first, second = pg_schemas.new(), pg_schemas.new()
    with SessionManager(first) as one, SessionManager(second) as two:
        session = one.create_session("in_first")
        assert two.get_session(session.session_id) is None
        assert two.create_session("in_second").events[0].seq == 1  # own sequence
        tables = admin.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s", (_schema_of(first),)
        ).fetchone()
        # sessions, events, costs, cost_sessions, toolkit_schema_version, chain, chain_meta
        assert tables == (7,)


def test_nul_characters_are_refused_and_nothing_is_written(postgres_url):
    with SessionManager(postgres_url, clock=FakeClock()) as manager:
        with pytest.raises(ValidationError, match="NUL"):
            manager.create_session("audit\x00", user="alice")
        session = manager.create_session("audit", metadata={"note": "nul \x00 in JSON is fine"})
        with pytest.raises(ValidationError, match="NUL"):
            session.add_event("step", "bad \x00 description")
        stored = manager.get_session_history(days=None)
        assert [s["operation_type"] for s in stored] == ["audit"]
        assert [e["type"] for e in stored[0]["events"]] == ["start"]
        assert stored[0]["metadata"] == {"note": "nul \x00 in JSON is fine"}


def _terminate(admin: Any, application: str) -> int:
    killed = admin.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
        (application,),
    ).fetchone()[0]
    assert killed >= 1
    return int(killed)


def test_a_read_is_retried_once_on_a_lost_connection(postgres_url, admin):
    url = postgres_url + "&application_name=m365_read_retry"
    with SessionManager(url, clock=FakeClock()) as manager:
        manager.store.close()
        manager.store = open_store(url, max_size=1, probe_after=3600)  # no probe: the read fails
        session = manager.create_session("audit")
        _terminate(admin, "m365_read_retry")
        assert [s["session_id"] for s in manager.get_session_history(days=None)] == [
            session.session_id
        ]


def test_a_write_on_a_lost_connection_is_reported_and_not_retried(postgres_url, admin):
    url = postgres_url + "&application_name=m365_write_loss"
    with open_store(url, max_size=1, probe_after=3600) as store:
        manager = SessionManager(store=store, clock=FakeClock())
        session = manager.create_session("audit")
        _terminate(admin, "m365_write_loss")
        with pytest.raises(StoreError, match="may or may not have been recorded"):
            store.append_event(session.session_id, Event(manager.clock(), "step", "lost"))
        assert store.append_event(session.session_id, Event(manager.clock(), "step", "next")) > 0


def test_an_idle_connection_is_probed_so_a_write_after_a_server_restart_succeeds(
    postgres_url, admin
):
    url = postgres_url + "&application_name=m365_probe"
    with open_store(url, max_size=1, probe_after=0) as store:
        manager = SessionManager(store=store, clock=FakeClock())
        session = manager.create_session("audit")
        _terminate(admin, "m365_probe")
        session.add_event("step", "after the restart")
        manager.complete_session(session.session_id)
        events = store.get(session.session_id)["events"]
        assert [e["type"] for e in events] == ["start", "step", "complete"]


def test_filtering_by_start_time_can_use_an_index(postgres_url, admin):
    open_store(postgres_url).close()
    schema = _schema_of(postgres_url)
    with admin.transaction():
        admin.execute("SET LOCAL enable_seqscan = off")
        plan = admin.execute(
            f"EXPLAIN SELECT id FROM {schema}.sessions WHERE start_time >= now() - interval "
            "'30 days' ORDER BY start_time DESC, id DESC LIMIT 10"
        ).fetchall()
    assert "sessions_by_start" in " ".join(row[0] for row in plan)


def test_without_psycopg_a_postgresql_url_says_which_extra_to_install():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["psycopg"] = None  # as if the postgres extra were not installed
        import m365_toolkit.cli
        from m365_toolkit.store import open_store
        from m365_toolkit.errors import ConfigError
        assert "psycopg" not in [name.split(".")[0] for name in sys.modules if sys.modules[name]]
        try:
            open_store("postgresql://admin:s3cret@db/trail")
        except ConfigError as exc:
            print(exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'm365-security-toolkit[postgres]'" in out.stdout
