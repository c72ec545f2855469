"""Several cost reports from one pass: the fold behind ``CostLog.summary``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..costs.model import CostGroup, CostTotals, from_pico


def fold_groups(
    names: Sequence[str], rows: Iterable[tuple[Sequence[Any], Sequence[Any]]]
) -> dict[str, list[CostGroup]]:
    """Reports by each of ``names`` from rows grouped by all of them at once.

    Each row is its keys (one per name) and its sums (``requests, input, cached, output,
    reasoning tokens, total picodollars``); each report is ordered as ``CostLog.report``
    orders it: most expensive first, then by key in byte order.
    """
    sums: list[dict[str, list[int]]] = [{} for _ in names]
    for keys, values in rows:
        for position, key in enumerate(keys):
            into = sums[position].setdefault(str(key), [0] * 6)
            for i, value in enumerate(values):
                into[i] += int(value)
    return {
        name: sorted(
            (CostGroup(key, _totals(found)) for key, found in sums[position].items()),
            key=lambda group: (-group.totals.cost, group.key.encode("utf-8")),
        )
        for position, name in enumerate(names)
    }


def _totals(sums: Sequence[int]) -> CostTotals:
    requests, input_tokens, cached, output, reasoning, cost = sums
    return CostTotals(requests, input_tokens, cached, output, reasoning, from_pico(cost))
