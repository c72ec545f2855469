"""The ``m365-toolkit`` command: click groups, each command a thin adapter over the library."""

from . import data as _data  # noqa: F401  (registers the data commands on the groups)
from .main import cli, main

__all__ = ["cli", "main"]
