"""The Graph engine's run: collect -> snapshot -> evaluate -> results file.

Library code: no sessions here. The caller passes ``progress`` and records each step (the
CLI and the MCP server make one ``progress`` event per control from them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...._util.atomic import atomic_text_file
from ...graph.outcome import Outcome
from ...progress import OnStepAsync, Step
from ..results import REPORTS_SUBDIR, load_results, parse_results
from ..summary import AuditSummary, pass_rate, summarize
from .config import AuditConfig
from .endpoints import USERS, derived_paths
from .evaluate import evaluate, select_controls
from .model import GRAPH_STATUSES, Control, Evaluation
from .snapshot import SNAPSHOT_PREFIX, Snapshot

if TYPE_CHECKING:  # the client pulls in httpx2, which evaluating a snapshot does not need
    from ...graph.client import GraphClient


@dataclass(frozen=True, slots=True)
class GraphAuditRun:
    """A finished Graph audit: its files, the per-control results and their summary."""

    snapshot: Snapshot
    snapshot_file: Path | None
    results_file: Path | None
    evaluations: tuple[Evaluation, ...]
    summary: AuditSummary

    def counts(self) -> dict[str, int]:
        """Controls per status, every Graph status present."""
        counts = dict.fromkeys(GRAPH_STATUSES, 0)
        for item in self.evaluations:
            counts[item.status] = counts.get(item.status, 0) + 1
        return counts

    def pass_rate(self) -> float | None:
        """Pass / (Pass + Fail) x 100 (:func:`~..summary.pass_rate`, the toolkit's one figure)."""
        return pass_rate(self.counts())

    def completion(self) -> dict[str, Any]:
        """The data of the run's last step: pass rate, counts and the files."""
        return {
            "engine": "graph",
            "pass_rate_percent": self.pass_rate(),
            "counts": self.counts(),
            "controls": len(self.evaluations),
            "snapshot_file": str(self.snapshot_file) if self.snapshot_file else None,
            "results_file": str(self.results_file) if self.results_file else None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.completion(),
            "summary": self.summary.to_dict(),
            "results": [e.to_result(self.snapshot.collected_at.isoformat())
                        for e in self.evaluations],
        }  # fmt: skip


def plan(controls: Sequence[Control], config: AuditConfig) -> list[str]:
    """The first round of paths: each control's endpoints, once each, in catalogue order."""
    paths = [path for control in controls for path in control.endpoints]
    if config.break_glass:
        paths.append(USERS)  # to match break-glass UPNs to the ids CA policies exclude
    return list(dict.fromkeys(paths))


async def collect(client: GraphClient, controls: Sequence[Control], config: AuditConfig
                  ) -> dict[str, Outcome]:  # fmt: skip
    """Ask Graph for every path the controls need, then for the paths derived from those."""
    first = await client.get_many(plan(controls, config))
    second = await client.get_many(derived_paths(first))
    return {**first, **second}


async def run_graph_audit(
    root: str | os.PathLike[str],
    client: GraphClient,
    config: AuditConfig,
    *,
    controls: Sequence[str] | None = None,
    connection: dict[str, Any] | None = None,
    progress: OnStepAsync | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> GraphAuditRun:
    """Collect from Graph, save the snapshot, evaluate, and write the results file.

    Args:
        root: The toolkit folder; files go to ``output/reports/security/`` under it.
        client: The Graph client for this run (see :func:`~..graph.open_client`).
        config: Break-glass accounts, approved groups, accepted exceptions.
        controls: Control ids to run; all for ``None``.
        connection: What the snapshot records about the sign-in (never a secret).
        progress: Awaited with one step per collection round and one per control.
        now: The current time (UTC-aware).

    Raises:
        ValidationError: an unknown control id.
        GraphError: no token could be had.
    """
    chosen = select_controls(controls)

    async def report(step: Step) -> None:
        if progress is not None:
            await progress(step)

    await report(Step(f"Collecting from Microsoft Graph for {len(chosen)} controls"))
    outcomes = await collect(client, chosen, config)
    failed = {p: o.error for p, o in outcomes.items() if not o.ok}
    await report(Step(
        f"Collected {len(outcomes)} Graph endpoints ({len(failed)} refused or failed)",
        {"endpoints": len(outcomes), "requests": client.requests, "not_ok": failed},
    ))  # fmt: skip
    snapshot = Snapshot(outcomes, now(), client.endpoint, connection or {},
                        tuple(c.id for c in chosen))  # fmt: skip
    folder = Path(root) / REPORTS_SUBDIR
    stamp = snapshot.collected_at.strftime("%Y%m%d_%H%M%S")
    snapshot_file = snapshot.save(_free(folder / f"{SNAPSHOT_PREFIX}_{stamp}.json"))
    run = evaluate_snapshot(snapshot, config, controls=controls,
                            results_file=_free(folder / f"m365_cis_audit_{stamp}_graph.json"),
                            snapshot_file=snapshot_file)  # fmt: skip
    total = len(run.evaluations)
    for done, item in enumerate(run.evaluations, 1):
        message = f"{item.control.id} {item.status}: {item.control.title}"
        await report(Step(message, item.step_data(), done=done, total=total))
    rate = run.pass_rate()
    await report(Step(
        f"Graph audit completed: {rate:g}% pass rate" if rate is not None
        else "Graph audit completed: no control could be judged",
        run.completion(),
    ))  # fmt: skip
    return run


def evaluate_snapshot(
    snapshot: Snapshot,
    config: AuditConfig,
    *,
    controls: Sequence[str] | None = None,
    results_file: Path | None = None,
    snapshot_file: Path | None = None,
    today: date | None = None,
) -> GraphAuditRun:
    """Evaluate a snapshot (offline), optionally writing the results file.

    ``today`` decides which accepted exceptions are still in force; by default the day the
    snapshot was collected, so re-evaluating an old snapshot gives the verdicts of its run.

    Raises:
        ValidationError: an unknown control id.
    """
    chosen = select_controls(controls or snapshot.controls or None)
    day = today or snapshot.collected_at.date()
    evaluations = tuple(evaluate(snapshot.outcomes, config, today=day, controls=chosen))
    stamp = snapshot.collected_at.isoformat()
    records = [e.to_result(stamp) for e in evaluations]
    if results_file is not None:
        results_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_text_file(results_file, "CIS audit results file") as file:
            json.dump(records, file, ensure_ascii=False, indent=1)
        summary = summarize(load_results(results_file), source=results_file)
    else:
        summary = summarize(parse_results(records, Path("<memory>")))
    return GraphAuditRun(snapshot, snapshot_file, results_file, evaluations, summary)


def _free(path: Path) -> Path:
    """``path``, or ``name_2.json``, ... when a run in the same second took it."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
    return candidate
