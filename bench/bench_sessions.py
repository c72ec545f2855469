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
import json
import os
import random
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

from m365_toolkit.store._sql import MIGRATIONS

from m365_toolkit import SessionManager
from m365_toolkit._util.system import format_time, hostname, parse_time, utc_now
from m365_toolkit.store.sqlite import CONNECTION_PRAGMAS, SQLiteStore

HERE = Path(__file__).resolve().parent
GENERATOR_VERSION = 1
USERS = tuple(f"user{n:02d}@contoso.com" for n in range(20))
OPERATIONS = (
    "security_audit", "mfa_review", "conditional_access", "mailbox_audit",
    "license_report", "guest_review", "sharepoint_scan", "role_review",
)  # fmt: skip
BENCH_USER = "bench-writer@contoso.com"  # lifecycles on the big store use it; removed after
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
    schema: str = hashlib.sha256("".join(MIGRATIONS).encode()).hexdigest()[:16]


def _dumps(value: dict[str, Any]) -> str:
    """JSON as the store writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else "{}"


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
            (ref, str(uuid.UUID(int=rng.getrandbits(128), version=4)),
             USERS[rng.randrange(spec.users)], operation, _dumps(metadata), format_time(began),
             None if status == "active" else format_time(ended), status,
             None if status == "active" else duration,
             f"host-{rng.randrange(8)}", rng.randrange(1000, 60_000))
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


def generate(path: Path, spec: Spec, now: datetime) -> None:
    """Write the dataset into a store file the real SQLiteStore created."""
    SQLiteStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    for statement in ("PRAGMA journal_mode = OFF", "PRAGMA synchronous = OFF",
                      "PRAGMA cache_size = -1000000", "PRAGMA temp_store = MEMORY"):  # fmt: skip
        conn.execute(statement)
    for name, _ in indexes:  # rebuilt after the load: same schema, far faster to fill
        conn.execute(f"DROP INDEX {name}")
    rng = random.Random(spec.seed)
    start = now - timedelta(days=spec.days)
    conn.execute("BEGIN")
    for first in range(0, spec.sessions, CHUNK):
        sessions, events = _session_rows(spec, rng, first, min(CHUNK, spec.sessions - first), start)
        conn.executemany(
            "INSERT INTO sessions (id, session_id, user, operation_type, metadata, start_time, "
            "end_time, status, duration_seconds, host, pid) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            sessions,
        )
        conn.executemany(
            "INSERT INTO events (session, timestamp, type, description, data) VALUES (?,?,?,?,?)",
            events,
        )
    conn.execute("COMMIT")
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()


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
        "DELETE FROM events WHERE session IN (SELECT id FROM sessions WHERE user = ?)",
        (BENCH_USER,),
    )
    conn.execute("DELETE FROM sessions WHERE user = ?", (BENCH_USER,))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


# -- lifecycles ------------------------------------------------------------------------------


def store_lifecycles(manager: SessionManager, count: int) -> float:
    """Seconds for ``count`` lifecycles through the manager."""
    began = time.perf_counter()
    for _ in range(count):
        session = manager.create_session("security_audit", user=BENCH_USER)
        for step in range(3):
            session.add_event("check", f"Checked step {step + 1}", {"step": step})
        manager.complete_session(session.session_id)
    return time.perf_counter() - began


class BareWriter:
    """The store's lifecycle statements, issued with plain sqlite3."""

    def __init__(self, path: Path) -> None:
        SQLiteStore(path).close()  # same schema
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        for statement in BARE_PRAGMAS:
            self.conn.execute(statement)
        self.host, self.pid = hostname(), os.getpid()

    def lifecycles(self, count: int) -> float:
        """Seconds for ``count`` lifecycles."""
        began = time.perf_counter()
        for _ in range(count):
            self._lifecycle()
        return time.perf_counter() - began

    def _lifecycle(self) -> None:
        conn, session_id = self.conn, str(uuid.uuid4())
        start = format_time(datetime.now(UTC))
        conn.execute("BEGIN IMMEDIATE")
        ref = conn.execute(
            "INSERT INTO sessions (session_id, user, operation_type, metadata, start_time, "
            "end_time, status, duration_seconds, host, pid) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (session_id, BENCH_USER, "security_audit", "{}", start, None, "active", None,
             self.host, self.pid),
        ).lastrowid  # fmt: skip
        conn.execute(
            "INSERT INTO events (session, timestamp, type, description, data) VALUES (?,?,?,?,?)",
            (ref, start, "start", "Session started for security_audit", "{}"),
        )
        conn.execute("COMMIT")
        for step in range(3):
            conn.execute(
                "INSERT INTO events (session, timestamp, type, description, data) "
                "SELECT id, ?, ?, ?, ? FROM sessions WHERE session_id = ? AND status = 'active'",
                (format_time(datetime.now(UTC)), "check", f"Checked step {step + 1}",
                 _dumps({"step": step}), session_id),
            )  # fmt: skip
        self._complete(session_id)

    def _complete(self, session_id: str) -> None:
        conn, end = self.conn, datetime.now(UTC)
        conn.execute("BEGIN IMMEDIATE")
        ref, _, start = conn.execute(
            "SELECT id, status, start_time FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        conn.execute(
            "INSERT INTO events (session, timestamp, type, description, data) VALUES (?,?,?,?,?)",
            (ref, format_time(end), "complete", "Session completed with status: success", "{}"),
        )
        duration = max(0.0, round((end - parse_time(start)).total_seconds(), 6))
        conn.execute(
            "UPDATE sessions SET status = ?, end_time = ?, duration_seconds = ? WHERE id = ?",
            ("success", format_time(end), duration, ref),
        )
        conn.execute("COMMIT")


