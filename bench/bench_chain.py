"""Benchmark the tamper-evident chain: lifecycles per second with sealing on vs off, in one
run, and verify time per record.

Usage (from the repo root)::

    python bench/bench_chain.py                         # SQLite, 20 rounds of 200 lifecycles
    python bench/bench_chain.py --postgres postgresql://postgres@127.0.0.1:5432/test
    python bench/bench_chain.py --verify-records 1000000
    python bench/bench_chain.py --fuzz 2000                 # also the tamper fuzzer, 2000 edits

A lifecycle is the Store protocol's own writes: a session created with no event, three
events (the first is its start record), one cost record and its completion: 5 chained
records. "Off" never seals; "on" seals every ``--seal-every`` records it writes, in the
writer's thread, as a store does by default. Rounds alternate between the two stores; each
figure is the best round, and the ratio is that of the bests (then of the medians).
Checkpoints are timed on the verified store (seal, sign, chain: Ed25519 and HMAC), and
signatures alone. ``--fuzz N`` runs the tamper fuzzer of the test suite
(``tests/integrity/tamper_fuzz.py``) with N random edits per
target: SQLite, PostgreSQL with ``--postgres``, and a chain export.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from m365_toolkit.costs.model import Cost, CostRecord, TokenUsage
from m365_toolkit.sessions.model import Event, Session, Status
from m365_toolkit.store import Store, open_store
from m365_toolkit.store import checkpoint as cp

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def lifecycle(store: Store, n: int) -> None:
    start = T0 + timedelta(seconds=n)
    session = Session(None, user="admin@contoso.com", operation_type="security_audit",
                      metadata={"tenant": "contoso", "run": n}, clock=lambda: start)  # fmt: skip
    store.create(session)
    for step in range(3):
        store.append_event(session.session_id, Event(start, "progress", f"step {step}",
                                                     {"checked": step * 10}))  # fmt: skip
    usage = TokenUsage(1200, 300, 200, 0)
    price = Cost(Decimal("0.0015"), Decimal("0.00005"), Decimal("0.003"), "override")
    store.costs.add(CostRecord(start, session.session_id, "admin@contoso.com",
                               "security_audit", "gpt-5", "chat", usage, price))  # fmt: skip
    end = start + timedelta(seconds=2)
    done = Event(end, "complete", "Session completed with status: success")
    store.finish(session.session_id, Status.SUCCESS, end, [done])


def throughput(off: Store, on: Store, rounds: int, per_round: int) -> tuple[list[float], ...]:
    times: tuple[list[float], list[float]] = ([], [])
    n = 0
    for _ in range(rounds):
        for store, found in ((off, times[0]), (on, times[1])):
            began = time.perf_counter()
            for _ in range(per_round):
                lifecycle(store, n)
                n += 1
            found.append(time.perf_counter() - began)
    return times


def verify_cost(location: str, records: int) -> tuple[float, float, int]:
    """Seconds per record for verify over ``records`` records, and the peak resident memory
    (MiB) of the process that verifies (the whole process: interpreter and modules included)."""
    with open_store(location) as store:
        sessions = []
        for i in range(records // 5):
            start = T0 + timedelta(seconds=i)
            s = Session(None, user="u@contoso.com", operation_type="audit",
                        clock=lambda start=start: start)  # fmt: skip
            for step in range(4):
                s.events.append(Event(start, "progress", f"step {step}", {"i": i}))
            sessions.append(s)
            if len(sessions) == 10_000:
                store.import_sessions(sessions)
                sessions = []
        store.import_sessions(sessions)
        store.seal()
    # In a process of its own: its peak memory is the verify's, not the import's.
    child = subprocess.run(
        [sys.executable, "-c", _VERIFY, location], capture_output=True, text=True, check=True
    )
    elapsed, peak, size = json.loads(child.stdout)
    return elapsed / size, peak, size


_VERIFY = """
import json, resource, sys, time
from m365_toolkit.store import open_store
with open_store(sys.argv[1]) as store:
    began = time.perf_counter()
    result = store.verify()
    elapsed = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
