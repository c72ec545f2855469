"""Running the CIS audit: the script, the results file it wrote, and its summary."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..progress import OnStepAsync, Step
from ..scripts import DEFAULT_TIMEOUT, ScriptError, run_checked
from .powershell import audit_command
from .results import REPORTS_SUBDIR, find_results, load_results
from .summary import AuditSummary, summarize

_STEPS = 4  # the positions of the steps that carry one


@dataclass(frozen=True, slots=True)
class AuditRun:
    """A finished audit: the results file it wrote and the summary of that file."""

    results_file: Path
    summary: AuditSummary


async def run_audit(
    root: str | os.PathLike[str],
    *,
    spo_admin_url: str | None = None,
    skip_purview: bool = False,
    timestamped: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    progress: OnStepAsync | None = None,
    clock: Callable[[], float] = time.time,
) -> AuditRun:
    """Run the CIS audit script under ``root`` and summarise the results file it wrote.

    Only a results file written during this run counts, so an old one is never mistaken
    for the new audit's. The script is killed if it runs longer than ``timeout`` seconds or
    the caller is cancelled.

    Args:
        root: The toolkit folder holding ``scripts/`` and ``output/``.
        spo_admin_url: The SharePoint admin URL, e.g. ``https://contoso-admin.sharepoint.com``.
        skip_purview: Skip the Purview checks.
        timestamped: Let the script put a time stamp in the results file name.
        timeout: Seconds before the script is stopped.
        progress: Awaited with each step, for the caller to record or show.
        clock: The current POSIX time; results files modified before the start are ignored.

    Raises:
        ValidationError: ``spo_admin_url`` is not an https URL, or the results file cannot
            be read.
        ScriptError: The script could not run, failed, ran too long or wrote no results.
    """
    folder = Path(root)

    async def report(step: Step) -> None:
        if progress is not None:
            await progress(step)

    await report(Step("Starting M365 CIS security audit"))
    await report(Step("Building PowerShell command", done=0, total=_STEPS))
    argv = audit_command(
        folder, spo_admin_url=spo_admin_url, skip_purview=skip_purview, timestamped=timestamped
    )
    started = clock()
    await report(Step("Executing PowerShell audit script", done=1, total=_STEPS))
    await run_checked(argv, folder, timeout, "audit")
    await report(Step("Audit script completed, parsing results", done=2, total=_STEPS))
    reports = folder / REPORTS_SUBDIR
    found = find_results(reports, since=started)
    if not found:
        raise ScriptError(
            f"The audit script succeeded but wrote no m365_cis_audit*.json under "
            f"{reports} during this call; check the script's output folder."
        )
    summary = summarize(load_results(found[0]), source=found[0])
    percent = summary.compliance_percent
    await report(
        Step(
            f"Audit completed with {percent:g}% compliance"
            if percent is not None
            else "Audit completed; the results file holds no controls",
            {"results_file": str(found[0]), "compliance_percent": percent},
            done=_STEPS,
            total=_STEPS,
        )
    )
    return AuditRun(found[0], summary)
