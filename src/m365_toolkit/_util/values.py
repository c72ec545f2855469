"""Turn user-supplied metadata, event data and free text into redacted, JSON-ready values.

Everything that enters the trail passes here once: :func:`clean_mapping` for metadata, event
data and cost metadata, :func:`redact_text` for event descriptions (error messages included)
and for every string value inside those mappings. Redaction runs on every event, so the
common case (a short description with nothing suspicious in it) returns after a few
substring checks, and every pattern is compiled once, here.
"""

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
MAX_DEPTH = 64
"""How deeply metadata and event data may nest (dicts and lists) before they are refused."""
MAX_INT_DIGITS = 100
"""The most digits an integer in metadata or event data may have: larger ones are refused,
since no store could read them back (Python refuses to parse integers of over 4,300 digits)."""
_INT_LIMIT = 10**MAX_INT_DIGITS

# -- secret keys -----------------------------------------------------------------------------
#
# A key names a secret when its *last* noun does (English compounds put the head last):
# `client_secret`, `dbpassword`, `accessToken` are secrets; `passwordPolicies`,
# `passwordValidityPeriodInDays`, `tokenLifetimePolicies` are settings about them, audit
# evidence that must stay readable. The words of a key are also matched run together
# (`accesstoken`, `xapikey`), so any separator style and none at all are the same.

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")
# Words after the noun that still name the secret itself: `secretText` (Graph's new client
# secret), `password_hash`, `new_password`'s sibling `password_confirmation`.
_VALUE_WORDS = frozenset(
    {
        "value", "values", "text", "string", "str", "plain", "plaintext", "clear", "cleartext",
        "raw", "b64", "base64", "hex", "bytes", "data", "hash", "hashed", "enc", "encrypted",
        "confirm", "confirmation", "again", "repeat", "retype", "new", "old", "current",
    }
)  # fmt: skip
# The nouns, matched at the end of the key's words run together. Plural "tokens" is absent:
# `max_tokens` and `prompt_tokens` are counts; it is a secret only after a word that makes
# it one (`auth_tokens`, `refreshtokens`).
_SECRET_TAIL = re.compile(
    r"(?:(?:password|passwd|passphrase|secret|credential|cookie"
    r"|(?:api|private|access|account|secret|shared|signing|master|encryption|subscription"
    r"|storage)key)s?|pwd|token|authorization|(?:sharedaccess|sas)signature)$"
)
_SECRET_TOKENS = re.compile(
    r"(?:auth|access|refresh|session|id|bearer|oauth|api|sas|jwt|csrf|xsrf|security)tokens"
)
_SECRET_WORDS = frozenset({"sig"})  # a SAS signature, only as a word of its own


@lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Tell whether a mapping key names a secret, e.g. ``client_secret``, ``x-api-key``,
    ``accesstoken`` or ``password1``, but not ``passwordPolicies`` or ``max_tokens``."""
    words = [w.rstrip("0123456789") for w in _NON_WORD.split(_CAMEL_BOUNDARY.sub(" ", key).lower())]
    words = [w for w in words if w]
    while words and words[-1] in _VALUE_WORDS:
        words.pop()
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_WORDS or _SECRET_TAIL.search("".join(words)):
        return True
    if last == "tokens" and len(words) > 1 and _SECRET_TOKENS.fullmatch(words[-2] + last):
        return True
    return _SECRET_TOKENS.fullmatch(last) is not None


# -- secrets inside text ---------------------------------------------------------------------

# scheme://user:PASSWORD@host: the password may hold "@" (it ends at the "@" that is followed
# by a host and then the end of the authority), never "/" or white space.
_URL_PASSWORD = re.compile(
    r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/?#@\[\]]*:)([^\s/]*?)@(?=[^\s@/?#]*(?:[/?#\s]|$))"
)
# Three base64url segments, the first a JSON header ("eyJ" is base64 of '{"').
_JWT = re.compile(r"(?<![\w\-])eyJ[\w\-]{2,}\.[\w\-]{2,}\.[\w\-]*")
_AUTH_SCHEMES = r"(?:bearer|basic|digest|negotiate|ntlm|sharedaccesssignature)"
_BARE_SCHEMES = r"(?:bearer|basic)"
# name=value and name: value, the name quoted or not, as in query strings, connection strings
# (`Password=...;`, `AccountKey=...;`), headers and JSON text; and command-line flags
# (`-ClientSecret value`, `--password=value`). Only the name and separator are matched here,
# so a name that is no secret never swallows the pair after it ("failed: password=x"); the
# value is matched from where the separator ends. Whether a name is a secret is decided by
# is_secret_key, the rule for mapping keys.
_NAME = re.compile(
    r"(?<![\w.\-])(?:(?P<dash>--?)(?P<flag>[A-Za-z][\w\-]*)(?P<space>\s*[:=]\s*|\s+)"
    r"|(?P<name>[A-Za-z_][\w.\-]*)(?P<quote>[\"']?)(?P<sep>\s*[:=]\s*))"
)
_VALUE = re.compile(
    rf"(?i)(?P<scheme>{_AUTH_SCHEMES}\s+)?"
    r"(?P<value>\[REDACTED\]|\"[^\"]*\"|'[^']*'|[^\s;,&\"'<>(){}\[\]]+)"
)
# "Bearer <credential>" without a header name: only a credential-shaped word (a digit, a "+",
# "/" or "=", or a lower-case letter before a capital), lest "Basic authentication" lose a word.
_SCHEME_CREDENTIAL = re.compile(rf"(?i)\b({_BARE_SCHEMES}\s+)([A-Za-z0-9\-._~+/]{{8,}}=*)")
_CREDENTIAL_SHAPE = re.compile(r"[0-9+/=]|[a-z][A-Z]")
# Every secret name and auth scheme contains one of these: text without any is left alone
# after one lower() and a few substring checks (the common case: most descriptions).
_HINTS = ("pass", "pwd", "secret", "token", "key", "auth", "credential", "cookie", "sig",
          "bearer", "basic")  # fmt: skip


def redact_text(text: str) -> str:
    """Free text with the secrets in it replaced by ``[REDACTED]``, the rest kept readable.

    Masks the password of ``scheme://user:password@host`` URLs, JSON Web Tokens,
    ``Authorization: Bearer``/``Basic`` credentials, and the values of secret-named pairs
    (``password=``, ``client_secret=``, ``token:``, ``sig=``, ``AccountKey=``,
    ``"api_key": "..."``) in query strings, connection strings, headers and JSON text.
    """
    exact = type(text) is str
    if exact:  # descriptions repeat ("Checked step 1"): a short text is redacted once
        known = _redacted.get(text)
        if known is not None:
            return known
    found = _redact(text)
    if exact and len(text) <= _CACHED_TEXT:
        if len(_redacted) >= _CACHED_TEXTS:
            _redacted.clear()
        _redacted[text] = found
    return found


_CACHED_TEXT, _CACHED_TEXTS = 200, 4096  # characters of a text kept; texts kept
_redacted: dict[str, str] = {}


def _redact(text: str) -> str:
    if "@" in text and "://" in text:
        text = _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    lowered = text.lower()
    for hint in _HINTS:
        if hint in lowered:
            break
    else:
        return text
    text = _redact_pairs(text)
    return _SCHEME_CREDENTIAL.sub(_redact_credential, text)


def _redact_pairs(text: str) -> str:
    parts: list[str] = []
    done = 0
    for match in _NAME.finditer(text):
        name = match["flag"] or match["name"]
        if match.start() < done or not is_secret_key(name):
            continue
        value = _VALUE.match(text, match.end())
        if value is None or value["value"] == REDACTED:
            continue
        secret = value["value"]
        if match["flag"] and secret.startswith("-"):
            continue  # `-Password -Force`: the next flag, not a value
        quoted = secret[0] in "\"'" and len(secret) > 1
        parts += [
            text[done : value.start("value")],
            f"{secret[0]}{REDACTED}{secret[0]}" if quoted else REDACTED,
        ]
        done = value.end()
    return "".join(parts) + text[done:] if parts else text


def _redact_credential(match: re.Match[str]) -> str:
    if _CREDENTIAL_SHAPE.search(match[2]) is None:
        return match[0]
    return f"{match[1]}{REDACTED}"


# -- mappings --------------------------------------------------------------------------------


def clean_mapping(value: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    """Validate, convert and redact a metadata or data mapping.

    Values under secret-looking keys (:func:`is_secret_key`) become ``[REDACTED]`` (booleans
    and ``None`` stay: they are never a credential); secrets inside every other string are
    masked by :func:`redact_text`.

    Args:
        value: The mapping the caller passed (``None`` means empty).
        name: How to name it in errors, e.g. ``"metadata"``.

    Raises:
        SerializationError: A value cannot be stored as JSON, refers to itself, is nested
            more than :data:`MAX_DEPTH` deep or is an integer of more than
            :data:`MAX_INT_DIGITS` digits; the error names its key path.
    """
    if value is None:
        return {}
    if type(value) is not dict and not isinstance(value, Mapping):
        raise SerializationError(name, value)
    if not value:
        return {}
    return _clean_dict(value, name, 1, None)


def _clean_dict(
    value: Mapping[Any, Any], path: str, depth: int, open_: set[int] | None
) -> dict[str, Any]:
    """``value`` cleaned. ``open_``: the containers it is in, itself included (:func:`_enter`);
    ``None`` for a top-level mapping, until a value inside needs it."""
    cleaned: dict[str, Any] = {}
    for key, item in value.items():
        if type(key) is not str and not isinstance(key, str):
            raise SerializationError(f"{path} key {key!r}", key)
        if not key.isascii():  # the key path is built only for text that may need it
            _text(key, f"{path} key {key!r}")
        kind = type(item)
        # Plain scalars are handled inline: most values are, and their key path is only
        # worth building for an error.
        if kind is str:
            if not item.isascii():
                _text(item, f"{path}[{key!r}]")
            cleaned[key] = REDACTED if is_secret_key(key) else redact_text(item)
        elif item is None or kind is bool:
            cleaned[key] = item
        elif is_secret_key(key):
            cleaned[key] = REDACTED
        elif kind is int and -_INT_LIMIT < item < _INT_LIMIT:
            cleaned[key] = item
        else:
            if open_ is None:
                open_ = {id(value)}
            cleaned[key] = _clean(item, f"{path}[{key!r}]", depth, open_)
    if open_ is not None:
        open_.discard(id(value))
    return cleaned


def _enter(container: object, path: str, depth: int, open_: set[int]) -> None:
    """Refuse a container that holds itself or nests too deeply; JSON can hold neither, and
    walking it would end in a RecursionError instead of an error naming the key."""
    if id(container) in open_:
        raise SerializationError(
            path, container, "refers to itself (a cycle), which cannot be stored as JSON."
        )
    if depth > MAX_DEPTH:
        raise SerializationError(
            path,
            container,
            f"is nested more than {MAX_DEPTH} levels deep, which the trail does not store; "
            "flatten it or store it as a string.",
        )
    open_.add(id(container))


def _text(text: str, path: str) -> None:
    """Refuse a string no store can keep: a lone surrogate is not UTF-8 (every store
    refuses it alike, before anything is stored, and not at a later write)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise SerializationError(
                path, text, "holds a lone surrogate, which is not valid Unicode text."
            ) from None


