"""Session tracking for MCP tool calls, in one place: a server middleware.

:class:`SessionTracking` wraps every ``tools/call`` request: it creates the session (the
tool's operation type; the tool name and arguments as metadata, secrets redacted by the
manager), makes it reachable by the tool through :func:`current_call`, and completes it as
``success``, ``error`` or ``cancelled`` with :func:`close_session`, the same rule a
``with manager.session(...)`` block follows. Every call is a session, rejected or not: a
call of a tool the table does not list is recorded as :data:`UNLISTED_TOOL`, and a call
whose arguments the trail cannot hold as sent is recorded with them quoted, and refused.
Every store call runs in a worker thread, so a commit never stalls the event loop and the
other requests on it.

MCPServer turns a tool's exception into an error result before any middleware sees it, so
the server hands the exception to :meth:`ToolCall.failed` on its way out (see
``server.py``); that names the session in the message the assistant reads, while the
traceback goes to the server's log.
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
from .messages import MESSAGE_LIMIT, one_line, quote, shorten
from .state import AppState
from .strict import InvalidArguments

logger = logging.getLogger(__name__)

UNLISTED_TOOL = "mcp_tool_call"
"""The operation type of a call of a tool the middleware's table does not list (an unknown
tool's name, most often): still a session, so a probe for tools leaves a trail."""

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
        written for the reader, kept (cut to :data:`~.messages.MESSAGE_LIMIT`) with the
        session id added. Anything else is a crash: the assistant learns only its type and
        where the details are.
        """
        cause = exc.__cause__
        if isinstance(exc, InvalidArguments):
            self.error = exc
            return ToolError(self._named(f"Error executing tool {self.tool}: {exc}"))
        if not isinstance(exc, UnexpectedToolError):
            self.error = cause if isinstance(cause, (ToolError, SessionsError)) else exc
            return ToolError(self._named(str(exc)))
        if isinstance(cause, SessionsError):
            self.error = cause
            return ToolError(self._named(f"Error executing tool {self.tool}: {cause}"))
        self.error = cause or exc
        return UnexpectedToolError(
            f"Error executing tool {self.tool}: The toolkit hit an internal error "
            f"({type(self.error).__name__}); the operation stopped. "
            f"Details are in session {self.session_id}."
        )

    def _named(self, message: str) -> str:
        return f"{shorten(message, MESSAGE_LIMIT)} (session {self.session_id})"


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
    """Server middleware: each tool call runs inside a session.

    Args:
        tools: Tool name -> how its calls are tracked. A call of a tool not listed is
            tracked as :data:`UNLISTED_TOOL`; other requests pass through untracked.
    """

    def __init__(self, tools: Mapping[str, TrackedTool]) -> None:
        self.tools = dict(tools)

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        params = ctx.params or {}
        name = params.get("name")
        if ctx.method != "tools/call" or ctx.request_id is None or not isinstance(name, str):
            return await call_next(ctx)  # not a tool call, or one the SDK refuses as malformed
        tool = name
        tracked = self.tools.get(tool) or TrackedTool(UNLISTED_TOOL)
        arguments = params.get("arguments")
        given = dict(arguments) if isinstance(arguments, Mapping) else {}
        metadata = {"tool": tool, "arguments": {**tracked.defaults, **given}, "via": "mcp"}
        if arguments is not None and not isinstance(arguments, Mapping):
            metadata["arguments"] = quote(arguments)
        manager = cast(AppState, ctx.lifespan_context).manager
        create = partial(manager.create_session, tracked.operation_type)
        refused: ToolError | None = None
        try:
            try:
                session = await anyio.to_thread.run_sync(partial(create, metadata=metadata))
            except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:
                # The trail cannot hold the arguments as sent (a lone surrogate, a number
                # JSON cannot carry, nesting thousands deep): record them quoted, refuse.
                quoted = {_printable(key): quote(value) for key, value in given.items()}
                metadata["arguments"] = quoted
                session = await anyio.to_thread.run_sync(partial(create, metadata=metadata))
                refused = ToolError(
                    f"Error executing tool {tool}: its arguments cannot be recorded in the "
                    f"audit trail as sent, so it did not run: {shorten(one_line(str(exc)), 500)}"
                )
        except SessionsError as exc:
            return _error_result(
                f"Error executing tool {tool}: the call could not be recorded in the audit "
                f"trail, so it did not run: {shorten(str(exc))}"
            )
        # The SDK's OpenTelemetry middleware runs outside this one: name the session on its
        # span, so a trace of the tool call leads to the audit trail (and live export's
        # session span, made in this context, is that span's child).
        trace.get_current_span().set_attribute(otel_names.SESSION_ID, session.session_id)
        call = ToolCall(tool, session, ctx.session)
        if refused is not None:
            logger.info("Tool %r refused: %s (session %s)", tool, refused, session.session_id)
            return await self._complete(call, refused, _error_result(call._named(str(refused))))
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
        if isinstance(result, dict) and result.get("isError") is True:
            if error is None:
                error = ToolError(_text_of(result))  # an error result the server built itself
            result = _naming(result, session.session_id)
        return await self._complete(call, error, result)

    async def _complete(
        self, call: ToolCall, error: BaseException | None, result: HandlerResult
    ) -> HandlerResult:
        try:
            await anyio.to_thread.run_sync(partial(close_session, call.session, error))
        except SessionsError as exc:
            logger.exception("Could not complete session %s of tool %r", call.session_id, call.tool)
            return _error_result(
                f"Error executing tool {call.tool}: it ran, but its session {call.session_id} "
                f"could not be completed: {shorten(str(exc))}"
            )
        return result


def _error_result(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _text_of(result: Mapping[str, Any]) -> str:
    blocks = result.get("content") or []
    texts = [b.get("text", "") for b in blocks if isinstance(b, Mapping)]
    return " ".join(text for text in texts if text) or "The tool returned an error result."


def _naming(result: dict[str, Any], session_id: str) -> dict[str, Any]:
    """An error result that names its session, as every result does."""
    if session_id in _text_of(result):
        return result
    content = [*(result.get("content") or []), {"type": "text", "text": f"(session {session_id})"}]
    return {**result, "content": content}


def _printable(key: str) -> str:
    """An argument name as the trail can store it: a lone surrogate becomes its escape."""
    return key.encode("utf-8", "backslashreplace").decode("utf-8")
