"""``m365-toolkit audit``: run the CIS audit, and show the latest audit's compliance status.

The commands call the same library functions as the MCP tools ``run_security_audit`` and
``get_compliance_status``, and each run is a session of the same operation type.
"""

from __future__ import annotations

from pathlib import Path

import click

from .. import settings
from ..m365 import DEFAULT_TIMEOUT
from ..m365.audit import compliance_status
from ..m365.progress import Step
from ..sessions.manager import SessionManager
from . import render
from .app import cli, console, echo_json, root_options, tracked


@cli.group()
def audit() -> None:
    """Run the Microsoft 365 CIS audit and follow its compliance."""


@audit.command("run")
@click.option(
    "--spo-admin-url",
    metavar="URL",
    help="SharePoint admin URL, e.g. https://contoso-admin.sharepoint.com.",
)
@click.option("--skip-purview", is_flag=True, help="Skip the Purview checks.")
@click.option(
    "--no-timestamped",
    is_flag=True,
    help="Write the results file without a time stamp in its name.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    envvar=settings.AUDIT_TIMEOUT,
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds before a hung audit script is stopped [env M365_TOOLKIT_AUDIT_TIMEOUT].",
)
@root_options
def run_command(
    manager: SessionManager,
    root: Path,
    as_json: bool,
    spo_admin_url: str | None,
    skip_purview: bool,
    no_timestamped: bool,
    timeout: float,
) -> None:
    """Run the CIS audit script (pwsh, or M365_TOOLKIT_AUDIT_COMMAND) and summarise it."""
    try:  # the script runner needs anyio, which comes with the mcp extra
        import anyio

        from ..m365.audit.runner import AuditRun, run_audit
    except ImportError as exc:
        raise click.ClickException(
            f"Running the audit needs the mcp extra ({exc.name} is missing): "
            "pip install 'm365-security-toolkit[mcp]'."
        ) from exc
    arguments = {"spo_admin_url": spo_admin_url, "skip_purview": skip_purview,
                 "timestamped": not no_timestamped, "timeout": timeout}  # fmt: skip
    steps = console(stderr=True)
    with tracked(manager, "security_audit", "audit run", arguments) as session:

        async def step(item: Step) -> None:
            session.add_event("progress", item.message, item.data)
            if not as_json:
                steps.print(render.literal(item.message, "dim"))

        async def run() -> AuditRun:
            return await run_audit(
                root, spo_admin_url=spo_admin_url, skip_purview=skip_purview,
                timestamped=not no_timestamped, timeout=timeout, progress=step,
            )  # fmt: skip

        result = anyio.run(run)
    if as_json:
        echo_json({"session_id": session.session_id, "results_file": str(result.results_file),
                   "summary": result.summary.to_dict()})  # fmt: skip
        return
    console().print(render.audit_summary(result.summary, "Audit"))
    click.echo(f"Results file: {result.results_file}")
    click.echo(f"Session: {session.session_id}")


@audit.command("status")
@root_options
def status_command(manager: SessionManager, root: Path, as_json: bool) -> None:
    """The latest audit's compliance summary and its trend against the one before."""
    with tracked(manager, "compliance_status", "audit status", {}) as session:
        status = compliance_status(root)
    if as_json:
        echo_json({"session_id": session.session_id, **status.to_dict()})
        return
    console().print(render.compliance_status(status))
    click.echo(f"Session: {session.session_id}")
