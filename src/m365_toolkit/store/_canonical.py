"""Canonical bytes of a chained record: RFC 8785 (JSON Canonicalization Scheme).

The hash of a record must not depend on how a backend happened to write its JSON text, so
every record is re-encoded here before it is hashed. ``rfc8785`` is the reference; a fast
path with :func:`json.dumps` serves *plain* values, for which the two give the same bytes
(``tests/integrity/test_canonical.py`` proves it with hypothesis):

- ``str``, ``bool``, ``None``, ``int`` with ``|n| < 2**53``, lists, and dicts whose keys
  are ASCII. Floats are not plain (Python writes ``1.0`` where JCS writes ``1``), nor are
  non-ASCII keys (JCS sorts keys by UTF-16 code units, Python by code points).

Integers beyond I-JSON's ±(2**53 - 1), which ``rfc8785`` refuses, are written as their exact
decimal digits: still a JSON number, still one text per value, so no two different records
share bytes. Stores accept such integers in metadata, so sealing must not fail on them.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

_LIMIT = 2**53 - 1  # the largest "safe" integer: rfc8785 refuses 2**53 itself
_dumps = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
).encode


_loads = json.JSONDecoder().decode


def canonical(value: Any, *, plain: bool = False) -> bytes:
    """The RFC 8785 bytes of a JSON value (big integers as exact digits).

    ``plain=True`` says the caller knows the value is plain (see the module docstring), so
    the check is skipped.
    """
    if plain or _plain(value):
        try:
            return _dumps(value).encode("utf-8")
        except (TypeError, ValueError):  # bytes or NaN in a column, put there behind its back
            return _foreign(value)
    try:
        return rfc8785.dumps(value)
    except rfc8785.IntegerDomainError:
        try:
            return _extended(value)
        except (rfc8785.CanonicalizationError, TypeError, ValueError):
            return _foreign(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return _foreign(value)


def _foreign(value: Any) -> bytes:
    """NaN, a lone surrogate, bytes where text belongs: never written by a store, only put
    there behind its back. Any fixed text will do: it differs from what was sealed, and
    verify says so."""
    return b"\xff" + repr(value).encode("utf-8", "backslashreplace")


def decode(text: str) -> tuple[Any, bool]:
    """A stored JSON column's value, and whether it is plain. The shared decoder (its C
    scanner, no decoder built per call) reads floats, ``NaN`` and ``Infinity`` as floats,
    which :func:`_plain` refuses, as it refuses big integers and non-ASCII keys."""
    if text == "{}":
        return {}, True
    try:
        value = _loads(text)
    except (ValueError, TypeError):
        # Not JSON (damaged behind the store's back): hashed as the text it is, which is not
        # the value that was sealed, so verify says EDITED rather than failing.
        return {"unreadable JSON": text if isinstance(text, str) else repr(text)}, False
    return value, _plain(value)


def _plain(value: Any) -> bool:
    # A loop over a stack, scalars checked where they are found rather than pushed: this
    # check costs about what the encoding does, on every record sealed or verified. Exact
    # type checks: a bool is an int, and an IntEnum or a str subclass may print otherwise.
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            for key, member in item.items():
                if type(key) is not str or not key.isascii():
                    return False
                if not _scalar(member):
                    pending.append(member)
        elif kind is list:
            pending.extend(member for member in item if not _scalar(member))
        elif not _scalar(item):
            return False
    return True


def _scalar(item: Any) -> bool:
    """A plain scalar; ``False`` for containers (checked by the caller) and anything else."""
    kind = type(item)
    if kind is str or kind is bool or item is None:
        return True
    if kind is int:
        return bool(-_LIMIT <= item <= _LIMIT)
    return False


def _extended(value: Any) -> bytes:
    """RFC 8785 with integers of any size, for the rare value ``rfc8785`` refuses."""
    if type(value) is int and not -_LIMIT <= value <= _LIMIT:
        return str(value).encode("ascii")
    if isinstance(value, dict):
        # JCS orders members by the UTF-16 code units of their names.
        items = sorted(value.items(), key=lambda item: item[0].encode("utf-16-be"))
        parts = [rfc8785.dumps(key) + b":" + _extended(item) for key, item in items]
        return b"{" + b",".join(parts) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(_extended(item) for item in value) + b"]"
    return rfc8785.dumps(value)
