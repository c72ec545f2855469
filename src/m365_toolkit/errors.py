"""Errors raised by the toolkit.

Every error derives from :class:`SessionsError`, so callers can catch them all at once::

    SessionsError
    ├── SessionNotFound       (also a KeyError)    .session_id
    ├── InvalidTransition                          .session_id, .status
    ├── ValidationError       (also a ValueError)  bad status, empty operation type, ...
    ├── SerializationError    (also a TypeError)   .key_path of a value JSON cannot hold
    ├── ConfigError           (also a ValueError)  bad store location, conflicting managers
    ├── UnknownModel          (also a LookupError) .model with no known price
    ├── BudgetExceededError                        .budget, .limit, .spent
    └── StoreError                                 .location of the store
        ├── CorruptStoreError                      unreadable or not a toolkit store
        └── SchemaError                            store written by a newer version

One warning: :class:`DamagedRecordWarning` (a ``UserWarning``), for each stored session a read
left out because damage made it unreadable; the read goes on with the others.
"""

from __future__ import annotations

from decimal import Decimal


class SessionsError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class SessionNotFound(SessionsError, KeyError):
    """No session with this id exists in the store."""

    def __init__(self, session_id: str, location: str | None = None) -> None:
        where = f" in {location}" if location else ""
        super().__init__(f"No session with id {session_id!r}{where}.")
        self.session_id = session_id

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class InvalidTransition(SessionsError):
    """The session's status does not allow this change (it has already finished)."""

    def __init__(self, session_id: str, status: str, action: str) -> None:
        status = str(status)  # a Status enum prints as its value
        super().__init__(
            f"Cannot {action} session {session_id!r}: it has already finished "
            f"with status {status!r}."
        )
        self.session_id = session_id
        self.status = status


class ValidationError(SessionsError, ValueError):
    """A value given to the toolkit is not acceptable."""


class SerializationError(SessionsError, TypeError):
    """Metadata or event data holds a value that cannot be stored as JSON."""

    def __init__(self, key_path: str, value: object, reason: str | None = None) -> None:
        # A reason replaces the value's repr, which a cyclic, deeply nested or huge value
        # cannot always give (RecursionError, ValueError).
        super().__init__(
            f"{key_path} {reason}"
            if reason
            else f"{key_path} holds a {type(value).__name__} ({value!r:.60}), which cannot be "
            "stored as JSON; convert it to a string, number, bool, None, list or dict first."
        )
        self.key_path = key_path


class ConfigError(SessionsError, ValueError):
    """The toolkit was set up in a way that cannot work."""


class UnknownModel(SessionsError, LookupError):
    """No price is known for a model name."""

    def __init__(self, model: str) -> None:
        super().__init__(
            f"No price is known for model {model!r}. Give one with "
            f"GPT5CostTracker(prices={{{model!r}: {{'input': ..., 'cached_input': ..., "
            "'output': ...}}) in USD per million tokens, or in the [prices] table of the "
            "cost config file (M365_TOOLKIT_COST_CONFIG)."
        )
        self.model = model


class BudgetExceededError(SessionsError):
    """A budget is already spent, so no further request should start."""

    def __init__(self, budget: str, limit: Decimal, spent: Decimal) -> None:
        super().__init__(
            f"The {budget} budget of ${limit:.2f} is exhausted: ${spent:.6f} spent. "
            "Stop, or raise the limit."
        )
        self.budget = budget
        self.limit = limit
        self.spent = spent


class StoreError(SessionsError):
    """The store could not be read or written."""

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.location = location


class CorruptStoreError(StoreError):
    """The store exists but is unreadable or is not a toolkit store. It is left untouched."""


class SchemaError(StoreError):
    """The store's schema is newer than this version of the toolkit understands."""


class DamagedRecordWarning(UserWarning):
    """A stored session could not be read (its row or record is damaged) and was left out.

    The read goes on with the other sessions. The CLI prints each one and exits with 1.
    """

    def __init__(self, message: str, session_id: str, field: str) -> None:
        super().__init__(message)
        self.session_id = session_id
        self.field = field
