"""GPT5CostTracker: prices each LLM request, links it to a session, watches budgets."""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from .._util import system as _system
from .._util.atomic import refuse_store_files
from .._util.values import clean_mapping, require_name
from ..errors import BudgetExceededError, UnknownModel
from ..sessions.manager import SessionManager, get_session_manager
from ..sessions.model import Status
from ..store import CostLog, Store, open_store
from ..store.jsonfile import JsonCostLog
from ._openai import usage_from_dict, usage_of
from .budgets import Budget, BudgetStatus, BudgetWarning, CostConfig, make_budgets
from .model import CostGroup, CostRecord, CostTotals, TokenUsage, usd
from .pricing import PriceBook
from .reports import detailed_report, session_summary, write_csv

logger = logging.getLogger("m365_toolkit.costs")


class GPT5CostTracker:
    """Prices LLM requests and records them with the session that caused them.

    Costs go to the session store of ``manager`` (by default the process's
    ``get_session_manager()``), in a table linked by session id. ``log_file`` sends them
    elsewhere instead: a ``.json`` path keeps the original toolkit's cost log format there,
    any other path is a SQLite store.

    Args:
        budget_limit: Daily limit in USD for all spending (the original's meaning).
        log_file: Where to keep costs instead of the session store.
        session_id: The session every request is linked to.
        manager: The session manager whose store and sessions to use.
        user: Who is spending; by default the session's user, else the detected user.
        prices: ``{model: {"input", "cached_input", "output"}}`` in USD per million tokens,
            taking precedence over the config file and genai-prices.
        config_file: TOML with ``[prices."model"]`` and ``[budgets]`` tables; by default
            ``M365_TOOLKIT_COST_CONFIG``.
        monthly_limit, user_daily_limit, user_monthly_limit, session_limit: More budgets
            in USD. Months and days are the local calendar's.
        enforce: Raise :class:`BudgetExceededError` from a request that was made while a
            budget was already exhausted (the request is still recorded); see
            :meth:`check_budget` to stop before making one.
        clock: Returns the current UTC time; by default the manager's.
    """

    def __init__(
        self,
        budget_limit: float | Decimal | None = None,
        log_file: str | os.PathLike[str] | None = None,
        session_id: str | None = None,
        *,
        manager: SessionManager | None = None,
        user: str | None = None,
        prices: Mapping[str, Mapping[str, Any]] | None = None,
        config_file: str | os.PathLike[str] | None = None,
        monthly_limit: float | Decimal | None = None,
        user_daily_limit: float | Decimal | None = None,
        user_monthly_limit: float | Decimal | None = None,
        session_limit: float | Decimal | None = None,
        enforce: bool = False,
        clock: _system.Clock | None = None,
    ) -> None:
        config = CostConfig.load(os.fspath(config_file) if config_file is not None else None)
        self.prices = PriceBook(config.prices, config.source).with_overrides(prices or {})
        limits = {
            **config.budgets,
            **{
                name: value
                for name, value in (
                    ("daily", budget_limit), ("monthly", monthly_limit),
                    ("user_daily", user_daily_limit), ("user_monthly", user_monthly_limit),
                    ("session", session_limit),
                )
                if value is not None
            },
        }  # fmt: skip
        self.budgets = make_budgets(limits)
        self.budget_limit = budget_limit
        self.enforce = enforce
        self.session_id = session_id
        self._owned: Store | JsonCostLog | None = None
        if session_id is not None or log_file is None:
            manager = manager or get_session_manager()
        self._manager = manager
        self._clock = clock or (manager.clock if manager is not None else _system.utc_now)
        if log_file is not None:
            self.log_file = os.fspath(log_file)
            if self.log_file.lower().endswith(".json"):
                self._owned = JsonCostLog(Path(self.log_file))
                self.costs: CostLog = self._owned
            else:
                self._owned = open_store(self.log_file)
                self.costs = self._owned.costs
        else:
            assert manager is not None
            self.costs = manager.store.costs
            self.log_file = self.costs.location
        session = manager.get_session(session_id) if manager and session_id else None
        self.operation_type = session.operation_type if session else None
        self.user = require_name(user, "user") if user is not None else (
            session.user if session else _system.detect_user()
        )  # fmt: skip
        self.session_costs: list[dict[str, Any]] = []
        self.total_tokens = {"input": 0, "cached_input": 0, "output": 0}
        self.total_cost = Decimal(0)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close a cost log this tracker opened itself."""
        if self._owned is not None:
            self._owned.close()

    # -- tracking ----------------------------------------------------------------------------

    def track_request(
        self,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
        request_type: str = "chat",
        metadata: Mapping[str, Any] | None = None,
        *,
        reasoning_tokens: int = 0,
    ) -> dict[str, Any]:
        """Price and record one request; committed before it returns.

        ``prompt_tokens`` counts every input token, as OpenAI reports it; ``cached_tokens``
        is the part of them read from the prompt cache, billed at the cached rate.

        Returns:
            ``{"request": entry, "session_total": totals}``: the entry as stored (tokens
            and USD cost by part, session id, price source) and the linked session's running
            totals across every process (or this tracker's, without a session).

        Raises:
            UnknownModel: No price is known for ``model``.
            ValidationError: Token counts are negative, or cached exceed prompt tokens.
            BudgetExceededError: ``enforce`` is on and a budget was already exhausted.
        """
        usage = TokenUsage(prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens)
        return self._track(model, usage, request_type, metadata)

    def track_openai_response(
        self,
        response: Any,
        request_type: str = "chat",
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record a Chat Completions or Responses API result (SDK object or dict)."""
        model, usage = usage_of(response)
        return self._track(model, usage, request_type, metadata)

    def _track(
        self,
        model: str,
        usage: TokenUsage,
        request_type: str,
        metadata: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        require_name(request_type, "request_type")
        cleaned = clean_mapping(metadata, "metadata")
        now = self._clock()
        cost = self.prices.cost(model, usage, now)
        record = CostRecord(
            now, self.session_id, self.user, self.operation_type, model, request_type, usage,
            cost, cleaned,
        )  # fmt: skip
        session_totals = self.costs.add(record)
        entry = record.to_entry()
        with self._lock:
            self.session_costs.append(entry)
            self.total_tokens["input"] += usage.input
            self.total_tokens["cached_input"] += usage.cached_input
            self.total_tokens["output"] += usage.output
            self.total_cost += cost.total
            totals = session_totals if self.session_id is not None else self._own_totals()
        exhausted = self._watch_budgets(cost.total) if self.budgets else None
        if self.enforce and exhausted is not None:
            raise BudgetExceededError(
                exhausted.budget.label, exhausted.budget.limit, exhausted.spent
            )
        return {"request": entry, "session_total": totals.to_dict()}

    def _own_totals(self) -> CostTotals:
        return CostTotals(
            len(self.session_costs), self.total_tokens["input"],
            self.total_tokens["cached_input"], self.total_tokens["output"], 0, self.total_cost,
        )  # fmt: skip

    # -- budgets -----------------------------------------------------------------------------

    def budget_status(self) -> list[BudgetStatus]:
        """Each budget with its current spend."""
        now = self._clock()
        return [BudgetStatus(budget, self._spent(budget, now)) for budget in self.budgets]

    def check_budget(self) -> None:
        """Raise :class:`BudgetExceededError` if any budget is exhausted; call before a request."""
        for status in self.budget_status():
            if status.exhausted:
                raise BudgetExceededError(status.budget.label, status.budget.limit, status.spent)

    def _spent(self, budget: Budget, now: Any) -> Decimal:
        if budget.scope == "session":
            if self.session_id is None:
                return Decimal(0)
            return self.costs.total(session_id=self.session_id)
        user = self.user if budget.scope == "user" else None
        return self.costs.total(budget.period_start(now), user=user)

    def _watch_budgets(self, cost: Decimal) -> BudgetStatus | None:
        """Warn about budgets this request crossed; return one that was exhausted before it."""
        exhausted_before = None
        for status in self.budget_status():
            before = status.spent - cost
            if before >= status.budget.limit:
                exhausted_before = exhausted_before or status
            elif status.spent >= status.budget.limit:
                self._announce(status)
        return exhausted_before

    def _announce(self, status: BudgetStatus) -> None:
        budget = status.budget
        message = (
            f"The {budget.label} budget of ${budget.limit:.2f} is crossed: "
            f"${status.spent:.6f} spent."
        )
        logger.warning(message)
        warnings.warn(message, BudgetWarning, stacklevel=4)
        if self._manager is None or self.session_id is None:
            return
        session = self._manager.get_session(self.session_id)
        if session is not None and session.status is Status.ACTIVE:
            session.add_event(
                "budget",
                message,
                {"budget": budget.name, "limit": str(budget.limit), "spent": str(status.spent)},
            )

    # -- reports -----------------------------------------------------------------------------

    def get_daily_cost(self) -> float:
        """USD spent today (local calendar day), by every session and process."""
        return usd(self.costs.total(Budget("daily", Decimal(1)).period_start(self._clock())))

    def get_weekly_cost(self) -> float:
        """USD spent in the last 7 days."""
        return usd(self.costs.total(self._clock() - timedelta(days=7)))

    def get_monthly_cost(self) -> float:
        """USD spent this calendar month."""
        return usd(self.costs.total(Budget("monthly", Decimal(1)).period_start(self._clock())))

    def get_cost_by_model(self) -> dict[str, float]:
        """USD by model over every record."""
        return {group.key: usd(group.totals.cost) for group in self.costs.report("model")}

    def get_cost_by_type(self) -> dict[str, float]:
        """USD by request type over every record."""
        return {group.key: usd(group.totals.cost) for group in self.costs.report("type")}

    def report(self, group_by: str = "model", days: float | None = 30) -> list[CostGroup]:
        """Totals grouped by ``model``, ``type``, ``operation``, ``user`` or ``day``."""
        since = self._clock() - timedelta(days=days) if days is not None else None
        return self.costs.report(group_by, since)

    def print_session_summary(self) -> None:
        """Print this tracker's requests and the period costs, as the original did."""
        totals = (
            self.costs.by_session([self.session_id]).get(self.session_id, CostTotals())
            if self.session_id is not None
            else self._own_totals()
        )
        periods = (self.get_daily_cost(), self.get_weekly_cost(), self.get_monthly_cost())
        print(session_summary(totals, periods, self.budget_status()))

    def print_detailed_report(self, days: int = 30) -> None:
        """Print costs by model and type, token use, savings and advice for ``days`` days."""
        print(self.detailed_report(days))

    def detailed_report(self, days: int = 30) -> str:
        """The text :meth:`print_detailed_report` prints."""
        by_model = self.report("model", days)
        by_type = self.report("type", days) if by_model else []
        return detailed_report(days, by_model, by_type, self._savings(by_model))

    def _savings(self, by_model: list[CostGroup]) -> Decimal:
        """What cached tokens saved against the same tokens at the uncached rate."""
        saved = Decimal(0)
        for group in by_model:
            cached = group.totals.cached_input
            try:
                price = self.prices.price(group.key)
            except UnknownModel:
                continue
            full = price.cost(TokenUsage(cached, 0)).total
            saved += full - price.cost(TokenUsage(cached, 0, cached_input=cached)).total
        return saved

    def export_to_csv(
        self, output_path: str | os.PathLike[str] = "output/reports/gpt5_costs.csv"
    ) -> int:
        """Write every cost record to a CSV file (replaced atomically); return the row count."""
        refuse_store_files(output_path, self.costs.files())
        return write_csv(self.costs.entries(), Path(output_path))


# -- one tracker per process -----------------------------------------------------------------

_tracker: GPT5CostTracker | None = None
_tracker_lock = threading.Lock()


def get_tracker(budget_limit: float | Decimal | None = None) -> GPT5CostTracker:
    """This process's shared tracker, on the shared session manager's store."""
    global _tracker
    with _tracker_lock:
        if _tracker is None:
            _tracker = GPT5CostTracker(budget_limit=budget_limit)
        return _tracker


def track_gpt5_request(
    model: str,
    usage: Mapping[str, Any],
    request_type: str = "chat",
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Record a request from its OpenAI ``usage`` dict on the shared tracker."""
    counts = usage_from_dict(usage)
    return get_tracker().track_request(
        model, counts.input, counts.output, counts.cached_input, request_type, metadata,
        reasoning_tokens=counts.reasoning,
    )  # fmt: skip


def track_openai_response(
    response: Any, request_type: str = "chat", metadata: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Record an OpenAI API result on the shared tracker."""
    return get_tracker().track_openai_response(response, request_type, metadata)


def _reset_tracker() -> None:
    """Forget the shared tracker (for tests)."""
    global _tracker
    with _tracker_lock:
        if _tracker is not None:
            _tracker.close()
        _tracker = None
