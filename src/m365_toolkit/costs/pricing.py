"""Model prices and the cost of a request, in exact decimal USD.

Prices come from overrides first (a mapping given in code, or the ``[prices]`` table of the
cost config file), then from the ``genai-prices`` package, which ships published prices for
OpenAI, Azure, Anthropic, Google and others and works offline.

Token semantics are :class:`~m365_toolkit.costs.TokenUsage`'s. This module needs the
``costs`` extra; the rest of the toolkit does not import it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from importlib.metadata import version
from typing import Any

from ..errors import ConfigError, UnknownModel, ValidationError
from .model import Cost, TokenUsage

try:
    from genai_prices import Usage, calc_price
    from genai_prices.types import TieredPrices
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ConfigError(
        "Cost tracking needs the genai-prices package: pip install 'm365-security-toolkit[costs]'."
    ) from exc

MILLION = Decimal(1_000_000)
_GENAI_VERSION = version("genai-prices")


Rate = Decimal | TieredPrices  # USD per million tokens; tiered by the request's input size


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens of one model, with where the figures come from."""

    input: Rate
    cached_input: Rate
    output: Rate
    source: str

    def cost(self, usage: TokenUsage) -> Cost:
        """The cost of ``usage`` at this price."""
        uncached = usage.input - usage.cached_input
        return Cost(
            _at(self.input, usage.input) * uncached / MILLION,
            _at(self.cached_input, usage.input) * usage.cached_input / MILLION,
            _at(self.output, usage.input) * usage.output / MILLION,
            self.source,
        )


def _at(rate: Rate, input_tokens: int) -> Decimal:
    """The rate that applies to a request with this many input tokens (as genai-prices)."""
    if isinstance(rate, Decimal):
        return rate
    applied = rate.base
    for tier in rate.tiers:
        if input_tokens > tier.start:
            applied = tier.price
    return applied


def price_from_mapping(model: str, figures: Mapping[str, Any], source: str) -> Price:
    """A price from ``{"input": ..., "cached_input": ..., "output": ...}`` (USD / 1M tokens).

    ``cached_input`` defaults to ``input``.

    Raises:
        ValidationError: A figure is missing, not a number, or negative.
    """
    if not isinstance(figures, Mapping):
        raise ValidationError(f"The price of {model!r} must be a table of USD per 1M tokens.")
    unknown = set(figures) - {"input", "cached_input", "output"}
    if unknown:
        raise ValidationError(
            f"The price of {model!r} has unknown field(s) {sorted(unknown)}; "
            "use input, cached_input and output."
        )
    values = {}
    for name in ("input", "cached_input", "output"):
        raw = figures.get(name, figures.get("input") if name == "cached_input" else None)
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            value = Decimal(-1)
        if raw is None or isinstance(raw, bool) or not value.is_finite() or value < 0:
            raise ValidationError(
                f"The price of {model!r} needs {name} in USD per 1M tokens as a number >= 0, "
                f"not {raw!r}."
            )
        values[name] = value
    return Price(values["input"], values["cached_input"], values["output"], source)


class PriceBook:
    """Finds the price of a model: overrides first, then genai-prices.

    Args:
        overrides: ``{model: {"input": .., "cached_input": .., "output": ..}}`` in USD per
            million tokens, e.g. negotiated or Azure OpenAI deployment rates.
        source: How to name the overrides in cost records.
    """

    def __init__(
        self, overrides: Mapping[str, Mapping[str, Any]] | None = None, source: str = "override"
    ) -> None:
        self._overrides = {
            model.lower(): price_from_mapping(model, figures, source)
            for model, figures in (overrides or {}).items()
        }
        self._found: dict[str, Price] = {}
        self._lock = threading.Lock()

    def with_overrides(
        self, overrides: Mapping[str, Mapping[str, Any]], source: str = "override"
    ) -> PriceBook:
        """A price book whose overrides take precedence over this one's."""
        merged = PriceBook()
        merged._overrides = {**self._overrides, **PriceBook(overrides, source)._overrides}
        return merged

    def price(self, model: str, when: datetime | None = None) -> Price:
        """The price of ``model``.

        Raises:
            UnknownModel: Neither an override nor genai-prices knows the model.
        """
        if not isinstance(model, str) or not model.strip():
            raise ValidationError(f"model must be a non-empty string, not {model!r}.")
        key = model.lower()
        override = self._overrides.get(key)
        if override is not None:
            return override
        with self._lock:
            found = self._found.get(key)
        if found is None:
            found = _genai_price(model, when)
            with self._lock:
                self._found[key] = found
        return found

    def cost(self, model: str, usage: TokenUsage, when: datetime | None = None) -> Cost:
        """The cost of one request of ``model`` with ``usage``."""
        return self.price(model, when).cost(usage)


def _genai_price(model: str, when: datetime | None) -> Price:
    try:
        found = calc_price(
            Usage(input_tokens=0, output_tokens=0), model, genai_request_timestamp=when
        )
    except LookupError:
        raise UnknownModel(model) from None
    rates = found.model_price
    if not isinstance(rates.input_mtok, (Decimal, TieredPrices)) or rates.output_mtok is None:
        raise UnknownModel(model)
    cached = rates.cache_read_mtok if rates.cache_read_mtok is not None else rates.input_mtok
    return Price(
        rates.input_mtok,
        cached,
        rates.output_mtok,
        f"genai-prices {_GENAI_VERSION} ({found.provider.id}/{found.model.id})",
    )
