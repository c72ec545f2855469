"""The cost records of a memory store (and so of the JSON store built on it)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._util.system import format_time
from ..costs.model import CostGroup, CostRecord, CostTotals, check_group, to_pico
from . import ImportResult
from ._cost_groups import fold_groups

if TYPE_CHECKING:
    from .memory import MemoryStore

_KEYS: dict[str, Callable[[CostRecord], object]] = {
    "model": lambda r: r.model,
    "type": lambda r: r.request_type,
    "operation": lambda r: r.operation_type or "(no session)",
    "user": lambda r: r.user,
    "day": lambda r: format_time(r.timestamp)[:10],
    "session": lambda r: r.session_id or "(no session)",
}


class MemoryCostLog:
    """The cost records of a :class:`MemoryStore` (and of the JSON store built on it)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.location = store.location

    def files(self) -> list[Path]:
        """The store's files."""
        return self._store.files()

    def close(self) -> None:
        """The store owns the state."""

    def _records(self) -> list[CostRecord]:
        with self._store._reading(sessions=False, costs=True) as state:
            return [record for _, record in state.costs]

    def add(self, record: CostRecord) -> CostTotals:
        store = self._store
        with (
            store._journal.transaction() as written,
            store._writing(sessions=False, costs=True) as state,
        ):
            store._append(state, written, record, "cost")
            totals = (
                CostTotals()
                if record.session_id is None
                else _sum(r for _, r in state.costs if r.session_id == record.session_id)
            )
        store._wrote(1)
        return totals

    def total(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        user: str | None = None,
        session_id: str | None = None,
    ) -> Decimal:
        return _sum(
            r
            for r in _within(self._records(), since, until)
            if (user is None or r.user == user)
            and (session_id is None or r.session_id == session_id)
        ).cost

    def report(
        self, group_by: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[CostGroup]:
        key = _KEYS[check_group(group_by)]
        groups: dict[str, list[CostRecord]] = defaultdict(list)
        for record in _within(self._records(), since, until):
            groups[str(key(record))].append(record)
        found = [CostGroup(name, _sum(records)) for name, records in groups.items()]
        return sorted(found, key=lambda group: (-group.totals.cost, group.key.encode()))

    def summary(
        self, group_bys: Sequence[str], since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, list[CostGroup]]:
        names = [check_group(name) for name in dict.fromkeys(group_bys)]
        keys = [_KEYS[name] for name in names]
        rows = (
            ([key(r) for key in keys], (1, *_counts(r)))
            for r in _within(self._records(), since, until)
        )
        return fold_groups(names, rows) if names else {}

    def by_session(self, session_ids: Sequence[str]) -> dict[str, CostTotals]:
        wanted = set(session_ids)
        groups: dict[str, list[CostRecord]] = defaultdict(list)
        for record in self._records():
            if record.session_id in wanted:
                groups[record.session_id].append(record)
        return {session_id: _sum(records) for session_id, records in groups.items()}

    def entries(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        for record in _within(self._records(), since, None):
            yield record.to_entry()

    def import_records(self, records: Iterable[CostRecord]) -> ImportResult:
        imported = skipped = 0
        store = self._store
        pending = list(records)  # all read before any is stored: a bad one stores nothing
        with (
            store._journal.transaction() as written,
            store._writing(sessions=False, costs=True) as state,
        ):
            known = {record.natural_key for _, record in state.costs}
            for record in pending:
                if record.natural_key in known:
                    skipped += 1
                    continue
                known.add(record.natural_key)
                store._append(state, written, record, "cost")
                imported += 1
        store._wrote(imported)
        return ImportResult(imported, skipped)


def _within(
    records: Iterable[CostRecord], since: datetime | None, until: datetime | None
) -> Iterator[CostRecord]:
    for record in records:
        if (since is None or record.timestamp >= since) and (
            until is None or record.timestamp < until
        ):
            yield record


def _counts(record: CostRecord) -> tuple[int, ...]:
    usage = record.usage
    return (usage.input, usage.cached_input, usage.output, usage.reasoning,
            to_pico(record.cost.total))  # fmt: skip


def _sum(records: Iterable[CostRecord]) -> CostTotals:
    requests = input_tokens = cached = output = reasoning = 0
    cost = Decimal(0)
    for record in records:
        usage = record.usage
        requests += 1
        input_tokens += usage.input
        cached += usage.cached_input
        output += usage.output
        reasoning += usage.reasoning
        cost += record.cost.total
    return CostTotals(requests, input_tokens, cached, output, reasoning, cost)
