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
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
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
    bare_connection,
    bare_statements,
    bulk_load,
    insert_statement,
    interleave,
    peak_memory,
    ratios,
    report_statement,
    same_statements,
    schema_hash,
    sorting,
    timed,
    traced,
    uuid7_at,
)

from m365_toolkit import SessionManager
from m365_toolkit._util.system import format_time, parse_time, utc_now
from m365_toolkit.cost_tracker import GPT5CostTracker
from m365_toolkit.costs.budgets import CONFIG_ENV
from m365_toolkit.costs.model import GROUPS
from m365_toolkit.sessions.model import _new_id
from m365_toolkit.store._statements import COST_FIELDS, SUMS, Statements
from m365_toolkit.store.sqlite import SQLiteStore

HERE = Path(__file__).resolve().parent
GENERATOR_VERSION = 2  # 2: UUIDv7 session ids, user_name, costs numbered by store_sequence
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
    schema: str = ""

    def __post_init__(self) -> None:
        if not self.schema:
            object.__setattr__(self, "schema", schema_hash())


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
            self.link = self._session(rng, self.start + self.step * index)
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

    def _session(self, rng: random.Random, began: datetime) -> tuple[str | None, str, str | None]:
        user = USERS[rng.randrange(self.spec.users)]
        if rng.random() >= self.spec.session_share:
            return None, user, None
        session_id = uuid7_at(began, rng)  # a session started then, as the store names it
        return session_id, user, OPERATIONS[rng.randrange(self.spec.operations)]


INSERT_COSTS = insert_statement("costs", COST_FIELDS)
# Every session's running totals from its stored costs: what the store's ADD_TO_TOTALS
# (Statements.add_to_totals) leaves in cost_sessions after adding them one by one.
SESSION_TOTALS = (
    f"INSERT INTO cost_sessions (session_id, requests, input_tokens, cached_tokens, "
    f"output_tokens, reasoning_tokens, total_cost) SELECT session_id, {SUMS} FROM costs "
    "WHERE session_id IS NOT NULL GROUP BY session_id"
)


def generate(path: Path, spec: Spec, now: datetime) -> None:
    """Write the dataset into a store file the real SQLiteStore created."""
    rows = Rows(spec, now - timedelta(days=spec.days))

    def load(conn: sqlite3.Connection) -> int:
        for first in range(0, spec.records, CHUNK):
            chunk = rows.chunk(first, min(CHUNK, spec.records - first))
            conn.executemany(INSERT_COSTS, ((first + n, *row) for n, row in enumerate(chunk, 1)))
        conn.execute(SESSION_TOTALS)
        return spec.records

    bulk_load(path, load, analyze=True)  # ANALYZE: as a long-lived store after PRAGMA optimize


