"""The root ``m365-toolkit`` group and what its commands share: options, JSON, the console."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from .. import __version__, settings
from ..data.retention import parse_age
from ..errors import DamagedRecordWarning, SessionsError, ValidationError
from ..sessions.manager import SessionManager
from ..sessions.model import Session
from ..sessions.query import window_start

F = TypeVar("F", bound=Callable[..., Any])
STORE_HELP = (
    "Session store: a SQLite file, a .json file or a store URL "
    "[default: output/sessions/sessions.db; env M365_TOOLKIT_STORE]."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="m365-toolkit")
def cli() -> None:
    """Sessions and audit trail for Microsoft 365 security operations."""


def main() -> None:
    """Entry point of the ``m365-toolkit`` console script."""
    cli()


def store_options(command: F) -> F:
    """Add ``--store`` and ``--json`` and turn toolkit errors into clean CLI errors."""

    @click.option("--store", metavar="PATH_OR_URL", envvar=settings.STORE, help=STORE_HELP)
    @click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
    @functools.wraps(command)
    def wrapper(*args: Any, store: str | None, as_json: bool, **kwargs: Any) -> Any:
        with reporting_damage():
            try:
                with SessionManager(store) as manager:
                    return command(*args, manager=manager, as_json=as_json, **kwargs)
            except SessionsError as exc:
                raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


@contextmanager
def reporting_damage() -> Iterator[None]:
    """Print each damaged record a command's reads left out, and then exit with 1.

    The command goes on with the readable records; scripts learn from the exit status that
    some were left out. Other warnings are passed on as they came.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DamagedRecordWarning)
        try:
            yield
        finally:
            damaged: dict[str, None] = {}  # each message once, in order
            for item in caught:
                if issubclass(item.category, DamagedRecordWarning):
                    damaged.setdefault(str(item.message))
                else:
                    warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
            for message in damaged:  # also when the command failed: say what it found
                click.echo(f"Warning: {message}", err=True)
    if damaged:
        raise click.ClickException(
            f"Found {len(damaged)} damaged record(s) (see the warnings above); the others "
            "were read."
        )


ROOT_OPTION = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=settings.ROOT,
    help="Toolkit folder with output/ and scripts/ [default: current directory; "
    "env M365_TOOLKIT_ROOT].",
)
"""``--root``: the toolkit folder, for the operation commands and ``m365-toolkit mcp``."""
ROOT_STORE_OPTION = click.option(
    "--store",
    metavar="PATH_OR_URL",
    envvar=settings.STORE,
    help="Session store [default: output/sessions/sessions.db under the root; "
    "env M365_TOOLKIT_STORE].",
)
"""``--store`` beside ``--root``: the store defaults to the one under the root."""


def root_options(command: F) -> F:
    """Add ``--root``, ``--store`` and ``--json`` for commands that run an operation.

    The store defaults to ``output/sessions/sessions.db`` under the root, where the MCP
    server keeps it too, so a run from the CLI and one from an assistant share one trail.
    Damaged records the operation's reads left out are named, and the exit status is 1.
    """

    @ROOT_OPTION
    @ROOT_STORE_OPTION
    @click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
    @functools.wraps(command)
    def wrapper(
        *args: Any, root: Path | None, store: str | None, as_json: bool, **kwargs: Any
    ) -> Any:
        folder = (root or Path(".")).absolute()
        location: str | os.PathLike[str] = store or folder / settings.DEFAULT_STORE
        with reporting_damage():
            try:
                with SessionManager(location) as manager:
                    return command(*args, manager=manager, root=folder, as_json=as_json, **kwargs)
            except SessionsError as exc:
                raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


class Days(click.ParamType[Any, Any]):
    """A number of days more than 0, or ``all`` (no time limit, read as ``None``).

    0 is refused rather than read as an empty window (which always finds nothing) or as
    "all time" (which ``all`` says plainly).
    """

    name = "days"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, (int, float)):
            number = value
        elif str(value).strip().lower() == "all":
            return None
        else:
            try:
                number = float(value)
            except ValueError:
                self.fail(f"{str(value)[:40]!r} is not a number of days or 'all'.", param, ctx)
        if number == 0:
            self.fail("must be more than 0 days, got 0; use 'all' for all time.", param, ctx)
        try:
            window_start(number)
        except ValidationError as exc:
            self.fail(f"{str(exc).replace('leave it out (None)', 'use all')}", param, ctx)
        return number


DAYS = Days()


def window_text(days: float | None) -> str:
    """``in the last 30 days`` or ``of all time``, for titles and messages."""
    return "of all time" if days is None else f"in the last {days:g} days"


def days_option(help_text: str, default: float | None = 30) -> Callable[[F], F]:
    """``--days N`` (or ``--days all``), 30 by default."""
    return click.option(
        "--days",
        type=DAYS,
        default=default,
        show_default=default is not None,
        metavar="N|all",
        help=f"{help_text} N must be more than 0; 'all' for no time limit.",
    )


# What json.dumps leaves raw but a terminal acts on: DEL, the C1 controls (U+0080-U+009F,
# CSI among them), the line and paragraph separators and the bidirectional marks and
# overrides. Only string contents can hold them, so escaping them keeps the JSON valid.
_INERT = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def json_text(data: Any) -> str:
    """``data`` as indented JSON, readable (UTF-8) but with every character a terminal would
    act on as a ``\\u`` escape (C0 controls by :func:`json.dumps`, C1 and bidi ones here)."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _INERT.sub(lambda match: f"\\u{ord(match[0]):04x}", text)


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (see :func:`json_text`)."""
    click.echo(json_text(data))


_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
AGE_RULE = "AGE must be more than 0."


def parse_age_option(text: str | None) -> timedelta | None:
    """An ``--older-than`` value, or a usage error saying what is accepted, in the units the
    user gave (``--older-than must be more than 0 days; got 0d``)."""
    if text is None:
        return None
    try:
        age = parse_age(text)
    except ValidationError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    if age <= timedelta(0):
        unit = _AGE_UNITS[text.strip()[-1]]
        raise click.UsageError(f"--older-than must be more than 0 {unit}; got {text.strip()}.")
    return age


def limit_option(default: int, what: str) -> Callable[[F], F]:
    """``--limit N``: at most N items, N of 1 or more (0 would always show nothing)."""

    def check(ctx: click.Context, param: click.Parameter, value: int) -> int:
        if value < 1:
            raise click.BadParameter(f"must be 1 or more, got {value}.", ctx, param)
        return value

    return click.option(
        "--limit",
        type=int,
        default=default,
        show_default=True,
        callback=check,
        help=f"Show at most N {what}, newest first; N must be 1 or more.",
    )


def console(*, stderr: bool = False) -> Console:
    """A rich console; piped output gets a wide one instead of 80 columns."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr) if stream.isatty() else Console(stderr=stderr, width=160)


@contextmanager
def tracked(
    manager: SessionManager, operation_type: str, command: str, arguments: dict[str, Any]
) -> Iterator[Session]:
    """Run a command's operation inside a session, as the MCP server runs a tool call.

    The metadata names the command and its arguments (secrets are redacted by the manager);
    the session completes as the block ends (see :class:`SessionScope`). A toolkit error
    becomes a one-line CLI error naming the session.
    """
    scope = manager.session(
        operation_type, metadata={"command": command, "arguments": arguments, "via": "cli"}
    )
    try:
        with scope as session:
            yield session
    except SessionsError as exc:
        where = f" (session {scope.session.session_id})" if scope.session is not None else ""
        raise click.ClickException(f"{exc}{where}") from exc
