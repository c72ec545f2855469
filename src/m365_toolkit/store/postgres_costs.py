"""Cost records in the PostgreSQL store's own database, beside its sessions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._util.values import to_json
from ..costs.model import CostGroup, CostRecord, CostTotals, check_group, from_pico, to_pico
from . import ImportResult
from ._pg_sql import (
    ADD_SESSION_COST,
    COST_GROUP_KEYS,
    COST_REPORT,
    ENTRY_COLUMNS,
    IMPORT_COSTS,
    INSERT_COST,
    SESSION_COST_TOTALS,
)
from ._rows import cost_entry, cost_totals

if TYPE_CHECKING:
    from ._pg_db import Connection
    from .postgres import PostgresStore

_STREAM_ROWS = 2000  # rows fetched per round trip by entries()


class PostgresCostLog:
    """The ``costs`` table of a :class:`PostgresStore`, sharing its connection pool."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self.location = store.location

    def close(self) -> None:
        """The store owns the connections."""

    def add(self, record: CostRecord) -> CostTotals:
        """Store a record; return the totals of its session (or zeros), as they stand right
        after this record, in the same statement, so that concurrent writers cannot skew them."""
        row = _row(record)
        with self._store._db.mapped(writing=True), self._store._db.connection() as conn:
            if record.session_id is None:
                conn.execute(INSERT_COST, row)
                return CostTotals()
            totals = conn.execute(ADD_SESSION_COST, row).fetchone()
        assert totals is not None
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

        def work(conn: Connection) -> Decimal:
            row = conn.execute(
                f"SELECT coalesce(sum(total_cost)::numeric, 0) FROM costs {where}", params
            ).fetchone()
            assert row is not None
            return from_pico(int(row[0]))

        return self._store._db.read(work)

    def report(
        self, group_by: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[CostGroup]:
        """Totals per model, type, operation, user or day; most expensive first."""
        key = COST_GROUP_KEYS[check_group(group_by)]
        where, params = _where(since, until)

        def work(conn: Connection) -> list[CostGroup]:
            rows = conn.execute(COST_REPORT.format(key=key, where=where), params).fetchall()
            return [CostGroup(str(row[0]), cost_totals(row[1:])) for row in rows]

        return self._store._db.read(work)

    def by_session(self, session_ids: Sequence[str]) -> dict[str, CostTotals]:
        """Totals of each of these sessions that has any cost."""
        if not session_ids:
            return {}

        def work(conn: Connection) -> dict[str, CostTotals]:
            rows = conn.execute(SESSION_COST_TOTALS, (list(session_ids),)).fetchall()
            return {row[0]: cost_totals(row[1:]) for row in rows}

        return self._store._db.read(work)

    def import_records(self, records: Iterable[CostRecord]) -> ImportResult:
        """Add the records not stored yet (by natural key), a thousand per transaction, each
        thousand in one statement that also raises its sessions' running totals."""
        imported = skipped = 0
        batch: list[CostRecord] = []

        def flush() -> None:
            nonlocal imported, skipped
            fresh: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # the first of each key
            for record in batch:
                row = _row(record)
                fresh.setdefault((*row[:2], *row[4:10]), row)
            columns = [list(column) for column in zip(*fresh.values(), strict=True)]
            with self._store._db.write() as conn:
                added = conn.execute(IMPORT_COSTS, columns).fetchone()
            assert added is not None
            imported += int(added[0])
            skipped += len(batch) - int(added[0])
            batch.clear()

        for record in records:
            batch.append(record)
            if len(batch) >= 1000:
                flush()
        if batch:
            flush()
        return ImportResult(imported, skipped)

    def entries(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Every record (oldest first) in the cost log's entry format, streamed through a
        server-side cursor, so a large log is never held in memory at once."""
        where, params = _where(since, None)
        db = self._store._db
        with (
            db.mapped(),
            db.connection() as conn,
            conn.transaction(),
            conn.cursor(name="m365_cost_entries") as cursor,
        ):
            cursor.itersize = _STREAM_ROWS
            cursor.execute(f"SELECT {ENTRY_COLUMNS} FROM costs {where} ORDER BY seq", params)
            for row in cursor:
                yield cost_entry(row)


def _where(
    since: datetime | None,
    until: datetime | None,
    *,
    user: str | None = None,
    session_id: str | None = None,
) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for clause, value in (
        ("timestamp >= %s", since),
        ("timestamp < %s", until),
        ("user_name = %s", user),
        ("session_id = %s", session_id),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _row(record: CostRecord) -> tuple[Any, ...]:
    usage, cost = record.usage, record.cost
    return (
        record.timestamp, record.session_id, record.user, record.operation_type, record.model,
        record.request_type, usage.input, usage.cached_input, usage.output, usage.reasoning,
        to_pico(cost.input), to_pico(cost.cached_input), to_pico(cost.output),
        to_pico(cost.total), cost.source, to_json(record.metadata),
    )  # fmt: skip
