"""Benchmark the PostgreSQL session store against bare psycopg, in one run.

Usage (from the repo root)::

    python bench/bench_postgres.py                                   # 1, 4 and 16 writers
    python bench/bench_postgres.py --url postgresql://me@db:5432/x   # another server
    python bench/bench_postgres.py --writers 1,4 --rounds 3          # a quick try
    python bench/bench_postgres.py --profile store --writers 4       # where a writer's time goes

Works in a fresh schema of its own (``options=-csearch_path=...``), dropped at the end. For
each writer count N it starts N processes; each opens its own ``SessionManager`` on the store
and its own bare psycopg connection to the same schema. In each round all N run store
lifecycles for the same time window, started together, then all N run bare lifecycles (the
order alternates from round to round). The rate is the lifecycles completed by all processes
over the window. Each rate is the best of its rounds, followed by the ratio of the medians.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing as mp
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from multiprocessing.connection import Connection as Pipe
from typing import Any
from urllib.parse import quote

import psycopg

from m365_toolkit import SessionManager
from m365_toolkit._util.system import hostname, process_identity
from m365_toolkit._util.values import to_json
from m365_toolkit.sessions.model import _new_id, duration_between
from m365_toolkit.store import _safe
from m365_toolkit.store._statements import Statements
from m365_toolkit.store.postgres import PostgresDialect, PostgresStore

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
STORE_USER = "bench-store@contoso.com"
BARE_USER = "bench-bare@contoso.com"
OPERATION = "security_audit"
COLUMNS = "{:<30} {:>9} {:>9} {:>13}  {:<8} {}"

# -- lifecycles ------------------------------------------------------------------------------


def store_lifecycle(manager: SessionManager) -> None:
    """create_session + 3 add_event + complete_session through the manager."""
    session = manager.create_session(OPERATION, user=STORE_USER)
    for step in range(3):
        session.add_event("check", f"Checked step {step + 1}", {"step": step})
    manager.complete_session(session.session_id)


class BareWriter:
    """The store's lifecycle, statement for statement and commit for commit, on bare psycopg.

    The statements are the store's own (``store._statements.Statements`` built for the
    PostgreSQL dialect); the transactions and the round trips are those of
    ``SQLStore.create``, ``append_event`` and ``finish``: an autocommit connection,
    ``BEGIN`` .. ``COMMIT`` around create and finish, each ``RETURNING`` row fetched; session
    ids are UUIDv7 from the store's ``_new_id``.
    """

    def __init__(self, url: str) -> None:
        store = PostgresStore(url, min_size=1, max_size=1)
        try:
            self.sql = Statements(store.dialect)
        finally:
            store.close()
        self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        self.host, self.pid = hostname(), os.getpid()
        self.process = to_json(process_identity())  # the store records it on every session
        self.guard = PostgresDialect.write_guard

    def close(self) -> None:
        self.conn.close()

    def lifecycle(self) -> None:
        conn, sql, session_id, start = self.conn, self.sql, _new_id(), datetime.now(UTC)
        with conn.transaction():  # create
            conn.execute(self.guard)  # the store's write guard (see store/sql_chain.py)
            row = conn.execute(
                sql.insert_session,
                (session_id, BARE_USER, OPERATION, "{}", start, None, "active", None,
                 self.host, self.pid, self.process),
            ).fetchone()  # fmt: skip
            assert row is not None
            ref = row[0]
            conn.execute(
                sql.insert_event, (ref, start, "start", f"Session started for {OPERATION}", "{}")
            ).fetchone()
        for step in range(3):  # append_event, one autocommitted statement each
            conn.execute(
                sql.append_event,
                (datetime.now(UTC), "check", f"Checked step {step + 1}", to_json({"step": step}),
                 session_id),
            ).fetchone()  # fmt: skip
        end = datetime.now(UTC)
        with conn.transaction():  # finish
            conn.execute(self.guard)
            row = conn.execute(sql.lock_session, (session_id,)).fetchone()
            assert row is not None and row[1] == "active"
            ref, _, began = row
            duration = duration_between(began, end)
            conn.execute(
                sql.insert_event,
                (ref, end, "complete", "Session completed with status: success", "{}"),
            ).fetchone()
            conn.execute(sql.finish, ("success", end, duration, ref))


# -- writer processes ------------------------------------------------------------------------


def writer(url: str, pipe: Pipe, profile: str | None) -> None:
    """A writer process: on each ("store" | "bare", start, seconds) run lifecycles from
    ``start`` (a CLOCK_MONOTONIC time, shared by all processes) until ``start + seconds``;
    answer with how many it completed and when the last one ended."""
    manager = SessionManager(url)
    bare = BareWriter(url)
    manager.store.seal_every = None  # sealing (issue 12) is measured by bench_chain.py
    runs: dict[str, Callable[[], None]] = {
        "store": lambda: store_lifecycle(manager),
        "bare": bare.lifecycle,
    }
    profiler = cProfile.Profile() if profile else None
    pipe.send("ready")
    try:
        while (order := pipe.recv()) is not None:
            kind, start, seconds = order
            run, done = runs[kind], 0
            time.sleep(max(0.0, start - time.monotonic()))
            end = start + seconds
            profiling = profiler is not None and kind == profile
            if profiling:
                profiler.enable()
            while time.monotonic() < end:
                run()
                done += 1
            if profiling:
                profiler.disable()
            pipe.send((done, time.monotonic()))
        # Connections the store's pool holds now (bare always has one).
        pipe.send(manager.store.dialect._pool.get_stats().get("pool_size", 0))  # type: ignore[attr-defined]
    finally:
        manager.close()
        bare.close()
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(18)
        stats.sort_stats("cumulative").print_stats(30)
        pipe.send(out.getvalue())


class Writers:
    """N writer processes, started together for each timed window."""

    def __init__(self, url: str, count: int, profile: str | None = None) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Pipe] = []
        self.procs = []
        self.profile = profile
        self.pooled: list[int] = []  # store pool sizes, known once closed
        for index in range(count):
            ours, theirs = ctx.Pipe()
            # Only the first writer profiles: one process's view is enough.
            proc = ctx.Process(target=writer, args=(url, theirs, profile if index == 0 else None))
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)
        for pipe in self.pipes:
            if pipe.recv() != "ready":
                raise RuntimeError("a writer process failed to start")

    def run(self, kind: str, seconds: float) -> float:
        """Lifecycles per second of all writers together over one window."""
        start = time.monotonic() + 0.05 + 0.01 * len(self.pipes)  # time for all to wake
        for pipe in self.pipes:
            pipe.send((kind, start, seconds))
        results = [pipe.recv() for pipe in self.pipes]
        return sum(done for done, _ in results) / (max(end for _, end in results) - start)

    def close(self) -> str | None:
        """Stop the writers; the first one's profile, if it made one."""
        for pipe in self.pipes:
            pipe.send(None)
        self.pooled = [pipe.recv() for pipe in self.pipes]
        report = None
        if self.profile and self.pipes[0].poll(30):
            report = self.pipes[0].recv()
        for proc in self.procs:
            proc.join(30)
        return report


