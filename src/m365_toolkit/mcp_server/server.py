"""The MCP server: the toolkit's operations for AI assistants, each call tracked as a session.

``build_server()`` makes the server; ``m365-toolkit mcp`` runs it over stdio. Every tool call
creates a session (its arguments as metadata, secrets redacted), records ``progress``
events, and completes it as ``success``, ``error`` or ``cancelled``; every result names the
session id. The tracking is the :class:`~.tracking.SessionTracking` middleware; the tools
are in :mod:`.tools`. Every tool the server registers takes its arguments strictly
(:mod:`.strict`), and the server logs one line per event to stderr (:mod:`.logs`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, Icon, ToolAnnotations
from mcp_types import InputRequiredResult
from pydantic import ValidationError

from .. import __version__, settings
from ..sessions.manager import SessionManager
from ..store import Store
from .logs import configure_logging
from .state import AppState
from .strict import accepted_arguments, make_strict, rejection
from .tools import READ_ONLY, TOOLS, Ctx
from .tracking import SessionTracking, TrackedTool, active_call, current_call

__all__ = [
    "AppState",
    "Ctx",
    "READ_ONLY",
    "SessionTracking",
    "TrackedTool",
    "build_server",
    "current_call",
    "default_root",
    "store_location",
]

INSTRUCTIONS = """\
Tools for Microsoft 365 security work: CIS audits, compliance status, SharePoint permission
analysis and remediation. Every call is recorded as a session in the toolkit's audit trail;
results name the session id, which get_session shows in full. Prefer the read-only tools;
remediate_security_issues changes the tenant only with preview_only=false and force_apply=true.
Arguments must match each tool's input schema exactly: booleans as JSON true/false, numbers
as JSON numbers, no arguments a tool does not list.
"""


def default_root() -> Path:
    """``M365_TOOLKIT_ROOT`` if set, else the current directory."""
    return settings.root()


def store_location(
    root: Path, store: str | os.PathLike[str] | None = None
) -> str | os.PathLike[str]:
    """Where the server keeps its sessions: ``store``, else ``M365_TOOLKIT_STORE``, else
    ``output/sessions/sessions.db`` under ``root``."""
    return store or settings.store() or root / settings.DEFAULT_STORE


class _Server(MCPServer[AppState]):
    """MCPServer whose tools take their arguments strictly, and that hands a failing tool's
    exception to the tracked call.

    The SDK has no hook between building a tool and registering it, so :meth:`add_tool`
    reaches the tool just registered in the SDK's registry, the one place it can; the
    ``tool()`` decorator registers through it too. MCPServer turns a tool's exception into
    an error result inside its handler, before any middleware can see it; :meth:`call_tool`
    is the one place it can still be read.
    """

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
    ) -> None:
        """Register ``fn`` as a tool that validates its arguments strictly (:mod:`.strict`)."""
        super().add_tool(
            fn,
            name=name,
            title=title,
            description=description,
            annotations=annotations,
            icons=icons,
            meta=meta,
            structured_output=structured_output,
        )
        tool = self._tool_manager.get_tool(name or fn.__name__)
        if tool is not None:
            make_strict(tool)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            call = active_call()
            if call is None:
                raise
            cause = exc.__cause__
            tool = self._tool_manager.get_tool(name)
            if isinstance(cause, ValidationError) and tool is not None:
                # Still caused by the ValidationError, so the SDK logs only the field names.
                raise call.failed(rejection(cause, accepted_arguments(tool))) from cause
            raise call.failed(exc) from cause or exc


def build_server(
    root: str | os.PathLike[str] | None = None,
    store: str | os.PathLike[str] | Store | None = None,
    *,
    audit_timeout: float | None = None,
) -> MCPServer[AppState]:
    """The toolkit's MCP server.

    Args:
        root: The toolkit folder holding ``output/`` and ``scripts/`` (default
            ``M365_TOOLKIT_ROOT`` or the current directory).
        store: The session store: a location (default ``M365_TOOLKIT_STORE``, else
            ``output/sessions/sessions.db`` under the root), or an open store that the
            caller keeps and closes.
        audit_timeout: Seconds before a hung audit or remediation script is stopped
            (default ``M365_TOOLKIT_AUDIT_TIMEOUT`` or 30 minutes).
    """
    folder = Path(root).absolute() if root is not None else default_root()
    timeout = audit_timeout or settings.audit_timeout()
    if store is None or isinstance(store, (str, os.PathLike)):
        location = store_location(folder, store)

        @asynccontextmanager
        async def lifespan(_server: MCPServer[AppState]) -> AsyncIterator[AppState]:
            with SessionManager(location) as manager:
                yield AppState(folder, manager, timeout)

    else:
        shared = store

        @asynccontextmanager
        async def lifespan(_server: MCPServer[AppState]) -> AsyncIterator[AppState]:
            yield AppState(folder, SessionManager(store=shared), timeout)

    configure_logging()  # before MCPServer(), whose logging.basicConfig then keeps it
    tracking = SessionTracking(
        {spec.fn.__name__: TrackedTool.of(spec.fn, spec.operation_type) for spec in TOOLS}
    )
    server = _Server(
        "m365-security-toolkit",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        middleware=[tracking],
    )
    for spec in TOOLS:
        server.add_tool(spec.fn, annotations=spec.annotations)
    return server
