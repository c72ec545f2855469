"""Audit a tenant in one call: sign in as the config says, then run the engine.

The one entry point the CLI and the MCP server share. It imports the Graph client (httpx2),
so it is its own module: evaluating a snapshot never loads it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ...graph.auth import GraphSettings
from ...graph.client import open_client
from ...progress import OnStepAsync
from .config import AuditConfig
from .engine import GraphAuditRun, run_graph_audit


async def audit_tenant(
    root: str | os.PathLike[str],
    config: AuditConfig,
    *,
    controls: Sequence[str] | None = None,
    cloud: str | None = None,
    progress: OnStepAsync | None = None,
) -> GraphAuditRun:
    """Sign in with the config's ``[graph]`` table (else azure-identity's variables) and
    run the Graph engine: snapshot and results under ``root/output/reports/security/``.

    Raises:
        ConfigError: bad sign-in settings, or the graph extra is missing.
        GraphError: no token could be had.
        ValidationError: an unknown control id.
    """
    settings = GraphSettings.resolve(config.graph, cloud=cloud)
    async with open_client(settings) as client:
        return await run_graph_audit(
            root,
            client,
            config,
            controls=controls,
            connection=settings.describe(),
            progress=progress,
        )
