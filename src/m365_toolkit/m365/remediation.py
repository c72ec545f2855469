"""Remediation of failed CIS controls: ``PostRemediateM365CIS.ps1``, previewed unless forced."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import ValidationError
from .progress import OnStepAsync, Step
from .scripts import (
    DEFAULT_TIMEOUT,
    REMEDIATION_COMMAND_ENV,
    REMEDIATION_SCRIPT,
    run_checked,
    script_command,
)

OUTPUT_LIMIT = 4_000  # characters of the script's output kept in the result


@dataclass(frozen=True, slots=True)
class RemediationResult:
    """What a remediation run did: preview (``-WhatIf``) or apply, and what it printed."""

    mode: Literal["preview", "apply"]
    exit_code: int
    output: str
    """The end of the script's standard output (at most ``OUTPUT_LIMIT`` characters)."""


def remediation_mode(preview_only: bool, force_apply: bool) -> Literal["preview", "apply"]:
    """``preview`` unless both flags say apply.

    Raises:
        ValidationError: ``preview_only`` is false without ``force_apply``.
    """
    if preview_only:
        return "preview"
    if not force_apply:
        raise ValidationError(
            "Refusing to change the tenant: preview_only=false also needs "
            "force_apply=true. Run with preview_only=true first and confirm with the user."
        )
    return "apply"


async def remediate(
    root: str | os.PathLike[str],
    *,
    preview_only: bool = True,
    force_apply: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    progress: OnStepAsync | None = None,
) -> RemediationResult:
    """Run the remediation script under ``root``: with ``-WhatIf`` unless forced to apply.

    Args:
        root: The toolkit folder holding ``scripts/``.
        preview_only: Only show what would change (the default).
        force_apply: Needed as well as ``preview_only=False`` to change the tenant.
        timeout: Seconds before the script is stopped.
        progress: Awaited with each step, for the caller to record or show.

    Raises:
        ValidationError: Apply was asked for without ``force_apply``.
        ScriptError: The script could not run, failed or ran too long.
    """
    mode = remediation_mode(preview_only, force_apply)
    folder = Path(root)
    argv = script_command(folder, REMEDIATION_SCRIPT, REMEDIATION_COMMAND_ENV)
    if mode == "preview":
        argv.append("-WhatIf")
    if progress is not None:
        await progress(Step(f"Running the remediation script ({mode})", done=0, total=1))
    result = await run_checked(argv, folder, timeout, "remediation")
    if progress is not None:
        await progress(Step(f"Remediation {mode} finished", done=1, total=1))
    return RemediationResult(mode, result.returncode, result.stdout[-OUTPUT_LIMIT:])
