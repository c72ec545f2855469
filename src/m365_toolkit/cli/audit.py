"""``m365-toolkit audit``: run the CIS audit, re-evaluate a snapshot, show compliance status.

The commands call the same library functions as the MCP tools ``run_security_audit`` and
``get_compliance_status``, and each run is a session of the same operation type. Two
engines: Microsoft Graph (``--engine graph``, no PowerShell) and the PowerShell script;
``auto`` picks Graph when Graph credentials are configured.
"""

from __future__ import annotations

from pathlib import Path

import click

from .. import settings
from ..errors import SessionsError
from ..m365 import DEFAULT_TIMEOUT
from ..m365.audit import REPORTS_SUBDIR, compliance_status
from ..m365.audit.graph import (
    ENGINES,
    AuditConfig,
    GraphAuditRun,
    evaluate_snapshot,
    find_config,
    load_config,
    load_snapshot,
    resolve_engine,
)
from ..m365.graph import CLOUDS
from ..m365.progress import Step
from ..sessions.manager import SessionManager
from . import render
from .app import cli, console, echo_json, root_options, tracked


@cli.group()
def audit() -> None:
    """Run the Microsoft 365 CIS audit and follow its compliance."""


@audit.command("run")
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="auto",
    show_default=True,
    help="graph: Microsoft Graph, no PowerShell; powershell: the audit script; auto: Graph "
    "when Graph credentials are configured (config file [graph] or AZURE_TENANT_ID and "
    "AZURE_CLIENT_ID).",
)
@click.option(
    "--controls",
    metavar="ID,...",
    help="Graph engine: only these CIS control ids, e.g. 5.2.2.1,5.2.2.2.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Audit config file (TOML: [graph], [audit] break_glass, [[exceptions]]) "
    "[default: config/audit.toml under the root, if present].",
)
@click.option(
    "--cloud",
    type=click.Choice(tuple(CLOUDS)),
    help="Graph engine: the Microsoft cloud [default: the config file's, else global].",
)
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
    engine: str,
    controls: str | None,
    config_file: Path | None,
    cloud: str | None,
) -> None:
    """Run the CIS audit over Microsoft Graph or with the PowerShell script, and summarise it.

    The Graph engine signs in with azure-identity (client secret, certificate, or
    DefaultAzureCredential: environment, workload or managed identity, Azure CLI) and
    writes a snapshot and a results file under output/reports/security/.
    """
    config = _config(root, config_file)
    chosen = _engine(engine, config)
    if chosen == "graph":
        _run_graph(manager, root, as_json, config, _ids(controls), cloud)
        return
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


@audit.command("evaluate")
@click.argument("snapshot", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Audit config file (break-glass accounts, accepted exceptions) "
    "[default: config/audit.toml under the root, if present].",
)
@click.option("--controls", metavar="ID,...", help="Only these CIS control ids.")
@click.option(
    "--save",
    is_flag=True,
    help="Also write a results file under output/reports/security/ (audit status reads it).",
)
@root_options
def evaluate_command(
    manager: SessionManager,
    root: Path,
    as_json: bool,
    snapshot: Path,
    config_file: Path | None,
    controls: str | None,
    save: bool,
) -> None:
    """Re-evaluate a saved Graph snapshot offline: no sign-in, no network."""
    config = _config(root, config_file)
    arguments = {"snapshot": str(snapshot), "config": str(config.source or ""),
                 "controls": _ids(controls), "save": save}  # fmt: skip
    with tracked(manager, "security_audit_evaluation", "audit evaluate", arguments) as session:
        loaded = load_snapshot(snapshot)
        target = None
        if save:
            stamp = loaded.collected_at.strftime("%Y%m%d_%H%M%S")
            target = root / REPORTS_SUBDIR / f"m365_cis_audit_{stamp}_graph_offline.json"
        result = evaluate_snapshot(loaded, config, controls=_ids(controls), results_file=target,
                                   snapshot_file=snapshot)  # fmt: skip
        for item in result.evaluations:
            session.add_event("progress", f"{item.control.id} {item.status}", item.step_data())
        session.add_event("progress", "Evaluation completed", result.completion())
    _show_graph(result, session.session_id, as_json)


def _config(root: Path, given: Path | None) -> AuditConfig:
    try:
        return load_config(find_config(root, given))
    except SessionsError as exc:
        raise click.ClickException(str(exc)) from exc


def _engine(engine: str, config: AuditConfig) -> str:
    try:
        return resolve_engine(engine, config)
    except SessionsError as exc:
        raise click.BadParameter(str(exc), param_hint="--engine") from exc


def _ids(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [part.strip() for part in text.split(",") if part.strip()] or None


def _run_graph(
    manager: SessionManager,
    root: Path,
    as_json: bool,
    config: AuditConfig,
    controls: list[str] | None,
    cloud: str | None,
) -> None:
    steps = console(stderr=True)

    def show(message: str) -> None:
        if not as_json:
            steps.print(f"[dim]{message}[/]", highlight=False)

    try:  # the Graph client needs httpx2 and anyio: the graph (or mcp) extra
        from .graph import run_graph
    except ImportError as exc:
        raise click.ClickException(
            f"The Graph engine needs the graph extra ({exc.name} is missing): "
            "pip install 'm365-security-toolkit[graph]'."
        ) from exc
    result, session_id = run_graph(manager, root, config, controls, cloud, show)
    _show_graph(result, session_id, as_json)


def _show_graph(result: GraphAuditRun, session_id: str, as_json: bool) -> None:
    if as_json:
        echo_json({"session_id": session_id, **result.to_dict()})
        return
    from .graph import graph_results_table  # rich only, but beside the Graph run it draws

    out = console()
    out.print(graph_results_table(result))
    out.print(render.audit_summary(result.summary, "Audit"))
    rate = result.pass_rate()
    click.echo(f"Pass rate: {rate:g}%" if rate is not None else "Pass rate: none judged")
    if result.snapshot_file:
        click.echo(f"Snapshot: {result.snapshot_file}")
    if result.results_file:
        click.echo(f"Results file: {result.results_file}")
    click.echo(f"Session: {session_id}")
