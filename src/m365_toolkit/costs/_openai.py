"""Read model and token usage from OpenAI API results, SDK objects or plain dicts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ValidationError
from .model import TokenUsage


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _count(value: Any) -> int:
    return int(value) if value is not None else 0


def usage_of(response: Any) -> tuple[str, TokenUsage]:
    """The model and tokens of a Chat Completions or Responses API result.

    Chat Completions report ``prompt_tokens`` / ``completion_tokens`` with
    ``prompt_tokens_details.cached_tokens`` and ``completion_tokens_details.reasoning_tokens``;
    the Responses API reports ``input_tokens`` / ``output_tokens`` with
    ``input_tokens_details.cached_tokens`` and ``output_tokens_details.reasoning_tokens``.

    Raises:
        ValidationError: The result names no model or carries no usage.
    """
    model = _get(response, "model")
    usage = _get(response, "usage")
    if not isinstance(model, str) or not model or usage is None:
        raise ValidationError(
            "The response has no model and usage; pass a Chat Completions or Responses API "
            f"result (object or dict), not {type(response).__name__}."
        )
    if _get(usage, "input_tokens") is not None:  # Responses API
        return model, TokenUsage(
            _count(_get(usage, "input_tokens")),
            _count(_get(usage, "output_tokens")),
            _count(_get(_get(usage, "input_tokens_details"), "cached_tokens")),
            _count(_get(_get(usage, "output_tokens_details"), "reasoning_tokens")),
        )
    return model, TokenUsage(
        _count(_get(usage, "prompt_tokens")),
        _count(_get(usage, "completion_tokens")),
        _count(_get(_get(usage, "prompt_tokens_details"), "cached_tokens")),
        _count(_get(_get(usage, "completion_tokens_details"), "reasoning_tokens")),
    )


def usage_from_dict(usage: Mapping[str, Any]) -> TokenUsage:
    """Tokens from a usage dict: OpenAI's shape, or the flat ``cached_tokens`` of old logs."""
    cached = _get(_get(usage, "prompt_tokens_details"), "cached_tokens")
    if cached is None:
        cached = usage.get("cached_tokens")
    return TokenUsage(
        _count(usage.get("prompt_tokens", usage.get("input_tokens"))),
        _count(usage.get("completion_tokens", usage.get("output_tokens"))),
        _count(cached),
        _count(_get(_get(usage, "completion_tokens_details"), "reasoning_tokens")),
    )
