"""``m365-toolkit report``: write the security dashboard, one offline HTML file or JSON.

It calls the same library function as the MCP tool ``get_security_dashboard``, inside a
``dashboard_generation`` session whose last event names the file written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..reports import FORMATS, WrittenDashboard, write_dashboard
from ..sessions.manager import SessionManager
from ..sessions.model import Session
from .app import cli, days_option, echo_json, root_options, tracked


def write_in_session(
    manager: SessionManager, root: Path, command: str, arguments: dict[str, Any], **options: Any
) -> tuple[Session, WrittenDashboard]:
    """Write the dashboard inside a ``dashboard_generation`` session whose last event names
    the file; ``options`` as :func:`~m365_toolkit.reports.write_dashboard` takes them."""
    with tracked(manager, "dashboard_generation", command, arguments) as session:
        written = write_dashboard(manager.store, root, session_id=session.session_id,
                                  clock=manager.clock, **options)  # fmt: skip
        session.add_event(
            "progress",
            f"Wrote the dashboard to {written.path}",
            {"file": str(written.path), "format": written.format, "bytes": written.bytes},
        )
    return session, written


@cli.command("report")
@days_option(
    "Period of the operations and LLM cost sections (the compliance trend covers every stored run)."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="html",
    show_default=True,
    help="html: one self-contained page that loads nothing; json: the same content as one "
    "JSON document (docs/dashboard.md).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write [default: output/reports/security/dashboard_<session>.<format> "
    "under the root].",
)
@click.option(
    "--latest-only",
    is_flag=True,
    help="Only the latest audit run: no trend over runs, no drift.",
)
@click.option(
    "--no-verify",
    is_flag=True,
    help="Skip verifying the trail's chain (it walks every record); the header then says "
    "the chain was not checked.",
)
@click.option(
    "--anchor-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of checkpoints (store checkpoint --anchor-dir) to hold the chain against; "
    "the header shows the newest.",
)
@root_options
def report_command(
    manager: SessionManager,
    root: Path,
    as_json: bool,
    days: float | None,
    output_format: str,
    output: Path | None,
    latest_only: bool,
    no_verify: bool,
    anchor_dir: Path | None,
) -> None:
    """Write the security dashboard: compliance trend and drift, operations, LLM costs."""
    arguments = {"days": days, "format": output_format, "output": str(output) if output else None,
                 "latest_only": latest_only, "verify": not no_verify,
                 "anchor_dir": str(anchor_dir) if anchor_dir else None}  # fmt: skip
    session, written = write_in_session(
        manager, root, "report", arguments, days=days, output_format=output_format,
        output=output, historical=not latest_only, verify=not no_verify, anchor_dir=anchor_dir,
    )  # fmt: skip
    latest = written.dashboard.compliance.latest
    if as_json:
        echo_json({"session_id": session.session_id, "file": str(written.path),
                   "format": written.format, "bytes": written.bytes,
                   "pass_rate_percent": latest.pass_rate_percent if latest else None,
                   "integrity": written.dashboard.header.integrity.status})  # fmt: skip
        return
    click.echo(f"Dashboard: {written.path}")
    click.echo(f"Session: {session.session_id}")
    click.echo(f"Trail: {written.dashboard.header.integrity.summary}")
