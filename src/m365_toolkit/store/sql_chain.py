"""The chain of a SQL store: sealing records into the ``chain`` table, and the verify walk.

Sealing runs in one write transaction that no writer can interleave with:

- SQLite: ``BEGIN IMMEDIATE`` holds the one write lock, and a record's number is taken in
  the transaction that writes it, so every number up to the counter is final;
- PostgreSQL: numbers are handed out before commits, in no order. Every write transaction
  takes a shared advisory lock before it takes a number (``Dialect.write_guard``); the
  sealer takes the same lock exclusively, which waits out every writer that holds a
  number. Once it holds the lock, every number up to the sequence's last value is final.

So after a seal every record numbered up to ``chain_meta.sealed_through`` is in the chain.
A record in that range without a chain row was put there behind the store's back
(``INSERTED``); records above it are the not-yet-sealed tail, read in sequence order by
:mod:`.sql_unsealed` (leaving out any already chained).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._util.system import format_time
from ._canonical import canonical
from ._leaves import Leaves
from ._notes import NOTE_KINDS, NoteMaker, checkpoint_maker, due, fixed, ranges
from ._records import Decoded, event_record
from ._records import outcome as outcome_of
from ._signing import configured_key
from ._statements import SUMS
from .chain import (
    EVENT_KINDS,
    ChainRow,
    SealResult,
    Sink,
    Verification,
    Walker,
    genesis,
    leaf_hash,
    leaf_of,
    link_hash,
    note_record,
)
from .dialect import Connection
from .sql_unsealed import Unsealed, cost_columns, cost_of, session_columns, session_of

if TYPE_CHECKING:
    from .sql import SQLStore

# What a new chain row is given; ``pruned`` keeps its default (false), and so does
# ``outcome`` (null) on the rows that close no session, inserted apart. Hashes go in as
# ``bytearray``. All three for sqlite3, which binds ``int``, ``str`` and ``bytearray`` at
# once but runs its adaptation protocol on ``bytes``, ``bool`` and ``None``: two failed
# attribute lookups each, more than the rest of a row's insert. PostgreSQL takes either.
CHAIN_COLUMNS = ("pos", "kind", "ref", "leaf", "link", "outcome")
_EVENT_KINDS = "('start', 'event', 'complete')"
# In prune's transaction, before its deletes: the chain keeps the leaves of what it deletes.
_PRUNED_ROWS = (
    f"kind IN {_EVENT_KINDS} AND ref IN "
    "(SELECT seq FROM events WHERE session IN (SELECT id FROM pruned))",
    "kind = 'cost' AND ref IN "
    "(SELECT seq FROM costs WHERE session_id IN (SELECT session_id FROM pruned))",
)


class SQLChain:
    """Seals and verifies the chain of one :class:`~.sql.SQLStore`."""

    def __init__(self, store: SQLStore) -> None:
        self._d = d = store.dialect
        q = store.sql.q
        session = session_columns(d)
        event = f"e.seq, s.session_id, {d.iso('e.timestamp')}, e.type, e.description, e.data"
        cost = cost_columns(d)
        self.meta = "SELECT store_id, sealed_through FROM chain_meta"
        self.head = "SELECT pos, link FROM chain ORDER BY pos DESC LIMIT 1"
        self.last_checkpoint = (
            "SELECT pos, outcome FROM chain WHERE kind = 'checkpoint' ORDER BY ref DESC LIMIT 1"
        )
        self._unsealed = Unsealed(d, q)
        self.set_sealed = q("UPDATE chain_meta SET sealed_through = ?")
        self.walk = (
            f"SELECT c.pos, c.kind, c.ref, c.leaf, c.link, c.pruned, c.outcome, {event}, "
            f"{session}, {cost} FROM chain c "
            f"LEFT JOIN events e ON c.kind IN {_EVENT_KINDS} AND e.seq = c.ref "
            "LEFT JOIN sessions s ON s.id = e.session "
            "LEFT JOIN costs k ON c.kind = 'cost' AND k.seq = c.ref ORDER BY c.pos"
        )
        self.inserted = q(
            "SELECT e.seq, s.session_id, 'event' FROM events e LEFT JOIN sessions s "
            "ON s.id = e.session WHERE e.seq <= ? AND NOT EXISTS (SELECT 1 FROM chain c "
            f"WHERE c.kind IN {_EVENT_KINDS} AND c.ref = e.seq) "
            "UNION ALL SELECT k.seq, k.session_id, 'cost' FROM costs k WHERE k.seq <= ? "
            "AND NOT EXISTS (SELECT 1 FROM chain c WHERE c.kind = 'cost' AND c.ref = k.seq) "
            "ORDER BY 1"
        )
        self.unsealed = q(
            "SELECT (SELECT count(*) FROM events WHERE seq > ?) "
            "+ (SELECT count(*) FROM costs WHERE seq > ?)"
        )
        last_of_session = "(SELECT max(f.seq) FROM events f WHERE f.session = s.id)"
        self.outcomes = (
            f"SELECT s.session_id, s.status, {d.iso('s.end_time')}, s.duration_seconds, "
            f"c.pos, c.ref, c.outcome FROM sessions s JOIN events e ON e.seq = {last_of_session} "
            f"LEFT JOIN chain c ON c.kind IN {_EVENT_KINDS} AND c.ref = e.seq"
        )
        self.totals = (
            "SELECT session_id, requests, input_tokens, cached_tokens, output_tokens, "
            "reasoning_tokens, total_cost FROM cost_sessions"
        )
        self.sums = f"SELECT session_id, {SUMS} FROM costs WHERE session_id IS NOT NULL GROUP BY 1"

    # -- sealing -----------------------------------------------------------------------------

    def seal(self, note: NoteMaker | None = None, *, auto: bool = True) -> SealResult:
        """Chain every record not chained yet, in sequence order, in one transaction; then
        the ``note`` (a checkpoint, a migration anchor), and with ``auto`` an automatic
        checkpoint when one is due (see :mod:`._notes`)."""
        with self._d.transaction() as conn:
            return self.seal_in(conn, note, auto=auto)

    def seal_in(
        self, conn: Connection, note: NoteMaker | None = None, *, auto: bool = True
    ) -> SealResult:
        """:meth:`seal` inside the caller's write transaction."""
        d = self._d
        if d.seal_lock:
            conn.execute(d.seal_lock)
        store_id, through = conn.execute(self.meta).fetchone()
        head = conn.execute(self.head).fetchone()
        size = int(head[0]) + 1 if head is not None else 0
        link = bytes(head[1]) if head is not None else genesis(store_id)
        high = int(conn.execute(d.high_water).fetchone()[0])
        sealed, cursor = 0, int(through)
        while cursor < high:
            found, cursor = self._unsealed.read(conn, cursor, high)
            rows, closing = [], []
            for seq, kind, body, outcome in found:
                leaf = leaf_of(body)
                link = link_hash(link, leaf)
                if outcome is None:
                    rows.append((size, kind, seq, bytearray(leaf), bytearray(link)))
                else:
                    closing.append((size, kind, seq, bytearray(leaf), bytearray(link), outcome))
                size += 1
            if rows:
                d.insert_rows(conn, "chain", CHAIN_COLUMNS[:-1], rows)
            if closing:
                d.insert_rows(conn, "chain", CHAIN_COLUMNS, closing)
            sealed += len(rows) + len(closing)
        if high > int(through):
            conn.execute(self.set_sealed, (high,))
        key = configured_key() if auto and note is None else None
        if key is not None:
            last = conn.execute(self.last_checkpoint).fetchone()
            known = (int(last[0]), str(json.loads(last[1]).get("time"))) if last else None
            note = checkpoint_maker(key) if due(size, known) else None
        noted: dict[str, Any] | None = None
        if note is not None:
            size, link, noted = self._append_note(conn, store_id, size, link, note)
        return SealResult(store_id, sealed, size, link.hex(), noted)

    def _append_note(
        self, conn: Connection, store_id: str, size: int, link: bytes, make: NoteMaker
    ) -> tuple[int, bytes, dict[str, Any]]:
        last = conn.execute(self.last_checkpoint).fetchone()
        record = make(store_id, size, link, int(last[0]) if last else None)
        leaf = leaf_hash(record)
        link = link_hash(link, leaf)
        text = canonical(record).decode("utf-8")
        row = (size, record["kind"], size, bytearray(leaf), bytearray(link), text)
        self._d.insert_rows(conn, "chain", CHAIN_COLUMNS, [row])
        return size + 1, link, record

    def prune_in(self, conn: Connection, before: datetime, counts: tuple[Any, ...]) -> None:
        """In prune's transaction, with the doomed sessions in its ``pruned`` table, before
        its deletes: seal, mark the chain rows of what it deletes pruned (their leaves stay),
        and chain a prune record naming them, then (with a key configured) a checkpoint."""
        self.seal_in(conn, auto=False)
        union = " UNION ALL ".join(f"SELECT pos FROM chain WHERE {w}" for w in _PRUNED_ROWS)
        positions = [int(row[0]) for row in conn.execute(union).fetchall()]
        for where in _PRUNED_ROWS:
            conn.execute(f"UPDATE chain SET pruned = TRUE WHERE {where}")
        sessions, events, costs = map(int, counts)
        fields = {"before": format_time(before), "sessions": sessions, "events": events,
                  "costs": costs, "positions": ranges(positions)}  # fmt: skip
        note = fixed("prune", fields)
        key = configured_key()
        self.seal_in(conn, note, auto=False)
        if key is not None:
            self.seal_in(conn, checkpoint_maker(key), auto=False)

    # -- verifying ---------------------------------------------------------------------------

    def verify(self, links_at: Collection[int] = (), sink: Sink | None = None) -> Verification:
        """Seal, then walk the whole chain beside the records; see :class:`~.chain.Walker`."""
        self.seal(auto=False)
        d = self._d
        store_id, through = d.read(lambda conn: conn.execute(self.meta).fetchone())
        walker = Walker(store_id, frozenset(links_at), sink)
        leaves, intact = Leaves(), walker.intact
        for row in d.stream(self.walk, ()):
            # The fast path first (an export's sink wants each record rebuilt: not for it).
            kind = row[1]
            if sink is None:
                if kind == "cost":
                    computed = None if row[20] is None else leaves.cost(row[20:])
                elif kind in EVENT_KINDS and row[7] is not None:
                    computed = leaves.event(kind, row[6], row[7:20])
                else:
                    computed = None
                if computed is not None and intact(row[0], row[3], row[4], leaf_of(computed)):
                    continue
            chain_row = ChainRow(
                _int(row[0]), str(row[1]), _int(row[2]), _blob(row[3]), _blob(row[4]),
                bool(row[5]), row[6] if isinstance(row[6], str) else None,
            )  # fmt: skip
            record, session_id, plain = _stored(chain_row, row[7:])
            walker.row(chain_row, record, session_id, plain=plain)
        for seq, session_id, kind in d.stream(self.inserted, (through, through)):
            walker.inserted(int(seq), session_id, kind)
        self._check_outcomes(walker)
        self._check_totals(walker)
        unsealed = d.read(lambda conn: conn.execute(self.unsealed, (through, through)).fetchone())
        return walker.result(int(unsealed[0]))

    def _check_outcomes(self, walker: Walker) -> None:
        for session_id, status, end_time, duration, pos, ref, outcome in self._d.stream(
            self.outcomes, ()
        ):
            if pos is None:
                continue  # its last record is not sealed yet (or reported as inserted)
            detail = outcome_mismatch(status, end_time, duration, outcome)
            if detail:
                walker.derived(int(pos), int(ref), session_id, detail)

    def _check_totals(self, walker: Walker) -> None:
        d = self._d
        kept = {row[0]: tuple(map(int, row[1:])) for row in d.stream(self.totals, ())}
        summed = {row[0]: tuple(map(int, row[1:])) for row in d.stream(self.sums, ())}
        for session_id in sorted(kept.keys() | summed.keys()):
            if kept.get(session_id) != summed.get(session_id):
                walker.derived(
                    None, None, session_id,
                    f"cost_sessions totals {kept.get(session_id)} disagree with the sums of "
                    f"the session's cost records {summed.get(session_id)}",
                )  # fmt: skip


