"""Plain-text reports in the guide's layout."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

_RULE = "=" * 80


def format_statistics(stats: dict[str, Any], days: float | None) -> str:
    """The guide's statistics report for ``get_statistics()`` output."""
    window = "All Time" if days is None else f"Last {days:g} Days"
    lines = [
        _RULE,
        f"  Session Statistics - {window}",
        _RULE,
        "",
        "📊 Overview:",
        f"   Total Sessions: {stats['total_sessions']}",
        f"   Active Sessions: {stats['active_sessions']}",
        f"   Average Duration: {stats['avg_duration_seconds']:.1f} seconds",
    ]
    for heading, key in (
        ("🔧 By Operation Type:", "by_operation_type"),
        ("👤 By User:", "by_user"),
        ("✅ By Status:", "by_status"),
    ):
        lines += ["", heading]
        lines += [f"   {name}: {count}" for name, count in stats[key].items()] or ["   (none)"]
    if stats.get("total_cost_usd") and Decimal(stats["total_cost_usd"]):  # exact text
        lines += ["", "💰 LLM Costs:", f"   Total: ${Decimal(stats['total_cost_usd']):.4f}"]
        lines += [
            f"   {name}: ${Decimal(cost):.4f}"
            for name, cost in stats["cost_by_operation_type"].items()
        ]
    lines.append(_RULE)
    return "\n".join(lines)
