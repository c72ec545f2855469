"""CIS audit results: the JSON the audit script writes, read into :class:`ControlResult`.

The audit writes ``output/reports/security/m365_cis_audit*.json``: a JSON array (or, for a
single control, one object) of results with the keys ``ControlId``, ``Title``, ``Severity``,
``Expected``, ``Actual``, ``Status``, ``Evidence``, ``Reference`` and ``Timestamp``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..._util.textfile import read_text
from ...errors import ValidationError

RESULTS_GLOB = "m365_cis_audit*.json"
REPORTS_SUBDIR = Path("output", "reports", "security")

STATUSES = ("Pass", "Fail", "Manual", "Error")
SEVERITIES = ("High", "Medium", "Low")
_CANONICAL = {name.lower(): name for name in STATUSES + SEVERITIES}
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


class NoAuditResults(ValidationError):
    """No CIS audit results file exists yet where one was looked for."""

    def __init__(self, location: Path) -> None:
        super().__init__(
            f"No CIS audit results ({RESULTS_GLOB}) were found in {str(location)!r}. "
            "Run the CIS audit first; it writes its results there."
        )
        self.location = location


@dataclass(frozen=True, slots=True)
class ControlResult:
    """One control as the audit reported it. ``timestamp`` is naive local time."""

    control_id: str
    title: str
    severity: str
    status: str
    expected: Any = None
    actual: Any = None
    evidence: Any = None
    reference: str = ""
    timestamp: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "control_id": self.control_id,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "expected": self.expected,
            "actual": self.actual,
            "evidence": self.evidence,
            "reference": self.reference,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
        }


def load_results(path: str | Path) -> list[ControlResult]:
    """Read a results file written by the CIS audit.

    Unknown statuses and severities are kept as written; missing keys become empty values.
    An empty file holds no results.

    Raises:
        ValidationError: the file is missing, not JSON, or holds something other than
            control results.
    """
    path = Path(path)
    text = read_text(path, "CIS audit results file")
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"The CIS audit results file {str(path)!r} is not valid JSON ({exc.msg} at line "
            f"{exc.lineno}, column {exc.colno}); run the audit again to rewrite it."
        ) from None
    return parse_results(data, path)


def parse_results(data: object, path: Path) -> list[ControlResult]:
    """Control results from parsed JSON, as :func:`load_results` reads them.

    Raises:
        ValidationError: the data holds something other than control results; the
            message names ``path``.
    """
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValidationError(
            f"The CIS audit results file {str(path)!r} holds a JSON {_json_kind(data)}; "
            "expected an array of control results."
        )
    return [_control_from_json(item, index, path) for index, item in enumerate(data)]


def find_results(reports_dir: str | Path, *, since: float | None = None) -> list[Path]:
    """Results files in ``reports_dir``, newest first by modification time.

    Args:
        reports_dir: the folder to look in (not searched recursively); may not exist yet.
        since: a POSIX timestamp; only files modified at or after it are returned.

    Raises:
        ValidationError: ``since`` is not a finite number.
    """
    if since is not None and (
        isinstance(since, bool) or not isinstance(since, (int, float)) or not math.isfinite(since)
    ):
        raise ValidationError(f"since must be a POSIX timestamp (a number), not {since!r}.")
    found: list[tuple[float, str, Path]] = []
    for path in Path(reports_dir).glob(RESULTS_GLOB):
        try:
            stat = path.stat()
        except OSError:  # removed while we looked
            continue
        if path.is_file() and (since is None or stat.st_mtime >= since):
            found.append((stat.st_mtime, path.name, path))
    found.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [path for _, _, path in found]


def _control_from_json(item: object, index: int, path: Path) -> ControlResult:
    if not isinstance(item, dict):
        raise ValidationError(
            f"Element {index} of the CIS audit results file {str(path)!r} is a JSON "
            f"{_json_kind(item)}, not an object with ControlId and Status."
        )
    if "ControlId" not in item and "Status" not in item:
        raise ValidationError(
            f"Element {index} of the CIS audit results file {str(path)!r} has neither a "
            "ControlId nor a Status; is this file really CIS audit output?"
        )
    return ControlResult(
        control_id=_text(item.get("ControlId")),
        title=_text(item.get("Title")),
        severity=_canonical(item.get("Severity")),
        status=_canonical(item.get("Status")),
        expected=item.get("Expected"),
        actual=item.get("Actual"),
        evidence=item.get("Evidence"),
        reference=_text(item.get("Reference")),
        timestamp=_parse_timestamp(item.get("Timestamp")),
    )


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, ensure_ascii=False)


def _canonical(value: object) -> str:
    """Known statuses and severities in their usual spelling; others as written."""
    text = _text(value)
    return _CANONICAL.get(text.lower(), text) if text else "Unknown"


def _parse_timestamp(value: object) -> datetime | None:
    """Naive local time from ISO text, ``/Date(ms)/`` or PowerShell 5.1's DateTime object."""
    if isinstance(value, dict):  # Windows PowerShell 5.1: {"value": "/Date(...)/", ...}
        value = value.get("value")
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    match = _MS_DATE.match(text)
    try:
        if match:
            return datetime.fromtimestamp(int(match.group(1)) / 1000)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    return moment


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
