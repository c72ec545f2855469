"""The PowerShell engine of the CIS audit: the command line of ``Invoke-M365CISAudit.ps1``."""

from __future__ import annotations

from pathlib import Path

from ..._util.values import redact_text
from ...errors import ValidationError
from ..scripts import AUDIT_COMMAND_ENV, AUDIT_SCRIPT, script_command


def audit_command(
    root: Path,
    *,
    spo_admin_url: str | None = None,
    skip_purview: bool = False,
    timestamped: bool = True,
) -> list[str]:
    """The command that runs the audit script under ``root`` with these options.

    ``M365_TOOLKIT_AUDIT_COMMAND`` replaces the ``pwsh ... -File script.ps1`` part; the
    script's own parameters are appended either way.

    Raises:
        ValidationError: ``spo_admin_url`` is not an https URL.
    """
    argv = script_command(root, AUDIT_SCRIPT, AUDIT_COMMAND_ENV)
    if timestamped:
        argv.append("-Timestamped")
    if spo_admin_url:
        if not spo_admin_url.startswith("https://"):
            raise ValidationError(
                f"spo_admin_url must be an https URL such as "
                f"https://contoso-admin.sharepoint.com, not {redact_text(spo_admin_url)!r:.200}."
            )
        argv += ["-SPOAdminUrl", spo_admin_url]
    if skip_purview:
        argv.append("-SkipPurview")
    return argv
