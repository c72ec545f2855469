"""Token counts, costs and cost records: one priced LLM request, linked to its session.

Token semantics follow OpenAI's usage objects: ``input`` counts every prompt token, and
``cached_input`` is the part of them served from the prompt cache, billed at the cached
rate. Cached tokens are never counted twice. Money is ``Decimal`` USD, exact; stores keep
it as integer picodollars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ._system import format_time
from .errors import ValidationError

GROUPS = ("model", "type", "operation", "user", "day")
PICO = Decimal("1e-12")  # costs are exact to a millionth of a millionth of a dollar


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens of one request. ``cached_input`` is part of ``input``; ``reasoning`` of ``output``."""

    input: int
    output: int
    cached_input: int = 0
    reasoning: int = 0

    def __post_init__(self) -> None:
        for name in ("input", "output", "cached_input", "reasoning"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(f"{name} tokens must be a whole number >= 0, not {value!r}.")
        if self.cached_input > self.input:
            raise ValidationError(
                f"cached_tokens ({self.cached_input}) cannot exceed prompt_tokens ({self.input}): "
                "cached tokens are the part of the prompt served from the cache."
            )
        if self.reasoning > self.output:
            raise ValidationError(
                f"reasoning tokens ({self.reasoning}) cannot exceed output tokens ({self.output})."
            )

    @property
    def total(self) -> int:
        return self.input + self.output


@dataclass(frozen=True, slots=True)
class Cost:
    """What a request cost, in USD, and which price source said so."""

    input: Decimal
    cached_input: Decimal
    output: Decimal
    source: str

    @property
    def total(self) -> Decimal:
        return self.input + self.cached_input + self.output


def usd(amount: Decimal) -> float:
    """A cost as the float of the guide's dict format: the nearest double, not rounded to a
    few decimals, so that a gpt-5-nano request's $0.0000003 is not shown as zero."""
    return float(amount)


def to_pico(amount: Decimal) -> int:
    """Exact integer picodollars, for storage and summing without float error."""
    return int(amount.quantize(PICO) / PICO)


def from_pico(amount: int | None) -> Decimal:
    return (Decimal(amount or 0) * PICO).normalize() if amount else Decimal(0)


@dataclass(frozen=True, slots=True)
class CostRecord:
    """One tracked request."""

    timestamp: datetime
    session_id: str | None
    user: str
    operation_type: str | None
    model: str
    request_type: str
    usage: TokenUsage
    cost: Cost
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_entry(self) -> dict[str, Any]:
        """The cost log's entry format (the original toolkit's, plus the links)."""
        return {
            "timestamp": format_time(self.timestamp),
            "session_id": self.session_id,
            "user": self.user,
            "operation_type": self.operation_type,
            "model": self.model,
            "request_type": self.request_type,
            "tokens": {
                "input": self.usage.input,
                "cached_input": self.usage.cached_input,
                "output": self.usage.output,
                "reasoning": self.usage.reasoning,
                "total": self.usage.total,
            },
            "cost": {
                "input": usd(self.cost.input),
                "cached_input": usd(self.cost.cached_input),
                "output": usd(self.cost.output),
                "total": usd(self.cost.total),
            },
            "price_source": self.cost.source,
            "metadata": self.metadata,
        }


@dataclass(frozen=True, slots=True)
class CostTotals:
    """Requests, tokens and cost summed over a group of records."""

    requests: int = 0
    input: int = 0
    cached_input: int = 0
    output: int = 0
    reasoning: int = 0
    cost: Decimal = Decimal(0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "tokens": {
                "input": self.input,
                "cached_input": self.cached_input,
                "output": self.output,
                "reasoning": self.reasoning,
                "total": self.input + self.output,
            },
            "cost": usd(self.cost),
        }


@dataclass(frozen=True, slots=True)
class CostGroup:
    """One line of a cost report: a group key and its totals."""

    key: str
    totals: CostTotals

    def to_dict(self, group_by: str) -> dict[str, Any]:
        return {group_by: self.key, **self.totals.to_dict()}


def check_group(group_by: str) -> str:
    """Check a cost report grouping."""
    if group_by not in GROUPS:
        raise ValidationError(
            f"Cannot group costs by {group_by!r}; use one of {', '.join(GROUPS)}."
        )
    return group_by
