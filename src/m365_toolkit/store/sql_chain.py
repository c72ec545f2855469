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
(``INSERTED``); records above it are the not-yet-sealed tail. Unsealed rows are found with
``NOT EXISTS`` on ``(kind, ref)`` within the range, in sequence order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._util.system import format_time
from ._canonical import canonical
from ._leaves import Leaves
from ._notes import NOTE_KINDS, NoteMaker, checkpoint_maker, due, fixed, ranges
from ._records import Decoded, cost_record, event_record, outcome_text, session_fields
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
    link_hash,
    note_record,
)
from .dialect import Connection

if TYPE_CHECKING:
    from .sql import SQLStore

BATCH = 2000  # records read per query while sealing
CHAIN_COLUMNS = ("pos", "kind", "ref", "leaf", "link", "pruned", "outcome")
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
        session = (
            f"s.user_name, s.operation_type, s.metadata, {d.iso('s.start_time')}, s.host, "
            "s.pid, s.process"
        )
        event = f"e.seq, s.session_id, {d.iso('e.timestamp')}, e.type, e.description, e.data"
        cost = (
            f"k.seq, {d.iso('k.timestamp')}, k.session_id, k.user_name, k.operation_type, "
            "k.model, k.request_type, k.input_tokens, k.cached_tokens, k.output_tokens, "
            "k.reasoning_tokens, k.input_cost, k.cached_cost, k.output_cost, k.total_cost, "
            "k.price_source, k.metadata"
        )
        self.meta = "SELECT store_id, sealed_through FROM chain_meta"
        self.head = "SELECT pos, link FROM chain ORDER BY pos DESC LIMIT 1"
        self.last_checkpoint = (
            "SELECT pos, outcome FROM chain WHERE kind = 'checkpoint' ORDER BY ref DESC LIMIT 1"
        )
        # Unsealed records: the rows in the range, each session they belong to once, and
        # the refs already chained in the range (none, unless the range was put back), which
        # are left out. A record's kind follows from where it stands: the first event of its
        # session is its start; the last event of a finished session closes it (and carries
        # the outcome). An event whose session row is gone is not sealed (verify reports it).
        self.unsealed_events = q(
            f"SELECT e.seq, e.session, {d.iso('e.timestamp')}, e.type, e.description, e.data "
            "FROM events e WHERE e.seq > ? AND e.seq <= ? ORDER BY e.seq LIMIT ?"
        )
        self.unsealed_sessions = q(
            "SELECT s.id, s.session_id, (SELECT min(f.seq) FROM events f WHERE f.session = s.id), "
            "CASE WHEN s.status <> 'active' THEN "
            "(SELECT max(f.seq) FROM events f WHERE f.session = s.id) END, "
            f"{session}, s.status, {d.iso('s.end_time')}, s.duration_seconds FROM sessions s "
            "WHERE s.id IN (SELECT e.session FROM events e WHERE e.seq > ? AND e.seq <= ?)"
        )
        self.unsealed_costs = q(
            f"SELECT {cost} FROM costs k WHERE k.seq > ? AND k.seq <= ? ORDER BY k.seq LIMIT ?"
        )
        self.chained = q(
            "SELECT kind = 'cost', ref FROM chain "
            "WHERE kind IN ('start', 'event', 'complete', 'cost') AND ref > ? AND ref <= ?"
        )
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
        sealed, cursor, sha256 = 0, int(through), hashlib.sha256
        while cursor < high:
            found, cursor = self._unsealed(conn, cursor, high)
            rows = []
            for seq, kind, body, outcome in found:
                leaf = sha256(b"\x00" + body).digest()
                link = sha256(b"\x01" + link + leaf).digest()
                rows.append((size, kind, seq, leaf, link, False, outcome))
                size += 1
            if rows:
                d.insert_rows(conn, "chain", CHAIN_COLUMNS, rows)
            sealed += len(rows)
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
        row = (size, record["kind"], size, leaf, link, False, canonical(record).decode("utf-8"))
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

    def _unsealed(
        self, conn: Connection, after: int, high: int
    ) -> tuple[list[tuple[int, str, bytes, str | None]], int]:
        """The next unchained records above ``after`` in sequence order, as ``(seq, kind,
        canonical bytes, outcome)``, and the number up to which they are complete. Their bytes
        come from verify's fast path where it answers (:mod:`._leaves`), else from the record
        rebuilt: the very bytes either way (``tests/integrity/test_leaves.py``)."""
        events = conn.execute(self.unsealed_events, (after, high, BATCH)).fetchall()
        costs = conn.execute(self.unsealed_costs, (after, high, BATCH)).fetchall()
        bound = high
        for rows in (events, costs):
            if len(rows) == BATCH:  # more may follow: only numbers below both ends are complete
                bound = min(bound, int(rows[-1][0]))
        chained: tuple[set[int], set[int]] = (set(), set())  # events', costs'
        for is_cost, ref in conn.execute(self.chained, (after, bound)).fetchall():
            chained[bool(is_cost)].add(int(ref))
        sessions = {}
        if events:
            found = conn.execute(self.unsealed_sessions, (after, bound)).fetchall()
            sessions = {row[0]: row[1:] for row in found}
        leaves, items = Leaves(), []
        for row in events:
            seq = row[0]
            if seq > bound:
                break
            session = sessions.get(row[1])
            if session is not None and seq not in chained[0]:
                items.append(_event_item(row, session, leaves))
        for row in costs:
            if row[0] <= bound and row[0] not in chained[1]:
                body = leaves.cost(row)
                if body is None:
                    decoded = Decoded()
                    body = canonical(_cost(row, decoded), plain=decoded.plain)
                items.append((int(row[0]), "cost", body, None))
        items.sort(key=lambda item: item[0])
        return items, bound

    # -- verifying ---------------------------------------------------------------------------

    def verify(self, links_at: Collection[int] = (), sink: Sink | None = None) -> Verification:
        """Seal, then walk the whole chain beside the records; see :class:`~.chain.Walker`."""
        self.seal(auto=False)
        d = self._d
        store_id, through = d.read(lambda conn: conn.execute(self.meta).fetchone())
        walker = Walker(store_id, frozenset(links_at), sink)
        leaves, intact, sha256 = Leaves(), walker.intact, hashlib.sha256
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
                if computed is not None and intact(
                    row[0], row[3], row[4], sha256(b"\x00" + computed).digest()
                ):
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