# -- checks ----------------------------------------------------------------------------------


def round_trips_per_lifecycle(
    url: str, count: int = 20
) -> tuple[float, float, list[str], list[str]]:
    """Round trips to the server per lifecycle, store and bare; and the statements each sent
    in one lifecycle (as passed to ``Cursor.execute``: ``BEGIN`` and ``COMMIT`` are not).

    Counted as psycopg ``Connection.wait`` calls whose generator waited on the socket at
    least once: a call that returns without I/O (the pool's ``commit()`` of an idle
    autocommit connection) is not a round trip.
    """
    calls = 0
    original = psycopg.Connection.wait
    original_execute = psycopg.Cursor.execute
    sent: list[str] = []

    def recording(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query))
        return original_execute(self, query, *args, **kwargs)

    def counted(gen: Any) -> Any:
        nonlocal calls
        try:
            wanted = gen.send(None)
        except StopIteration as stop:
            return stop.value
        calls += 1
        while True:
            ready = yield wanted
            try:
                wanted = gen.send(ready)
            except StopIteration as stop:
                return stop.value

    def counting(self: Any, gen: Any, *args: Any, **kwargs: Any) -> Any:
        return original(self, counted(gen), *args, **kwargs)

    manager, bare = SessionManager(url), BareWriter(url)
    manager.store.seal_every = None  # sealing (issue 12) is measured by bench_chain.py
    try:
        for _ in range(count):  # warm: pool filled, statements prepared
            store_lifecycle(manager)
            bare.lifecycle()
        psycopg.Connection.wait = counting  # type: ignore[method-assign]
        try:
            counts, statements = [], []
            for run in (lambda: store_lifecycle(manager), bare.lifecycle):
                calls = 0
                for _ in range(count):
                    run()
                counts.append(calls / count)
                psycopg.Cursor.execute = recording  # type: ignore[method-assign]
                try:
                    run()
                finally:
                    psycopg.Cursor.execute = original_execute  # type: ignore[method-assign]
                statements.append(sent[:])
                sent.clear()
        finally:
            psycopg.Connection.wait = original  # type: ignore[method-assign]
    finally:
        manager.close()
        bare.close()
    return counts[0], counts[1], statements[0], statements[1]


