"""Turn user-supplied metadata and event data into redacted, JSON-ready values."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from functools import lru_cache
from pathlib import PurePath
from typing import Any
from uuid import UUID

from ..errors import SerializationError, ValidationError

REDACTED = "[REDACTED]"

# Whole words (or word pairs) of a key that mark its value as a secret. "tokens" is absent on
# purpose: `prompt_tokens` and `max_tokens` are counts, not credentials.
_SECRET_WORDS = frozenset(
    {
        "password", "passwords", "passwd", "secret", "secrets", "token", "apikey",
        "authorization", "credential", "credentials",
    }
)  # fmt: skip
_SECRET_PAIRS = frozenset({("api", "key"), ("private", "key")})
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Tell whether a mapping key names a secret, e.g. ``client_secret`` or ``x-api-key``."""
    words = [w for w in _NON_WORD.split(_CAMEL_BOUNDARY.sub(" ", key).lower()) if w]
    if any(word in _SECRET_WORDS for word in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in zip(words, words[1:], strict=False))


def clean_mapping(value: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    """Validate, convert and redact a metadata or data mapping.

    Args:
        value: The mapping the caller passed (``None`` means empty).
        name: How to name it in errors, e.g. ``"metadata"``.

    Raises:
        SerializationError: A value cannot be stored as JSON; the error names its key path.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SerializationError(name, value)
    if not value:
        return {}
    return _clean_dict(value, name)


def _clean_dict(value: Mapping[Any, Any], path: str) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise SerializationError(f"{path} key {key!r}", key)
        if is_secret_key(key):
            cleaned[key] = REDACTED
        else:
            cleaned[key] = _clean(item, f"{path}[{key!r}]")
    return cleaned


def _clean(value: Any, path: str) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        if isinstance(value, Enum):
            return str(value.value)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{path} is {value!r}, which JSON cannot hold; use None.")
        return value
    if isinstance(value, Mapping):
        return _clean_dict(value, path)
    if isinstance(value, (list, tuple)):
        return [_clean(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (PurePath, UUID)):
        return str(value)
    raise SerializationError(path, value)


def to_json(value: dict[str, Any]) -> str:
    """Compact JSON text of a cleaned mapping, as the stores keep it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else "{}"


def require_name(value: object, what: str) -> str:
    """Check that a free-form name (operation type, event type, user) is a non-empty string."""
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, not {type(value).__name__} {value!r}.")
    if not value.strip():
        raise ValidationError(f"{what} must not be empty.")
    return value
