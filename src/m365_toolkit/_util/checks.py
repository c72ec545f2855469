"""Checks of single values read from records (imports, stored rows): each error names the field.

A record read from a file or a store arrives as plain JSON values, so every field is
checked for its type and its range here before it becomes part of a session or a cost
record: a bad value is a :class:`~m365_toolkit.errors.ValidationError` naming the field and
what was wrong, never an ``OverflowError`` or a ``TypeError`` from deep inside a driver.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import ValidationError

MAX_INT64 = 2**63 - 1
"""The largest integer every store keeps (SQLite INTEGER, PostgreSQL bigint)."""

MAX_SECONDS = (datetime.max.replace(tzinfo=UTC) - datetime.min.replace(tzinfo=UTC)).total_seconds()
"""The longest duration between two timestamps the toolkit can hold (year 1 to 9999)."""

MAX_DEPTH = 100
"""How deep a record's metadata or data may nest: far beyond any real audit evidence, and
well inside what the JSON parser and the recursive redaction can walk."""


def optional_text(value: object, what: str) -> str | None:
    """``None`` or a string."""
    if value is None or isinstance(value, str):
        return value
    raise ValidationError(f"{what} must be a string, not {_kind(value)}.")


def text(value: object, what: str) -> str:
    """A string (possibly empty)."""
    if isinstance(value, str):
        return value
    raise ValidationError(f"{what} must be a string, not {_kind(value)}.")


def whole(value: object, what: str, *, low: int = 0, high: int = MAX_INT64) -> int:
    """A whole number from ``low`` to ``high``; ``True``/``False`` are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{what} must be a whole number, not {_kind(value)}.")
    if not low <= value <= high:
        raise ValidationError(f"{what} must be from {low} to {high}, not {_short(value)}.")
    return value


def seconds(value: object, what: str) -> float:
    """A finite, non-negative number of seconds, no longer than :data:`MAX_SECONDS`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{what} must be a number of seconds, not {_kind(value)}.")
    if isinstance(value, int) and value > MAX_SECONDS:  # float() of a huge int overflows
        raise ValidationError(f"{what} {_short(value)} is longer than any session can run.")
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(f"{what} must be a finite number of seconds, not {number!r}.")
    if number < 0:
        raise ValidationError(f"{what} must not be negative, not {number!r}.")
    if number > MAX_SECONDS:
        raise ValidationError(f"{what} {number!r} is longer than any session can run.")
    return number


def plain_json(value: object, what: str = "") -> None:
    """Check that a JSON value read from a file can be stored by every backend.

    Walks without recursion, so a value nested thousands deep is an error, not a crash.

    Args:
        value: The value, e.g. one record of an import file.
        what: How to name it in errors; with ``""`` the paths start at its keys
            (``metadata['a']``, ``events[0]['type']``).

    Raises:
        ValidationError: A string holds a NUL character (PostgreSQL text cannot keep one)
            or a lone surrogate (not encodable as UTF-8), or the value nests deeper than
            :data:`MAX_DEPTH`. The message names the path of the bad part.
    """
    stack: list[tuple[object, str, int]] = [(value, what, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item, path or "the value")
            continue
        if not isinstance(item, (Mapping, list, tuple)):
            continue
        if depth >= MAX_DEPTH:
            raise ValidationError(f"{_shorter(path)} nests deeper than {MAX_DEPTH} levels.")
        if isinstance(item, Mapping):
            for key, child in item.items():
                name = str(key)[:40]
                if isinstance(key, str):
                    _check_string(key, f"{_shorter(path) or 'the'} key {name!r}")
                stack.append((child, f"{path}[{name!r}]" if path else name, depth + 1))
        else:
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))


def _check_string(item: str, path: str) -> None:
    if "\x00" in item:
        raise ValidationError(f"{_shorter(path)} holds a NUL character, which a store cannot keep.")
    try:
        item.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            f"{_shorter(path)} holds a lone surrogate ({_short(item)}), which is not valid "
            "Unicode text."
        ) from None


def _shorter(path: str) -> str:
    """A key path of at most about 80 characters: its start and its end."""
    return path if len(path) <= 80 else f"{path[:40]}...{path[-36:]}"


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {_short(value)}"


def _short(value: Any) -> str:
    """At most 60 characters of a value's repr: a bad value may be megabytes long, or an
    integer of thousands of digits whose repr alone fails."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"(an integer of {value.bit_length()} bits)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
