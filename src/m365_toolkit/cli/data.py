"""The data commands of ``m365-toolkit``: sessions export, import and prune; store migrate."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from .._util.atomic import refuse_store_files
from ..data.migrate import migrate as migrate_stores
from ..data.retention import prune_sessions
from ..data.transfer import (
    EXPORT_FORMATS,
    IMPORT_FORMATS,
    export_sessions,
    export_to_file,
    import_file,
)
from ..errors import ConfigError, SessionsError
from ..sessions.manager import SessionManager
from ..sessions.query import window_start
from ..store import SCAN_BATCH, StoreCounts, StoreLocation, _safe, open_store
from . import render
from .app import cli, console, days_option, echo_json, parse_age_option, store_options
from .sessions import sessions


@sessions.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice((*EXPORT_FORMATS, "otlp", "chain")),
    default="json",
    show_default=True,
    help="json: the guide's format (an array of sessions with events); jsonl: one session "
    "per line; csv: one row per session, without events; otlp: finished sessions and cost "
    "records as OpenTelemetry spans, sent to --endpoint; chain: every record with the "
    "tamper-evident chain and its checkpoints (to -o), for store verify FILE offline.",
)
@click.option(
    "--endpoint",
    metavar="URL",
    help="With --format otlp: the OTLP/HTTP traces URL, e.g. http://localhost:4318/v1/traces.",
)
@click.option(
    "--follow",
    is_flag=True,
    help="With --format otlp: keep sending, until stopped (Ctrl-C, SIGTERM): each session "
    "when it closes and each cost record, moments after they are stored. It runs in a "
    "process of its own, so the writers pay nothing (SQLite and PostgreSQL stores).",
)
@click.option(
    "--cursor",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --follow: keep the follower's place in this file, to go on where it "
    "stopped [default: start at the store's present end].",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="With --follow: seconds between looks at the store once everything is sent.",
)
@days_option(
    "Only sessions started in the last N days [default: all]; with --follow, the history "
    "sent first, on a run without a saved place.",
    default=None,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (replaced only once complete) [default: stdout].",
)
@store_options
def export_command(
    manager: SessionManager,
    as_json: bool,
    fmt: str,
    endpoint: str | None,
    follow: bool,
    cursor: Path | None,
    poll: float,
    days: float | None,
    output: Path | None,
) -> None:
    """Export sessions, streamed in batches (oldest first), as JSON, JSON lines or CSV, or
    send them to an OpenTelemetry backend as traces (the same ids each time: no duplicates)."""
    since = window_start(days)
    if fmt == "chain":
        _export_chain(manager, as_json, days, output)
        return
    if fmt == "otlp" or endpoint is not None:
        if fmt != "otlp" or output is not None:
            raise click.UsageError("--endpoint goes with --format otlp, and -o does not.")
        if follow:
            _follow(manager, as_json, endpoint, cursor, poll, since)
            return
        from ..exporters.otlp_replay import replay

        sent = replay(manager.store, endpoint, since=since)
        if as_json:
            echo_json({"endpoint": endpoint, "sessions": sent.sessions, "costs": sent.costs,
                       "spans": sent.spans})  # fmt: skip
        else:
            click.echo(
                f"Sent {sent.sessions} session(s) and {sent.costs} cost record(s) as "
                f"{sent.spans} span(s) to {endpoint}."
            )
        return
    if follow or cursor is not None:
        raise click.UsageError("--follow and --cursor go with --format otlp.")
    if output is None:
        export_sessions(manager.store, sys.stdout, fmt, since=since)
        return
    count = export_to_file(manager.store, output, fmt, since=since)
    if as_json:
        echo_json({"path": str(output), "format": fmt, "sessions": count})
    else:
        click.echo(f"Exported {count} session(s) to {output}.")


def _follow(
    manager: SessionManager,
    as_json: bool,
    endpoint: str | None,
    cursor: Path | None,
    poll: float,
    since: datetime | None,
) -> None:
    from ..exporters.otlp_follow import follow
    from ..exporters.otlp_replay import otlp_exporter

    if cursor is not None:
        refuse_store_files(cursor, manager.store.files())
    exporter = otlp_exporter(endpoint)
    stop = threading.Event()
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

    def stopping(*_: object) -> None:  # once: a second Ctrl-C interrupts at once
        stop.set()
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    for signum in previous:
        signal.signal(signum, stopping)
    if not as_json:
        click.echo(f"Following {manager.store.location} to {endpoint}; Ctrl-C stops.", err=True)
    sent = follow(manager.store, exporter=exporter, cursor=cursor, since=since, poll=poll,
                  stop=stop)  # fmt: skip
    if as_json:
        echo_json({"endpoint": endpoint, "sessions": sent.sessions, "costs": sent.costs,
                   "spans": sent.spans, "through": sent.through})  # fmt: skip
        return
    place = "" if sent.through is None else f"; its place: record {sent.through}"
    click.echo(
        f"Sent {sent.sessions} session(s) and {sent.costs} cost record(s) as {sent.spans} "
        f"span(s) to {endpoint}{place}."
    )


def _export_chain(
    manager: SessionManager, as_json: bool, days: float | None, output: Path | None
) -> None:
    from ..store.chain_file import export_chain

    if output is None or days is not None:
        raise click.UsageError("--format chain writes the whole chain to a file: give -o, "
                               "and no --days.")  # fmt: skip
    if any(path == output.absolute() for path in manager.store.files()):
        raise click.UsageError(f"{str(output)!r} is one of the store's own files.")
    manager.store.seal()  # a checkpoint first, if one is due and a key is configured
    result = export_chain(manager.store, output)
    if as_json:
        echo_json({"path": str(output), "format": "chain", "positions": result.size,
                   "intact": result.intact})  # fmt: skip
    else:
        click.echo(f"Exported {result.size} chain position(s) of store {result.store_id} to "
                   f"{output}; verify it with: m365-toolkit store verify {output}")  # fmt: skip
    if not result.intact:
        click.echo("The store does not verify: run store verify.", err=True)
        click.get_current_context().exit(1)


@sessions.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(IMPORT_FORMATS),
    default="auto",
    show_default=True,
    help="json: the guide's session log; jsonl: one session (or cost entry) per line; "
    "costs: the original toolkit's cost log; auto: tell them apart.",
)
@store_options
def import_command(manager: SessionManager, as_json: bool, file: str, fmt: str) -> None:
    """Import sessions or cost records; those already stored are skipped."""
    result = import_file(manager.store, file, fmt)
    if as_json:
        echo_json(
            {"records": result.records, "imported": result.imported, "skipped": result.skipped}
        )
        return
    what = "session(s)" if result.records == "sessions" else "cost record(s)"
    click.echo(
        f"Imported {result.imported} {what} into {manager.storage_path}; "
        f"skipped {result.skipped} already stored."
    )


@sessions.command("prune")
@click.option(
    "--older-than",
    metavar="AGE",
    required=True,
    help="Delete finished sessions started longer ago than this (e.g. 365d, 52w; more than 0).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@store_options
def prune_command(manager: SessionManager, as_json: bool, older_than: str, dry_run: bool) -> None:
    """Delete old finished sessions with their events and costs; never active ones."""
    age = parse_age_option(older_than)
    assert age is not None  # the option is required
    result = prune_sessions(manager.store, age, dry_run=dry_run, clock=manager.clock)
    if as_json:
        echo_json(
            {"dry_run": dry_run, "sessions": result.sessions, "events": result.events,
             "costs": result.costs}
        )  # fmt: skip
        return
    verb = "Would remove" if dry_run else "Removed"
    click.echo(
        f"{verb} {result.sessions} session(s), {result.events} event(s) and "
        f"{result.costs} cost record(s) older than {older_than} from {manager.storage_path}."
    )


@cli.group("store")
def store_group() -> None:
    """Maintain session stores: copy one into another, verify its tamper-evident chain."""


@store_group.command("migrate")
@click.option("--from", "source", metavar="PATH_OR_URL", required=True, help="Store to copy from.")
@click.option("--to", "target", metavar="PATH_OR_URL", required=True, help="Store to copy into.")
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=SCAN_BATCH,
    show_default=True,
    help="Records per transaction.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def migrate_command(source: str, target: str, batch: int, as_json: bool) -> None:
    """Copy sessions, events and costs between stores; re-runs copy only what is missing."""
    try:
        source_location, target_location = StoreLocation.parse(source), StoreLocation.parse(target)
        if source_location.key == target_location.key:
            raise ConfigError(f"--from and --to name the same store {_safe(source)!r}.")
        if source_location.scheme != "postgresql" and not source_location.path.exists():
            raise ConfigError(f"The source store {_safe(source)!r} does not exist.")
        with open_store(source) as from_store, open_store(target) as to_store:
            err = Console(stderr=True)
            columns = (TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn())  # fmt: skip
            with Progress(*columns, console=err, disable=as_json) as bar:
                tasks: dict[str, TaskID] = {}

                def progress(stage: str, done: int, total: int) -> None:
                    if stage not in tasks:
                        tasks[stage] = bar.add_task(stage, total=total)
                    bar.update(tasks[stage], completed=done)

                result = migrate_stores(from_store, to_store, batch=batch, progress=progress)
    except SessionsError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        echo_json({
            "copied": {"sessions": result.sessions.imported, "costs": result.costs.imported},
            "skipped": {"sessions": result.sessions.skipped, "costs": result.costs.skipped},
            "source": _counts(result.source), "target": _counts(result.target),
            "matches": result.matches,
        })  # fmt: skip
    else:
        copied = {
            "sessions": (result.sessions.imported, result.sessions.skipped),
            "events": None,
            "costs": (result.costs.imported, result.costs.skipped),
        }
        title = f"{from_store.location} -> {to_store.location}"
        console().print(render.migrate_table(title, copied, result.source, result.target))
    try:
        result.check()
    except SessionsError as exc:
        raise click.ClickException(str(exc)) from exc


def _counts(counts: StoreCounts) -> dict[str, int]:
    return {name: int(getattr(counts, name)) for name in ("sessions", "events", "costs")}