def check_rows(conn: psycopg.Connection[Any]) -> str:
    """Fail loudly unless every store and bare lifecycle left the same complete rows."""
    found = {}
    for user in (STORE_USER, BARE_USER):
        sessions, bad, events = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status <> 'success' OR end_time IS NULL), "
            "(SELECT count(*) FROM events e JOIN sessions s ON s.id = e.session "
            " WHERE s.user_name = %s) FROM sessions WHERE user_name = %s",
            (user, user),
        ).fetchone() or (0, 0, 0)
        assert bad == 0, f"{bad} sessions of {user} did not complete"
        assert events == 5 * sessions, f"{user}: {events} events for {sessions} sessions"
        found[user] = sessions
    return (
        f"checked: {found[STORE_USER]:,} store + {found[BARE_USER]:,} bare sessions written, "
        "each complete with 5 events"
    )


# -- report ----------------------------------------------------------------------------------


def line(label: str, a: str, b: str, ratio: str, goal: str, ok: bool | None) -> str:
    """One row of the table; ``ok`` None leaves the verdict empty."""
    verdict = "" if ok is None else ("ok" if ok else "MISS")
    return COLUMNS.format(label, a, b, ratio, goal, verdict).rstrip()


def level_row(writers: int, rates: dict[str, list[float]]) -> str:
    store, bare = rates["store"], rates["bare"]
    best = max(store) / max(bare)
    median = statistics.median(store) / statistics.median(bare)
    label = f"{writers} writer{'s' if writers > 1 else ''}, lifecycles/s"
    return line(label, f"{max(store):,.0f}", f"{max(bare):,.0f}", f"{best:.2f} ({median:.2f})",
                ">= 0.50", best >= 0.5)  # fmt: skip


def measure(
    url: str, writers: int, rounds: int, seconds: float
) -> tuple[dict[str, list[float]], list[int]]:
    """Interleaved rounds of store and bare windows at one writer count; and the number of
    connections each writer's store pool held at the end."""
    group = Writers(url, writers)
    try:
        group.run("store", min(0.5, seconds))  # warm-up: pools filled, statements prepared
        group.run("bare", min(0.5, seconds))
        rates: dict[str, list[float]] = {"store": [], "bare": []}
        for index in range(rounds):
            for kind in ("store", "bare") if index % 2 == 0 else ("bare", "store"):
                rates[kind].append(group.run(kind, seconds))
    finally:
        group.close()
    return rates, group.pooled


