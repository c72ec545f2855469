"""The audit trail: the session model, history queries and the session manager.

Importing this package loads the pure model only; the manager lives in
:mod:`m365_toolkit.sessions.manager`.
"""

from .model import (
    FINAL_STATUSES,
    Completion,
    Event,
    Session,
    SessionRecorder,
    Status,
    duration_between,
    final_status,
)

__all__ = [
    "FINAL_STATUSES",
    "Completion",
    "Event",
    "Session",
    "SessionRecorder",
    "Status",
    "duration_between",
    "final_status",
]
