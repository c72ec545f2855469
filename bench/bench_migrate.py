"""Benchmark ``store migrate`` from SQLite to PostgreSQL against a bare psycopg COPY.

Usage (from the repo root)::

    python bench/bench_migrate.py                      # 1,000,000 sessions, 5 events each
    python bench/bench_migrate.py --sessions 50000     # a quick try
    python bench/bench_migrate.py --url postgresql://me@db:5432/x   # another server

The source is the cached dataset of bench_sessions.py (generated on first use). Each copy
goes into a fresh schema of its own (``options=-csearch_path=...``), dropped at the end, and
runs in a fresh subprocess, which reports its time and its peak RSS growth (VmHWM, reset
just before the copy starts). "migrate" is the library's ``transfer.migrate`` (what
``m365-toolkit store migrate --from X --to Y`` runs); "bare COPY" streams the same rows
(sessions, then events) out of sqlite3 into the same tables with psycopg's COPY, one
transaction per table, as a floor for what the database can take.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg
from bench_postgres import DEFAULT_URL, schema_url
from bench_sessions import HERE, Spec, _reset_peak_rss, _short, _status_kb, dataset, line

from m365_toolkit.store import SCAN_BATCH, _safe
from m365_toolkit.store._statements import EVENT_FIELDS, SESSION_FIELDS
from m365_toolkit.store.postgres import PostgresStore
from m365_toolkit.store.sqlite import SQLiteStore
from m365_toolkit.transfer import migrate

COPY_ROWS = 10_000  # rows fetched from sqlite3 per step of the bare COPY
# The same columns on both sides (the store's field lists); rows keep their ids and numbers.
SESSION_COLUMNS = ", ".join(("id", *SESSION_FIELDS))
EVENT_COLUMNS = ", ".join(EVENT_FIELDS)
BARE_SESSIONS = f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY id"
BARE_EVENTS = f"SELECT {EVENT_COLUMNS} FROM events ORDER BY seq"
COPY_SESSIONS = f"COPY sessions ({SESSION_COLUMNS}) FROM STDIN"
COPY_EVENTS = f"COPY events ({EVENT_COLUMNS}) FROM STDIN"
# New records continue above the highest number copied (the store-wide sequence).
SET_SEQUENCE = "SELECT setval('store_sequence', (SELECT max(seq) FROM events))"

# -- the copies (each in a fresh subprocess) -------------------------------------------------


def run_migrate(path: Path, url: str, batch: int) -> dict[str, Any]:
    """The library's migrate, as the CLI runs it; its counts are checked."""
    source, target = SQLiteStore(path), PostgresStore(url)
    try:
        began = time.perf_counter()
        result = migrate(source, target, batch=batch)
        seconds = time.perf_counter() - began
    finally:
        source.close()
        target.close()
    result.check()
    return {
        "seconds": seconds,
        "sessions": result.target.sessions,
        "events": result.target.events,
        "source": [result.source.sessions, result.source.events, result.source.costs],
        "target": [result.target.sessions, result.target.events, result.target.costs],
        "imported": result.sessions.imported,
        "skipped": result.sessions.skipped,
    }


def run_copy(path: Path, url: str, batch: int) -> dict[str, Any]:
    """The same rows with plain sqlite3 cursors and psycopg COPY (sessions keep their ids)."""
    del batch
    PostgresStore(url).close()  # same schema, indexes included
    src = sqlite3.connect(path)
    began = time.perf_counter()
    counts = []
    with psycopg.connect(url, connect_timeout=10) as conn:
        for query, copy in ((BARE_SESSIONS, COPY_SESSIONS), (BARE_EVENTS, COPY_EVENTS)):
            rows = src.execute(query)
            count = 0
            with conn.cursor().copy(copy) as out:
                while chunk := rows.fetchmany(COPY_ROWS):
                    for row in chunk:
                        out.write_row(row)
                    count += len(chunk)
            conn.commit()
            counts.append(count)
        conn.execute(SET_SEQUENCE)
        conn.commit()
    seconds = time.perf_counter() - began
    src.close()
    return {"seconds": seconds, "sessions": counts[0], "events": counts[1]}