def profile(url: str, writers: int, kind: str, seconds: float) -> None:
    """Run ``writers`` processes for one window of ``kind``; print the first one's profile."""
    group = Writers(url, writers, profile=kind)
    try:
        group.run(kind, min(0.5, seconds))  # warm-up (profiled too, but short)
        rate = group.run(kind, seconds)
    finally:
        report = group.close()
    print(f"{kind}, {writers} writer(s): {rate:,.0f} lifecycles/s; profile of writer 0:")
    print(report)


def schema_url(url: str, schema: str) -> str:
    """The URL with ``options=-csearch_path=<schema>`` added to its query."""
    return f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={schema}', safe='')}"


def run(args: argparse.Namespace) -> None:
    schema = f"bench_postgres_{os.getpid()}"
    admin = psycopg.connect(args.url, autocommit=True, connect_timeout=10)
    try:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        url = schema_url(args.url, schema)
        SessionManager(url).close()  # create the tables once, before the writers start
        if args.profile:
            for writers in args.writers:
                profile(url, writers, args.profile, args.seconds)
            return
        server = admin.execute("SHOW server_version").fetchone()
        print(
            f"bench_postgres: PostgreSQL {server[0] if server else '?'} at {_safe(args.url)}, "
            f"schema {schema}; psycopg {version('psycopg')}, psycopg_pool "
            f"{version('psycopg_pool')}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
        )
        print(
            f"{args.rounds} interleaved rounds of {args.seconds:g} s windows per writer count, "
            "best of rounds"
        )
        print(line("", "store", "bare", "ratio (median)", "goal", None))
        store_trips, bare_trips, store_sent, bare_sent = round_trips_per_lifecycle(url)
        assert store_sent == bare_sent, f"statements differ:\n{store_sent}\n{bare_sent}"
        print(line("statements per lifecycle", f"{len(store_sent)}", f"{len(bare_sent)}",
                   "same text", "= bare", True))  # fmt: skip
        print(line("round trips per lifecycle", f"{store_trips:.1f}", f"{bare_trips:.1f}",
                   f"{store_trips / bare_trips:.2f}", "= 1.00",
                   store_trips == bare_trips))  # fmt: skip
        pooled: dict[int, list[int]] = {}
        for writers in args.writers:
            rates, pooled[writers] = measure(url, writers, args.rounds, args.seconds)
            print(level_row(writers, rates))
        admin.execute(f'SET search_path = "{schema}"')
        print(check_rows(admin))
        print(
            "store pool connections per writer at the end (bare: 1): "
            + ", ".join(f"{n} writers {min(p)}-{max(p)}" for n, p in pooled.items())
        )
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()
    print(
        "lifecycle = create_session + 3 add_event + complete_session, each committed (5\n"
        "transactions). Store = SessionManager on PostgresStore (default pool) in each process;\n"
        "bare = one psycopg connection per process issuing the store's own statements\n"
        "(store._statements.Statements, UUIDv7 ids) with the same transactions and round trips:\n"
        "BEGIN, INSERT session, INSERT start event (nextval), COMMIT; 3 autocommitted\n"
        "INSERT..SELECT..FOR SHARE; BEGIN, SELECT FOR UPDATE, INSERT complete event, UPDATE,\n"
        "COMMIT. Statements = the text each side passed to psycopg, checked equal. Round trips\n"
        "= psycopg waits that touched the socket, counted before the timed runs. N writers = N\n"
        "processes started together on the same time window; rate = lifecycles all completed /\n"
        "wall time. Ratio = store/bare rate (higher is better), of the bests, then of the\n"
        "medians. The server runs on this machine and shares its CPUs with the writers."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL, help="libpq URL of a database to use")
    parser.add_argument(
        "--writers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 4, 16],
        help="writer process counts, comma-separated",
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per count")
    parser.add_argument("--seconds", type=float, default=2.0, help="window of each round")
    parser.add_argument(
        "--profile", choices=("store", "bare"), help="cProfile one writer instead of the table"
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
