"""Text for messages and log lines about values a client sent: short, one line, printable.

A client can send anything, a megabyte-long argument included; a message that echoes it
whole floods the assistant's context and the server's log. Every message that names a
client's value quotes it with :func:`quote`, and every message that leaves the server is
capped with :func:`shorten`.
"""

from __future__ import annotations

import re
import reprlib

QUOTE_LIMIT = 200
"""How many characters of a client's value a message quotes."""
MESSAGE_LIMIT = 2_000
"""How long a message (an error result, a log line) may be."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = QUOTE_LIMIT
_REPR.maxother = QUOTE_LIMIT
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 10


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} chars)"


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters shown as escapes."""
    return _CONTROL.sub(lambda match: ascii(match.group())[1:-1], text)


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A client's value as a message quotes it: its repr, at most about ``limit`` characters.

    A long string keeps its first ``limit`` characters and says how long it was; nested
    values are cut by depth and length (:mod:`reprlib`), so even a value nested thousands
    deep is quoted without recursing into all of it.
    """
    if isinstance(value, str):
        head = repr(value[:limit])  # repr escapes control characters and lone surrogates
        return head if len(value) <= limit else f"{head}… ({len(value):,} chars)"
    return shorten(one_line(_REPR.repr(value)), limit)


def describe(value: object) -> str:
    """What JSON value ``value`` is, quoted: ``the string 'false'``, ``the number 3``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {quote(value)}"
    if isinstance(value, str):
        return f"the string {quote(value)}"
    if isinstance(value, (list, tuple)):
        return f"an array {quote(value)}"
    if isinstance(value, dict):
        return f"an object {quote(value)}"
    return f"a {type(value).__name__} {quote(value)}"
