"""The dashboard as data: frozen dataclasses that the HTML page and the JSON document share.

Every figure is computed once, by :func:`~.dashboard.build`; the renderers only format. The
JSON document (``Dashboard.to_dict()``) is documented in ``docs/dashboard.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..costs.model import usd_text

SCHEMA = "m365-toolkit/dashboard/1"
"""Names the JSON document's layout; a change that breaks readers gets a new number."""

DRIFT_CLASSES = (
    "new_failure",
    "regressed",
    "still_failing",
    "fixed",
    "error_ok",
    "new_control",
    "removed_control",
    "changed",
    "unchanged",
)
"""The drift classes, in the order the page lists them (see :func:`~.compliance.classify`)."""


@dataclass(frozen=True, slots=True)
class Integrity:
    """The trail's tamper-evident chain as ``Store.verify`` found it for this dashboard."""

    status: str
    """``intact``, ``broken`` or ``not checked``."""
    summary: str
    """One sentence: intact up to which position, what broke first, what is not sealed."""
    size: int = 0
    valid: int = 0
    pruned: int = 0
    unsealed: int = 0
    """Records written while verifying: not sealed (protected) yet."""
    first_break: dict[str, Any] | None = None
    """``kind``, ``pos``, ``seq``, ``session_id``, ``record_kind``, ``detail``."""
    break_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    keyed: bool = False
    """A signed checkpoint, verified with a key, vouches for the chain."""
    checkpoints: int = 0
    """Checkpoints held against the chain (those of ``--anchor-dir``)."""
    last_checkpoint_time: str | None = None
    last_checkpoint_size: int | None = None
    head: str = ""


NOT_CHECKED = Integrity("not checked", "Not checked (--no-verify).")


@dataclass(frozen=True, slots=True)
class Header:
    """What the dashboard covers and who made it."""

    store: str
    """The store's location, any password masked."""
    period_days: float | None
    """The window of the operations and costs sections; ``None`` for all time."""
    period_start: datetime | None
    generated_at: datetime
    generated_by: str
    toolkit_version: str
    session_id: str | None
    """The ``dashboard_generation`` session this dashboard was made in, if any."""
    root: str
    integrity: Integrity = NOT_CHECKED


@dataclass(frozen=True, slots=True)
class Control:
    """One control of one audit run."""

    control_id: str
    title: str
    status: str
    severity: str
    section: str
    profile: str
    engine: str
    expected: str
    actual: str
    evidence: str
    reason: str = ""
    reference: str = ""
    checked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Run:
    """One audit run: when, where it came from, its controls' counts and pass rate."""

    run_id: str
    """The session id, or the results file's name for a run known only from its file."""
    started_at: datetime
    source: str
    """``session`` (per-control progress events), ``session+file`` or ``file``."""
    results_file: str
    counts: dict[str, int]
    pass_rate_percent: float | None
    """Pass / (Pass + Fail) x 100; Manual, Skipped, Error and Accepted are left out."""
    total: int


@dataclass(frozen=True, slots=True)
class DriftItem:
    """How one control changed between the previous run and the latest one."""

    control_id: str
    title: str
    drift: str
    """One of :data:`DRIFT_CLASSES`."""
    previous_status: str | None
    current_status: str | None
    actual_changed: bool
    """The actual value differs, whatever the status did (settings drift)."""


@dataclass(frozen=True, slots=True)
class AcceptedException:
    """A failing control the organisation accepts, as the latest run recorded it."""

    control_id: str
    title: str
    reason: str
    owner: str
    expires: str


@dataclass(frozen=True, slots=True)
class Compliance:
    """The compliance section: the latest run, the trend over all runs, drift, controls."""

    latest: Run | None
    previous: Run | None
    trend: tuple[Run, ...]
    """Every stored run, oldest first."""
    drift: tuple[DriftItem, ...]
    drift_counts: dict[str, int]
    controls: tuple[Control, ...]
    """The latest run's controls, in control id order."""
    exceptions: tuple[AcceptedException, ...]


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Durations of one operation type's finished sessions, in seconds (nearest rank)."""

    operation_type: str
    count: int
    p50: float
    p95: float


@dataclass(frozen=True, slots=True)
class FailedSession:
    """A session that ended in ``error``, with the error events of its timeline."""

    session_id: str
    operation_type: str
    user: str
    start_time: datetime
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StaleSession:
    """An active session whose process has ended without completing it."""

    session_id: str
    operation_type: str
    user: str
    start_time: datetime
    host: str
    pid: int | None


@dataclass(frozen=True, slots=True)
class Operations:
    """The operations section, over the period."""

    total: int
    by_day: dict[str, dict[str, int]]
    """``{"2026-03-02": {"success": 3, "error": 1}, ...}``, days in order, UTC."""
    by_type: dict[str, dict[str, int]]
    """Sessions per operation type, split by status, busiest first."""
    by_user: dict[str, dict[str, int]]
    durations: tuple[Percentiles, ...]
    failed_total: int
    failed: tuple[FailedSession, ...]
    """The most recent failed sessions (at most :data:`~.operations.FAILED_SHOWN`)."""
    stale: tuple[StaleSession, ...]


@dataclass(frozen=True, slots=True)
class CostLine:
    """One group of a cost breakdown."""

    key: str
    requests: int
    tokens: int
    cost: Decimal


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """A budget and what its current period has spent; ``spent`` is ``None`` for a
    per-session budget, which has no single figure across sessions."""

    name: str
    limit: Decimal
    spent: Decimal | None
    percent: float | None
    top: str | None = None
    """Whose spend is shown: the top user of a user budget, the top session of a session
    budget (``None`` for an overall budget)."""


@dataclass(frozen=True, slots=True)
class Costs:
    """The LLM costs section, over the period."""

    total: Decimal
    requests: int
    by_day: tuple[CostLine, ...]
    """Days in order."""
    by_model: tuple[CostLine, ...]
    by_operation: tuple[CostLine, ...]
    by_user: tuple[CostLine, ...]
    """These three: most expensive first."""
    budgets: tuple[BudgetUse, ...]
    by_session: tuple[CostLine, ...] = ()
    session_limit: Decimal | None = None
    """The session budget's limit, if there is one."""
    """With a session budget: the period's most spending sessions (key: the session id)."""
    sessions_over: int = 0
    """With a session budget: how many of the period's sessions spent at least its limit."""


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Everything the dashboard shows."""

    header: Header
    compliance: Compliance
    operations: Operations
    costs: Costs

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: times as ISO 8601 text, money as decimal strings."""
        return {"schema": SCHEMA, **_plain(dataclasses.asdict(self))}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return usd_text(value)
    if isinstance(value, Path):
        return str(value)
    return value
