"""Cost records in a JSON array file: the original toolkit's cost log format."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .._util.system import parse_time
from ..costs.model import CostGroup, CostRecord, CostTotals, check_group
from . import ImportResult
from ._jsonarray import JsonArrayFile

COST_LOG_NAME = "gpt5_cost_log.json"
_KEYS: dict[str, Callable[[dict[str, Any]], object]] = {
    "model": lambda e: e.get("model"),
    "type": lambda e: e.get("request_type"),
    "operation": lambda e: e.get("operation_type") or "(no session)",
    "user": lambda e: e.get("user"),
    "day": lambda e: str(e.get("timestamp", ""))[:10],
}


class JsonCostLog:
    """Cost entries in one JSON array file; totals are summed in Python from its entries.

    Amounts are kept as the log's floats (6 decimals); the SQLite store keeps exact ones.
    """

    def __init__(self, path: Path) -> None:
        self._file = JsonArrayFile(path, "cost log", _is_entry)
        self.location = self._file.location

    def close(self) -> None:
        """Nothing to release: the file is opened per call."""

    def add(self, record: CostRecord) -> CostTotals:
        with self._file.update() as entries:
            entries.append(record.to_entry())
            if record.session_id is None:
                return CostTotals()
            return _sum(e for e in entries if e.get("session_id") == record.session_id)

    def total(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        user: str | None = None,
        session_id: str | None = None,
    ) -> Decimal:
        chosen = _select(self._file.read(), since, until)
        return _sum(
            e
            for e in chosen
            if (user is None or e.get("user") == user)
            and (session_id is None or e.get("session_id") == session_id)
        ).cost

    def report(
        self, group_by: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[CostGroup]:
        key = _KEYS[check_group(group_by)]
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in _select(self._file.read(), since, until):
            groups[str(key(entry))].append(entry)
        found = [CostGroup(name, _sum(entries)) for name, entries in groups.items()]
        return sorted(found, key=lambda group: (-group.totals.cost, group.key))

    def by_session(self, session_ids: Sequence[str]) -> dict[str, CostTotals]:
        wanted = set(session_ids)
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in self._file.read():
            if entry.get("session_id") in wanted:
                groups[entry["session_id"]].append(entry)
        return {session_id: _sum(entries) for session_id, entries in groups.items()}

    def entries(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        yield from _select(self._file.read(), since, None)

    def import_records(self, records: Iterable[CostRecord]) -> ImportResult:
        imported = skipped = 0
        with self._file.update() as entries:
            known = {CostRecord.from_entry(entry).natural_key for entry in entries}
            for record in records:
                key = record.natural_key
                if key in known:
                    skipped += 1
                    continue
                known.add(key)
                entries.append(record.to_entry())
                imported += 1
        return ImportResult(imported, skipped)

    def count(self, session_ids: set[str] | None = None) -> int:
        """How many entries there are (of these sessions only, if given)."""
        entries = self._file.read()
        if session_ids is None:
            return len(entries)
        return sum(1 for entry in entries if entry.get("session_id") in session_ids)

    def remove_sessions(self, session_ids: set[str]) -> int:
        """Delete the entries of these sessions; return how many there were."""
        if not session_ids:
            return 0
        with self._file.update() as entries:
            kept = [entry for entry in entries if entry.get("session_id") not in session_ids]
            removed = len(entries) - len(kept)
            entries[:] = kept
        return removed


def _is_entry(item: Any) -> bool:
    return isinstance(item, dict) and {"timestamp", "model", "cost"} <= item.keys()


def _select(
    entries: list[dict[str, Any]], since: datetime | None, until: datetime | None
) -> Iterator[dict[str, Any]]:
    for entry in entries:
        moment = parse_time(entry["timestamp"])
        if (since is None or moment >= since) and (until is None or moment < until):
            yield entry


def _sum(entries: Iterable[dict[str, Any]]) -> CostTotals:
    requests = input_tokens = cached = output = reasoning = 0
    cost = Decimal(0)
    for entry in entries:
        tokens = entry.get("tokens") or {}
        requests += 1
        input_tokens += int(tokens.get("input", 0))
        cached += int(tokens.get("cached_input", 0))
        output += int(tokens.get("output", 0))
        reasoning += int(tokens.get("reasoning", 0))
        cost += Decimal(str(entry["cost"].get("total", 0)))
    return CostTotals(requests, input_tokens, cached, output, reasoning, cost)
