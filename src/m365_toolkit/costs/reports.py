"""The cost tracker's printed reports and CSV export, in the original toolkit's layout."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from .._util.atomic import atomic_text_file
from .._util.values import csv_cell
from .budgets import BudgetStatus
from .model import CostGroup, CostTotals

_RULE = "=" * 80
CSV_FIELDS = (
    "timestamp", "model", "request_type", "input_tokens", "cached_tokens", "output_tokens",
    "total_tokens", "input_cost", "cached_cost", "output_cost", "total_cost", "session_id",
    "user", "operation_type", "reasoning_tokens", "price_source",
)  # fmt: skip


def session_summary(
    totals: CostTotals, periods: tuple[float, float, float], budgets: list[BudgetStatus]
) -> str:
    """A session's requests, tokens and cost, the day/week/month costs and the budgets."""
    today, week, month = periods
    lines = [
        "", _RULE, "  GPT-5 Cost Tracker - Session Summary", _RULE,
        "", "📊 Session Statistics:",
        f"   Requests: {totals.requests}",
        f"   Input tokens: {totals.input:,}",
        f"   Cached tokens: {totals.cached_input:,}",
        f"   Output tokens: {totals.output:,}",
        f"   Total tokens: {totals.input + totals.output:,}",
        "", f"💰 Session Cost: ${totals.cost:.4f}",
        "", "📅 Period Costs:",
        f"   Today: ${today:.4f}",
        f"   This week: ${week:.4f}",
        f"   This month: ${month:.4f}",
    ]  # fmt: skip
    for status in budgets:
        lines += [
            "", f"🎯 Budget Status ({status.budget.label}):",
            f"   Limit: ${status.budget.limit:.2f}",
            f"   Remaining: ${status.remaining:.2f}",
        ]  # fmt: skip
    return "\n".join([*lines, _RULE, ""])


def detailed_report(
    days: int, by_model: list[CostGroup], by_type: list[CostGroup], savings: Decimal
) -> str:
    """Costs by model and type, token use, cache savings and advice over ``days`` days."""
    lines = ["", _RULE, f"  GPT-5 Cost Report - Last {days} Days", _RULE]
    if not by_model:
        return "\n".join([*lines, "", "No usage data available.", ""])
    lines += ["", "💵 Cost by Model:"]
    lines += [f"   {g.key}: ${g.totals.cost:.4f}" for g in by_model]
    lines += ["", "📝 Cost by Request Type:"]
    lines += [f"   {g.key}: ${g.totals.cost:.4f}" for g in by_type]
    total = _sum_groups(by_model)
    lines += [
        "", "📊 Token Usage:",
        f"   Input tokens: {total.input:,}",
        f"   Cached tokens: {total.cached_input:,} (saves ${savings:.2f})",
        f"   Output tokens: {total.output:,}",
        f"   Total: {total.input + total.output:,}",
        "", "💡 Cost-Saving Recommendations:",
        *_recommendations(by_model, by_type, total),
        "", f"💰 Total Cost ({days} days): ${total.cost:.4f}", _RULE, "",
    ]  # fmt: skip
    return "\n".join(lines)


def write_csv(entries: Iterable[dict[str, Any]], target: Path) -> int:
    """Write cost entries to a CSV file, replaced atomically; return the row count."""
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with atomic_text_file(target, "CSV file") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for entry in entries:
            # Text cells are neutralised so a spreadsheet never runs one as a formula.
            writer.writerow({key: csv_cell(value) for key, value in _csv_row(entry).items()})
            rows += 1
    return rows


def _sum_groups(groups: list[CostGroup]) -> CostTotals:
    return CostTotals(
        sum(g.totals.requests for g in groups), sum(g.totals.input for g in groups),
        sum(g.totals.cached_input for g in groups), sum(g.totals.output for g in groups),
        sum(g.totals.reasoning for g in groups), sum((g.totals.cost for g in groups), Decimal(0)),
    )  # fmt: skip


def _recommendations(
    by_model: list[CostGroup], by_type: list[CostGroup], total: CostTotals
) -> list[str]:
    advice = []
    gpt5 = sum(g.totals.requests for g in by_model if g.key == "gpt-5")
    if total.requests and gpt5 / total.requests > 0.5:
        advice.append("   • Consider using gpt-5-mini for simpler tasks (about 5x cheaper)")
    if total.cached_input < total.input * 0.1:
        advice.append(
            "   • Low cache usage detected - implement prompt caching for repeated content"
        )
    if total.requests and total.output / total.requests > 2000:
        advice.append("   • High output tokens - consider reducing max_completion_tokens parameter")
    reasoning = sum(g.totals.requests for g in by_type if g.key == "reasoning")
    if total.requests and reasoning > total.requests * 0.3:
        advice.append("   • Heavy reasoning API usage - use Chat Completions for simple queries")
    return advice or ["   ✅ No major optimization opportunities detected"]


def _csv_row(entry: dict[str, Any]) -> dict[str, Any]:
    tokens, cost = entry["tokens"], entry["cost"]
    return {
        "timestamp": entry["timestamp"], "model": entry["model"],
        "request_type": entry["request_type"], "input_tokens": tokens["input"],
        "cached_tokens": tokens["cached_input"], "output_tokens": tokens["output"],
        "total_tokens": tokens["total"], "input_cost": cost["input"],
        "cached_cost": cost["cached_input"], "output_cost": cost["output"],
        "total_cost": cost["total"], "session_id": entry.get("session_id") or "",
        "user": entry.get("user") or "", "operation_type": entry.get("operation_type") or "",
        "reasoning_tokens": tokens.get("reasoning", 0),
        "price_source": entry.get("price_source") or "",
    }  # fmt: skip
