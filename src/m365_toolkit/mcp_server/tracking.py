"""Session tracking for MCP tool calls, in one place: a server middleware.

:class:`SessionTracking` wraps every ``tools/call`` request of a tracked tool: it creates the
session (the tool's operation type; the tool name and arguments as metadata, secrets
redacted by the manager), makes it reachable by the tool through :func:`current_call`, and
completes it as ``success``, ``error`` or ``cancelled`` with :func:`close_session`, the same
rule a ``with manager.session(...)`` block follows. Every store call runs in a worker thread,
so a commit never stalls the event loop and the other requests on it.

MCPServer turns a tool's exception into an error result before any middleware sees it, so
the server hands the exception to :meth:`ToolCall.failed` on its way out (see
``server.py``); that names the session in the message the assistant reads, while the
traceback stays in the server's log.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.session import ServerSession
from mcp.types import CallToolResult, TextContent
from opentelemetry import trace

from ..errors import SessionsError
from ..exporters import otel_names
from ..m365.progress import Step
from ..sessions.model import Session
from ..sessions.scope import close_session
from .state import AppState

logger = logging.getLogger(__name__)

_CURRENT: ContextVar[ToolCall | None] = ContextVar("m365_toolkit_tool_call", default=None)


@dataclass(frozen=True, slots=True)
class TrackedTool:
    """How calls of one tool are tracked: their operation type and the tool's defaults."""

    operation_type: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Argument defaults, so the metadata shows every argument the tool ran with."""

    @classmethod
    def of(cls, fn: Callable[..., Any], operation_type: str) -> TrackedTool:
        """The tracking of tool function ``fn``, its defaults read from its signature."""
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(fn).parameters.items()
            if parameter.default is not inspect.Parameter.empty
        }
        return cls(operation_type, defaults)


@dataclass(slots=True)
class ToolCall:
    """The tool call being handled: its session, and where its progress goes."""

    tool: str
    session: Session
    _peer: ServerSession
    error: BaseException | None = None
    """What the tool raised, set by :meth:`failed`."""

    @property
    def session_id(self) -> str:
        """The id of the call's session, which every result names."""
        return self.session.session_id

    async def step(self, step: Step) -> None:
        """Record a ``progress`` event; a step with a position is also a progress notification."""
        await anyio.to_thread.run_sync(
            partial(self.session.add_event, "progress", step.message, step.data)
        )
        if step.done is not None:
            await self._peer.report_progress(step.done, step.total, step.message)

    def step_in_thread(self, step: Step) -> None:
        """:meth:`step` for an operation running in a worker thread (``anyio.to_thread``)."""
        self.session.add_event("progress", step.message, step.data)
        if step.done is not None:
            anyio.from_thread.run(self._peer.report_progress, step.done, step.total, step.message)

    def failed(self, exc: ToolError) -> ToolError:
        """Remember why the tool failed; the error the assistant reads, naming the session.

        A ``ToolError`` or a toolkit error (:class:`SessionsError`) carries a message
        written for the reader, kept with the session id added. Anything else is a crash:
        the assistant learns only its type and where the details are.
        """
        cause = exc.__cause__
        if not isinstance(exc, UnexpectedToolError):
            self.error = cause if isinstance(cause, (ToolError, SessionsError)) else exc
            return ToolError(f"{exc} (session {self.session_id})")
        if isinstance(cause, SessionsError):
            self.error = cause
            return ToolError(
                f"Error executing tool {self.tool}: {cause} (session {self.session_id})"
            )
        self.error = cause or exc
        return UnexpectedToolError(
            f"Error executing tool {self.tool}: The toolkit hit an internal error "
            f"({type(self.error).__name__}); the operation stopped. "
            f"Details are in session {self.session_id}."
        )


def current_call() -> ToolCall:
    """The tracked tool call being handled, for the tool to name its session and report steps.

    Raises:
        RuntimeError: No tracked tool call is being handled (the tool is not in the
            middleware's table, or was called outside a request).
    """
    call = _CURRENT.get()
    if call is None:
        raise RuntimeError("current_call() is only available inside a tracked tool call.")
    return call


def active_call() -> ToolCall | None:
    """The tracked tool call being handled, or ``None``."""
    return _CURRENT.get()


class SessionTracking:
    """Server middleware: each call of a tool in ``tools`` runs inside a session.

    Args:
        tools: Tool name -> how its calls are tracked. Calls of other tools (and every
            other request) pass through untracked.
    """

    def __init__(self, tools: Mapping[str, TrackedTool]) -> None:
        self.tools = dict(tools)

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        params = ctx.params or {}
        name = params.get("name")
        tracked = self.tools.get(name) if isinstance(name, str) else None
        if ctx.method != "tools/call" or ctx.request_id is None or tracked is None:
            return await call_next(ctx)
        tool = cast(str, name)
        arguments = params.get("arguments")
        given = dict(arguments) if isinstance(arguments, Mapping) else {}
        metadata = {"tool": tool, "arguments": {**tracked.defaults, **given}, "via": "mcp"}
        manager = cast(AppState, ctx.lifespan_context).manager
        try:
            session = await anyio.to_thread.run_sync(
                partial(manager.create_session, tracked.operation_type, metadata=metadata)
            )
        except SessionsError as exc:
            return _error_result(
                f"Error executing tool {tool}: the call could not be recorded in the audit "
                f"trail, so it did not run: {exc}"
            )
        # The SDK's OpenTelemetry middleware runs outside this one: name the session on its
        # span, so a trace of the tool call leads to the audit trail (and live export's
        # session span, made in this context, is that span's child).
        trace.get_current_span().set_attribute(otel_names.SESSION_ID, session.session_id)
        call = ToolCall(tool, session, ctx.session)
        token = _CURRENT.set(call)
        try:
            result = await call_next(ctx)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(
                    partial(close_session, session, exc, cancelled_by="the client")
                )
            raise
        finally:
            _CURRENT.reset(token)
        error = call.error
        if error is None and isinstance(result, Mapping) and result.get("isError") is True:
            error = ToolError(_text_of(result))  # an error result the server built itself
        try:
            await anyio.to_thread.run_sync(partial(close_session, session, error))
        except SessionsError as exc:
            logger.exception("Could not complete session %s of tool %r", session.session_id, tool)
            return _error_result(
                f"Error executing tool {tool}: it ran, but its session {session.session_id} "
                f"could not be completed: {exc}"
            )
        return result


def _error_result(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _text_of(result: Mapping[str, Any]) -> str:
    blocks = result.get("content") or []
    texts = [b.get("text", "") for b in blocks if isinstance(b, Mapping)]
    return " ".join(text for text in texts if text) or "The tool returned an error result."
