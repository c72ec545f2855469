"""The documented import path of the retention: :mod:`m365_toolkit.data.retention`."""

from .data.retention import (
    parse_age,
    prune_sessions,
)

__all__ = [
    "parse_age",
    "prune_sessions",
]
