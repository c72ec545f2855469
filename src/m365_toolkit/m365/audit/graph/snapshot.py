"""A run's snapshot: every Graph path it asked for, with the body or the status and error.

One JSON file per run under ``output/reports/security/`` (``m365_graph_snapshot_*.json``,
outside the results glob), written whole or not at all. It is the evidence behind every
verdict and the input of ``audit evaluate``. It records the sign-in settings as
:meth:`GraphSettings.describe` gives them: never a secret, never a token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ...._util.atomic import atomic_text_file
from ...._util.textfile import read_text
from ....errors import ValidationError
from ...graph.outcome import Outcome

FORMAT = "m365-toolkit/graph-snapshot"
VERSION = 1
SNAPSHOT_PREFIX = "m365_graph_snapshot"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What Graph answered in one run."""

    outcomes: Mapping[str, Outcome]
    collected_at: datetime
    """When collection finished (UTC)."""
    graph_endpoint: str
    connection: Mapping[str, Any] = field(default_factory=dict)
    """Tenant, app id, credential kind and cloud: nothing secret."""
    controls: tuple[str, ...] = ()
    """The control ids the run collected for."""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "collected_at": self.collected_at.isoformat(),
            "graph_endpoint": self.graph_endpoint,
            "connection": dict(self.connection),
            "controls": list(self.controls),
            "endpoints": {path: o.to_json() for path, o in self.outcomes.items()},
        }

    @classmethod
    def from_json(cls, data: Any, source: str = "snapshot") -> Snapshot:
        """The inverse of :meth:`to_json`.

        Raises:
            ValidationError: the data is not a snapshot this version can read.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValidationError(f"{source} is not a Graph audit snapshot (no "
                                  f"\"format\": {FORMAT!r}).")  # fmt: skip
        if data.get("version") != VERSION:
            raise ValidationError(f"{source} is snapshot version {data.get('version')!r}; "
                                  f"this toolkit reads version {VERSION}.")  # fmt: skip
        endpoints = data.get("endpoints")
        if not isinstance(endpoints, dict):
            raise ValidationError(f'{source} has no "endpoints" object.')
        try:
            collected = datetime.fromisoformat(str(data.get("collected_at")))
        except ValueError:
            raise ValidationError(f"{source} has no valid collected_at time.") from None
        return cls(
            outcomes={
                str(path): Outcome.from_json(str(path), item)
                for path, item in endpoints.items()
                if isinstance(item, dict)
            },
            collected_at=collected,
            graph_endpoint=str(data.get("graph_endpoint", "")),
            connection=dict(data.get("connection") or {}),
            controls=tuple(str(c) for c in data.get("controls") or ()),
        )

    def save(self, path: Path) -> Path:
        """Write the snapshot to ``path`` atomically; returns ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_text_file(path, "Graph snapshot") as file:
            json.dump(self.to_json(), file, ensure_ascii=False, separators=(",", ":"))
        return path


def load_snapshot(path: str | Path) -> Snapshot:
    """Read a snapshot file written by a Graph audit run.

    Raises:
        ValidationError: the file is missing, not JSON, or not a snapshot.
    """
    path = Path(path)
    text = read_text(path, "Graph snapshot")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"The Graph snapshot {str(path)!r} is not valid JSON ({exc.msg} at line {exc.lineno})."
        ) from None
    return Snapshot.from_json(data, f"The file {str(path)!r}")
