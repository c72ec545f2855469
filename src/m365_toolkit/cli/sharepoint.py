"""``m365-toolkit sharepoint``: analyse a SharePoint permissions export.

``analyze`` calls the same library function as the MCP tool ``analyze_sharepoint_permissions``
and is a session of the same operation type.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..m365.progress import Step
from ..m365.sharepoint import analyze_to_workbook
from ..sessions.manager import SessionManager
from . import render
from .app import cli, console, echo_json, root_options, tracked


@cli.group()
def sharepoint() -> None:
    """Analyse SharePoint permissions exports."""


@sharepoint.command("analyze")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@root_options
def analyze_command(manager: SessionManager, root: Path, as_json: bool, file: Path) -> None:
    """Find the risks in a permissions CSV export and write an Excel workbook of it.

    The workbook goes to output/reports/sharepoint/ under the root.
    """
    path = file.absolute()
    with tracked(manager, "sharepoint_analysis", "sharepoint analyze",
                 {"input_file": str(path)}) as session:  # fmt: skip

        def step(item: Step) -> None:
            session.add_event("progress", item.message, item.data)

        report = analyze_to_workbook(path, root, progress=step, session_id=session.session_id)
    if as_json:
        echo_json({"session_id": session.session_id, "workbook": str(report.workbook),
                   "analysis": report.analysis.to_dict()})  # fmt: skip
        return
    console().print(render.sharepoint_analysis(report.analysis))
    click.echo(f"Workbook: {report.workbook}")
    click.echo(f"Session: {session.session_id}")
