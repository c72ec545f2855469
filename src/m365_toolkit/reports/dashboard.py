"""Building the dashboard from a store and a toolkit folder, and writing it to a file.

The CLI (``m365-toolkit report``) and the MCP tool (``get_security_dashboard``) both call
:func:`write_dashboard` inside their ``dashboard_generation`` session.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .. import __version__, settings
from .._util.atomic import atomic_text_file, refuse_store_files
from .._util.system import Clock, detect_user, utc_now
from ..costs.budgets import Budget
from ..errors import ValidationError
from ..m365.audit import REPORTS_SUBDIR
from ..sessions.query import window_start
from ..store import Store, _safe
from .compliance import collect_runs, compliance_section
from .html import render_html
from .integrity import integrity
from .model import NOT_CHECKED, Dashboard, Header
from .operations import operations_section
from .spend import costs_section

Format = Literal["html", "json"]
FORMATS: tuple[Format, ...] = ("html", "json")


@dataclass(frozen=True, slots=True)
class WrittenDashboard:
    """A dashboard file that was written, and the dashboard it holds."""

    path: Path
    format: Format
    bytes: int
    dashboard: Dashboard


def build(
    store: Store,
    root: str | os.PathLike[str],
    days: float | None = 30,
    *,
    historical: bool = True,
    session_id: str | None = None,
    generated_by: str | None = None,
    budgets: Iterable[Budget] | None = None,
    verify: bool = True,
    anchor_dir: str | os.PathLike[str] | None = None,
    clock: Clock = utc_now,
) -> Dashboard:
    """Compute everything the dashboard shows.

    Args:
        store: The session store (sessions, events, cost records).
        root: The toolkit folder; results files are read from ``output/reports/security/``.
        days: The period of the operations and costs sections; ``None`` for all time. The
            compliance trend always covers every stored run.
        historical: ``False`` keeps only the latest audit run (no trend, no drift).
        session_id: The session the dashboard is generated in, shown in its header.
        generated_by: Who generates it; by default ``M365_TOOLKIT_USER`` or the OS user.
        budgets: The budgets to show; by default those of the cost config.
        verify: Verify the trail's chain for the header (``Store.verify``: it seals, then
            walks every record, so it takes longer as the trail grows).
        anchor_dir: A folder of checkpoints to hold the chain against (``store checkpoint
            --anchor-dir``); the header shows the newest one's time.
        clock: The current time.

    Raises:
        ValidationError: ``days`` is negative or not a number.
        ConfigError: ``anchor_dir`` is missing or holds a file that is not a checkpoint.
        StoreError: The store cannot be read.
    """
    folder = Path(root)
    since = window_start(days, clock)
    anchors = Path(anchor_dir) if anchor_dir is not None else None
    header = Header(
        store=_safe(store.location),
        period_days=days,
        period_start=since,
        generated_at=clock(),
        generated_by=generated_by or settings.user() or detect_user(),
        toolkit_version=__version__,
        session_id=session_id,
        root=str(folder.absolute()),
        integrity=integrity(store, anchors) if verify else NOT_CHECKED,
    )
    return Dashboard(
        header=header,
        compliance=compliance_section(collect_runs(store, folder, historical=historical)),
        operations=operations_section(store, since, clock=clock),
        costs=costs_section(store.costs, since, budgets=budgets, clock=clock),
    )


def default_path(root: str | os.PathLike[str], name: str, output_format: Format) -> Path:
    """``root/output/reports/security/dashboard_<name>.<format>``."""
    return Path(root) / REPORTS_SUBDIR / f"dashboard_{name}.{output_format}"


def render(dashboard: Dashboard, output_format: Format) -> str:
    """The dashboard as the text of its file: one HTML page or one JSON document."""
    if output_format == "json":
        return json.dumps(dashboard.to_dict(), indent=1, ensure_ascii=False) + "\n"
    if output_format == "html":
        return render_html(dashboard)
    raise ValidationError(f"Unknown dashboard format {output_format!r}; use html or json.")


def write_dashboard(
    store: Store,
    root: str | os.PathLike[str],
    *,
    days: float | None = 30,
    output_format: Format = "html",
    output: str | os.PathLike[str] | None = None,
    historical: bool = True,
    session_id: str | None = None,
    verify: bool = True,
    anchor_dir: str | os.PathLike[str] | None = None,
    clock: Clock = utc_now,
) -> WrittenDashboard:
    """Build the dashboard and write it atomically (readers never see half a file).

    Args:
        store, root, days, historical, session_id, verify, anchor_dir, clock: As for
            :func:`build`.
        output_format: ``html`` (one self-contained page) or ``json``.
        output: The file to write; by default :func:`default_path`, named after
            ``session_id`` (or the time, without one).

    Raises:
        ValidationError: An unknown format, or a bad ``days``.
        ConfigError: ``output`` is one of the store's own files, or a bad ``anchor_dir``.
        StoreError: The file cannot be written, or the store cannot be read.
    """
    if output_format not in FORMATS:
        raise ValidationError(f"Unknown dashboard format {output_format!r}; use html or json.")
    dashboard = build(store, root, days, historical=historical, session_id=session_id,
                      verify=verify, anchor_dir=anchor_dir, clock=clock)  # fmt: skip
    name = session_id or dashboard.header.generated_at.strftime("%Y%m%d_%H%M%S")
    path = Path(output) if output is not None else default_path(root, name, output_format)
    refuse_store_files(path, store.files())
    text = render(dashboard, output_format)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_text_file(path, "dashboard") as file:
        file.write(text)
    return WrittenDashboard(path, output_format, len(text.encode("utf-8")), dashboard)
