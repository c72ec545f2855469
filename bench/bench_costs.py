"""Benchmark cost tracking and cost reports against bare sqlite3, in one run.

Usage (from the repo root)::

    python bench/bench_costs.py                     # 1,000,000 stored cost records
    python bench/bench_costs.py --records 100000    # a quick try

Prints a small table: ``GPT5CostTracker.track_request`` throughput on a new SQLite store
(store vs bare sqlite3, and on a session that already has many costs), then the time of each
cost report over the big dataset, ``report("model")`` against its bare GROUP BY, and the peak
memory of every report, measured in a fresh subprocess. Ratios compare runs made in this
process, interleaved round by round: each time is the best of its rounds, and A/B (median) is
the ratio of the bests followed by that of the medians.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench_sessions import (
    OPERATIONS,
    USERS,
    _short,
    _wal_files,
    interleave,
    peak_memory,
    ratios,
    timed,
)
from m365_toolkit.store._sql import (
    ADD_SESSION_COST,
    INSERT_COST,
    MIGRATIONS,
    SESSION_COST_TOTALS,
)

from m365_toolkit import SessionManager
from m365_toolkit._util.system import format_time, parse_time, utc_now
from m365_toolkit.cost_tracker import GPT5CostTracker
from m365_toolkit.costs.budgets import CONFIG_ENV
from m365_toolkit.costs.model import GROUPS
from m365_toolkit.store.sqlite import CONNECTION_PRAGMAS, SQLiteStore

HERE = Path(__file__).resolve().parent
GENERATOR_VERSION = 1
# USD per million tokens (input, cached input, output), as genai-prices 0.2 has them.
MODELS = {
    "gpt-5": ("1.25", "0.125", "10"),
    "gpt-5-mini": ("0.25", "0.025", "2"),
    "gpt-5-nano": ("0.05", "0.005", "0.4"),
    "gpt-4.1": ("2", "0.5", "8"),
    "gpt-4.1-mini": ("0.4", "0.1", "1.6"),
    "gpt-4o": ("2.5", "1.25", "10"),
    "gpt-4o-mini": ("0.15", "0.075", "0.6"),
    "o3": ("2", "0.5", "8"),
    "o4-mini": ("1.1", "0.275", "4.4"),
    "claude-sonnet-4-5": ("3", "0.3", "15"),
}
REQUEST_TYPES = ("chat", "responses", "reasoning", "batch")
BENCH_USER = "bench-tracker@contoso.com"
CHUNK = 50_000
BARE_PRAGMAS = ("PRAGMA synchronous = NORMAL", *CONNECTION_PRAGMAS)
REQUEST = ("gpt-5", 1200, 300, 200)  # model, prompt, completion, cached tokens
QUERIES = (*(f"report:{group}" for group in GROUPS), "daily", "monthly")

# -- dataset ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What the generated dataset holds; a stored dataset is reused only if this matches."""

    records: int
    models: int = len(MODELS)
    request_types: int = len(REQUEST_TYPES)
    users: int = len(USERS)
    operations: int = len(OPERATIONS)
    days: int = 90
    session_share: float = 0.85  # of records linked to a session
    per_session: int = 10  # records in a row that share a session (or its absence)
    metadata_share: float = 0.1
    seed: int = 1
    generator: int = GENERATOR_VERSION
    schema: str = hashlib.sha256("".join(MIGRATIONS).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Rate:
    """A model's prices in integer picodollars per token, and its price source."""

    model: str
    input: int
    cached: int
    output: int
    source: str


def _rates() -> list[Rate]:
    per_token = Decimal(10**6)  # 1 USD per million tokens = 1e6 picodollars per token
    return [
        Rate(model, *(int(Decimal(p) * per_token) for p in prices), f"bench ({model})")
        for model, prices in MODELS.items()
    ]


class Rows:
    """Cost rows in time order; each run of ``per_session`` rows shares one session."""

    def __init__(self, spec: Spec, start: datetime) -> None:
        self.spec, self.start = spec, start
        self.step = timedelta(days=spec.days) / spec.records
        self.rng = random.Random(spec.seed)
        self.rates = _rates()[: spec.models]
        self.link: tuple[str | None, str, str | None] = (None, USERS[0], None)

    def chunk(self, first: int, count: int) -> list[tuple[Any, ...]]:
        """Rows ``first .. first + count - 1``."""
        return [self._row(index) for index in range(first, first + count)]

    def _row(self, index: int) -> tuple[Any, ...]:
        spec, rng = self.spec, self.rng
        if index % spec.per_session == 0:
            self.link = self._session(rng)
        session_id, user, operation = self.link
        rate = self.rates[rng.randrange(len(self.rates))]
        request_type = REQUEST_TYPES[rng.randrange(spec.request_types)]
        prompt = int(rng.lognormvariate(7.5, 1.0)) + 1
        cached = int(prompt * rng.random()) if rng.random() < 0.4 else 0
        output = int(rng.lognormvariate(6.0, 1.0))
        reasoning = int(output * rng.random()) if request_type == "reasoning" else 0
        costs = ((prompt - cached) * rate.input, cached * rate.cached, output * rate.output)
        metadata = (
            f'{{"ticket":"SEC-{rng.randrange(10_000)}"}}'
            if rng.random() < spec.metadata_share
            else "{}"
        )
        moment = self.start + self.step * index + self.step * rng.random()
        return (
            format_time(moment), session_id, user, operation, rate.model, request_type, prompt,
            cached, output, reasoning, *costs, sum(costs), rate.source, metadata,
        )  # fmt: skip

    def _session(self, rng: random.Random) -> tuple[str | None, str, str | None]:
        user = USERS[rng.randrange(self.spec.users)]
        if rng.random() >= self.spec.session_share:
            return None, user, None
        session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        return session_id, user, OPERATIONS[rng.randrange(self.spec.operations)]


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
    rows = Rows(spec, now - timedelta(days=spec.days))
    conn.execute("BEGIN")
    for first in range(0, spec.records, CHUNK):
        insert(conn, rows.chunk(first, min(CHUNK, spec.records - first)))
    conn.execute("COMMIT")
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("ANALYZE")  # as a long-lived store would have after PRAGMA optimize
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()


def insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Add cost rows with the store's statements (the row, then its session's totals)."""
    conn.executemany(INSERT_COST, rows)
    conn.executemany(ADD_SESSION_COST, (_session_cost(row) for row in rows if row[1]))


def _session_cost(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """ADD_SESSION_COST's parameters for an INSERT_COST row."""
    return row[1], *row[6:10], row[13]