def _increment(session_id: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """``Statements.add_to_totals``' parameters for a cost row (``COST_FIELDS`` after seq):
    session id, 1 request, the four token counts, the total cost."""
    return session_id, 1, *row[6:10], row[13]


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
    """What the store does for one tracked request (``SQLCostLog.add``), on plain sqlite3:
    BEGIN IMMEDIATE, the store's INSERT of the cost (``Statements.insert_cost``, which takes
    the next number of the store-wide sequence and returns it), its upsert of the session's
    running totals returning them (``Statements.add_to_totals``), COMMIT. The row is one the
    store wrote, with a new timestamp, on a new session with a UUIDv7 id."""

    def __init__(self, path: Path, row: tuple[Any, ...]) -> None:
        self.sql = bare_statements(path)
        self.conn = bare_connection(path)
        self.rest = row[2:]
        self.session_id = _new_id()

    def new_session(self) -> None:
        self.session_id = _new_id()

    def track(self, count: int) -> float:
        """Seconds for ``count`` requests, on a new session."""
        self.new_session()
        began = time.perf_counter()
        for _ in range(count):
            self.request()
        return time.perf_counter() - began

    def request(self) -> None:
        conn, sql, session_id = self.conn, self.sql, self.session_id
        row = (format_time(datetime.now(UTC)), session_id, *self.rest)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(sql.insert_cost, row).fetchone()
        conn.execute(sql.add_to_totals, _increment(session_id, row)).fetchone()
        conn.execute("COMMIT")


def stored_row(path: Path) -> tuple[Any, ...]:
    """The last cost row of a store, in ``Statements.insert_cost``'s parameter order."""
    conn = sqlite3.connect(path)
    try:
        row: tuple[Any, ...] = conn.execute(
            f"SELECT {', '.join(COST_FIELDS[1:])} FROM costs ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return row


def prefill(path: Path, session_id: str, count: int) -> None:
    """Give a session ``count`` stored costs, in one transaction, through the store's bulk
    path (what ``import_records`` does once it knows which records are new)."""
    row = stored_row(path)
    store = SQLiteStore(path)
    try:
        rows = [(row[0], session_id, *row[2:])] * count
        with store.dialect.transaction() as conn:
            seqs = store.dialect.reserve(conn, count)
            store.dialect.insert_rows(
                conn, "costs", COST_FIELDS, [(seq, *r) for seq, r in zip(seqs, rows, strict=True)]
            )
            one = _increment(session_id, row)
            total = (session_id, count, *(value * count for value in one[2:]))
            conn.execute(store.sql.add_to_totals, total).fetchone()
    finally:
        store.close()


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
            model, prompt, completion, cached = REQUEST
            check = same_statements(
                "0 statements per track_request",
                traced(
                    manager.store.dialect.connect(),
                    lambda: full.track_request(model, prompt, completion, cached),
                ),
                traced(bare.conn, bare.request),
            )
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
        check,
        line("1 track_request/s, store vs bare", f"{count / min(times['store']):,.0f}",
             f"{count / min(times['bare']):,.0f}", per_s_text, ">= 0.50", per_s >= 0.5),
        line(label, f"{min(times['full']) / count * 1e6:.0f}",
             f"{min(times['store']) / count * 1e6:.0f}", slower_text, "<= 1.30", slower <= 1.3),
    ]  # fmt: skip


# -- reports ---------------------------------------------------------------------------------


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
    store = manager.store
    assert isinstance(store, SQLiteStore)
    # report("model", days=None): the store's statement, with no time filter, as it sorts.
    by_model = report_statement(Statements(store.dialect), store.dialect.bytewise, "model", "")
    conn = bare_connection(path)
    try:
        runs = queries(tracker)
        check_by_model(tracker, conn, by_model)  # warm-up, and checks
        check = same_statements(
            "0 statements per report('model')",
            traced(store.dialect.connect(), runs["report:model"]),
            traced(conn, lambda: sorting(conn, by_model, ())),
        )
        timings = {name: lambda run=run: timed(run) for name, run in runs.items()}
        timings["bare"] = lambda: timed(lambda: sorting(conn, by_model, ()))
        times = interleave(timings, rounds)
    finally:
        manager.close()
        conn.close()
    rows = [check]
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


def check_by_model(tracker: GPT5CostTracker, conn: sqlite3.Connection, by_model: str) -> None:
    """Fail loudly if the store and bare sqlite3 disagree on the costs by model."""
    store = [(g.key, g.totals.requests, g.totals.input) for g in tracker.report("model", None)]
    bare = [(row[0], row[1], row[2]) for row in conn.execute(by_model)]
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
        f"already has {prefilled:,} costs. Bare = what the store sends per request, on plain\n"
        "sqlite3 with its pragmas: BEGIN IMMEDIATE, its INSERT of the cost (next number of the\n"
        "store-wide sequence, RETURNING seq), its upsert of the session's running totals\n"
        "RETURNING them (what the tracker returns, same transaction), COMMIT; statements from\n"
        "store._statements.Statements, UUIDv7 session ids, row values precomputed. Rows 0 = the\n"
        "statements traced on each connection (literals aside), checked equal before timing.\n"
        f"Reports: days=None over {spec.records:,} records in {spec.days} days "
        f"({spec.models} models, {spec.request_types} types,\n{spec.users} users, "
        f"{spec.operations} operations, {spec.session_share:.0%} linked to sessions); bare = "
        "report('model')'s statement\non a connection with the store's pragmas, its sort cache "
        "set as the store sets it.\n"
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
