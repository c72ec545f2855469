"""Steps an operation reports while it runs, so its caller can record and show them.

The operations take an optional callback; the CLI and the MCP server record each step as a
``progress`` event of the session they track the operation in. A step with a position
(``done`` of ``total``) is also worth showing as a progress bar or notification.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Step:
    """One step of an operation: what it is doing now, with optional data and position."""

    message: str
    data: dict[str, Any] = field(default_factory=dict)
    done: float | None = None
    total: float | None = None


OnStep = Callable[[Step], None]
"""Called by synchronous operations (they may run in a worker thread)."""

OnStepAsync = Callable[[Step], Awaitable[None]]
"""Awaited by asynchronous operations, such as running an audit script."""