assert result.intact, result.first
print(json.dumps([elapsed, peak, result.size]))
"""


def checkpoint_times(location: str, folder: Path, count: int = 50) -> None:
    """Milliseconds per chained checkpoint (seal + sign + chain), and per signature and
    signature check alone, for each kind of key."""
    with open_store(location) as store:
        for shared in (False, True):
            key = folder / ("hmac.key" if shared else "ed25519.key")
            public = cp.generate_key(key, shared=shared).read_bytes()
            secret = key.read_bytes()
            began = time.perf_counter()
            for _ in range(count):
                found = cp.checkpoint(store, key)
            taken = (time.perf_counter() - began) / count
            began = time.perf_counter()
            for _ in range(count * 20):
                cp.sign(found, secret)
            signing = (time.perf_counter() - began) / (count * 20)
            began = time.perf_counter()
            for _ in range(count * 20):
                assert not cp.signature_problem(found, public)
            checking = (time.perf_counter() - began) / (count * 20)
            print(f"checkpoint ({found.algorithm}): {taken * 1e3:.2f} ms chained; sign "
                  f"{signing * 1e6:.0f} µs, check {checking * 1e6:.0f} µs")  # fmt: skip


def fuzz(edits: int, folder: Path, postgres: str | None) -> None:
    """The tamper fuzzer of the test suite, ``edits`` random edits per target."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.integrity.tamper_fuzz import (
        PostgresCopies,
        SQLiteCopies,
        exported,
        fuzz_file,
        fuzz_store,
    )

    sqlite_copies = SQLiteCopies(folder)
    runs: list[tuple[str, list[str]]] = [("SQLite", fuzz_store(sqlite_copies, edits, seed=1)[0])]
    if postgres:
        import psycopg

        with psycopg.connect(postgres, autocommit=True) as admin:
            copies = PostgresCopies(postgres, admin)
            try:
                runs.append(("PostgreSQL", fuzz_store(copies, edits, seed=2)[0]))
            finally:
                copies.drop()
    path, key = exported(sqlite_copies.fresh(), folder)
    runs.append(("export", fuzz_file(path, key, edits, seed=3)[0]))
    for name, missed in runs:
        print(f"tamper fuzzer ({name}): {edits - len(missed)}/{edits} edits caught at the "
              f"right position" + (f"; first miss: {missed[0]}" if missed else ""))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--lifecycles", type=int, default=200, help="per round")
    parser.add_argument("--seal-every", type=int, default=256)
    parser.add_argument("--verify-records", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="URL", help="also bench this PostgreSQL server")
    parser.add_argument("--fuzz", type=int, default=0, metavar="N", help="tamper edits per target")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-chain-"))
    targets = [("sqlite", str(folder / "off.db"), str(folder / "on.db"))]
    if args.postgres:
        import psycopg

        names = [f"bench_chain_{uuid.uuid4().hex[:8]}" for _ in range(2)]
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            for name in names:
                admin.execute(f"CREATE SCHEMA {name}")
        sep = "&" if "?" in args.postgres else "?"
        off_url, on_url = (f"{args.postgres}{sep}options=-csearch_path%3D{n}" for n in names)
        targets.append(("postgresql", off_url, on_url))
    print(f"{'store':<11} {'off lc/s':>9} {'on lc/s':>9} {'on/off':>14}")
    for name, off_location, on_location in targets:
        with open_store(off_location) as off, open_store(on_location) as on:
            off.seal_every = None  # type: ignore[attr-defined]
            on.seal_every = args.seal_every  # type: ignore[attr-defined]
            lifecycle(off, -1), lifecycle(on, -2)  # connections and caches warm
            t_off, t_on = throughput(off, on, args.rounds, args.lifecycles)
            best = min(t_off) / min(t_on)
            median = statistics.median(t_off) / statistics.median(t_on)
            print(f"{name:<11} {args.lifecycles / min(t_off):>9.0f} "
                  f"{args.lifecycles / min(t_on):>9.0f} {best:>6.2f} ({median:.2f})")  # fmt: skip
            off.seal()  # not timed: the "off" store is verified like any other below
    per_record, peak, size = verify_cost(str(folder / "verify.db"), args.verify_records)
    print(f"verify (SQLite): {size} records, {per_record * 1e6:.1f} µs per record "
          f"({per_record * 1e6:.0f} s per million), peak memory {peak:.0f} MiB")  # fmt: skip
    checkpoint_times(str(folder / "verify.db"), folder)
    if args.fuzz:
        fuzz(args.fuzz, folder, args.postgres)
    if args.postgres:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            for schema in names:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
