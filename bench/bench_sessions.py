"""Benchmark the SQLite session store against bare sqlite3, in one run.

Usage (from the repo root)::

    python bench/bench_sessions.py                      # 1,000,000 stored sessions
    python bench/bench_sessions.py --sessions 100000    # a quick try

Prints a small table: lifecycle throughput (store vs bare sqlite3), lifecycle time on an empty
vs a large store, history and statistics query times on the large store, and the peak memory
of each query, measured in a fresh subprocess. Ratios compare runs made in this process,
interleaved round by round: each time is the best of its rounds, and A/B (median) is the
ratio of the bests followed by that of the medians.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import itertools
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from m365_toolkit import SessionManager
from m365_toolkit._util.system import (
    format_time,
    hostname,
    parse_time,
    process_identity,
    utc_now,
)
from m365_toolkit._util.values import to_json
from m365_toolkit.sessions.model import _new_id, duration_between
from m365_toolkit.sessions.query import SessionQuery
from m365_toolkit.store._schema import migrations
from m365_toolkit.store._statements import EVENT_FIELDS, SESSION_FIELDS, SUMS, Statements
from m365_toolkit.store.sqlite import _SORT_CACHE_KIB, CONNECTION_PRAGMAS, SQLiteStore

HERE = Path(__file__).resolve().parent
GENERATOR_VERSION = 3  # 2: UUIDv7 ids, user_name, store_sequence; 3: the process column
USERS = tuple(f"user{n:02d}@contoso.com" for n in range(20))
# What the store records of a session's process (boot, PID namespace, start time).
PROCESS = (
    '{"boot":"6f1c2a4e-0d1b-4c55-9a0e-2b7c1d3e4f50","pid_namespace":"pid:[4026531836]",'
    '"started":81234}'
)
OPERATIONS = (
    "security_audit", "mfa_review", "conditional_access", "mailbox_audit",
    "license_report", "guest_review", "sharepoint_scan", "role_review",
)  # fmt: skip
BENCH_USER = "bench-writer@contoso.com"  # lifecycles on the big store use it; removed after
OPERATION = "security_audit"
CHUNK = 50_000
# The bare lifecycle sets the pragmas the store sets on each connection (WAL is per file).
BARE_PRAGMAS = ("PRAGMA synchronous = NORMAL", *CONNECTION_PRAGMAS)

# -- dataset ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What the generated dataset holds; a stored dataset is reused only if this matches."""

    sessions: int
    users: int = len(USERS)
    operations: int = len(OPERATIONS)
    days: int = 90
    events: int = 5
    metadata_share: float = 0.25
    seed: int = 1
    generator: int = GENERATOR_VERSION
    schema: str = ""

    def __post_init__(self) -> None:
        if not self.schema:
            object.__setattr__(self, "schema", schema_hash())


def schema_hash(dialect: str = "sqlite") -> str:
    """A short hash of every schema file of a dialect: a dataset made under other schema
    files is generated again."""
    scripts = "".join(f"{m.version}:{m.name}\n{m.script}" for m in migrations(dialect))
    return hashlib.sha256(scripts.encode()).hexdigest()[:16]


_dumps = to_json  # JSON as the store writes it


