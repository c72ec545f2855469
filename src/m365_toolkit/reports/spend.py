"""The LLM costs section: the cost log's own grouped queries, and the budgets' use.

The four breakdowns come from one ``CostLog.summary`` (one SQL ``GROUP BY`` of them all,
read from the covering index of the period), so 200,000 cost records never come into
Python; the budgets add one query each, and a session budget one per-session report.
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

NO_SESSION = "(no session)"
SESSIONS_SHOWN = 20
"""How many sessions the per-session spend table lists (the most spending); with a
session budget, the sessions at or over it are counted too."""


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
    found = costs.summary(("day", "model", "operation", "user"), since)
    by_model = _lines(found["model"])
    if budgets is None:
        budgets = make_budgets(CostConfig.load(None).budgets)
    budgets = tuple(budgets)
    now = clock()
    limit = next((b.limit for b in budgets if b.scope == "session"), None)
    by_session = _sessions(costs, since) if limit is not None else []
    return Costs(
        total=sum((line.cost for line in by_model), Decimal(0)),
        requests=sum(line.requests for line in by_model),
        by_day=tuple(sorted(_lines(found["day"]), key=lambda line: line.key)),
        by_model=tuple(by_model),
        by_operation=tuple(_lines(found["operation"])),
        by_user=tuple(_lines(found["user"])),
        budgets=tuple(_use(costs, budget, now, by_session) for budget in budgets),
        by_session=tuple(by_session[:SESSIONS_SHOWN]),
        session_limit=limit,
        sessions_over=sum(1 for line in by_session if limit is not None and line.cost >= limit),
    )


def _lines(groups: Iterable[CostGroup]) -> list[CostLine]:
    return [
        CostLine(g.key, g.totals.requests, g.totals.input + g.totals.output, g.totals.cost)
        for g in groups
    ]


def _sessions(costs: CostLog, since: datetime | None) -> list[CostLine]:
    """The sessions with costs in the period, with all their costs (a session budget covers
    the whole session), most expensive first."""
    ids = [g.key for g in costs.report("session", since) if g.key != NO_SESSION]
    groups = [CostGroup(key, totals) for key, totals in costs.by_session(ids).items()]
    return _lines(sorted(groups, key=lambda g: (-g.totals.cost, g.key.encode("utf-8"))))


def _use(costs: CostLog, budget: Budget, now: datetime, by_session: list[CostLine]) -> BudgetUse:
    """A user budget shows its most spending user, the one closest to the limit; a session
    budget the period's most spending session (a session's budget covers all of it)."""
    top: str | None = None
    if budget.scope == "session":
        if not by_session:
            return BudgetUse(budget.name, budget.limit, None, None)
        spent, top = by_session[0].cost, by_session[0].key
    elif budget.scope == "user":
        groups = costs.report("user", budget.period_start(now))
        spent, top = (groups[0].totals.cost, groups[0].key) if groups else (Decimal(0), None)
    else:
        spent = costs.total(budget.period_start(now))
    return BudgetUse(budget.name, budget.limit, spent, _percent(spent, budget.limit), top)


def _percent(spent: Decimal, limit: Decimal) -> float:
    return round(float(spent / limit * 100), 1)
