"""``from src.core.session_manager import ...`` as the guide writes it: a re-export."""

from m365_toolkit.sessions.manager import (
    SessionManager,
    complete_session,
    create_session,
    get_session_manager,
    session,
)
from m365_toolkit.sessions.model import Event, Session, Status

__all__ = [
    "Event",
    "Session",
    "SessionManager",
    "Status",
    "complete_session",
    "create_session",
    "get_session_manager",
    "session",
]
