"""``m365-toolkit store verify``: the tamper-evident chain, checked from the command line."""

from __future__ import annotations

import click

from .. import settings
from ..errors import ConfigError, SessionsError
from ..store import StoreLocation, open_store
from ..store.chain import UNKEYED, Verification
from .app import STORE_HELP, echo_json
from .data import store_group


@store_group.command("verify")
@click.option("--store", metavar="PATH_OR_URL", envvar=settings.STORE, help=STORE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def verify_command(store: str | None, as_json: bool) -> None:
    """Check the store's tamper-evident chain: seal the records not sealed yet, then walk
    every record. Exits 0 when the chain is intact; otherwise names the first broken record
    (position, sequence number, session) and the kind of break, and exits 1."""
    try:
        location = StoreLocation.parse(store)
        if location.scheme in ("sqlite", "json") and not location.path.exists():
            raise ConfigError(f"The store {str(location.path)!r} does not exist.")
        with open_store(store) as opened:
            result = opened.verify()
            name = opened.location
    except SessionsError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        echo_json(result.to_dict())
    else:
        for line in describe(result, name):
            click.echo(line)
    if not result.intact:
        click.get_current_context().exit(1)


def describe(result: Verification, location: str) -> list[str]:
    """The text report of a verification."""
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
    if not result.keyed:
        lines.append(UNKEYED[0].upper() + UNKEYED[1:])
    return lines
