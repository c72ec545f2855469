"""The LLM costs section: the cost log's own grouped queries, and the budgets' use.

Each breakdown is one ``CostLog.report`` query (SQL ``GROUP BY`` on the SQL stores), so
200,000 cost records never come into Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from .._util.system import Clock, utc_now
from ..costs.budgets import Budget, CostConfig, make_budgets
from ..costs.model import CostGroup
from ..store import CostLog
from .model import BudgetUse, CostLine, Costs


def costs_section(
    costs: CostLog,
    since: datetime | None,
    *,
    budgets: Iterable[Budget] | None = None,
    clock: Clock = utc_now,
) -> Costs:
    """Spend per day, model, operation type and user since ``since``, and budget use.

    Args:
        costs: The store's cost log.
        since: The start of the period (``None``: every record).
        budgets: The budgets to show; ``None`` reads them from the cost config
            (``M365_TOOLKIT_COST_CONFIG``), as the cost tracker does.
        clock: The current time, which fixes each budget's current period.

    Raises:
        ConfigError: ``budgets`` is ``None`` and the cost config cannot be read.
    """
    by_day = sorted(_lines(costs.report("day", since)), key=lambda line: line.key)
    by_model = _lines(costs.report("model", since))
    if budgets is None:
        budgets = make_budgets(CostConfig.load(None).budgets)
    now = clock()
    return Costs(
        total=sum((line.cost for line in by_model), Decimal(0)),
        requests=sum(line.requests for line in by_model),
        by_day=tuple(by_day),
        by_model=tuple(by_model),
        by_operation=tuple(_lines(costs.report("operation", since))),
        by_user=tuple(_lines(costs.report("user", since))),
        budgets=tuple(_use(costs, budget, now) for budget in budgets),
    )


def _lines(groups: Iterable[CostGroup]) -> list[CostLine]:
    return [
        CostLine(g.key, g.totals.requests, g.totals.input + g.totals.output, g.totals.cost)
        for g in groups
    ]


def _use(costs: CostLog, budget: Budget, now: datetime) -> BudgetUse:
    """A user budget shows its most spending user, the one closest to the limit."""
    if budget.scope == "session":
        return BudgetUse(budget.name, budget.limit, None, None)
    start = budget.period_start(now)
    if budget.scope == "user":
        groups = costs.report("user", start)
        spent = max((g.totals.cost for g in groups), default=Decimal(0))
    else:
        spent = costs.total(start)
    percent = round(float(spent / budget.limit * 100), 1)
    return BudgetUse(budget.name, budget.limit, spent, percent)