def dataset(data_dir: Path, spec: Spec) -> tuple[Path, datetime, str]:
    """The dataset file and the time it ends at; generated unless stored with this spec."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"costs-{spec.records}.db"
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


# -- tracking --------------------------------------------------------------------------------


def new_tracker(manager: SessionManager) -> GPT5CostTracker:
    """A tracker linked to a new session, without budgets."""
    session = manager.create_session("security_audit", user=BENCH_USER)
    return GPT5CostTracker(manager=manager, session_id=session.session_id)


def track(tracker: GPT5CostTracker, count: int) -> float:
    """Seconds for ``count`` tracked requests."""
    model, prompt, completion, cached = REQUEST
    began = time.perf_counter()
    for _ in range(count):
        tracker.track_request(model, prompt, completion, cached)
    return time.perf_counter() - began


class BareTracker:
    """The store's SQL for one tracked request, issued with plain sqlite3: BEGIN IMMEDIATE,
    INSERT, add to and read the session's totals, COMMIT. The row is the store's, with a new
    timestamp."""

    def __init__(self, path: Path, row: tuple[Any, ...]) -> None:
        SQLiteStore(path).close()  # same schema
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        for statement in BARE_PRAGMAS:
            self.conn.execute(statement)
        self.rest = row[2:]

    def track(self, count: int) -> float:
        """Seconds for ``count`` requests, on a new session."""
        conn, rest = self.conn, self.rest
        session_id = str(uuid.uuid4())
        added = _session_cost((None, session_id, *rest))
        began = time.perf_counter()
        for _ in range(count):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(INSERT_COST, (format_time(datetime.now(UTC)), session_id, *rest))
            conn.execute(ADD_SESSION_COST, added)
            conn.execute(SESSION_COST_TOTALS, (session_id,)).fetchone()
            conn.execute("COMMIT")
        return time.perf_counter() - began


def stored_row(path: Path) -> tuple[Any, ...]:
    """The last cost row of a store, in INSERT_COST's column order."""
    conn = sqlite3.connect(path)
    try:
        row: tuple[Any, ...] = conn.execute(
            "SELECT timestamp, session_id, user, operation_type, model, request_type, "
            "input_tokens, cached_tokens, output_tokens, reasoning_tokens, input_cost, "
            "cached_cost, output_cost, total_cost, price_source, metadata "
            "FROM costs ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return row


def prefill(path: Path, session_id: str, count: int) -> None:
    """Give a session ``count`` stored costs, in one transaction."""
    row = stored_row(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        insert(conn, [(row[0], session_id, *row[2:])] * count)
        conn.execute("COMMIT")
    finally:
        conn.close()


def tracking_rows(rounds: int, count: int, prefilled: int) -> list[str]:
    """Row 1: track_request throughput, store vs bare, and on a session with many costs."""
    with tempfile.TemporaryDirectory() as tmp:
        manager = SessionManager(Path(tmp) / "store.db")
        try:
            track(new_tracker(manager), 20)  # warm-up: prices, statements
            bare = BareTracker(Path(tmp) / "bare.db", stored_row(manager.store.path))
            full = new_tracker(manager)
            assert full.session_id is not None
            prefill(manager.store.path, full.session_id, prefilled)
            bare.track(20)
            times = interleave(
                {
                    "store": lambda: track(new_tracker(manager), count),
                    "bare": lambda: bare.track(count),
                    "full": lambda: track(full, count),
                },
                rounds,
            )
            bare.conn.close()
        finally:
            manager.close()
    per_s, per_s_text = ratios(times["bare"], times["store"])  # rate ratio = inverse times
    slower, slower_text = ratios(times["full"], times["store"])
    label = f"1 us/request, {_short(prefilled)}-cost session vs new"
    return [
        line("1 track_request/s, store vs bare", f"{count / min(times['store']):,.0f}",
             f"{count / min(times['bare']):,.0f}", per_s_text, ">= 0.50", per_s >= 0.5),
        line(label, f"{min(times['full']) / count * 1e6:.0f}",
             f"{min(times['store']) / count * 1e6:.0f}", slower_text, "<= 1.30", slower <= 1.3),
    ]  # fmt: skip


# -- reports ---------------------------------------------------------------------------------

BARE_BY_MODEL = (
    "SELECT model, count(*), total(input_tokens), total(cached_tokens), total(output_tokens), "
    "total(reasoning_tokens), total(total_cost) FROM costs GROUP BY model"
)


def queries(tracker: GPT5CostTracker) -> dict[str, Callable[[], object]]:
    """The measured reports, by name."""
    found: dict[str, Callable[[], object]] = {
        f"report:{group}": (lambda group=group: tracker.report(group, days=None))
        for group in GROUPS
    }
    found["daily"] = tracker.get_daily_cost
    found["monthly"] = tracker.get_monthly_cost
    return found


def report_tracker(path: Path, now: datetime) -> tuple[SessionManager, GPT5CostTracker]:
    """A manager and an unlinked tracker on the big store, both at the dataset's end."""
    manager = SessionManager(path, clock=lambda: now)
    return manager, GPT5CostTracker(manager=manager, clock=lambda: now)


def report_rows(path: Path, now: datetime, rounds: int) -> list[str]:
    """Row 2: every report over the big store, report("model") vs bare, peak memory."""
    manager, tracker = report_tracker(path, now)
    conn = sqlite3.connect(path)
    try:
        runs = queries(tracker)
        check_by_model(tracker, conn)  # warm-up, and a check
        timings = {name: lambda run=run: timed(run) for name, run in runs.items()}
        timings["bare"] = lambda: timed(lambda: conn.execute(BARE_BY_MODEL).fetchall())
        times = interleave(timings, rounds)
    finally:
        manager.close()
        conn.close()
    rows = []
    for name in runs:
        best = min(times[name])
        bare = f"{min(times['bare']):.3f}" if name == "report:model" else ""
        ratio = ratios(times[name], times["bare"])[1] if bare else ""
        rows.append(line(f"2 {_title(name)} s", f"{best:.3f}", bare, ratio, "< 1 s", best < 1))
    rows.append(memory_row({name: memory(name, path, now) for name in runs}))
    return rows


def _title(name: str) -> str:
    """report:model as report('model'), daily as get_daily_cost()."""
    if name.startswith("report:"):
        return f"report('{name.split(':')[1]}')"
    return f"get_{name}_cost()"


def check_by_model(tracker: GPT5CostTracker, conn: sqlite3.Connection) -> None:
    """Fail loudly if the store and bare sqlite3 disagree on the costs by model."""
    store = {g.key: (g.totals.requests, g.totals.input) for g in tracker.report("model", None)}
    bare = {row[0]: (row[1], int(row[2])) for row in conn.execute(BARE_BY_MODEL)}
    assert store == bare, "costs by model differ"


# -- memory (in a fresh subprocess) ----------------------------------------------------------


def child(name: str, path: Path, now: datetime) -> None:
    """Run one report on a newly opened store; print its peak RSS growth and Python peak."""
    manager, tracker = report_tracker(path, now)
    query = queries(tracker)[name]
    stats = peak_memory(query)
    manager.close()
    print(json.dumps(stats))


def memory(name: str, path: Path, now: datetime) -> dict[str, float]:
    """Peak memory of one report, measured by :func:`child` in a new process."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, "--now", format_time(now), str(path)],
        check=True, capture_output=True, text=True, env=_env(),
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout)
    return result


def memory_row(mems: dict[str, dict[str, float]]) -> str:
    """The worst peak of all reports: RSS growth (file-backed part) in A, tracemalloc in B."""
    worst = max(mems, key=lambda name: max(mems[name]["rss_mb"], mems[name]["traced_mb"]))
    mem = mems[worst]
    rss = f"RSS {mem['rss_mb']:.0f} (file {mem['file_mb']:.0f})"
    peak = max(mem["rss_mb"], mem["traced_mb"])
    label = f"2 peak MB, worst: {_title(worst)}"
    return line(label, rss, f"py {mem['traced_mb']:.1f}", "", "< 200", peak < 200)


# -- report ----------------------------------------------------------------------------------

COLUMNS = "{:<40} {:>16} {:>9} {:>13}  {:<8} {}"


def line(label: str, a: str, b: str, ratio: str, goal: str, ok: bool | None) -> str:
    """One row of the table; ``ok`` None leaves the verdict empty."""
    verdict = "" if ok is None else ("ok" if ok else "MISS")
    return COLUMNS.format(label, a, b, ratio, goal, verdict).rstrip()


def _env() -> dict[str, str]:
    """This environment without a cost config: no configured budgets or prices."""
    return {name: value for name, value in os.environ.items() if name != CONFIG_ENV}


def run(args: argparse.Namespace) -> None:
    os.environ.pop(CONFIG_ENV, None)
    spec = Spec(args.records)
    print(
        f"bench_costs: {spec.records:,} stored cost records; sqlite {sqlite3.sqlite_version}, "
        f"Python {sys.version.split()[0]}; best of {args.rounds} interleaved rounds"
    )
    path, now, note = dataset(args.data_dir, spec)
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"dataset {shown}: {path.stat().st_size / 2**20:,.0f} MB, {note}")
    print(line("", "A", "B", "A/B (median)", "goal", None))
    for row in (*tracking_rows(args.rounds, args.requests, args.prefilled),
                *report_rows(path, now, args.rounds)):  # fmt: skip
        print(row)
    print(footer(spec, args.requests, args.prefilled))


def footer(spec: Spec, requests: int, prefilled: int) -> str:
    """What the rows measure."""
    return (
        f"track_request = {requests} requests per round on a new session (a new SessionManager\n"
        "on a temp file, no budgets), each committed; the second row runs them on a session that\n"
        f"already has {prefilled:,} costs. Bare = the store's SQL per request on plain sqlite3,\n"
        "same pragmas: BEGIN IMMEDIATE, INSERT the cost, add it to and read the session's\n"
        "running totals (what the tracker returns, in the same transaction), COMMIT; row values\n"
        f"precomputed. Reports: days=None over {spec.records:,} records in {spec.days} days "
        f"({spec.models} models, {spec.request_types} types,\n{spec.users} users, "
        f"{spec.operations} operations, {spec.session_share:.0%} linked to sessions); bare = "
        "report('model')'s GROUP BY\non a default sqlite3 connection, without ORDER BY. "
        "Memory = peak RSS growth over a report\nin a fresh process (VmHWM reset just before; "
        "'file' = file-backed pages among it) and\npy = tracemalloc peak of a second run "
        f"(Python heap only); the worst of the {len(QUERIES)} reports."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=1_000_000, help="big dataset size")
    parser.add_argument("--data-dir", type=Path, default=HERE / ".data")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per measure")
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument(
        "--prefilled", type=int, default=20_000, help="costs of the session of row 1, second line"
    )
    parser.add_argument("--child", choices=QUERIES, help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path, parse_time(args.now))
    else:
        run(args)


if __name__ == "__main__":
    main()
