"""A session around a block of code: the block's outcome becomes the session's status.

:meth:`SessionManager.session` gives a :class:`SessionScope` for ``with`` and ``async with``
blocks; the MCP server's tracking middleware calls :func:`close_session` with the outcome of
each tool call. Both complete a session the same way:

- the block ended normally: ``success``;
- it was interrupted (KeyboardInterrupt) or cancelled: a ``cancelled`` event, ``cancelled``;
- it raised anything else: an ``error`` event naming the exception, ``error``.

A session the block completed itself is left as it is. The exception still propagates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

from .model import Session, Status


class SessionStarter(Protocol):
    """What a scope needs to start its session (the session manager)."""

    def create_session(
        self,
        operation_type: str,
        user: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Session: ...


def is_cancellation(exc: BaseException) -> bool:
    """True for a KeyboardInterrupt or a task cancellation (asyncio's, and so anyio's on it)."""
    return isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError))


def close_session(
    session: Session, exc: BaseException | None, *, cancelled_by: str | None = None
) -> None:
    """Complete ``session`` as the outcome ``exc`` says (see the module's docstring).

    Args:
        session: The session of the block.
        exc: What the block raised, or ``None`` when it ended normally.
        cancelled_by: Who cancelled, for the ``cancelled`` event (default: the exception).
    """
    if not session.is_active:
        return  # the block completed the session itself
    if exc is None:
        session.complete(Status.SUCCESS)
    elif is_cancellation(exc):
        session.add_event("cancelled", f"Cancelled by {cancelled_by or type(exc).__name__}")
        session.complete(Status.CANCELLED)
    else:
        session.add_event(
            "error",
            f"{type(exc).__name__}: {exc}",
            {"exception_type": type(exc).__name__, "message": str(exc)},
        )
        session.complete(Status.ERROR)


class SessionScope:
    """Runs a block inside a session; see :meth:`SessionManager.session`."""

    def __init__(
        self,
        manager: SessionStarter,
        operation_type: str,
        user: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._manager = manager
        self._args = (operation_type, user, metadata)
        self.session: Session | None = None

    def __enter__(self) -> Session:
        self.session = self._manager.create_session(*self._args)
        return self.session

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.session is not None:
            close_session(self.session, exc)

    async def __aenter__(self) -> Session:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
