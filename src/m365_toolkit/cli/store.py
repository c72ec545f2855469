"""``m365-toolkit store verify``: the tamper-evident chain, checked from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from .. import settings
from ..data.migration_chain import verify_source
from ..errors import ConfigError, SessionsError
from ..store import Store, StoreLocation, open_store
from ..store import checkpoint as checkpoints
from ..store.chain import UNKEYED, Verification
from ..store.chain_file import export_chain, verify_file
from .app import STORE_HELP, echo_json
from .data import store_group

_FILE = click.Path(dir_okay=False, exists=True, path_type=Path)
_FOLDER = click.Path(file_okay=False, path_type=Path)


def _existing(store: str | None) -> Store:
    """Open a store that exists (verifying a store must not create one)."""
    location = StoreLocation.parse(store)
    if location.scheme in ("sqlite", "json") and not location.path.exists():
        raise ConfigError(f"The store {str(location.path)!r} does not exist.")
    return open_store(store)


@store_group.command("verify")
@click.argument("file", required=False, type=_FILE)
@click.option("--store", metavar="PATH_OR_URL", envvar=settings.STORE, help=STORE_HELP)
@click.option("--file", "exported", type=_FILE, help="Verify a chain export (offline).")
@click.option("--source", metavar="PATH_OR_URL", help="Hold a migrated copy against its source.")
@click.option("--public-key", type=_FILE, help="Ed25519 public key (or HMAC key) of checkpoints.")
@click.option("--anchor-dir", type=_FOLDER, help="Folder of checkpoints kept away from the store.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def verify_command(
    file: Path | None,
    store: str | None,
    exported: Path | None,
    source: str | None,
    public_key: Path | None,
    anchor_dir: Path | None,
    as_json: bool,
) -> None:
    """Check the store's tamper-evident chain: seal the records not sealed yet, then walk
    every record. Exits 0 when the chain is intact; otherwise names the first broken record
    (position, sequence number, session) and the kind of break, and exits 1. With
    --anchor-dir, also holds the chain against checkpoints taken earlier (truncation,
    rewritten history), their signatures checked with --public-key. With --file, verifies
    a chain export (store export-chain, sessions export --format chain; or FILE) with
    nothing but the file. With --source, a store made by store migrate is held against the
    store it was copied from: the source's chain still ends in the head the migration
    recorded, and every record of the source is in the copy, unchanged."""
    exported = exported or file
    try:
        found = checkpoints.anchors(anchor_dir) if anchor_dir is not None else []
        key = public_key.read_bytes() if public_key is not None else None
        if exported is not None:
            result, name = verify_file(exported, key, found), str(exported)
        else:
            with _existing(store) as opened:
                result = checkpoints.verify_with(opened, found, key)
                name = opened.location
                if source is not None:
                    with _existing(source) as original:
                        result = verify_source(result, opened, original)
    except SessionsError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        echo_json(result.to_dict())
    else:
        for line in describe(result, name, found):
            click.echo(line)
    if not result.intact:
        click.get_current_context().exit(1)


@store_group.command("checkpoint")
@click.option("--store", metavar="PATH_OR_URL", envvar=settings.STORE, help=STORE_HELP)
@click.option("--key", type=_FILE, help="Signing key (store keygen); unsigned without one.")
@click.option("--anchor-dir", type=_FOLDER, help="Also file the checkpoint in this folder.")
def checkpoint_command(store: str | None, key: Path | None, anchor_dir: Path | None) -> None:
    """Seal the store and print a checkpoint of its chain (store id, size, head, time),
    signed with --key: paste it into a ticket, or file it with --anchor-dir on another
    machine or write-once storage, for a later verify --anchor-dir."""
    try:
        with _existing(store) as opened:
            found = checkpoints.checkpoint(opened, key)
        if anchor_dir is not None:
            path = checkpoints.anchor(found, anchor_dir)
            click.echo(f"Filed as {path}.", err=True)
    except (SessionsError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(found.text(), nl=False)


@store_group.command("export-chain")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--store", metavar="PATH_OR_URL", envvar=settings.STORE, help=STORE_HELP)
@click.option("--anchor-dir", type=_FOLDER, help="Carry the checkpoints filed in this folder.")
def export_chain_command(path: Path, store: str | None, anchor_dir: Path | None) -> None:
    """Write the store's chain with every record to PATH (JSON Lines), to verify offline
    with store verify --file PATH; exits 1 if the store does not verify."""
    try:
        found = checkpoints.anchors(anchor_dir) if anchor_dir is not None else []
        with _existing(store) as opened:
            if any(p == path.absolute() for p in opened.files()):
                raise ConfigError(f"{str(path)!r} is one of the store's own files.")
            result = export_chain(opened, path, found)
    except SessionsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Wrote {result.size} chain position(s) of store {result.store_id} to {path}.")
    if not result.intact:
        click.echo("The store does not verify: run store verify.", err=True)
        click.get_current_context().exit(1)


@store_group.command("keygen")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--hmac", "shared", is_flag=True, help="A shared HMAC-SHA256 key, not Ed25519.")
def keygen_command(path: Path, shared: bool) -> None:
    """Write a new checkpoint signing key to PATH (readable by its owner only): Ed25519, its
    public key beside it as PATH.pub for auditors; or with --hmac one shared key."""
    try:
        public = checkpoints.generate_key(path, shared=shared)
    except SessionsError as exc:
        raise click.ClickException(str(exc)) from exc
    if shared:
        click.echo(f"Wrote the HMAC key {path}; auditors need this same file.")
    else:
        click.echo(f"Wrote the private key {path} and the public key {public} for auditors.")


def describe(
    result: Verification, location: str, found: list[checkpoints.Checkpoint] | None = None
) -> list[str]:
    """The text report of a verification (held against the checkpoints ``found``)."""
    lines = [
        f"Chain of {location} (store {result.store_id}): {result.size} record(s), "
        f"head {result.head[:16]}…",
    ]
    first = result.first
    if first is None:
        lines.append("INTACT: every record matches its leaf and its link, and the mutable "
                     "columns agree with the chained records.")  # fmt: skip
    else:
        where = f"position {first.pos}" if first.pos is not None else "outside the chain"
        lines.append(
            f"BROKEN: first at {where} (seq {first.seq}, session {first.session_id}): "
            f"{first.kind.value}: {first.detail}."
        )
        lines.append(
            "Breaks: " + ", ".join(f"{kind} {count}" for kind, count in result.counts.items())
        )
    lines.append(
        f"Records valid {result.valid}/{result.size}, pruned {result.pruned}, "
        f"written while verifying (not sealed yet) {result.unsealed}."
    )
    if found:
        lines.append(f"Held against {checkpoints.describe(found)}.")
    chained = [pos for pos, record in result.checkpoints if record.get("algorithm") != "none"]
    last = result.last_checkpoint
    lines.append(
        f"Checkpoints in the chain: {len(result.checkpoints)}"
        + (f", the newest at position {last[0]} taken {last[1]}." if last else ".")
    )
    if result.keyed:
        through = max([c.size for c in found or ()] + chained) - 1
        lines.append(
            f"Keyed: signed checkpoints vouch for positions 0..{through}; later records are "
            "protected against accidents only, until the next checkpoint."
        )
    else:
        lines.append(UNKEYED[0].upper() + UNKEYED[1:])
    return lines
