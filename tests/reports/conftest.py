from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from m365_toolkit import SessionManager

from .seeding import seed


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "toolkit"
    folder.mkdir()
    return folder


@pytest.fixture
def seeded(root: Path) -> Iterator[SessionManager]:
    """A SQLite store under ``root`` (where the CLI and the MCP server look) with the seed."""
    with seed(root, root / "output" / "sessions" / "sessions.db") as manager:
        yield manager
