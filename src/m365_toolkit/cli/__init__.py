"""The ``m365-toolkit`` command: click groups, each command a thin adapter over the library.

One module per command group; importing them registers their commands on :data:`cli`.
"""

from . import audit, costs, data, demo, mcp, sessions, sharepoint, store  # noqa: F401
from .app import cli, main

__all__ = ["cli", "main"]
