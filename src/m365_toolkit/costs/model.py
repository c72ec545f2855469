"""Token counts, costs and cost records: one priced LLM request, linked to its session.

Token semantics follow OpenAI's usage objects: ``input`` counts every prompt token, and
``cached_input`` is the part of them served from the prompt cache, billed at the cached
rate. Cached tokens are never counted twice. Money is ``Decimal`` USD, exact; stores keep
it as integer picodollars.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from .._util import checks
from .._util.system import format_time, parse_time
from .._util.values import clean_mapping, require_name
from ..errors import ValidationError

GROUPS = ("model", "type", "operation", "user", "day", "session")
PICO = Decimal("1e-12")  # costs are exact to a millionth of a millionth of a dollar
MAX_TOKENS = 10**12
"""The most tokens one count of one request may hold: far beyond any context window, and
small enough that millions of such records still sum inside a 64-bit column."""
MAX_COST = Decimal(10_000)
"""The most USD one part of one request may cost. Stores keep picodollars in 64-bit
integers (at most about $9.2 million per sum), so a bound per record keeps every total
of hundreds of records exact instead of overflowing."""


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
                raise ValidationError(
                    f"{name} tokens must be a whole number >= 0, not {_short(value)}."
                )
            if value > MAX_TOKENS:
                raise ValidationError(
                    f"{name} tokens must be at most {MAX_TOKENS:,}, not {_short(value)}: no "
                    "request uses that many."
                )
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

    def __post_init__(self) -> None:
        for name in ("input", "cached_input", "output"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise ValidationError(
                    f"The {name} cost must be a finite Decimal amount of USD, not {_short(value)}."
                )
            if not 0 <= value <= MAX_COST:
                raise ValidationError(
                    f"The {name} cost must be from $0 to ${MAX_COST:,}, not {_short(value)}."
                )
        if not isinstance(self.source, str):
            raise ValidationError(f"The price source must be a string, not {_short(self.source)}.")

    @property
    def total(self) -> Decimal:
        return self.input + self.cached_input + self.output


def usd(amount: Decimal) -> float:
    """A cost as a float, for the guide's scalar methods (``get_daily_cost()``, ...): the
    nearest double, not rounded, so that a gpt-5-nano request's $0.0000003 is not zero.
    Money in JSON is :func:`usd_text` instead."""
    return float(amount)


def usd_text(amount: Decimal) -> str:
    """A cost as it appears in every JSON document the toolkit writes (CLI ``--json``, MCP
    results, the dashboard, exports, cost logs): the exact decimal in plain notation, no
    exponent, no trailing zeros (``"0.0000003"``, ``"0.021875"``, ``"10"``, ``"0"``)."""
    # Not normalize(): it rounds to the context's 28 digits. Formatting never rounds.
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


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

    @property
    def natural_key(self) -> tuple[str, str | None, str, str, int, int, int, int]:
        """What identifies one request across stores and files: its time (to the
        microsecond, UTC), session, model, request type and token counts.

        The cost is left out on purpose: it follows from the tokens and the price, and the
        JSON cost log keeps it as a float while the SQL stores keep exact picodollars, so the
        same request read back from two stores could differ in its last digits.
        """
        usage = self.usage
        return (
            format_time(self.timestamp), self.session_id, self.model, self.request_type,
            usage.input, usage.cached_input, usage.output, usage.reasoning,
        )  # fmt: skip

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> CostRecord:
        """Read an entry of the cost log format: the original toolkit's (``timestamp``,
        ``model``, ``request_type``, ``tokens``, ``cost``, ``metadata``) or this toolkit's,
        which adds ``session_id``, ``user``, ``operation_type`` and ``price_source``.

        Naive timestamps are local time; a missing user is ``"unknown"``.

        Raises:
            ValidationError: A required field is missing or a value is not valid.
        """
        if not isinstance(entry, Mapping):
            raise ValidationError(f"A cost entry must be an object, not {type(entry).__name__}.")
        try:
            raw_time, cost, model = entry["timestamp"], entry["cost"], entry["model"]
        except KeyError as exc:
            raise ValidationError(f"Cost entry lacks the field {exc.args[0]!r}.") from None
        tokens = entry.get("tokens") or {}
        if not isinstance(tokens, Mapping):
            raise ValidationError(f"A cost entry's tokens must be an object, not {tokens!r:.60}.")
        if not isinstance(cost, Mapping):
            raise ValidationError(f"A cost entry's cost must be an object, not {cost!r:.60}.")
        user = entry.get("user") or "unknown"
        return cls(
            parse_time(raw_time, "cost entry timestamp"),
            checks.optional_text(entry.get("session_id"), "session_id") or None,
            require_name(user, "user"),
            checks.optional_text(entry.get("operation_type"), "operation_type") or None,
            require_name(model, "model"),
            require_name(entry.get("request_type") or "chat", "request_type"),
            TokenUsage(
                _whole(tokens.get("input", 0)), _whole(tokens.get("output", 0)),
                _whole(tokens.get("cached_input", 0)), _whole(tokens.get("reasoning", 0)),
            ),
            Cost(
                _money(cost.get("input", 0), "input"),
                _money(cost.get("cached_input", 0), "cached_input"),
                _money(cost.get("output", 0), "output"),
                checks.text(entry.get("price_source") or "imported", "price_source"),
            ),
            clean_mapping(entry.get("metadata"), "cost entry metadata"),
        )  # fmt: skip

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
                "input": usd_text(self.cost.input),
                "cached_input": usd_text(self.cost.cached_input),
                "output": usd_text(self.cost.output),
                "total": usd_text(self.cost.total),
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
            "cost": usd_text(self.cost),
        }


@dataclass(frozen=True, slots=True)
class CostGroup:
    """One line of a cost report: a group key and its totals."""

    key: str
    totals: CostTotals

    def to_dict(self, group_by: str) -> dict[str, Any]:
        return {group_by: self.key, **self.totals.to_dict()}


def _whole(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value  # type: ignore[no-any-return]  # TokenUsage rejects anything else


def _money(value: Any, part: str = "") -> Decimal:
    """A float or string amount of the cost log as the exact decimal it was written as."""
    what = f"The {part} cost" if part else "A cost amount"
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValidationError(f"{what} must be a number, not {_short(value)}.")
    try:
        return Decimal(str(value).strip())
    except (ArithmeticError, ValueError):
        raise ValidationError(f"{what} must be a number, not {_short(value)}.") from None


def _short(value: Any) -> str:
    """A bad value as at most 60 characters (an integer of thousands of digits has no repr)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"(an integer of {value.bit_length()} bits)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_group(group_by: str) -> str:
    """Check a cost report grouping."""
    if group_by not in GROUPS:
        raise ValidationError(
            f"Cannot group costs by {group_by!r}; use one of {', '.join(GROUPS)}."
        )
    return group_by
