"""``m365-toolkit mcp``: serve the toolkit's operations to AI assistants."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .. import settings
from ..errors import SessionsError
from ..sessions.manager import SessionManager
from .app import ROOT_OPTION, ROOT_STORE_OPTION, cli


@cli.command("mcp")
@click.option(
    "--transport",
    type=click.Choice(["stdio", "streamable-http"]),
    default="stdio",
    show_default=True,
    help="stdio for AI assistants; streamable-http to serve HTTP.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP address to bind.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="HTTP port."
)
@ROOT_OPTION
@ROOT_STORE_OPTION
@click.option(
    "--audit-timeout",
    type=click.FloatRange(min=1),
    envvar=settings.AUDIT_TIMEOUT,
    help="Seconds before a hung audit or remediation script is stopped [default: 1800].",
)
def run_mcp(
    transport: str,
    host: str,
    port: int,
    root: Path | None,
    store: str | None,
    audit_timeout: float | None,
) -> None:
    """Serve the toolkit's operations to AI assistants over MCP.

    The toolkit folder must exist and the session store must open before the server
    starts: an assistant that starts it gets one line on stderr and exit code 1, never a
    server that fails on its first request.
    """
    try:
        from ..mcp_server.server import build_server, default_root, store_location
    except ImportError as exc:
        raise click.ClickException(
            f"The MCP server needs the mcp extra ({exc.name} is missing): "
            "pip install 'm365-security-toolkit[mcp]'."
        ) from exc
    folder = root.absolute() if root is not None else default_root()
    if not folder.is_dir():
        # Serving would create the folder and an empty store in it: a typo in --root would
        # start a second, empty audit trail.
        raise click.ClickException(
            f"The toolkit folder {str(folder)!r} does not exist; name an existing folder "
            "with --root or M365_TOOLKIT_ROOT."
        )
    location = store_location(folder, store)
    try:
        with SessionManager(location):
            pass  # the store opens (and a new one is created) before the server answers
        server = build_server(folder, store, audit_timeout=audit_timeout)
    except SessionsError as exc:
        raise click.ClickException(" ".join(str(exc).split())) from exc
    except OSError as exc:  # a store path the store did not map to an error of its own
        raise click.ClickException(
            f"Cannot open the session store {os.fspath(location)!r}: {exc.strerror or exc}."
        ) from exc
    if transport == "stdio":
        server.run()
    else:
        server.run("streamable-http", host=host, port=port)