def _clean(value: Any, path: str, depth: int, open_: set[int]) -> Any:
    if isinstance(value, str):
        _text(value, path)
        return str(value.value) if isinstance(value, Enum) else redact_text(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if isinstance(value, Enum):
            return str(value.value)
        if -_INT_LIMIT < value < _INT_LIMIT:
            return value
        digits = int(value.bit_length() * 0.30103) + 1  # str() refuses over 4,300 digits
        raise SerializationError(
            path,
            value,
            f"holds an integer of about {digits:,} digits; integers may have at most "
            f"{MAX_INT_DIGITS} digits. Store it as a string.",
        )
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{path} is {value!r}, which JSON cannot hold; use None.")
        return value
    if isinstance(value, Mapping):
        _enter(value, path, depth + 1, open_)
        return _clean_dict(value, path, depth + 1, open_)
    if isinstance(value, (list, tuple)):
        _enter(value, path, depth + 1, open_)
        items = [_clean(item, f"{path}[{i}]", depth + 1, open_) for i, item in enumerate(value)]
        open_.discard(id(value))
        return items
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
    return _compact(value) if value else "{}"


# json.dumps with options builds a new encoder on every call: this one is built once.
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def require_name(value: object, what: str) -> str:
    """Check that a free-form name (operation type, event type, user) is a non-empty string."""
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, not {type(value).__name__} {value!r}.")
    if not value.strip():
        raise ValidationError(f"{what} must not be empty.")
    return value


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP's CSV injection advice).

    Text beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    single quote, which spreadsheets read as "this is text". Numbers are left alone, negative
    ones included, so they stay numbers.
    """
    if isinstance(value, str) and value and value[0] in _FORMULA_STARTS:
        return "'" + value
    return value


_FORMULA_STARTS = frozenset("=+-@\t\r")