def _event_item(
    row: Sequence[Any], session: Sequence[Any], leaves: Leaves
) -> tuple[int, str, bytes, str | None]:
    """An unsealed event (its row and its session's, see ``SQLChain.unsealed_events`` and
    ``unsealed_sessions``) as ``_unsealed`` gives it."""
    seq = row[0]
    kind = "start" if seq == session[1] else "complete" if seq == session[2] else "event"
    closes = seq == session[2]
    outcome = outcome_text(*session[10:13]) if closes else None
    columns = (seq, session[0], *row[2:6], *session[3:10])
    body = leaves.event(kind, outcome, columns)
    if body is None:
        kind, record, outcome, plain = _unsealed_event(
            (*columns[:6], seq == session[1], closes, *session[3:13])
        )
        body = canonical(record, plain=plain)
    return int(seq), kind, body, outcome


def _unsealed_event(row: Sequence[Any]) -> tuple[str, dict[str, Any], str | None, bool]:
    seq, session_id, timestamp, event_type, description, data, first, closes = row[:8]
    kind = "start" if first else "complete" if closes else "event"
    decoded = Decoded()
    session = _session(row[8:15], decoded) if first else None
    status, end_time, duration = row[15:18]
    outcome = outcome_text(status, end_time, duration) if closes else None
    record = event_record(
        kind, session_id, (timestamp, event_type, description, decoded(data)), session,
        decoded(outcome),
    )  # fmt: skip
    return kind, record, outcome, decoded.plain


def _session(columns: Sequence[Any], decoded: Decoded) -> dict[str, Any]:
    user, operation_type, metadata, start_time, host, pid, process = columns
    return session_fields(
        user, operation_type, decoded(metadata), start_time, host, pid, decoded(process)
    )


def _cost(row: Sequence[Any], decoded: Decoded) -> dict[str, Any]:
    """The chained record of a cost row (``k.seq`` first, then the columns as stored: a
    number coerced here could hide a change of type made behind the store's back)."""
    (_, timestamp, session_id, user, operation_type, model, request_type, input_tokens,
     cached, output, reasoning, input_cost, cached_cost, output_cost, total_cost, source,
     metadata) = row  # fmt: skip
    return cost_record(
        timestamp, session_id, user, operation_type, model, request_type,
        (input_tokens, cached, output, reasoning),
        (input_cost, cached_cost, output_cost, total_cost), source, decoded(metadata),
    )  # fmt: skip


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
        return _cost(cost, decoded), cost[2], decoded.plain
    if event[0] is None:
        return None, None, False
    _, session_id, timestamp, event_type, description, data = event
    fields = _session(session, decoded) if row.kind == "start" else None
    record = event_record(
        row.kind, session_id, (timestamp, event_type, description, decoded(data)), fields,
        decoded(row.outcome),
    )  # fmt: skip
    return record, session_id, decoded.plain
