"""What a follower of a SQL store reads: the records numbered after a cursor, once every
number up to the cursor's next stop is final.

A follower (``sessions export --format otlp --follow``) keeps one number, the cursor, and
asks :meth:`Feed.read` for what was recorded above it: the sessions *closed* there (their
completion record is numbered in the range; read with their whole timeline) and the cost
records numbered there. A session is handed over once, when it closes; one still active is
not handed over until it does.

Numbers are final up to :meth:`Feed.high_water`, as for sealing (see :mod:`.sql_chain`):

- SQLite takes a record's number in the transaction that writes it, so every number up to
  the counter is committed;
- PostgreSQL hands numbers out before commits. Each write transaction holds the shared side
  of the sealing lock while it holds a number; the follower takes the exclusive side for an
  instant, which waits out those writers, and reads the sequence under it.

The follower only reads: it writes nothing to the store, and holds no connection between
polls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._cost_rows import cost_entry
from ._rows import Damage, attach_events, read_timelines, session_dicts, warn_damaged
from .dialect import Connection
from .sql_unsealed import complete_through

if TYPE_CHECKING:
    from .sql import SQLStore

BATCH = 2000  # event and cost rows read per query


@dataclass(frozen=True, slots=True)
class FeedBatch:
    """What :meth:`Feed.read` found above ``after``, complete up to ``through``."""

    after: int
    through: int
    sessions: list[dict[str, Any]]  # closed in the range, with their events, in closing order
    costs: list[dict[str, Any]]  # in the cost log's entry format, in sequence order


class Feed:
    """Reads one SQL store's records in sequence order, for a follower."""

    def __init__(self, store: SQLStore) -> None:
        self._location = store.location
        self._d = d = store.dialect
        sql = store.sql
        q = sql.q
        self._events = q(
            "SELECT seq, session FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
        )
        self._costs = q(
            f"SELECT seq, {sql.cost_entry_columns} FROM costs WHERE seq > ? AND seq <= ? "
            "ORDER BY seq LIMIT ?"
        )
        closing = "(SELECT max(f.seq) FROM events f WHERE f.session = s.id)"
        self._closed = q(
            f"SELECT {sql.session_columns} FROM sessions s WHERE {d.any_of('s.id')} "
            f"AND s.status <> 'active' AND {closing} <= ? ORDER BY {closing}"
        )
        self._timelines = sql.timelines

    def store_id(self) -> str:
        """The store's id (``chain_meta``): which store a saved cursor belongs to."""
        row = self._d.read(lambda conn: conn.execute("SELECT store_id FROM chain_meta").fetchone())
        return str(row[0])

    def high_water(self) -> int:
        """The highest number given out so far, once every record up to it is committed."""
        d = self._d
        if not d.seal_lock:
            return int(d.read(lambda conn: conn.execute(d.high_water).fetchone()[0]))
        with d.transaction() as conn:  # only a lock and a read: nothing is written
            conn.execute(d.seal_lock)
            return int(conn.execute(d.high_water).fetchone()[0])

    def read(self, after: int, high: int) -> FeedBatch:
        """The sessions closed and the cost records numbered above ``after`` (up to
        ``high``, from :meth:`high_water`), at most about :data:`BATCH` of each; the batch's
        ``through`` is where the next read starts."""

        def work(conn: Connection) -> tuple[FeedBatch, list[Damage]]:
            events = conn.execute(self._events, (after, high, BATCH)).fetchall()
            costs = conn.execute(self._costs, (after, high, BATCH)).fetchall()
            bound = complete_through(self._location, high, BATCH, events, costs)
            touched = list(dict.fromkeys(ref for seq, ref in events if seq <= bound))
            damaged: list[Damage] = []
            sessions: list[dict[str, Any]] = []
            if touched:
                rows = conn.execute(self._closed, (self._d.array(touched), bound)).fetchall()
                found = session_dicts(rows, damaged)
                if found:
                    ids = self._d.array([ref for ref, _ in found])
                    bad: dict[int, tuple[str, str]] = {}
                    timelines = read_timelines(conn.execute(self._timelines, (ids,)), bad)
                    found = attach_events(found, timelines, bad, damaged)
                sessions = [session for _, session in found]
            entries = [cost_entry(row[1:]) for row in costs if row[0] <= bound]
            return FeedBatch(after, bound, sessions, entries), damaged

        batch, damaged = self._d.read(work)
        warn_damaged(damaged, self._location)  # left out, named in the log
        return batch
