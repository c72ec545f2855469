"""The vocabulary of the Graph engine: a control, its verdict, and the snapshot it reads.

A control is metadata plus ``check``, a pure function of the snapshot (through a
:class:`View`) and the config. ``check`` reads endpoints only through the view; an endpoint
that Graph refused or failed stops the check there, and the evaluator turns that into
``skipped`` (a 4xx: permission or licence) or ``error`` (throttled, 5xx, network), never
``fail``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ...graph.outcome import Outcome
from .config import AuditConfig

PASS, FAIL, MANUAL, SKIPPED, ERROR, ACCEPTED = (
    "Pass", "Fail", "Manual", "Skipped", "Error", "Accepted"
)  # fmt: skip
"""Statuses as the results file spells them (``compliance_status`` reads that file)."""
GRAPH_STATUSES = (PASS, FAIL, MANUAL, SKIPPED, ERROR, ACCEPTED)


class Unavailable(Exception):
    """An endpoint a check needs has no body: Graph refused or failed it."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.path)
        self.outcome = outcome


class View:
    """Read-only access to a snapshot's bodies for the checks.

    ``today`` is the day the verdicts are for (the snapshot's day when re-evaluated): a
    check that compares dates uses it, never the wall clock, so re-evaluation is stable.
    """

    def __init__(self, outcomes: Mapping[str, Outcome], today: date | None = None) -> None:
        self._outcomes = outcomes
        self.today = today or date.today()

    def outcome(self, path: str) -> Outcome:
        """The recorded outcome of ``path``; a path never collected counts as failed."""
        found = self._outcomes.get(path)
        if found is None:
            return Outcome(path, None, error="This endpoint is not in the snapshot.")
        return found

    def body(self, path: str) -> Any:
        """The JSON body of ``path``.

        Raises:
            Unavailable: Graph refused or failed it (the evaluator handles this).
        """
        found = self.outcome(path)
        if not found.ok:
            raise Unavailable(found)
        return found.body

    def values(self, path: str) -> list[dict[str, Any]]:
        """The ``value`` list of a collection endpoint, all pages merged."""
        body = self.body(path)
        items = body.get("value", []) if isinstance(body, dict) else []
        return [item for item in items if isinstance(item, dict)]

    def paths(self) -> Iterator[str]:
        return iter(self._outcomes)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a check decided: status, what was expected, what was found, and why."""

    status: str
    expected: str
    actual: Any
    evidence: Any = None
    reason: str | None = None


Check = Callable[[View, AuditConfig], Verdict]


@dataclass(frozen=True, slots=True)
class Control:
    """A CIS control the engine can check over Graph.

    ``endpoints`` are the snapshot paths the check reads (collection asks for exactly these,
    plus what :mod:`.endpoints` derives from them); ``permissions`` are the read-only
    application permissions they need; ``licence`` the tenant licence they need, if any.
    """

    id: str
    """The CIS Microsoft 365 Foundations v6.0 id."""
    title: str
    level: int
    profile: str
    """``E3`` or ``E5``: the licence profile CIS gives the control."""
    severity: str
    endpoints: tuple[str, ...]
    permissions: tuple[str, ...]
    remediation: str
    link: str
    check: Check = field(repr=False, compare=False)
    licence: str | None = None
    other_ids: Mapping[str, str] = field(default_factory=dict)
    """Ids in other CIS versions where they differ, e.g. ``{"v7": "5.1.3.4"}``."""

    def metadata(self) -> dict[str, Any]:
        """The control's description, as results and docs show it."""
        return {
            "id": self.id,
            "title": self.title,
            "level": self.level,
            "profile": self.profile,
            "severity": self.severity,
            "endpoints": list(self.endpoints),
            "permissions": list(self.permissions),
            "licence": self.licence,
            "remediation": self.remediation,
            "link": self.link,
            "other_ids": dict(self.other_ids),
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One control's result in a run."""

    control: Control
    status: str
    expected: str
    actual: Any
    evidence: Any = None
    reason: str | None = None
    """Why a control was skipped, errored or accepted."""

    def to_result(self, timestamp: str) -> dict[str, Any]:
        """The results-file record: the PowerShell engine's keys, then the Graph engine's."""
        control = self.control
        return {
            "ControlId": control.id,
            "Title": control.title,
            "Severity": control.severity,
            "Expected": self.expected,
            "Actual": self.actual,
            "Status": self.status,
            "Evidence": self.evidence,
            "Reference": control.link,
            "Timestamp": timestamp,
            "Reason": self.reason,
            "Level": control.level,
            "Profile": control.profile,
            "Remediation": control.remediation,
            "Endpoints": list(control.endpoints),
            "Permissions": list(control.permissions),
            "OtherIds": dict(control.other_ids),
            "Engine": "graph",
        }

    def step_data(self) -> dict[str, Any]:
        """The data of the ``progress`` event that records this control in the trail."""
        return {
            "control_id": self.control.id,
            "status": self.status,
            "severity": self.control.severity,
            "expected": self.expected,
            "actual": self.actual,
            **({"reason": self.reason} if self.reason else {}),
        }
