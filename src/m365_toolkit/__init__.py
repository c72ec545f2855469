"""Sessions for Microsoft 365 security operations: an audit trail that is queryable,
summarised in statistics and safe to share between processes."""

from .errors import (
    BudgetExceededError,
    ConfigError,
    CorruptStoreError,
    InvalidTransition,
    SchemaError,
    SerializationError,
    SessionNotFound,
    SessionsError,
    StoreError,
    UnknownModel,
    ValidationError,
)
from .sessions.formatting import format_statistics
from .sessions.manager import (
    LegacyLogWarning,
    SessionManager,
    SessionScope,
    complete_session,
    create_session,
    get_session_manager,
    session,
)
from .sessions.model import Event, Session, Status
from .sessions.query import SessionQuery
from .store import ImportResult, Store, open_store

__version__ = "0.1.0"

__all__ = [
    "BudgetExceededError",
    "ConfigError",
    "CorruptStoreError",
    "Event",
    "ImportResult",
    "InvalidTransition",
    "LegacyLogWarning",
    "SchemaError",
    "SerializationError",
    "Session",
    "SessionManager",
    "SessionNotFound",
    "SessionQuery",
    "SessionScope",
    "SessionsError",
    "Status",
    "Store",
    "StoreError",
    "UnknownModel",
    "ValidationError",
    "__version__",
    "complete_session",
    "create_session",
    "format_statistics",
    "get_session_manager",
    "open_store",
    "session",
]
