"""Every ``M365_TOOLKIT_*`` environment variable, read here and nowhere else.

:data:`VARIABLES` is the one table of them: name, meaning and default.
``docs/configuration.md`` shows the same table to users (a test keeps the two equal).

Each function reads its variable when it is called, never at import, so a test can set one
with ``monkeypatch.setenv`` and a process sees the environment it runs in. A value of only
blanks counts as unset.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

STORE = "M365_TOOLKIT_STORE"
USER = "M365_TOOLKIT_USER"
COST_CONFIG = "M365_TOOLKIT_COST_CONFIG"
ROOT = "M365_TOOLKIT_ROOT"
AUDIT_TIMEOUT = "M365_TOOLKIT_AUDIT_TIMEOUT"
AUDIT_COMMAND = "M365_TOOLKIT_AUDIT_COMMAND"
REMEDIATION_COMMAND = "M365_TOOLKIT_REMEDIATION_COMMAND"
TEST_POSTGRES_URL = "M365_TOOLKIT_TEST_POSTGRES_URL"
OTEL = "M365_TOOLKIT_OTEL"
CHECKPOINT_KEY = "M365_TOOLKIT_CHECKPOINT_KEY"

DEFAULT_STORE = Path("output") / "sessions" / "sessions.db"
DEFAULT_AUDIT_TIMEOUT = 30 * 60.0


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: its name, what it sets, and what applies when it is unset."""

    name: str
    meaning: str
    default: str


VARIABLES: tuple[Variable, ...] = (
    Variable(
        STORE,
        "Where sessions and cost records are kept: a SQLite file, a `.json` file or a "
        "`postgresql://` URL (`SessionManager()`, the CLI's `--store`, the MCP server).",
        "`output/sessions/sessions.db` under the current directory "
        "(under the root for the MCP server)",
    ),
    Variable(USER, "Who runs the sessions, when no `user` is given.", "the OS login name"),
    Variable(
        COST_CONFIG,
        'A TOML file with `[prices."model"]` and `[budgets]` tables for the cost tracker.',
        "none: built-in prices, no budgets",
    ),
    Variable(
        ROOT,
        "The toolkit folder holding `output/` and `scripts/` (MCP server, `m365-toolkit mcp`).",
        "the current directory",
    ),
    Variable(
        AUDIT_TIMEOUT,
        "Seconds before a hung audit or remediation script is stopped.",
        "`1800` (30 minutes)",
    ),
    Variable(
        AUDIT_COMMAND,
        "The command line run instead of the audit PowerShell script "
        "(split like a shell would, never run by one).",
        "`pwsh -NoProfile -ExecutionPolicy Bypass -File "
        "<root>/scripts/powershell/Invoke-M365CISAudit.ps1`",
    ),
    Variable(
        REMEDIATION_COMMAND,
        "The command line run instead of the remediation PowerShell script.",
        "`pwsh -NoProfile -ExecutionPolicy Bypass -File "
        "<root>/scripts/powershell/PostRemediateM365CIS.ps1`",
    ),
    Variable(
        OTEL,
        "`1` (or `true`) turns on live OpenTelemetry export: every session a span, every "
        "event a span event, every LLM cost record a GenAI client span, on the global tracer "
        "provider (needs the `otel` extra).",
        "off",
    ),
    Variable(
        CHECKPOINT_KEY,
        "A checkpoint signing key file (`m365-toolkit store keygen`): stores then append a "
        "signed checkpoint to their chain every 1,000 records, at least every 15 minutes while "
        "writing, and at every prune.",
        "none: checkpoints only from `m365-toolkit store checkpoint`",
    ),
    Variable(
        TEST_POSTGRES_URL,
        "Tests only: the PostgreSQL server the test suite creates its schemas on.",
        "`postgresql://postgres@127.0.0.1:5432/test`",
    ),
)

_NAMES = frozenset(variable.name for variable in VARIABLES)


def get(name: str) -> str | None:
    """The value of one of :data:`VARIABLES`, stripped; ``None`` when unset or blank.

    Raises:
        ValueError: ``name`` is not in the table (a programming error, not a user's).
    """
    if name not in _NAMES:
        raise ValueError(f"{name!r} is not a toolkit setting; add it to settings.VARIABLES.")
    return os.environ.get(name, "").strip() or None


def environment() -> Mapping[str, str]:
    """The process environment, for the variables other libraries define and the toolkit
    passes on: azure-identity's ``AZURE_*``, ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``.

    They are not toolkit settings (not in :data:`VARIABLES`), but are read here too, so
    that this module stays the one place the environment is looked at.
    """
    return os.environ


def store() -> str | None:
    """``M365_TOOLKIT_STORE``: the store location, or ``None`` for the caller's default."""
    return get(STORE)


def user() -> str | None:
    """``M365_TOOLKIT_USER``: who runs the sessions, or ``None`` for the OS login name."""
    return get(USER)


def cost_config() -> str | None:
    """``M365_TOOLKIT_COST_CONFIG``: the cost config file, or ``None`` for none."""
    return get(COST_CONFIG)


def root() -> Path:
    """``M365_TOOLKIT_ROOT`` as an absolute path, else the current directory."""
    return Path(get(ROOT) or ".").absolute()


def audit_timeout() -> float:
    """``M365_TOOLKIT_AUDIT_TIMEOUT`` in seconds, else 30 minutes.

    Raises:
        ConfigError: The value is not a positive number.
    """
    raw = get(AUDIT_TIMEOUT)
    if raw is None:
        return DEFAULT_AUDIT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(f"{AUDIT_TIMEOUT} must be a positive number of seconds, not {raw!r}.")
    return seconds


def checkpoint_key() -> str | None:
    """``M365_TOOLKIT_CHECKPOINT_KEY``: the signing key file of automatic checkpoints."""
    return get(CHECKPOINT_KEY)


def otel() -> bool:
    """``M365_TOOLKIT_OTEL``: whether live OpenTelemetry export is on.

    Raises:
        ConfigError: The value is not a yes or a no.
    """
    raw = (get(OTEL) or "0").lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{OTEL} must be 1 or 0 (true or false), not {raw!r}.")


def command(name: str) -> list[str] | None:
    """A command-line override (``M365_TOOLKIT_AUDIT_COMMAND`` or ``…_REMEDIATION_COMMAND``).

    The value is split like a shell would (``shlex``) but is never run by one.

    Returns:
        The argument list, or ``None`` when the variable is unset.

    Raises:
        ConfigError: The value cannot be split (e.g. an unclosed quote).
    """
    raw = get(name)
    if raw is None:
        return None
    try:
        return shlex.split(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} is not a valid command line ({exc}): {raw!r}.") from None