def advisory_locks(key: int) -> tuple[str, str, str]:
    """PostgreSQL's sealing lock (exclusive), its writers' side (shared) as a statement and
    as a condition for a one-statement write; per schema, like the migration lock."""
    lock = f"({key}, hashtext(current_schema()))"
    return (
        f"SELECT pg_advisory_xact_lock{lock}",
        f"SELECT pg_advisory_xact_lock_shared{lock}",
        f" AND pg_advisory_xact_lock_shared{lock} IS NOT NULL",
    )


def outcome_mismatch(
    status: str, end_time: str | None, duration: float | None, outcome: str | None
) -> str:
    """Why a session's status, end time and duration disagree with its chained outcome
    (the empty string when they agree)."""
    if outcome is None:
        if status == "active":
            return ""
        return f"the session is {status!r} but no record closing it was chained"
    chained = json.loads(outcome)
    actual = outcome_of(status, end_time, duration)
    wrong = [name for name in ("status", "end_time", "duration_seconds")
             if chained.get(name) != actual[name]]  # fmt: skip
    if not wrong:
        return ""
    return "; ".join(f"{name} is {actual[name]!r}, chained {chained.get(name)!r}" for name in wrong)


def _int(value: Any) -> int:
    """A chain row's number as stored (-1 when it is not a number: damaged)."""
    return value if type(value) is int else -1


def _blob(value: Any) -> bytes:
    """A chain row's hash as stored (its text's bytes when it is not a blob: damaged)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8", "backslashreplace")


def _stored(
    row: ChainRow, columns: Sequence[Any]
) -> tuple[dict[str, Any] | None, str | None, bool]:
    """The record a chain row names, rebuilt from the walk's joined columns, its session,
    and whether it is plain."""
    if row.kind in NOTE_KINDS:
        record, plain = note_record(row)
        return record, None, plain
    event, session, cost = columns[:6], columns[6:13], columns[13:]
    decoded = Decoded()
    if row.kind == "cost":
        if cost[0] is None:
            return None, None, False
        return cost_of(cost, decoded), cost[2], decoded.plain
    if event[0] is None:
        return None, None, False
    _, session_id, timestamp, event_type, description, data = event
    fields = session_of(session, decoded) if row.kind == "start" else None
    record = event_record(
        row.kind, session_id, (timestamp, event_type, description, decoded(data)), fields,
        decoded(row.outcome),
    )  # fmt: skip
    return record, session_id, decoded.plain
