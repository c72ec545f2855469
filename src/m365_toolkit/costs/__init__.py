"""LLM costs: token usage and exact money (the model), prices, budgets and the tracker.

Importing this package loads the pure model only; the tracker lives in
:mod:`m365_toolkit.costs.tracker` (documented as :mod:`m365_toolkit.cost_tracker`).
"""

from .model import GROUPS, CostGroup, CostRecord, CostTotals, TokenUsage, usd, usd_text

__all__ = ["GROUPS", "CostGroup", "CostRecord", "CostTotals", "TokenUsage", "usd", "usd_text"]
