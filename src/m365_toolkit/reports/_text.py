"""Stored text made safe to show in the page: escaped, and with invisible tricks made visible.

Everything that comes from the store or a results file (user names, descriptions, evidence)
is hostile until escaped. ``html.escape`` keeps markup inert; control characters become
their visible Unicode pictures (``\\x1b`` -> ``␛``), and the bidirectional controls that
can make text read backwards (U+202E, the "Trojan Source" trick) are shown as ``[U+202E]``.
"""

from __future__ import annotations

import html
import json
import re
from decimal import Decimal
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_C1 = re.compile(r"[\x80-\x9f]")
_BIDI = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_JSON_UNSAFE = re.compile(r"[<>&\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with control and bidirectional characters replaced by visible marks."""
    text = _CONTROL.sub(
        lambda m: "\u2421" if m.group() == "\x7f" else chr(0x2400 + ord(m.group())), text
    )
    text = _C1.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)
    return _BIDI.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)


def esc(value: Any) -> str:
    """Any value as HTML text (element content or a quoted attribute value)."""
    if value is None:
        return ""
    return html.escape(visible(value if isinstance(value, str) else str(value)), quote=True)


def json_script(data: Any) -> str:
    """JSON that can sit inside ``<script type="application/json">`` and never end it.

    ``<``, ``>`` and ``&`` are written as ``\\u003c`` etc., so neither ``</script>`` nor
    ``<!--`` can appear in the block; U+2028/U+2029 (old JS parsers), DEL, C1 and the
    bidirectional controls likewise, so viewing the source shows no invisible tricks.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def money(amount: Decimal | None) -> str:
    """USD to four places (``$0.0123``); the exact amount is in the JSON block."""
    if amount is None:
        return "–"
    return f"${amount.quantize(Decimal('0.0001')):,}"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:g}%"


def number(value: float) -> str:
    return f"{value:,.3f}".rstrip("0").rstrip(".") if value % 1 else f"{int(value):,}"


def slug(text: str) -> str:
    """A CSS class fragment for a status or drift class: lower-case letters and digits."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"
