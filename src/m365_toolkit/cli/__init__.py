"""The ``m365-toolkit`` command: click groups, each command a thin adapter over the library.

One module per command group; importing them registers their commands on :data:`cli`.
"""

from . import (  # noqa: F401  (importing a module registers its commands)
    audit,
    costs,
    data,
    demo,
    mcp,
    report,
    sessions,
    sharepoint,
    store,
)
from .app import cli, main

__all__ = ["cli", "main"]
