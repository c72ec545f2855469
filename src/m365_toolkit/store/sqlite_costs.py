"""Cost records in the SQLite store's own database file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._util.system import format_time
from .._util.values import to_json
from ..costs.model import CostGroup, CostRecord, CostTotals, check_group, from_pico, to_pico
from . import ImportResult
from ._rows import cost_entry, cost_totals
from ._sql import (
    ADD_SESSION_COST,
    COST_GROUP_KEYS,
    COST_TOTALS,
    INSERT_COST,
    SESSION_COST_TOTALS,
    SESSION_TOTALS_COLUMNS,
)

if TYPE_CHECKING:
    from .sqlite import SQLiteStore

_ENTRY_COLUMNS = (
    "timestamp, session_id, user, operation_type, model, request_type, input_tokens, "
    "cached_tokens, output_tokens, reasoning_tokens, input_cost, cached_cost, output_cost, "
    "total_cost, price_source, metadata"
)
_FIND_COST = (
    "SELECT 1 FROM costs WHERE timestamp = ? AND session_id IS ? AND model = ? "
    "AND request_type = ? AND input_tokens = ? AND cached_tokens = ? AND output_tokens = ? "
    "AND reasoning_tokens = ? LIMIT 1"
)
# The sorter behind a GROUP BY keeps up to the page cache's size in memory before it spills
# sorted runs to temporary files. On a store connection (64 MiB cache) a report over a million
# costs then holds 64 MiB more and sorts 25% slower than in 2 MiB runs; its full scan evicts
# the cached pages either way.
_SORT_CACHE_KIB = 2048


class SQLiteCostLog:
    """The ``costs`` table of a :class:`SQLiteStore`, sharing its connections."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        self.location = store.location

    def close(self) -> None:
        """The store owns the connections."""

    def add(self, record: CostRecord) -> CostTotals:
        """Store a record; return the totals of its session (or zeros), read in the same
        transaction so that concurrent writers cannot skew them."""
        row = _row(record)
        with self._store._write() as conn:
            conn.execute(INSERT_COST, row)
            if record.session_id is None:
                return CostTotals()
            conn.execute(ADD_SESSION_COST, (record.session_id, *row[6:10], row[13]))
            totals = conn.execute(SESSION_COST_TOTALS, (record.session_id,)).fetchone()
        return cost_totals(totals)

    def total(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        user: str | None = None,
        session_id: str | None = None,
    ) -> Decimal:
        """The cost of the records matching every filter given."""
        if session_id is not None and since is None and until is None and user is None:
            found = self.by_session([session_id]).get(session_id)
            return found.cost if found is not None else Decimal(0)
        where, params = _where(since, until, user=user, session_id=session_id)
        with self._store._mapped():
            row = (
                self._store._conn()
                .execute(f"SELECT coalesce(sum(total_cost), 0) FROM costs {where}", params)
                .fetchone()
            )
        return from_pico(int(row[0]))

    def report(
        self, group_by: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[CostGroup]:
        """Totals per model, type, operation, user or day; most expensive first."""
        key = COST_GROUP_KEYS[check_group(group_by)]
        where, params = _where(since, until)
        with self._store._mapped(), _small_cache(self._store._conn()) as conn:
            rows = conn.execute(
                f"SELECT {key} AS grp, {COST_TOTALS} FROM costs {where} GROUP BY grp "
                "ORDER BY sum(total_cost) DESC, grp",
                params,
            ).fetchall()
        return [CostGroup(str(row[0]), cost_totals(row[1:])) for row in rows]

    def by_session(self, session_ids: Sequence[str]) -> dict[str, CostTotals]:
        """Totals of each of these sessions that has any cost."""
        if not session_ids:
            return {}
        found: dict[str, CostTotals] = {}
        with self._store._mapped():
            conn = self._store._conn()
            for start in range(0, len(session_ids), 500):  # stay under SQLite's variable limit
                chunk = session_ids[start : start + 500]
                rows = conn.execute(
                    f"SELECT session_id, {SESSION_TOTALS_COLUMNS} FROM cost_sessions "
                    f"WHERE session_id IN ({', '.join('?' * len(chunk))})",
                    chunk,
                )
                found.update((row[0], cost_totals(row[1:])) for row in rows)
        return found

    def import_records(self, records: Iterable[CostRecord]) -> ImportResult:
        """Add the records not stored yet (by natural key), a thousand per transaction."""
        imported = skipped = 0
        batch: list[CostRecord] = []

        def flush() -> None:
            nonlocal imported, skipped
            with self._store._write() as conn:
                for record in batch:
                    row = _row(record)
                    # By the time index; "IS" matches a NULL session id too.
                    if conn.execute(_FIND_COST, (*row[:2], *row[4:10])).fetchone():
                        skipped += 1
                        continue
                    conn.execute(INSERT_COST, row)
                    if record.session_id is not None:
                        conn.execute(ADD_SESSION_COST, (record.session_id, *row[6:10], row[13]))
                    imported += 1
            batch.clear()

        for record in records:
            batch.append(record)
            if len(batch) >= 1000:
                flush()
        if batch:
            flush()
        return ImportResult(imported, skipped)

    def entries(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Every record (oldest first) in the cost log's entry format, streamed."""
        where, params = _where(since, None)
        with self._store._mapped():
            rows = self._store._conn().execute(
                f"SELECT {_ENTRY_COLUMNS} FROM costs {where} ORDER BY seq", params
            )
            for row in rows:
                yield cost_entry(row)


@contextmanager
def _small_cache(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """The connection with a small page cache (and so sort memory) until the block ends."""
    size = int(conn.execute("PRAGMA cache_size").fetchone()[0])
    conn.execute(f"PRAGMA cache_size = -{_SORT_CACHE_KIB}")
    try:
        yield conn
    finally:
        conn.execute(f"PRAGMA cache_size = {size}")


def _where(
    since: datetime | None,
    until: datetime | None,
    *,
    user: str | None = None,
    session_id: str | None = None,
) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for clause, value in (
        ("timestamp >= ?", format_time(since) if since else None),
        ("timestamp < ?", format_time(until) if until else None),
        ("user = ?", user),
        ("session_id = ?", session_id),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _row(record: CostRecord) -> tuple[Any, ...]:
    usage, cost = record.usage, record.cost
    return (
        format_time(record.timestamp), record.session_id, record.user, record.operation_type,
        record.model, record.request_type, usage.input, usage.cached_input, usage.output,
        usage.reasoning, to_pico(cost.input), to_pico(cost.cached_input), to_pico(cost.output),
        to_pico(cost.total), cost.source, to_json(record.metadata),
    )  # fmt: skip
