"""The tamper fuzzer's engine: random single edits made behind a sealed store's back (with
sqlite3 on a copy of the file, with psycopg on a copy of the schema) or in a chain export
(as text); each must be caught by verify, at the right position. Used by test_fuzz.py
(bounded) and by bench/bench_chain.py --fuzz (as many as asked)."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from m365_toolkit.sessions.model import Status
from m365_toolkit.store import Store, open_store
from m365_toolkit.store import checkpoint as cp
from m365_toolkit.store.chain import Verification
from m365_toolkit.store.chain_file import export_chain, verify_file
from tests.integrity.tamper import tamper_for
from tests.store.test_contract import T0, complete, cost, event, new_session

Expect = tuple[int | None, int | None]  # the first break's chain position and sequence number
TABLES = ("toolkit_schema_version", "sessions", "events", "costs", "cost_sessions", "chain",
          "chain_meta")  # fmt: skip


class Executor:
    """``execute(sql, params)`` on sqlite3 or psycopg (``?`` placeholders either way)."""

    def __init__(self, conn: Any, postgres: bool) -> None:
        self.conn, self.postgres = conn, postgres

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.conn.execute(sql.replace("?", "%s") if self.postgres else sql, params)

    def close(self) -> None:
        self.conn.close()


def fill(location: str) -> None:
    """30 sessions with events and costs, gaps in the numbers, an unsigned checkpoint in the
    middle of the chain; sealed."""
    with open_store(location) as store:
        tamper = tamper_for(store, location)
        for i in range(30):
            start = T0 + timedelta(minutes=i)
            session = new_session(start, metadata={"run": i, "tags": ["a", i]})
            store.create(session)
            store.append_event(session.session_id, event(start, f"step {i}", i=i, x=[1, 2]))
            store.costs.add(cost(session.session_id, start, tokens=100 + i))
            if i % 3:
                end = start + timedelta(seconds=i + 0.25)
                store.finish(session.session_id, Status.SUCCESS, end, [complete(end)])
            if i % 10 == 0:
                tamper.skip_numbers(2)  # as rollbacks leave
            if i == 15:
                cp.checkpoint(store)
        store.seal()


class SQLiteCopies:
    def __init__(self, folder: Path) -> None:
        self.pristine = folder / "pristine.db"
        self.work = folder / "work.db"
        fill(str(self.pristine))

    def connect(self, pristine: bool = False) -> Executor:
        return Executor(sqlite3.connect(self.pristine if pristine else self.work,
                                        isolation_level=None), False)  # fmt: skip

    def fresh(self) -> str:
        shutil.copy(self.pristine, self.work)
        return str(self.work)

    def verify(self, location: str) -> Verification:
        with open_store(location) as store:
            return store.verify()


class PostgresCopies:
    """A pristine schema, copied table by table into a work schema for each edit."""

    def __init__(self, url: str, admin: Any) -> None:
        self.url, self.admin = url, admin
        self.schema = f"m365_fuzz_{uuid.uuid4().hex[:12]}"
        self.work_schema = self.schema + "_w"
        self.store: Store | None = None
        admin.execute(f"CREATE SCHEMA {self.schema}")
        fill(self._url(self.schema))

    def _url(self, schema: str) -> str:
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}options={quote(f'-csearch_path={schema}')}"

    def connect(self, pristine: bool = False) -> Executor:
        import psycopg

        conn = psycopg.connect(self._url(self.schema if pristine else self.work_schema),
                               autocommit=True)  # fmt: skip
        return Executor(conn, True)

    def fresh(self) -> str:
        """The work schema with the pristine rows (its tables made once, refilled after)."""
        p, w = self.schema, self.work_schema
        statements = []
        if self.store is None:
            statements += [f"DROP SCHEMA IF EXISTS {w} CASCADE", f"CREATE SCHEMA {w}",
                           f"CREATE SEQUENCE {w}.store_sequence"]  # fmt: skip
            statements += [f"CREATE TABLE {w}.{t} (LIKE {p}.{t} INCLUDING ALL)" for t in TABLES]
        statements += [f"DELETE FROM {w}.{t}" for t in TABLES]
        statements += [f"INSERT INTO {w}.{t} OVERRIDING SYSTEM VALUE SELECT * FROM {p}.{t}"
                       for t in TABLES]  # fmt: skip
        statements.append(f"SELECT setval('{w}.store_sequence', last_value, is_called) "
                          f"FROM {p}.store_sequence")  # fmt: skip
        with self.admin.transaction():
            for statement in statements:
                self.admin.execute(statement)
        if self.store is None:
            self.store = open_store(self._url(w))
        return self._url(w)

    def verify(self, location: str) -> Verification:
        """Verify with one store object kept open (it caches nothing of the chain)."""
        assert self.store is not None
        return self.store.verify()

    def drop(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
        for schema in (self.work_schema, self.schema):
            self.admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


Copies = SQLiteCopies | PostgresCopies


def fuzz_store(copies: Copies, edits: int, seed: int) -> tuple[list[str], set[str]]:
    """Apply ``edits`` random single edits, each to a fresh copy; return what verify missed
    or placed wrongly, and the kinds of edit tried."""
    c = copies.connect(pristine=True)
    chain = c.execute("SELECT pos, kind, ref FROM chain ORDER BY pos").fetchall()
    events = c.execute("SELECT seq, session FROM events").fetchall()
    costs = [row[0] for row in c.execute("SELECT seq FROM costs").fetchall()]
    finished = c.execute(
        "SELECT id, (SELECT max(seq) FROM events WHERE session = s.id) FROM sessions s "
        "WHERE status <> 'active'"
    ).fetchall()
    starts = c.execute("SELECT id, (SELECT min(seq) FROM events WHERE session = s.id) "
                       "FROM sessions s").fetchall()  # fmt: skip
    c.close()
    records = [(kind, ref) for _, kind, ref in chain if kind != "checkpoint"]
    pos_of = {(kind == "cost", ref): pos for pos, kind, ref in chain if kind != "checkpoint"}
    used = {ref for kind, ref in records}
    gaps = [n for n in range(1, max(used)) if n not in used]
    assert gaps and any(kind == "checkpoint" for _, kind, _ in chain)
    rng = random.Random(seed)
    missed: list[str] = []
    seen: set[str] = set()
    for _ in range(edits):
        name, edit = rng.choice(_edits(rng, chain, events, costs, finished, starts, pos_of, gaps))
        seen.add(name)
        location = copies.fresh()
        c = copies.connect()
        try:
            expected = edit(c)
        finally:
            c.close()
        first = copies.verify(location).first
        if first is None:
            missed.append(f"{name}: not detected")
        elif (first.pos, first.seq if expected[1] is not None else None) != expected:
            missed.append(f"{name}: expected {expected}, got {first}")
    return missed, seen


def _edits(
    rng: random.Random, chain: list[Any], events: list[Any], costs: list[int],
    finished: list[Any], starts: list[Any], pos_of: dict[tuple[bool, int], int], gaps: list[int],
) -> list[tuple[str, Callable[[Executor], Expect]]]:  # fmt: skip
    seq, session = rng.choice(events)
    other, _ = rng.choice([e for e in events if e[0] != seq])
    cost_seq = rng.choice(costs)
    ref, start_seq = rng.choice(starts)
    closed, last = rng.choice(finished)
    pos = rng.randrange(len(chain) - 1)  # the last row alone is a truncation: see below

    def ev(number: int) -> Expect:
        return pos_of[(False, number)], number

    def set_event(column: str, value: Any) -> Callable[[Executor], Expect]:
        def edit(c: Executor) -> Expect:
            c.execute(f"UPDATE events SET {column} = ? WHERE seq = ?", (value, seq))
            return ev(seq)

        return edit

    def set_session(column: str, value: Any) -> Callable[[Executor], Expect]:
        def edit(c: Executor) -> Expect:
            c.execute(f"UPDATE sessions SET {column} = ? WHERE id = ?", (value, ref))
            return ev(start_seq)

        return edit

    def set_outcome(column: str, value: str) -> Callable[[Executor], Expect]:
        def edit(c: Executor) -> Expect:
            c.execute(f"UPDATE sessions SET {column} = {value} WHERE id = ?", (closed,))
            return ev(last)

        return edit

    def set_cost(column: str) -> Callable[[Executor], Expect]:
        def edit(c: Executor) -> Expect:
            c.execute(f"UPDATE costs SET {column} = {column} || 'x' WHERE seq = ?"
                      if column in ("model", "price_source", "user_name")
                      else f"UPDATE costs SET {column} = {column} + 7 WHERE seq = ?",
                      (cost_seq,))  # fmt: skip
            return pos_of[(True, cost_seq)], cost_seq

        return edit

    def swap(c: Executor) -> Expect:
        cols = "session, timestamp, type, description, data"
        a = c.execute(f"SELECT {cols} FROM events WHERE seq = ?", (seq,)).fetchone()
        b = c.execute(f"SELECT {cols} FROM events WHERE seq = ?", (other,)).fetchone()
        for target, row in ((seq, b), (other, a)):
            c.execute("UPDATE events SET session = ?, timestamp = ?, type = ?, "
                      "description = ?, data = ? WHERE seq = ?", (*row, target))  # fmt: skip
        return min(ev(seq), ev(other))

    def delete_event(c: Executor) -> Expect:
        c.execute("DELETE FROM events WHERE seq = ?", (seq,))
        return ev(seq)

    def delete_cost(c: Executor) -> Expect:
        c.execute("DELETE FROM costs WHERE seq = ?", (cost_seq,))
        return pos_of[(True, cost_seq)], cost_seq

    def insert(c: Executor) -> Expect:
        gap = rng.choice(gaps)
        c.execute("INSERT INTO events (seq, session, timestamp, type, description, data) "
                  "VALUES (?, ?, '2026-11-02T09:00:00.000000+00:00', 'progress', 'forged', "
                  "'{}')", (gap, session))  # fmt: skip
        return None, gap

    def chain_column(column: str) -> Callable[[Executor], Expect]:
        def edit(c: Executor) -> Expect:
            value = rng.randbytes(32) if column in ("leaf", "link") else "event?"
            c.execute(f"UPDATE chain SET {column} = ? WHERE pos = ?", (value, pos))
            return pos, chain[pos][2]

        return edit

    def delete_chain_row(c: Executor) -> Expect:
        c.execute("DELETE FROM chain WHERE pos = ?", (pos,))
        return pos, None

    def truncate_tail(c: Executor) -> Expect:
        c.execute("DELETE FROM chain WHERE pos = ?", (len(chain) - 1,))
        _, kind, ref = chain[-1]
        return None, ref  # without an anchor a dropped tail shows as a record not chained

    def forge_pruned(c: Executor) -> Expect:
        c.execute("UPDATE chain SET pruned = TRUE WHERE pos = ?", (pos_of[(False, seq)],))
        c.execute("DELETE FROM events WHERE seq = ?", (seq,))
        return pos_of[(False, seq)], None

    return [
        ("event description", set_event("description", f"edited {rng.random()}")),
        ("event type", set_event("type", "tampered")),
        ("event data", set_event("data", json.dumps({"i": rng.randrange(10**6)}))),
        ("event timestamp", set_event("timestamp", "2020-01-01T00:00:00.000000+00:00")),
        ("event session", set_event("session", rng.choice(starts)[0] + 1000)),
        ("session user", set_session("user_name", "mallory")),
        ("session metadata", set_session("metadata", '{"run":-1}')),
        ("session start", set_session("start_time", "2020-01-01T00:00:00.000000+00:00")),
        ("session host", set_session("host", "elsewhere")),
        ("session pid", set_session("pid", 424242)),
        ("session status", set_outcome("status", "'error'")),
        ("session reopened", set_outcome("status", "'active'")),
        ("session end", set_outcome("end_time", "'2030-01-01T00:00:00.000000+00:00'")),
        ("session duration", set_outcome("duration_seconds", "duration_seconds + 1")),
        ("cost tokens", set_cost("input_tokens")),
        ("cost amount", set_cost("output_cost")),
        ("cost total", set_cost("total_cost")),
        ("cost model", set_cost("model")),
        ("cost user", set_cost("user_name")),
        ("swap events", swap),
        ("delete event", delete_event),
        ("delete cost", delete_cost),
        ("insert event", insert),
        ("chain leaf", chain_column("leaf")),
        ("chain link", chain_column("link")),
        ("chain kind", chain_column("kind")),
        ("delete chain row", delete_chain_row),
        ("truncate tail", truncate_tail),
        ("forged pruned mark", forge_pruned),
    ]


# -- exported files ----------------------------------------------------------------------------


def exported(location: str, folder: Path) -> tuple[Path, bytes]:
    """A chain export of the store with a signed checkpoint last, and the key to check it."""
    key = folder / "fuzz.key"
    public = cp.generate_key(key)
    path = folder / "chain.jsonl"
    with open_store(location) as store:
        signed = cp.checkpoint(store, key)
        export_chain(store, path, [signed])
    return path, public.read_bytes()


def fuzz_file(path: Path, key: bytes, edits: int, seed: int) -> tuple[list[str], set[str]]:
    """Random single edits of an export's text: a record's field, a line deleted, a forged
    line inserted, two lines or two records swapped, a leaf or link replaced, the tail cut."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header, body, trailer = lines[0], [json.loads(line) for line in lines[1:-1]], lines[-1]
    rng = random.Random(seed)
    work = path.with_name("edited.jsonl")
    missed: list[str] = []
    seen: set[str] = set()
    with_records = [i for i, item in enumerate(body) if "record" in item]
    for attempt in range(edits):
        edited = json.loads(json.dumps(body))
        what = rng.choice(["field", "delete", "insert", "swap lines", "swap records", "link",
                           "leaf", "truncate"])  # fmt: skip
        seen.add(what)
        pos = rng.choice(with_records)
        if what == "field":
            record = edited[pos]["record"]
            name = rng.choice(sorted(k for k in record if k != "v"))
            record[name] = f"edited {attempt}"
        elif what == "delete":
            del edited[pos]
        elif what == "insert":
            forged = {**edited[pos], "record": {**edited[pos]["record"], "forged": attempt}}
            edited.insert(pos, forged)
        elif what in ("swap lines", "swap records"):
            other = rng.choice([i for i in with_records if i != pos])
            pos, other = min(pos, other), max(pos, other)
            if what == "swap lines":
                edited[pos], edited[other] = edited[other], edited[pos]
            else:
                edited[pos]["record"], edited[other]["record"] = (
                    edited[other]["record"], edited[pos]["record"])  # fmt: skip
        elif what in ("link", "leaf"):
            edited[pos][what] = rng.randbytes(32).hex()
        else:
            edited = edited[:pos]
        text = "\n".join([header, *(json.dumps(e) for e in edited), trailer]) + "\n"
        work.write_text(text, encoding="utf-8")
        first = verify_file(work, key).first
        if first is None:
            missed.append(f"{what} at {pos}: not detected")
        elif first.pos != pos:
            missed.append(f"{what} at {pos}: got {first}")
    return missed, seen
