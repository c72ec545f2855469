"""Small builders shared by the control modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import AuditConfig
from ..model import FAIL, PASS, Check, Verdict, View

LEARN = "https://learn.microsoft.com"


def field_of(body: Any, dotted: str) -> Any:
    """``body["a"]["b"]`` for ``"a.b"``; ``None`` where a level is missing."""
    value = body
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def setting(path: str, dotted: str, passes: Callable[[Any], bool], expected: str) -> Check:
    """A check of one field of one object endpoint: pass when ``passes(value)``."""

    def check(view: View, config: AuditConfig) -> Verdict:
        value = field_of(view.body(path), dotted)
        return Verdict(
            PASS if passes(value) else FAIL,
            expected,
            {dotted: value},
            evidence={"endpoint": path, "field": dotted, "value": value},
        )

    return check


def is_false(value: Any) -> bool:
    return value is False


def is_true(value: Any) -> bool:
    return value is True


def verdict(ok: bool, expected: str, actual: Any, evidence: Any = None) -> Verdict:
    return Verdict(PASS if ok else FAIL, expected, actual, evidence)
