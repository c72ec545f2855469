"""The records of a SQL store not chained yet, read for :meth:`.sql_chain.SQLChain.seal` as
the bytes their leaves hash, batch by batch in sequence order.

Per batch: the event rows of the range, each session they belong to once (its first and
last event numbers, its immutable fields, its outcome), the cost rows, and the references
already chained in the range (none, unless the sealed range was put back behind the store's
back), which are left out. A record's kind follows from where it stands: the first event of
its session is its start; the last event of a finished session closes it (and carries the
outcome). An event whose session row is gone is not sealed (verify reports it ``INSERTED``).

The bytes come from verify's fast path (:mod:`._leaves`) where it answers, else from the
record rebuilt (:mod:`._records`) and :func:`~._canonical.canonical`: the very bytes either
way (``tests/integrity/test_leaves.py``, ``test_seal_bytes.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import CorruptStoreError
from ._canonical import canonical
from ._leaves import Leaves
from ._records import Decoded, cost_record, event_record, outcome_text, session_fields
from .dialect import Connection, Dialect

BATCH = 2000  # records read per query while sealing
Item = tuple[int, str, bytes, "str | None"]  # seq, kind, canonical bytes, outcome


def session_columns(d: Dialect) -> str:
    """A session's immutable fields, as its start record carries them (``s``)."""
    return (
        f"s.user_name, s.operation_type, s.metadata, {d.iso('s.start_time')}, s.host, "
        "s.pid, s.process"
    )


def cost_columns(d: Dialect) -> str:
    """A cost row's columns as :func:`cost_of` takes them (``k``), ``k.seq`` first."""
    return (
        f"k.seq, {d.iso('k.timestamp')}, k.session_id, k.user_name, k.operation_type, "
        "k.model, k.request_type, k.input_tokens, k.cached_tokens, k.output_tokens, "
        "k.reasoning_tokens, k.input_cost, k.cached_cost, k.output_cost, k.total_cost, "
        "k.price_source, k.metadata"
    )


class Unsealed:
    """Reads the unchained records of one store's dialect (``q`` makes its statements)."""

    def __init__(self, d: Dialect, q: Callable[[str], str]) -> None:
        self._location = d.location
        self.events = q(
            f"SELECT e.seq, e.session, {d.iso('e.timestamp')}, e.type, e.description, e.data "
            "FROM events e WHERE e.seq > ? AND e.seq <= ? ORDER BY e.seq LIMIT ?"
        )
        self.sessions = q(
            "SELECT s.id, s.session_id, (SELECT min(f.seq) FROM events f WHERE f.session = s.id), "
            "CASE WHEN s.status <> 'active' THEN "
            "(SELECT max(f.seq) FROM events f WHERE f.session = s.id) END, "
            f"{session_columns(d)}, s.status, {d.iso('s.end_time')}, s.duration_seconds "
            "FROM sessions s "
            "WHERE s.id IN (SELECT e.session FROM events e WHERE e.seq > ? AND e.seq <= ?)"
        )
        self.costs = q(
            f"SELECT {cost_columns(d)} FROM costs k WHERE k.seq > ? AND k.seq <= ? "
            "ORDER BY k.seq LIMIT ?"
        )
        self.chained = q(
            "SELECT kind = 'cost', ref FROM chain "
            "WHERE kind IN ('start', 'event', 'complete', 'cost') AND ref > ? AND ref <= ?"
        )

    def read(self, conn: Connection, after: int, high: int) -> tuple[list[Item], int]:
        """The next unchained records above ``after`` (up to ``high``) in sequence order,
        and the number up to which they are complete."""
        events = conn.execute(self.events, (after, high, BATCH)).fetchall()
        costs = conn.execute(self.costs, (after, high, BATCH)).fetchall()
        bound = complete_through(self._location, high, BATCH, events, costs)
        chained: tuple[set[int], set[int]] = (set(), set())  # events', costs'
        for is_cost, ref in conn.execute(self.chained, (after, bound)).fetchall():
            chained[bool(is_cost)].add(int(ref))
        sessions = {}
        if events:
            found = conn.execute(self.sessions, (after, bound)).fetchall()
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
                    body = canonical(cost_of(row, decoded), plain=decoded.plain)
                items.append((int(row[0]), "cost", body, None))
        items.sort()  # by number, then kind: no two items share both (nor compare further)
        return items, bound


def complete_through(
    location: str, high: int, limit: int, *batches: Sequence[Sequence[Any]]
) -> int:
    """Up to which number the rows read (each batch the first ``limit`` rows above one
    number, in sequence order, ``seq`` first) hold every record: below the end of each
    batch that came full, since more may follow it; else up to ``high``.

    Raises:
        CorruptStoreError: A row's number is not a number (only a damaged schema).
    """
    bound = high
    for rows in batches:
        if len(rows) == limit:
            last = rows[-1][0]
            if isinstance(last, bool) or not isinstance(last, int):
                raise CorruptStoreError(
                    f"The session store {location!r} is corrupt: a record's number "
                    f"{last!r:.40} is not a number. It was left untouched; restore it from "
                    "a backup.",
                    location,
                )
            bound = min(bound, last)
    return bound


def _event_item(row: Sequence[Any], session: Sequence[Any], leaves: Leaves) -> Item:
    """An event row and its session's row (without ``s.id``) as :meth:`Unsealed.read`
    gives them."""
    seq, (session_id, first, last) = row[0], session[:3]
    closes = seq == last
    outcome = outcome_text(*session[10:13]) if closes else None
    if seq == first:  # only a start record carries the session's fields
        kind, columns = "start", (seq, session_id, *row[2:6], *session[3:10])
    else:
        kind, columns = "complete" if closes else "event", (seq, session_id, *row[2:6])
    body = leaves.event(kind, outcome, columns)
    if body is None:
        timestamp, event_type, description, data = row[2:6]
        decoded = Decoded()
        fields = session_of(session[3:10], decoded) if kind == "start" else None
        record = event_record(
            kind, session_id, (timestamp, event_type, description, decoded(data)), fields,
            decoded(outcome),
        )  # fmt: skip
        body = canonical(record, plain=decoded.plain)
    return int(seq), kind, body, outcome


def session_of(columns: Sequence[Any], decoded: Decoded) -> dict[str, Any]:
    """A session's immutable fields from :func:`session_columns`."""
    user, operation_type, metadata, start_time, host, pid, process = columns
    return session_fields(
        user, operation_type, decoded(metadata), start_time, host, pid, decoded(process)
    )


def cost_of(row: Sequence[Any], decoded: Decoded) -> dict[str, Any]:
    """The chained record of a cost row (:func:`cost_columns`: ``k.seq`` first, then the
    columns as stored: a number coerced here could hide a change of type made behind the
    store's back)."""
    (_, timestamp, session_id, user, operation_type, model, request_type, input_tokens,
     cached, output, reasoning, input_cost, cached_cost, output_cost, total_cost, source,
     metadata) = row  # fmt: skip
    return cost_record(
        timestamp, session_id, user, operation_type, model, request_type,
        (input_tokens, cached, output, reasoning),
        (input_cost, cached_cost, output_cost, total_cost), source, decoded(metadata),
    )  # fmt: skip
