"""The rows of a SharePoint permissions CSV export, read into :class:`PermissionEntry`.

The export has the columns ``Resource Path, Item Type, Permission, User Name, User Email,
User Or Group Type, Link ID, Link Type, AccessViaLinkID``; the last three are optional.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._util.textfile import read_text
from ...errors import ValidationError

REQUIRED_COLUMNS = (
    "Resource Path",
    "Item Type",
    "Permission",
    "User Name",
    "User Email",
    "User Or Group Type",
)
OPTIONAL_COLUMNS = ("Link ID", "Link Type", "AccessViaLinkID")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
_FIELDS = (  # PermissionEntry fields, in the order of COLUMNS
    "resource_path",
    "item_type",
    "permission",
    "user_name",
    "user_email",
    "principal_type",
    "link_id",
    "link_type",
    "access_via_link_id",
)
_WHAT = "SharePoint permissions export"


@dataclass(frozen=True, slots=True)
class PermissionEntry:
    """One row of the export; ``line`` is its line number in the file."""

    resource_path: str
    item_type: str
    permission: str
    user_name: str
    user_email: str
    principal_type: str
    link_id: str = ""
    link_type: str = ""
    access_via_link_id: str = ""
    line: int = 0

    @property
    def principal(self) -> str:
        """The email, or the name when there is no email."""
        return self.user_email or self.user_name

    def cells(self) -> tuple[str, ...]:
        """The entry's values in the export's column order (:data:`COLUMNS`)."""
        return (
            self.resource_path, self.item_type, self.permission, self.user_name,
            self.user_email, self.principal_type, self.link_id, self.link_type,
            self.access_via_link_id,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource_path": self.resource_path,
            "item_type": self.item_type,
            "permission": self.permission,
            "user_name": self.user_name,
            "user_email": self.user_email,
            "principal_type": self.principal_type,
            "link_id": self.link_id,
            "link_type": self.link_type,
            "access_via_link_id": self.access_via_link_id,
            "line": self.line,
        }


def read_permissions(path: str | Path) -> list[PermissionEntry]:
    """The rows of a permissions export, skipping comments, blank lines and repeated headers.

    Raises:
        ValidationError: the file is unreadable, lacks required columns or has a row with
            more fields than the header.
    """
    path = Path(path)
    line_numbers: list[int] = []
    reader = csv.reader(_data_lines(read_text(path, _WHAT), line_numbers))
    header = next(reader, None)
    if header is None:
        raise ValidationError(
            f"The {_WHAT} {str(path)!r} has no header row; expected the columns "
            f"{', '.join(COLUMNS)}."
        )
    keys = [column_key(cell) for cell in header]
    positions = {key: index for index, key in reversed(list(enumerate(keys)))}
    missing = [column for column in REQUIRED_COLUMNS if column_key(column) not in positions]
    if missing:
        found = ", ".join(repr(cell.strip()) for cell in header if cell.strip()) or "none"
        raise ValidationError(
            f"The {_WHAT} {str(path)!r} lacks the required column(s) {', '.join(missing)} "
            f"(columns found: {found}). Export it again with all of: {', '.join(COLUMNS)}."
        )
    wanted = [positions.get(column_key(column)) for column in COLUMNS]
    entries: list[PermissionEntry] = []
    consumed = reader.line_num
    for row in reader:
        line = line_numbers[consumed]  # where the row starts, if a quoted value spans lines
        consumed = reader.line_num
        cells = [cell.strip() for cell in row]
        if not any(cells) or [column_key(cell) for cell in cells] == keys:
            continue
        # Even empty extra fields are refused: an unquoted comma in a name followed by empty
        # link columns would otherwise shift every value silently.
        if len(cells) > len(keys):
            raise ValidationError(
                f"Line {line} of the {_WHAT} {str(path)!r} has {len(cells)} fields but the "
                f"header has {len(keys)}; quote values that contain commas."
            )
        values = dict(zip(_FIELDS, (_cell(cells, i) for i in wanted), strict=True))
        entries.append(PermissionEntry(**values, line=line))
    return entries


def _data_lines(text: str, line_numbers: list[int]) -> Iterator[str]:
    """Physical lines for the CSV reader, without blank and ``#`` comment lines.

    A line inside a quoted value is never dropped. ``line_numbers`` collects the file line
    number of each line given out, so errors can point into the file.
    """
    in_quotes = False
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        if not in_quotes:
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
        if line.count('"') % 2:
            in_quotes = not in_quotes
        line_numbers.append(number)
        yield line


def _cell(cells: list[str], index: int | None) -> str:
    return cells[index] if index is not None and index < len(cells) else ""


def column_key(name: str) -> str:
    """``name`` lower-cased without spaces or punctuation, to match column names loosely."""
    return re.sub(r"[^0-9a-z]", "", name.lower())
