"""Cost records in a SQL store's own database, beside its sessions, on the same dialect."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._util.values import to_json
from ..costs.model import CostGroup, CostRecord, CostTotals, check_group, from_pico, to_pico
from . import ImportResult
from ._cost_groups import fold_groups
from ._cost_rows import cost_entry, cost_totals
from ._journal import Record
from ._rules import batches
from ._statements import COST_FIELDS, SUMS

if TYPE_CHECKING:
    from .sql import SQLStore


class SQLCostLog:
    """The ``costs`` table of a :class:`~.sql.SQLStore`, sharing its dialect.

    ``cost_sessions`` keeps the running totals of each session with costs, raised in the
    transaction that adds a cost: a session's totals stay one row to read on every tracked
    request, not a scan of its costs.
    """

    def __init__(self, store: SQLStore) -> None:
        self._store = store
        self.location = store.location
        self._d = store.dialect
        self.sql = store.sql

    def files(self) -> list[Path]:
        """The store's files."""
        return self._store.files()

    def close(self) -> None:
        """The store owns the connections."""

    def add(self, record: CostRecord) -> CostTotals:
        """Store a record; return the totals of its session (or zeros), read in the same
        transaction, so concurrent writers cannot skew them."""
        row = self._row(record)
        store = self._store
        with store._journal.transaction() as written, self._d.transaction() as conn:
            store._guard(conn)
            store._append(
                conn, written, self.sql.insert_cost, row, lambda seq: _record(seq, record)
            )
            totals = (
                None
                if record.session_id is None
                else conn.execute(
                    self.sql.add_to_totals, _increment(record.session_id, row)
                ).fetchone()
            )
        store._wrote(1)
        return CostTotals() if totals is None else cost_totals(totals)

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
        where, params = self._where(since, until, user=user, session_id=session_id)
        statement = self.sql.q(f"SELECT coalesce(sum(total_cost), 0) FROM costs {where}")
        row = self._d.read(lambda conn: conn.execute(statement, params).fetchone())
        return from_pico(int(row[0]))

    def report(
        self, group_by: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[CostGroup]:
        """Totals per model, type, operation, user or day; most expensive first, then by
        name in byte order."""
        key = self.sql.cost_groups[check_group(group_by)]
        where, params = self._where(since, until)
        statement = self.sql.q(
            f"SELECT {key}{self._d.bytewise} AS grp, {SUMS} FROM costs {where} GROUP BY grp "
            "ORDER BY coalesce(sum(total_cost), 0) DESC, grp"
        )
        rows = self._d.read(lambda conn: conn.execute(statement, params).fetchall(), sorting=True)
        return [CostGroup(str(row[0]), cost_totals(row[1:])) for row in rows]

    def summary(
        self, group_bys: Sequence[str], since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, list[CostGroup]]:
        """:meth:`report` for each grouping, from one ``GROUP BY`` of them all together
        (one pass over the window's index entries), folded here."""
        names = [check_group(name) for name in dict.fromkeys(group_bys)]
        if not names:
            return {}
        keys = [f"g{i}" for i in range(len(names))]
        columns = ", ".join(f"{self.sql.cost_groups[n]} AS g{i}" for i, n in enumerate(names))
        where, params = self._where(since, until)
        statement = self.sql.q(
            f"SELECT {columns}, {SUMS} FROM costs {where} GROUP BY {', '.join(keys)}"
        )
        rows = self._d.read(lambda conn: conn.execute(statement, params).fetchall(), sorting=True)
        return fold_groups(names, ((row[: len(names)], row[len(names) :]) for row in rows))

    def by_session(self, session_ids: Sequence[str]) -> dict[str, CostTotals]:
        """Totals of each of these sessions that has any cost."""
        if not session_ids:
            return {}
        rows = self._d.read(
            lambda conn: conn.execute(
                self.sql.session_totals, (self._d.array(session_ids),)
            ).fetchall()
        )
        return {row[0]: cost_totals(row[1:]) for row in rows}

    def import_records(self, records: Iterable[CostRecord]) -> ImportResult:
        """Add the records not stored yet (by natural key), all in one transaction."""
        imported = skipped = 0
        store = self._store
        # One transaction for all: a bad record anywhere (the iterable raises) stores nothing.
        with store._journal.transaction() as written, self._d.transaction() as conn:
            store._guard(conn)
            for batch in batches(records):
                fresh: dict[tuple[Any, ...], tuple[CostRecord, tuple[Any, ...]]] = {}
                for record in batch:
                    row = self._row(record)
                    fresh.setdefault(_key(row), (record, row))
                stored = self._d.stored_costs(
                    conn,
                    list(fresh),
                    lambda k: (
                        conn.execute(self.sql.find_cost, (k[0], k[1], *k[1:])).fetchone()
                        is not None
                    ),
                )
                added = [pair for key, pair in fresh.items() if key not in stored]
                store._append_many(
                    conn, written, "costs", COST_FIELDS, [row for _, row in added],
                    [functools.partial(_record, cost=record) for record, _ in added],
                )  # fmt: skip
                totals: dict[str, list[int]] = {}
                for record, row in added:
                    if record.session_id is not None:
                        sums = totals.setdefault(record.session_id, [0] * 6)
                        for i, value in enumerate(_increment(record.session_id, row)[1:]):
                            sums[i] += value
                for session_id, sums in totals.items():
                    conn.execute(self.sql.add_to_totals, (session_id, *sums)).fetchone()
                imported += len(added)
                skipped += len(batch) - len(added)
        store._wrote(imported)
        return ImportResult(imported, skipped)

    def entries(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Every record (oldest first) in the cost log's entry format, streamed."""
        where, params = self._where(since, None)
        statement = self.sql.q(
            f"SELECT {self.sql.cost_entry_columns} FROM costs {where} ORDER BY seq"
        )
        for row in self._d.stream(statement, params):
            yield cost_entry(row)

    def _where(
        self,
        since: datetime | None,
        until: datetime | None,
        *,
        user: str | None = None,
        session_id: str | None = None,
    ) -> tuple[str, list[Any]]:
        time = self._d.time
        clauses, params = [], []
        for clause, value in (
            ("timestamp >= ?", time(since) if since else None),
            ("timestamp < ?", time(until) if until else None),
            ("user_name = ?", user),
            ("session_id = ?", session_id),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), params

    def _row(self, record: CostRecord) -> tuple[Any, ...]:
        """The record's columns after ``seq``."""
        usage, cost = record.usage, record.cost
        return (
            self._d.time(record.timestamp), record.session_id, record.user,
            record.operation_type, record.model, record.request_type, usage.input,
            usage.cached_input, usage.output, usage.reasoning, to_pico(cost.input),
            to_pico(cost.cached_input), to_pico(cost.output), to_pico(cost.total), cost.source,
            to_json(record.metadata),
        )  # fmt: skip


def _key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The natural key (:attr:`CostRecord.natural_key`) of a cost row."""
    return (*row[:2], *row[4:10])


def _increment(session_id: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The ``ADD_TO_TOTALS`` parameters for one cost row."""
    return (session_id, 1, *row[6:10], row[13])


def _record(seq: int, cost: CostRecord) -> Record:
    return Record(seq, "cost", cost.session_id, cost.timestamp, cost=cost)
