"""``m365-toolkit sessions``: list, show, statistics and reaping of the audit trail.

The data commands of the group (export, import, prune) are in :mod:`.data`.
"""

from __future__ import annotations

from typing import Any

import click

from ..errors import SessionsError
from ..sessions.formatting import format_statistics
from ..sessions.manager import SessionManager
from ..sessions.model import Status
from . import render
from .app import (
    cli,
    console,
    days_option,
    echo_json,
    limit_option,
    parse_age_option,
    store_options,
    window_text,
)


@cli.group()
def sessions() -> None:
    """Query and maintain the session audit trail."""


@sessions.command("list")
@click.option("--type", "operation_type", help="Only this operation type.")
@click.option("--user", help="Only sessions of this user.")
@click.option("--status", type=click.Choice([s.value for s in Status]), help="Only this status.")
@days_option("Sessions started in the last N days.")
@limit_option(50, "sessions")
@store_options
def list_sessions(
    manager: SessionManager,
    as_json: bool,
    operation_type: str | None,
    user: str | None,
    status: str | None,
    days: float | None,
    limit: int,
) -> None:
    """List recent sessions, newest first."""
    history = manager.get_session_history(operation_type, user, days, status=status, limit=limit)
    if as_json:
        echo_json(history)
        return
    if not history:
        click.echo(f"No sessions {window_text(days)} in {manager.storage_path}.")
        return
    console().print(render.sessions_table(history, f"Sessions {window_text(days)}"))


@sessions.command("show")
@click.argument("session_id")
@store_options
def show_session(manager: SessionManager, as_json: bool, session_id: str) -> None:
    """Show one session with its event timeline."""
    session = manager.get_session(session_id)
    if session is None:
        raise click.ClickException(f"No session with id {session_id!r} in {manager.storage_path}.")
    if as_json:
        echo_json(session.to_dict())
    else:
        render.print_session(console(), session)


@sessions.command("stats")
@days_option("Sessions started in the last N days.")
@click.option("--no-chain", is_flag=True, help="Skip the walk of the tamper-evident chain.")
@store_options
def session_stats(
    manager: SessionManager, as_json: bool, days: float | None, no_chain: bool
) -> None:
    """Statistics by operation type, user and status, and the tamper-evident chain's status
    (intact through which position, the last checkpoint: a walk of the whole chain)."""
    stats = manager.get_statistics(days)
    chain: dict[str, Any] | None = None
    line = ""
    if not no_chain:
        try:
            result = manager.store.verify()
            line = f"Chain: {result.status()} (details: m365-toolkit store verify)"
            chain = {key: value for key, value in result.to_dict().items() if key != "breaks"}
        except SessionsError as exc:  # a read-only store with records not sealed yet
            line = f"Chain: not checked ({exc})"
            chain = {"error": str(exc)}
    if as_json:
        echo_json({**stats, "chain": chain} if chain is not None else stats)
    else:
        click.echo(format_statistics(render.visible_statistics(stats), days))
        if line:
            click.echo(render.visible(line))


@sessions.command("reap")
@click.option(
    "--older-than",
    metavar="AGE",
    help="Also reap active sessions from other hosts started longer ago (e.g. 12h, 7d; "
    "more than 0).",
)
@click.option("--dry-run", is_flag=True, help="Only list the stale sessions.")
@store_options
def reap_sessions(
    manager: SessionManager, as_json: bool, older_than: str | None, dry_run: bool
) -> None:
    """Complete as 'error' the active sessions whose process has died."""
    age = parse_age_option(older_than)
    if dry_run:
        ids = [record["session_id"] for record in manager.find_stale(age)]
    else:
        ids = manager.reap_stale(age)
    if as_json:
        echo_json({"dry_run": dry_run, "sessions": ids})
        return
    verb = "Would reap" if dry_run else "Reaped"
    click.echo(f"{verb} {len(ids)} stale session(s).")
    for session_id in ids:
        click.echo(f"  {render.visible(session_id)}")