def child(kind: str, path: Path, url: str, batch: int) -> None:
    """Run one copy; print its result with the peak RSS growth over it, as JSON."""
    work = {"migrate": run_migrate, "copy": run_copy}[kind]
    _reset_peak_rss()
    before = _status_kb("VmRSS")
    result = work(path, url, batch)
    result["rss_mb"] = (_status_kb("VmHWM") - before) / 1024
    print(json.dumps(result))


def spawn(kind: str, path: Path, url: str, batch: int) -> dict[str, Any]:
    """:func:`child` in a new process."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--url", url, "--batch", str(batch),
         str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout)
    return result


# -- report ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    spec = Spec(args.sessions)
    admin = psycopg.connect(args.url, autocommit=True, connect_timeout=10)
    server = admin.execute("SHOW server_version").fetchone()
    print(
        f"bench_migrate: {spec.sessions:,} sessions x {spec.events} events, SQLite -> "
        f"PostgreSQL {server[0] if server else '?'} at {_safe(args.url)}; "
        f"psycopg {version('psycopg')} ({psycopg.pq.__impl__}), "
        f"Python {sys.version.split()[0]}; batch {args.batch}"
    )
    path, _, note = dataset(args.data_dir, spec)
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"dataset {shown}: {path.stat().st_size / 2**20:,.0f} MB, {note}")
    results: dict[str, dict[str, Any]] = {}
    try:
        for kind in ("copy", "migrate"):
            schema = f"bench_migrate_{kind}_{os.getpid()}"
            admin.execute(f'CREATE SCHEMA "{schema}"')
            try:
                results[kind] = spawn(kind, path, schema_url(args.url, schema), args.batch)
            finally:
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.close()
    mig, bare = results["migrate"], results["copy"]
    rate, bare_rate = mig["sessions"] / mig["seconds"], bare["sessions"] / bare["seconds"]
    size = _short(spec.sessions)
    print(line("", "migrate", "bare COPY", "A/B", "goal", None))
    print(line(f"sessions/s ({size})", f"{rate:,.0f}", f"{bare_rate:,.0f}",
               f"{rate / bare_rate:.2f}", "", None))  # fmt: skip
    print(line("events/s", f"{mig['events'] / mig['seconds']:,.0f}",
               f"{bare['events'] / bare['seconds']:,.0f}", "", "", None))  # fmt: skip
    print(line("total s", f"{mig['seconds']:,.1f}", f"{bare['seconds']:,.1f}",
               f"{mig['seconds'] / bare['seconds']:.2f}", "", None))  # fmt: skip
    print(line("peak RSS growth MB", f"{mig['rss_mb']:.0f}", f"{bare['rss_mb']:.0f}", "",
               "< 200", mig["rss_mb"] < 200))  # fmt: skip
    expected = [spec.sessions, spec.sessions * spec.events, 0]
    print(line("counts (sessions, events, costs)", "/".join(map(str, mig["target"])),
               "/".join(map(str, (bare["sessions"], bare["events"], 0))), "",
               "= source", mig["source"] == mig["target"] == expected))  # fmt: skip
    print(
        f"migrate = transfer.migrate(SQLiteStore, PostgresStore, batch={args.batch}): scan, "
        f"Session.from_dict, import_sessions;\nimported {mig['imported']:,}, skipped "
        f"{mig['skipped']:,}; Migration.check() passed. Bare COPY = plain sqlite3 cursors "
        "into psycopg\nCOPY (text), sessions and events keeping their ids and numbers, one "
        "transaction per table,\nthen the store-wide sequence set above them. Each run in a "
        "fresh process and schema;\nRSS = VmHWM growth over the copy."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=1_000_000, help="sessions to migrate")
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL server (libpq URL)")
    parser.add_argument("--batch", type=int, default=SCAN_BATCH, help="sessions per batch")
    parser.add_argument("--data-dir", type=Path, default=HERE / ".data")
    parser.add_argument("--child", choices=("migrate", "copy"), help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path, args.url, args.batch)
    else:
        run(args)


if __name__ == "__main__":
    main()
