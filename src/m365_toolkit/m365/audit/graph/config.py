"""The audit config file (TOML): Graph sign-in, break-glass accounts, accepted exceptions.

```toml
[graph]                      # see m365_toolkit.m365.graph.auth.GraphSettings
tenant_id = "..."
client_id = "..."

[audit]
break_glass = ["bg-admin1@contoso.com", "5c0a…"]   # UPNs or object ids; CA may exclude them
approved_public_groups = ["All Company"]           # 1.2.1: public groups that are allowed

[[exceptions]]
control = "5.1.2.2"
reason = "The dev team registers its own apps until the platform team takes over."
owner = "ciso@contoso.com"
expires = 2026-12-31
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ...._util.textfile import read_text
from ....errors import ConfigError
from ...graph.auth import graph_configured

DEFAULT_CONFIG = Path("config", "audit.toml")
"""Where ``audit run`` and the MCP server look under the toolkit root when no file is named."""


@dataclass(frozen=True, slots=True)
class AcceptedException:
    """A failing control the organisation accepts, until ``expires`` (inclusive)."""

    control: str
    reason: str
    owner: str
    expires: date

    def active(self, today: date) -> bool:
        return today <= self.expires

    def to_dict(self) -> dict[str, str]:
        return {"control": self.control, "reason": self.reason, "owner": self.owner,
                "expires": self.expires.isoformat()}  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """What the evaluators and the engine need from the config file."""

    graph: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """The raw ``[graph]`` table (may hold a secret: never recorded, never shown)."""
    break_glass: frozenset[str] = frozenset()
    """Lower-cased UPNs and object ids that a Conditional Access rule may exclude."""
    approved_public_groups: frozenset[str] = frozenset()
    """Lower-cased display names or ids of public Microsoft 365 groups that are allowed."""
    exceptions: tuple[AcceptedException, ...] = ()
    source: Path | None = None

    def exception_for(self, control_id: str) -> AcceptedException | None:
        """The exception declared for a control, if any (the last one wins)."""
        found = [e for e in self.exceptions if e.control == control_id]
        return found[-1] if found else None


def load_config(path: str | Path | None) -> AuditConfig:
    """Read an audit config file; ``None`` means no file (an empty config).

    Raises:
        ConfigError: the file is missing, not TOML, or holds a bad value; the message
            names the file and the key.
    """
    if path is None:
        return AuditConfig()
    path = Path(path)
    try:
        data = tomllib.loads(read_text(path, "audit config file"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"The audit config file {str(path)!r} is not valid TOML: {exc}."
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    return parse_config(data, source=path)


def parse_config(data: Mapping[str, Any], *, source: Path | None = None) -> AuditConfig:
    """An :class:`AuditConfig` from the parsed TOML tables.

    Raises:
        ConfigError: an unknown table, or a value of the wrong type.
    """
    where = f" in {str(source)!r}" if source else ""
    unknown = set(data) - {"graph", "audit", "exceptions"}
    if unknown:
        raise ConfigError(f"Unknown table(s) {', '.join(sorted(unknown))}{where}; "
                          "known are [graph], [audit] and [[exceptions]].")  # fmt: skip
    graph = data.get("graph", {})
    audit = data.get("audit", {})
    if not isinstance(graph, Mapping) or not isinstance(audit, Mapping):
        raise ConfigError(f"[graph] and [audit] must be tables{where}.")
    extra = set(audit) - {"break_glass", "approved_public_groups"}
    if extra:
        raise ConfigError(f"Unknown key(s) in [audit]{where}: {', '.join(sorted(extra))}.")
    return AuditConfig(
        graph=dict(graph),
        break_glass=_names(audit.get("break_glass", []), "audit.break_glass", where),
        approved_public_groups=_names(
            audit.get("approved_public_groups", []), "audit.approved_public_groups", where
        ),
        exceptions=tuple(
            _exception(item, index, where) for index, item in enumerate(data.get("exceptions", []))
        ),
        source=source,
    )


def _names(value: object, key: str, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{key}{where} must be a list of names, not {value!r}.")
    return frozenset(v.strip().lower() for v in value)


def _exception(item: object, index: int, where: str) -> AcceptedException:
    label = f"exceptions[{index}]{where}"
    if not isinstance(item, Mapping):
        raise ConfigError(f"{label} must be a table with control, reason, owner and expires.")
    missing = [k for k in ("control", "reason", "owner", "expires") if not item.get(k)]
    if missing:
        raise ConfigError(f"{label} lacks {', '.join(missing)}; an accepted exception needs "
                          "a control id, a reason, an owner and an expiry date.")  # fmt: skip
    expires = item["expires"]
    if isinstance(expires, str):
        try:
            expires = date.fromisoformat(expires)
        except ValueError:
            raise ConfigError(f"{label}: expires must be a date such as 2026-12-31, "
                              f"not {expires!r}.") from None  # fmt: skip
    if not isinstance(expires, date):
        raise ConfigError(f"{label}: expires must be a date such as 2026-12-31.")
    return AcceptedException(
        str(item["control"]).strip(), str(item["reason"]), str(item["owner"]), expires
    )


ENGINES = ("auto", "graph", "powershell")


def find_config(root: str | Path, given: str | Path | None = None) -> Path | None:
    """The config file to read: ``given``, else ``config/audit.toml`` under ``root`` if it
    exists, else ``None``."""
    if given is not None:
        return Path(given)
    default = Path(root) / DEFAULT_CONFIG
    return default if default.is_file() else None


def resolve_engine(
    engine: str, config: AuditConfig, environ: Mapping[str, str] | None = None
) -> str:
    """``graph`` or ``powershell``: ``auto`` is Graph when Graph credentials are set up.

    Raises:
        ConfigError: ``engine`` is not one of :data:`ENGINES`.
    """
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}.")
    if engine != "auto":
        return engine
    return "graph" if graph_configured(config.graph, environ) else "powershell"
