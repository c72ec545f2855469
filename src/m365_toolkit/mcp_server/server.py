"""The MCP server: the toolkit's operations for AI assistants, each call tracked as a session.

``build_server()`` makes the server; ``m365-toolkit mcp`` runs it over stdio. Every tool call
creates a session (its arguments as metadata, secrets redacted), records ``progress``
events, and completes it as ``success``, ``error`` or ``cancelled``; every result names the
session id. The tracking is the :class:`~.tracking.SessionTracking` middleware; the tools
are in :mod:`.tools`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from mcp_types import InputRequiredResult

from .. import __version__, settings
from ..sessions.manager import SessionManager
from ..store import Store
from .state import AppState
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
]

INSTRUCTIONS = """\
Tools for Microsoft 365 security work: CIS audits, compliance status, SharePoint permission
analysis and remediation. Every call is recorded as a session in the toolkit's audit trail;
results name the session id, which get_session shows in full. Prefer the read-only tools;
remediate_security_issues changes the tenant only with preview_only=false and force_apply=true.
"""


def default_root() -> Path:
    """``M365_TOOLKIT_ROOT`` if set, else the current directory."""
    return settings.root()


class _Server(MCPServer[AppState]):
    """MCPServer that hands a failing tool's exception to the tracked call.

    MCPServer turns the exception into an error result inside its handler, before any
    middleware can see it; this is the one place it can still be read.
    """

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            call = active_call()
            if call is None:
                raise
            raise call.failed(exc) from exc.__cause__ or exc


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
        location = store or settings.store() or folder / settings.DEFAULT_STORE

        @asynccontextmanager
        async def lifespan(_server: MCPServer[AppState]) -> AsyncIterator[AppState]:
            with SessionManager(location) as manager:
                yield AppState(folder, manager, timeout)

    else:
        shared = store

        @asynccontextmanager
        async def lifespan(_server: MCPServer[AppState]) -> AsyncIterator[AppState]:
            yield AppState(folder, SessionManager(store=shared), timeout)

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