# -- queries ---------------------------------------------------------------------------------

BARE_SESSIONS = (
    "SELECT id, session_id, user, operation_type, metadata, start_time, end_time, status, "
    "duration_seconds, host, pid FROM sessions WHERE user = ? AND start_time >= ? "
    "ORDER BY start_time DESC, id DESC"
)
BARE_EVENTS = (
    "SELECT session, seq, timestamp, type, description, data FROM events WHERE session IN "
    "(SELECT id FROM sessions WHERE user = ? AND start_time >= ?) ORDER BY session, seq"
)


def bare_history(
    conn: sqlite3.Connection, user: str, since: datetime
) -> tuple[list[Any], list[Any]]:
    """The history query's session rows and event rows, as tuples."""
    params = (user, format_time(since))
    return (
        conn.execute(BARE_SESSIONS, params).fetchall(),
        conn.execute(BARE_EVENTS, params).fetchall(),
    )


def bare_statistics(conn: sqlite3.Connection, since: datetime) -> list[Any]:
    """The grouped counts statistics are made of."""
    return conn.execute(
        "SELECT operation_type, user, status, count(*), total(duration_seconds), "
        "count(duration_seconds) FROM sessions WHERE start_time >= ? "
        "GROUP BY operation_type, user, status",
        (format_time(since),),
    ).fetchall()


def timed(run: Callable[[], object]) -> float:
    """Seconds one call takes (and freeing its result), started after a full collection."""
    gc.collect()
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def interleave(runs: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Call each run once per round, in turn; collect the seconds each reports."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(run())
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
        "same SQL and pragmas on plain sqlite3. History bare = 2 plain queries on a default\n"
        "sqlite3 connection, rows as tuples. Statistics bare = its GROUP BY in natural column\n"
        "order. Memory = peak RSS growth over the query in a fresh process (VmHWM reset just\n"
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
    """Rows 1 and 2: lifecycle throughput, store vs bare, and empty vs big store."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = SessionManager(Path(tmp) / "store.db")
        big = SessionManager(path)
        bare = BareWriter(Path(tmp) / "bare.db")
        try:
            store_lifecycles(fresh, 20)  # warm-up
            store_lifecycles(big, 20)
            bare.lifecycles(20)
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
        line("1 lifecycles/s, store vs bare", f"{count / min(times['empty']):,.0f}",
             f"{count / min(times['bare']):,.0f}", per_s_text, ">= 0.50", per_s >= 0.5),
        line(f"2 ms/lifecycle, {stored} store vs empty", f"{min(times['big']) / count * 1e3:.3f}",
             f"{min(times['empty']) / count * 1e3:.3f}", slower_text, "<= 1.30", slower <= 1.3),
    ]  # fmt: skip


def query_rows(path: Path, now: datetime, rounds: int) -> list[str]:
    """Row 3: history and statistics on the big store, and their peak memory."""
    manager = SessionManager(path, clock=lambda: now)
    conn = sqlite3.connect(path)
    user, week, month = USERS[0], now - timedelta(days=7), now - timedelta(days=30)
    try:
        history = manager.get_session_history(user=user, days=7)  # warm-up, and a check
        rows, events = bare_history(conn, user, week)
        check_history(history, rows, events)
        times = interleave(
            {
                "history": lambda: timed(lambda: manager.get_session_history(user=user, days=7)),
                "bare": lambda: timed(lambda: bare_history(conn, user, week)),
            },
            rounds,
        )
        manager.get_statistics(days=30)
        times |= interleave(
            {
                "stats": lambda: timed(lambda: manager.get_statistics(days=30)),
                "bare_stats": lambda: timed(lambda: bare_statistics(conn, month)),
            },
            rounds,
        )
    finally:
        manager.close()
        conn.close()
    slower, slower_text = ratios(times["history"], times["bare"])
    stats = min(times["stats"])
    found = f"{len(history):,} sessions, {len(events):,} events"
    return [
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
