"""Benchmark the SQLite session store against bare sqlite3, in one run.

Usage (from the repo root)::

    python bench/bench_sessions.py                      # 1,000,000 stored sessions
    python bench/bench_sessions.py --sessions 100000    # a quick try

Prints a small table: lifecycle throughput (store vs bare sqlite3), lifecycle time on an empty
vs a large store, history and statistics query times on the large store, and the peak memory
of each query, measured in a fresh subprocess. Ratios compare runs made in this process,
interleaved round by round; each figure is the best of its rounds (the median follows it).
"""

from __future__ import annotations

import argparse
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

from m365_toolkit import SessionManager
from m365_toolkit._system import format_time, hostname, parse_time, utc_now
from m365_toolkit.store._sql import MIGRATIONS
from m365_toolkit.store.sqlite import SQLiteStore

HERE = Path(__file__).resolve().parent
GENERATOR_VERSION = 1
USERS = tuple(f"user{n:02d}@contoso.com" for n in range(20))
OPERATIONS = (
    "security_audit", "mfa_review", "conditional_access", "mailbox_audit",
    "license_report", "guest_review", "sharepoint_scan", "role_review",
)  # fmt: skip
BENCH_USER = "bench-writer@contoso.com"  # lifecycles on the big store use it; removed after
CHUNK = 50_000
# Pragmas the store sets on each connection; the bare lifecycle uses the same ones.
BARE_PRAGMAS = ("PRAGMA synchronous = NORMAL", "PRAGMA cache_size = -16000")

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
    """Seconds one call takes."""
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
    query = queries[kind]
    _reset_peak_rss()
    before = _status_kb("VmRSS")
    result = query()
    peak = _status_kb("VmHWM")
    del result
    tracemalloc.start()
    query()
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"rss_mb": (peak - before) / 1024, "traced_mb": traced / 2**20}))


def memory(kind: str, path: Path, now: datetime) -> dict[str, float]:
    """Peak memory of one query, measured by :func:`child` in a new process."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--now", format_time(now), str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout)
    return result


# -- report ----------------------------------------------------------------------------------


def best(times: list[float]) -> float:
    return min(times)


def med(times: list[float]) -> float:
    return statistics.median(times)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def row(label: str, measured: str, ratio: str, goal: str, ok: bool) -> str:
    return f"{label:<28} {measured:<30} {ratio:<14} {goal:<9} {verdict(ok)}"


def run(args: argparse.Namespace) -> None:
    spec = Spec(args.sessions)
    header = f"sqlite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}"
    print(f"bench_sessions: {spec.sessions:,} sessions, {header}")
    path, now, note = dataset(args.data_dir, spec)
    size = path.stat().st_size / 2**20
    print(f"dataset {path.name}: {size:,.0f} MB, {note}")
    lines = [row("measure", "best (median), store vs bare", "ratio", "goal", True)[:-3]]
    lines += lifecycle_rows(path, args.rounds, args.lifecycles)
    lines += query_rows(path, now, args.rounds)
    print("\n".join(lines))


def lifecycle_rows(path: Path, rounds: int, count: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = SessionManager(Path(tmp) / "store.db")
        big = SessionManager(path)
        bare = BareWriter(Path(tmp) / "bare.db")
        try:
            for run_ in (fresh, big):  # warm-up
                store_lifecycles(run_, 20)
            bare.lifecycles(20)
            times = interleave(
                {
                    "store": lambda: store_lifecycles(fresh, count),
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
    store_rate, bare_rate = count / best(times["store"]), count / best(times["bare"])
    med_store, med_bare = count / med(times["store"]), count / med(times["bare"])
    empty_ms, big_ms = best(times["store"]) / count * 1e3, best(times["big"]) / count * 1e3
    med_empty, med_big = med(times["store"]) / count * 1e3, med(times["big"]) / count * 1e3
    ratio1, ratio2 = store_rate / bare_rate, big_ms / empty_ms
    return [
        row("1 lifecycles/s store:bare",
            f"{store_rate:,.0f} vs {bare_rate:,.0f} ({med_store:,.0f} vs {med_bare:,.0f})",
            f"{ratio1:.2f} ({med_store / med_bare:.2f})", ">= 0.50", ratio1 >= 0.5),
        row("2 lifecycle ms 1M:empty",
            f"{big_ms:.3f} vs {empty_ms:.3f} ({med_big:.3f} vs {med_empty:.3f})",
            f"{ratio2:.2f} ({med_big / med_empty:.2f})", "<= 1.30", ratio2 <= 1.3),
    ]  # fmt: skip


def query_rows(path: Path, now: datetime, rounds: int) -> list[str]:
    manager = SessionManager(path, clock=lambda: now)
    conn = sqlite3.connect(path)
    user, week, month = USERS[0], now - timedelta(days=7), now - timedelta(days=30)
    try:
        history = manager.get_session_history(user=user, days=7)  # warm-up, and a check
        rows, events = bare_history(conn, user, week)
        check_history(history, rows, events)
        manager.get_statistics(days=30)
        times = interleave(
            {
                "history": lambda: timed(lambda: manager.get_session_history(user=user, days=7)),
                "bare": lambda: timed(lambda: bare_history(conn, user, week)),
                "stats": lambda: timed(lambda: manager.get_statistics(days=30)),
                "bare_stats": lambda: timed(lambda: bare_statistics(conn, month)),
            },
            rounds,
        )
    finally:
        manager.close()
        conn.close()
    hist_ms, bare_ms = best(times["history"]) * 1e3, best(times["bare"]) * 1e3
    med_hist, med_bare = med(times["history"]) * 1e3, med(times["bare"]) * 1e3
    stats_s, bare_stats_s = best(times["stats"]), best(times["bare_stats"])
    mem_hist, mem_stats = memory("history", path, now), memory("statistics", path, now)
    ratio = hist_ms / bare_ms
    label = f"3 history 7d ({len(history):,}+{len(events):,})"
    return [
        row(label, f"{hist_ms:.1f} vs {bare_ms:.1f} ms ({med_hist:.1f} vs {med_bare:.1f})",
            f"{ratio:.2f} ({med_hist / med_bare:.2f})", "<= 1.50", ratio <= 1.5),
        row("3 statistics 30d", f"{stats_s:.3f} s (bare {bare_stats_s:.3f} s)",
            f"{med(times['stats']):.3f} s med", "< 1 s", stats_s < 1.0),
        memory_row("3 memory history", mem_hist),
        memory_row("3 memory statistics", mem_stats),
        "memory: peak RSS growth over the first query in a fresh process (VmHWM after it, reset "
        "before it,\n        minus VmRSS before it; includes SQLite's page cache); py = tracemalloc peak of a "
        "second run (Python objects only)",
    ]  # fmt: skip


def memory_row(label: str, mem: dict[str, float]) -> str:
    peak = max(mem["rss_mb"], mem["traced_mb"])
    measured = f"RSS +{mem['rss_mb']:.0f} MB, py {mem['traced_mb']:.0f} MB"
    return row(label, measured, "", "< 200 MB", peak < 200)


def check_history(history: list[dict[str, Any]], rows: list[Any], events: list[Any]) -> None:
    """Fail loudly if the store and bare sqlite3 disagree on what the query returns."""
    assert [s["session_id"] for s in history] == [r[1] for r in rows], "sessions differ"
    assert sum(len(s["events"]) for s in history) == len(events), "events differ"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=1_000_000, help="big dataset size")
    parser.add_argument("--data-dir", type=Path, default=HERE / ".data")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per measure")
    parser.add_argument("--lifecycles", type=int, default=300, help="lifecycles per round")
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