def uuid7_at(moment: datetime, rng: random.Random) -> str:
    """The store's session id algorithm (``sessions.model._new_id``: UUIDv7, RFC 9562) for a
    given time, with seeded random bits: the ids a store written over 90 days holds."""
    unix_ms = int(moment.timestamp() * 1000)
    rand_a, rand_b = rng.getrandbits(12), rng.getrandbits(62)
    value = (unix_ms & (1 << 48) - 1) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def _pick_status(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.015:
        return "active"
    if roll < 0.040:
        return "error"
    if roll < 0.050:
        return "cancelled"
    return "success"


def _session_rows(
    spec: Spec, rng: random.Random, first: int, count: int, start: datetime
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows of sessions ``first .. first + count - 1`` (ids from 1) and their events."""
    step = timedelta(days=spec.days) / spec.sessions
    sessions: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for index in range(first, first + count):
        began = start + step * index + step * rng.random()
        operation = OPERATIONS[rng.randrange(spec.operations)]
        status = _pick_status(rng)
        duration = round(rng.uniform(1.0, 900.0), 6)
        ended = began + timedelta(seconds=duration)
        metadata = (
            {"tenant": "contoso.onmicrosoft.com", "ticket": f"SEC-{rng.randrange(10_000)}"}
            if rng.random() < spec.metadata_share
            else {}
        )
        ref = index + 1
        sessions.append(
            (ref, uuid7_at(began, rng),
             USERS[rng.randrange(spec.users)], operation, _dumps(metadata), format_time(began),
             None if status == "active" else format_time(ended), status,
             None if status == "active" else duration,
             f"host-{rng.randrange(8)}", rng.randrange(1000, 60_000), PROCESS)
        )  # fmt: skip
        events.extend(_event_rows(spec, rng, ref, operation, status, began, duration))
    return sessions, events


def _event_rows(
    spec: Spec,
    rng: random.Random,
    ref: int,
    operation: str,
    status: str,
    began: datetime,
    duration: float,
) -> Iterator[tuple[Any, ...]]:
    finished = status != "active"
    middle = spec.events - 1 - finished
    yield ref, format_time(began), "start", f"Session started for {operation}", "{}"
    for n in range(middle):
        moment = began + timedelta(seconds=duration * (n + 1) / (middle + 1))
        if status == "error" and n == middle - 1:
            yield ref, format_time(moment), "error", "Graph API returned 403", '{"code":403}'
            continue
        data = _dumps({"items": rng.randrange(500)}) if rng.random() < 0.5 else "{}"
        yield ref, format_time(moment), "check", f"Checked step {n + 1}", data
    if finished:
        ended = began + timedelta(seconds=duration)
        description = f"Session completed with status: {status}"
        yield ref, format_time(ended), "complete", description, "{}"


def insert_statement(table: str, columns: tuple[str, ...]) -> str:
    """A plain multi-row load statement (the dialect's bulk path, ``insert_rows``)."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def bulk_load(path: Path, load: Callable[[sqlite3.Connection], int], *, analyze: bool) -> None:
    """Fill a store file the real SQLiteStore created, fast: indexes and the sequence
    triggers are dropped for the load and made again after it from their stored SQL (same
    schema); ``load`` returns the highest sequence number it gave, which the store's
    ``store_sequence`` then holds. ``analyze``: gather planner statistics at the end."""
    SQLiteStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    derived = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
        "AND sql IS NOT NULL"
    ).fetchall()
    for statement in ("PRAGMA journal_mode = OFF", "PRAGMA synchronous = OFF",
                      "PRAGMA cache_size = -1000000", "PRAGMA temp_store = MEMORY"):  # fmt: skip
        conn.execute(statement)
    for kind, name, _ in derived:
        conn.execute(f"DROP {kind.upper()} {name}")
    conn.execute("BEGIN")
    last = load(conn)
    conn.execute("UPDATE store_sequence SET last = max(last, ?)", (last,))
    conn.execute("COMMIT")
    for _, _, sql in derived:
        conn.execute(sql)
    if analyze:
        conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()


def generate(path: Path, spec: Spec, now: datetime) -> None:
    """Write the dataset into a store file the real SQLiteStore created."""
    rng = random.Random(spec.seed)
    start = now - timedelta(days=spec.days)
    insert_sessions = insert_statement("sessions", ("id", *SESSION_FIELDS))
    insert_events = insert_statement("events", EVENT_FIELDS)

    def load(conn: sqlite3.Connection) -> int:
        seq = 0
        for first in range(0, spec.sessions, CHUNK):
            count = min(CHUNK, spec.sessions - first)
            sessions, events = _session_rows(spec, rng, first, count, start)
            conn.executemany(insert_sessions, sessions)
            conn.executemany(insert_events, ((seq + n, *row) for n, row in enumerate(events, 1)))
            seq += len(events)
        return seq

    bulk_load(path, load, analyze=False)


def dataset(data_dir: Path, spec: Spec) -> tuple[Path, datetime, str]:
    """The dataset file and the time it ends at; generated unless stored with this spec."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"sessions-{spec.sessions}.db"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("spec") == asdict(spec):
            remove_bench_sessions(path)  # left over by an interrupted run, if any
            note = f"reused (generated in {meta['seconds']:.1f} s)"
            return path, parse_time(meta["now"]), note
    for stale in (path, meta_path, *_wal_files(path)):
        stale.unlink(missing_ok=True)
    now = utc_now().replace(microsecond=0)
    began = time.perf_counter()
    generate(path, spec, now)
    seconds = time.perf_counter() - began
    meta = {"spec": asdict(spec), "now": format_time(now), "seconds": seconds}
    meta_path.write_text(json.dumps(meta, indent=2))
    return path, now, f"generated in {seconds:.1f} s"


def _wal_files(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def remove_bench_sessions(path: Path) -> None:
    """Delete what the lifecycle runs added to the dataset, so that it can be reused."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "DELETE FROM events WHERE session IN (SELECT id FROM sessions WHERE user_name = ?)",
        (BENCH_USER,),
    )
    conn.execute("DELETE FROM sessions WHERE user_name = ?", (BENCH_USER,))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


# -- lifecycles ------------------------------------------------------------------------------


def store_lifecycles(manager: SessionManager, count: int) -> float:
    """Seconds for ``count`` lifecycles through the manager."""
    began = time.perf_counter()
    for _ in range(count):
        session = manager.create_session(OPERATION, user=BENCH_USER)
        for step in range(3):
            session.add_event("check", f"Checked step {step + 1}", {"step": step})
        manager.complete_session(session.session_id)
    return time.perf_counter() - began


def bare_statements(path: Path) -> Statements:
    """The store's own statements for SQLite, built for the dialect of a store opened on
    ``path`` (which also gives the file the store's schema)."""
    store = SQLiteStore(path)
    try:
        return Statements(store.dialect)
    finally:
        store.close()


def bare_connection(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection set up as the store sets up its own: autocommit, the same
    busy timeout (60 s) and pragmas (WAL is per file)."""
    conn = sqlite3.connect(path, timeout=60.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in BARE_PRAGMAS:
        conn.execute(statement)
    return conn


class BareWriter:
    """The store's lifecycle on plain sqlite3: the store's own statements (``Statements``),
    in the transactions of ``SQLStore.create``, ``append_event`` and ``finish``, each
    ``RETURNING`` row fetched, with UUIDv7 ids from the store's ``_new_id``."""

    def __init__(self, path: Path) -> None:
        self.sql = bare_statements(path)
        self.conn = bare_connection(path)
        self.host, self.pid = hostname(), os.getpid()
        self.process = to_json(process_identity())  # the store records it on every session

    def lifecycles(self, count: int) -> float:
        """Seconds for ``count`` lifecycles."""
        began = time.perf_counter()
        for _ in range(count):
            self.lifecycle()
        return time.perf_counter() - began

    def lifecycle(self) -> None:
        conn, sql, session_id = self.conn, self.sql, _new_id()
        start = format_time(datetime.now(UTC))
        conn.execute("BEGIN IMMEDIATE")  # create
        ref = conn.execute(
            sql.insert_session,
            (session_id, BENCH_USER, OPERATION, "{}", start, None, "active", None, self.host,
             self.pid, self.process),
        ).fetchone()[0]  # fmt: skip
        conn.execute(
            sql.insert_event, (ref, start, "start", f"Session started for {OPERATION}", "{}")
        ).fetchone()
        conn.execute("COMMIT")
        for step in range(3):  # append_event: one autocommitted statement each
            conn.execute(
                sql.append_event,
                (format_time(datetime.now(UTC)), "check", f"Checked step {step + 1}",
                 to_json({"step": step}), session_id),
            ).fetchone()  # fmt: skip
        end = datetime.now(UTC)
        conn.execute("BEGIN IMMEDIATE")  # finish
        ref, status, began = conn.execute(sql.lock_session, (session_id,)).fetchone()
        assert status == "active"
        duration = duration_between(parse_time(began), end)
        conn.execute(
            sql.insert_event,
            (ref, format_time(end), "complete", "Session completed with status: success", "{}"),
        ).fetchone()
        conn.execute(sql.finish, ("success", format_time(end), duration, ref))
        conn.execute("COMMIT")


# Literals in traced SQL (sqlite3 passes it with the parameters expanded).
_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")


def traced(conn: sqlite3.Connection, run: Callable[[], object]) -> list[str]:
    """The statements ``run`` sends on ``conn`` (trigger steps included), literals as ``?``."""
    found: list[str] = []
    conn.set_trace_callback(found.append)
    try:
        run()
    finally:
        conn.set_trace_callback(None)
    return [_LITERALS.sub("?", statement) for statement in found]


def same_statements(label: str, store: list[str], bare: list[str]) -> str:
    """A row saying the store and its bare baseline sent the same statements; fails loudly
    if they did not."""
    if store != bare:
        pairs = itertools.zip_longest(store, bare, fillvalue="(none)")
        diff = "\n".join(f"  store: {a}\n  bare:  {b}" for a, b in pairs if a != b)
        raise AssertionError(f"{label}: store and bare statements differ\n{diff}")
    return line(label, f"{len(store)}", f"{len(bare)}", "same text", "= bare", True)


# -- queries ---------------------------------------------------------------------------------


def report_statement(sql: Statements, bytewise: str, group: str, where: str) -> str:
    """The statement of ``SQLCostLog.report(group)``: built there inline from ``Statements``'
    pieces, so built here the same way (the traced check compares the two)."""
    return sql.q(
        f"SELECT {sql.cost_groups[group]}{bytewise} AS grp, {SUMS} FROM costs {where} "
        "GROUP BY grp ORDER BY coalesce(sum(total_cost), 0) DESC, grp"
    )


def sorting(conn: sqlite3.Connection, statement: str, params: Any) -> list[Any]:
    """A large GROUP BY as ``SQLiteDialect.read(sorting=True)`` runs it: with a small page
    cache for its sorter, restored after."""
    size = int(conn.execute("PRAGMA cache_size").fetchone()[0])
    conn.execute(f"PRAGMA cache_size = -{_SORT_CACHE_KIB}")
    try:
        return conn.execute(statement, params).fetchall()
    finally:
        conn.execute(f"PRAGMA cache_size = {size}")


class BareReader:
    """The store's history and statistics queries on plain sqlite3: the statements the store
    sends for them (built once by its own query builders) on a connection with its pragmas,
    rows kept as tuples."""

    def __init__(self, path: Path, store: SQLiteStore, user: str, now: datetime) -> None:
        sql, d = Statements(store.dialect), store.dialect
        self.conn = bare_connection(path)
        where, params = store.sql.where(SessionQuery(user=user, since=now - timedelta(days=7)))
        self.history_sql, self.history_params = sql.history(where), (*params, d.limit(None))
        self.timelines = sql.timelines
        month = now - timedelta(days=30)
        where, params = store.sql.where(SessionQuery(since=month))
        self.stats_sql, self.stats_params = sql.statistics(where), params
        where, params = store.costs._where(month, None)
        self.costs_sql = report_statement(sql, d.bytewise, "operation", where)
        self.costs_params = params

    def history(self) -> tuple[list[Any], list[Any]]:
        """The history query's session rows and event rows, as the store fetches them."""
        conn = self.conn
        rows = conn.execute(self.history_sql, self.history_params).fetchall()
        if not rows:
            return rows, []
        ids = json.dumps([row[0] for row in rows])  # SQLiteDialect.array
        return rows, conn.execute(self.timelines, (ids,)).fetchall()

    def statistics(self) -> tuple[list[Any], list[Any]]:
        """The grouped counts statistics are made of, and its cost summary's groups."""
        groups = self.conn.execute(self.stats_sql, self.stats_params).fetchall()
        return groups, sorting(self.conn, self.costs_sql, self.costs_params)


def timed(run: Callable[[], object]) -> float:
    """Seconds one call takes (and freeing its result), started after a full collection."""
    gc.collect()
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def interleave(runs: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Call each run once per round, in turn; collect the seconds each reports. The order
    turns by one each round, so that each run follows each other equally often: a run
    right after the big store's shares the disk with the write-back of its pages."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for round_ in range(rounds):
        turn = round_ % len(names)
        for name in names[turn:] + names[:turn]:
            times[name].append(runs[name]())
    return times


# -- memory (in a fresh subprocess) ----------------------------------------------------------


def _status_kb(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def _reset_peak_rss() -> None:
    """Make VmHWM (the peak RSS) start again from the current RSS (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")


def child(kind: str, path: Path, now: datetime) -> None:
    """Run one query on a newly opened store; print its peak RSS growth and Python peak."""
    manager = SessionManager(path, clock=lambda: now)
    queries: dict[str, Callable[[], object]] = {
        "history": lambda: manager.get_session_history(user=USERS[0], days=7),
        "statistics": lambda: manager.get_statistics(days=30),
    }
    print(json.dumps(peak_memory(queries[kind])))


def peak_memory(query: Callable[[], object]) -> dict[str, float]:
    """Peak RSS growth (and its file-backed part) over one call, then the tracemalloc peak of
    a second call, in MB."""
    _reset_peak_rss()
    before, file_before = _status_kb("VmRSS"), _status_kb("RssFile")
    result = query()
    peak, file_after = _status_kb("VmHWM"), _status_kb("RssFile")
    del result
    tracemalloc.start()
    query()
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    mb = 1 / 1024
    return {"rss_mb": (peak - before) * mb, "file_mb": (file_after - file_before) * mb,
            "traced_mb": traced / 2**20}  # fmt: skip


def memory(kind: str, path: Path, now: datetime) -> dict[str, float]:
    """Peak memory of one query, measured by :func:`child` in a new process."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--now", format_time(now), str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout)
    return result


# -- report ----------------------------------------------------------------------------------

COLUMNS = "{:<34} {:>17} {:>9} {:>13}  {:<8} {}"


def line(label: str, a: str, b: str, ratio: str, goal: str, ok: bool | None) -> str:
    """One row of the table; ``ok`` None leaves the verdict empty."""
    verdict = "" if ok is None else ("ok" if ok else "MISS")
    return COLUMNS.format(label, a, b, ratio, goal, verdict).rstrip()


def ratios(a: list[float], b: list[float]) -> tuple[float, str]:
    """The ratio of the best times and, as text, with the ratio of the medians after it."""
    best = min(a) / min(b)
    return best, f"{best:.2f} ({statistics.median(a) / statistics.median(b):.2f})"


def run(args: argparse.Namespace) -> None:
    spec = Spec(args.sessions)
    print(
        f"bench_sessions: {spec.sessions:,} stored sessions; sqlite {sqlite3.sqlite_version}, "
        f"Python {sys.version.split()[0]}; best of {args.rounds} interleaved rounds"
    )
    path, now, note = dataset(args.data_dir, spec)
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"dataset {shown}: {path.stat().st_size / 2**20:,.0f} MB, {note}")
    print(line("", "A", "B", "A/B (median)", "goal", None))
    for row in (*lifecycle_rows(path, args.rounds, args.lifecycles, _short(spec.sessions)),
                *query_rows(path, now, args.rounds)):  # fmt: skip
        print(row)
    print(
        "lifecycle = create_session + 3 add_event + complete_session, each committed; bare = the\n"
        "store's own statements (store._statements.Statements), transactions and pragmas on plain\n"
        "sqlite3, UUIDv7 ids from the store's _new_id. History and statistics bare = the\n"
        "statements the store sends for them (built by its query builders; statistics with its\n"
        "cost summary) on a connection with the store's pragmas, rows as tuples. Rows 0 = the\n"
        "statements traced on each connection (literals aside), checked equal before timing.\n"
        "Memory = peak RSS growth over the query in a fresh process (VmHWM reset just\n"
        "before; 'file' = file-backed pages among it) and py = tracemalloc peak\n"
        "of a second run (Python heap only)."
    )


def _short(count: int) -> str:
    """1000000 as "1M", 100000 as "100k"."""
    for unit, size in (("M", 1_000_000), ("k", 1000)):
        if count >= size and count % size == 0:
            return f"{count // size}{unit}"
    return f"{count:,}"


def lifecycle_rows(path: Path, rounds: int, count: int, stored: str) -> list[str]:
    """Rows 1 and 2: lifecycle throughput, store vs bare, and empty vs big store; first a
    check that both send the same statements."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = SessionManager(Path(tmp) / "store.db")
        big = SessionManager(path)
        # The write path against bare sqlite3; sealing into the chain is bench_chain.py's.
        fresh.store.seal_every = big.store.seal_every = None
        bare = BareWriter(Path(tmp) / "bare.db")
        try:
            store_lifecycles(fresh, 20)  # warm-up
            store_lifecycles(big, 20)
            bare.lifecycles(20)
            check = same_statements(
                "0 statements per lifecycle",
                traced(fresh.store.dialect.connect(), lambda: store_lifecycles(fresh, 1)),
                traced(bare.conn, bare.lifecycle),
            )
            times = interleave(
                {
                    "empty": lambda: store_lifecycles(fresh, count),
                    "bare": lambda: bare.lifecycles(count),
                    "big": lambda: store_lifecycles(big, count),
                },
                rounds,
            )
        finally:
            fresh.close()
            big.close()
            bare.conn.close()
            remove_bench_sessions(path)
    per_s, per_s_text = ratios(times["bare"], times["empty"])  # rate ratio = inverse times
    slower, slower_text = ratios(times["big"], times["empty"])
    return [
        check,
        line("1 lifecycles/s, store vs bare", f"{count / min(times['empty']):,.0f}",
             f"{count / min(times['bare']):,.0f}", per_s_text, ">= 0.80", per_s >= 0.8),
        line(f"2 ms/lifecycle, {stored} store vs empty", f"{min(times['big']) / count * 1e3:.3f}",
             f"{min(times['empty']) / count * 1e3:.3f}", slower_text, "<= 1.30", slower <= 1.3),
    ]  # fmt: skip


def query_rows(path: Path, now: datetime, rounds: int) -> list[str]:
    """Row 3: history and statistics on the big store, and their peak memory."""
    manager = SessionManager(path, clock=lambda: now)
    store = manager.store
    assert isinstance(store, SQLiteStore)
    user = USERS[0]
    bare = BareReader(path, store, user, now)
    try:
        history = manager.get_session_history(user=user, days=7)  # warm-up, and checks
        rows, events = bare.history()
        check_history(history, rows, events)
        conn = store.dialect.connect()
        checks = [
            same_statements(
                "0 statements per history",
                traced(conn, lambda: manager.get_session_history(user=user, days=7)),
                traced(bare.conn, bare.history),
            ),
            same_statements(
                "0 statements per statistics",
                traced(conn, lambda: manager.get_statistics(days=30)),
                traced(bare.conn, bare.statistics),
            ),
        ]
        times = interleave(
            {
                "history": lambda: timed(lambda: manager.get_session_history(user=user, days=7)),
                "bare": lambda: timed(bare.history),
            },
            rounds,
        )
        times |= interleave(
            {
                "stats": lambda: timed(lambda: manager.get_statistics(days=30)),
                "bare_stats": lambda: timed(bare.statistics),
            },
            rounds,
        )
    finally:
        manager.close()
        bare.conn.close()
    slower, slower_text = ratios(times["history"], times["bare"])
    stats = min(times["stats"])
    found = f"{len(history):,} sessions, {len(events):,} events"
    return [
        *checks,
        line("3 history ms, store vs bare", f"{min(times['history']) * 1e3:.1f}",
             f"{min(times['bare']) * 1e3:.1f}", slower_text, "<= 1.50", slower <= 1.5),
        f"    (user={user}, days=7: {found})",
        line("3 statistics(days=30) s, vs bare", f"{stats:.3f}",
             f"{min(times['bare_stats']):.3f}", ratios(times["stats"], times["bare_stats"])[1],
             "< 1 s", stats < 1.0),
        memory_row("3 history peak MB", memory("history", path, now)),
        memory_row("3 statistics peak MB", memory("statistics", path, now)),
    ]  # fmt: skip


def memory_row(label: str, mem: dict[str, float]) -> str:
    """A memory row: RSS growth (and its file-backed part) in A, tracemalloc peak in B."""
    rss = f"RSS {mem['rss_mb']:.0f} (file {mem['file_mb']:.0f})"
    peak = max(mem["rss_mb"], mem["traced_mb"])
    return line(label, rss, f"py {mem['traced_mb']:.0f}", "", "< 200", peak < 200)


def check_history(history: list[dict[str, Any]], rows: list[Any], events: list[Any]) -> None:
    """Fail loudly if the store and bare sqlite3 disagree on what the query returns."""
    assert [s["session_id"] for s in history] == [r[1] for r in rows], "sessions differ"
    seqs = sorted(event["seq"] for session in history for event in session["events"])
    assert seqs == sorted(r[1] for r in events), "events differ"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=1_000_000, help="big dataset size")
    parser.add_argument("--data-dir", type=Path, default=HERE / ".data")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per measure")
    parser.add_argument("--lifecycles", type=int, default=1000, help="lifecycles per round")
    parser.add_argument("--child", choices=("history", "statistics"), help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path, parse_time(args.now))
    else:
        run(args)


if __name__ == "__main__":
    main()
