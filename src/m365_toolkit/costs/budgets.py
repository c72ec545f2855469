"""Spending limits: daily and monthly, overall and per user, and per session."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .. import settings
from ..errors import ConfigError, ValidationError

CONFIG_ENV = settings.COST_CONFIG  # the name bench/ and older callers import
BUDGET_NAMES = ("daily", "monthly", "user_daily", "user_monthly", "session")


@dataclass(frozen=True, slots=True)
class Budget:
    """A limit in USD on the spend of one scope over one period."""

    name: str  # one of BUDGET_NAMES
    limit: Decimal

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    @property
    def scope(self) -> str:
        """``all``, ``user`` or ``session``."""
        return (
            "user"
            if self.name.startswith("user")
            else "session"
            if self.name == "session"
            else "all"
        )

    def period_start(self, now: datetime) -> datetime | None:
        """Where the current period began: local midnight, the local month's first day."""
        local = now.astimezone()
        if self.name.endswith("daily"):
            return local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.name.endswith("monthly"):
            return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return None  # a session's budget covers the whole session


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """A budget with what has been spent against it."""

    budget: Budget
    spent: Decimal

    @property
    def remaining(self) -> Decimal:
        return max(Decimal(0), self.budget.limit - self.spent)

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.budget.limit


class BudgetWarning(UserWarning):
    """Spending has crossed a budget."""


def make_budgets(limits: Mapping[str, Any]) -> list[Budget]:
    """Budgets from ``{name: USD}``; ``None`` values are left out.

    Raises:
        ValidationError: An unknown name, or a limit that is not a positive number.
    """
    budgets = []
    for name, raw in limits.items():
        if name not in BUDGET_NAMES:
            raise ValidationError(f"Unknown budget {name!r}; use one of {', '.join(BUDGET_NAMES)}.")
        if raw is None:
            continue
        try:
            limit = Decimal(str(raw))
        except InvalidOperation:
            limit = Decimal(-1)
        if isinstance(raw, bool) or not limit.is_finite() or limit <= 0:
            raise ValidationError(
                f"The {name} budget must be a positive amount in USD, not {raw!r}."
            )
        budgets.append(Budget(name, limit))
    return budgets


@dataclass(frozen=True, slots=True)
class CostConfig:
    """Prices and budgets from a TOML file (``[prices."model"]`` and ``[budgets]`` tables)."""

    prices: dict[str, dict[str, Any]]
    budgets: dict[str, Any]
    source: str

    @classmethod
    def load(cls, path: str | Path | None) -> CostConfig:
        """Read the file; ``None`` means ``M365_TOOLKIT_COST_CONFIG`` if set, else nothing.

        Raises:
            ConfigError: The file is missing, is not TOML, or has unknown tables.
        """
        if path is None:
            path = settings.cost_config()
            if path is None:
                return cls({}, {}, "")
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"), parse_float=Decimal)
        except OSError as exc:
            raise ConfigError(
                f"Cannot read the cost config {str(file)!r}: {exc.strerror}."
            ) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"The cost config {str(file)!r} is not valid TOML: {exc}.") from exc
        unknown = set(data) - {"prices", "budgets"}
        if unknown:
            raise ConfigError(
                f"The cost config {str(file)!r} has unknown table(s) {sorted(unknown)}; "
                'use [prices."model"] and [budgets].'
            )
        return cls(dict(data.get("prices", {})), dict(data.get("budgets", {})), f"config {file}")
