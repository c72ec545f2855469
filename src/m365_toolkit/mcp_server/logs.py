"""The server's log: one line per event on stderr, a crash's traceback after its line.

The SDK would otherwise install rich's handler, which wraps a message at the terminal's
width and draws tracebacks in boxes: one megabyte-long argument became tens of thousands of
lines. Here a message is shown on one line, control characters escaped, and cut to
:data:`~.messages.MESSAGE_LIMIT`; a traceback keeps its lines, each cut, and its middle is
left out when it is very long.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, TextIO

from .._util.values import redact_text
from .messages import MESSAGE_LIMIT, one_line, shorten

if TYPE_CHECKING:
    from logging import _SysExcInfoType

_TRACEBACK_LINE_LIMIT = 500
_TRACEBACK_LINES = 200


class OneLineFormatter(logging.Formatter):
    """``time level logger: message`` on one line, then the traceback of a logged exception."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = shorten(one_line(redact_text(record.message)), MESSAGE_LIMIT)
        return super().formatMessage(record)

    def formatException(self, ei: _SysExcInfoType) -> str:  # noqa: N802
        text = redact_text(super().formatException(ei))
        lines = [shorten(line, _TRACEBACK_LINE_LIMIT) for line in text.split("\n")]
        if len(lines) > _TRACEBACK_LINES:
            half = _TRACEBACK_LINES // 2
            left_out = len(lines) - 2 * half
            lines = [*lines[:half], f"… ({left_out:,} lines left out)", *lines[-half:]]
        return "\n".join(lines)


def configure_logging(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Send log records to ``stream`` (default stderr) through :class:`OneLineFormatter`.

    Like :func:`logging.basicConfig`, which the SDK calls, it does nothing when the root
    logger already has a handler: an application that set up its logging keeps it.
    """
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(OneLineFormatter())
    root.addHandler(handler)
    root.setLevel(level)
