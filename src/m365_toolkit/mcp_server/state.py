"""What every tool call can reach: the toolkit root, the session manager, the script timeout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..sessions.manager import SessionManager


@dataclass(frozen=True, slots=True)
class AppState:
    """The server's lifespan state, shared by every request."""

    root: Path
    manager: SessionManager
    audit_timeout: float
