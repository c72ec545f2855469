"""Schema files: the ordered, named migrations of each SQL dialect.

``schema/<dialect>/NNN_name.sql`` takes a store from schema version NNN - 1 to NNN. Append a
file; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema file: the version it leads to, its name and its SQL."""

    version: int
    name: str
    script: str

    def statements(self) -> list[str]:
        """The script's statements, split where SQLite sees a complete one (so a trigger's
        body, with its own semicolons, stays whole)."""
        statements: list[str] = []
        pending = ""
        for line in self.script.splitlines(keepends=True):
            pending += line
            if sqlite3.complete_statement(pending):
                if _code(pending):
                    statements.append(pending.strip())
                pending = ""
        if _code(pending):
            raise ValueError(f"Migration {self.name!r} ends inside a statement: {pending!r}.")
        return statements


@cache
def migrations(dialect: str) -> tuple[Migration, ...]:
    """Every migration of ``dialect`` (``sqlite`` or ``postgresql``), oldest first."""
    folder = resources.files(__package__).joinpath("schema", dialect)
    found = sorted(item.name for item in folder.iterdir() if item.name.endswith(".sql"))
    result = []
    for position, name in enumerate(found, 1):
        number, _, rest = name.partition("_")
        if int(number) != position:
            raise ValueError(f"Schema file {name!r} of {dialect} is out of sequence.")
        script = folder.joinpath(name).read_text(encoding="utf-8")
        result.append(Migration(position, rest.removesuffix(".sql"), script))
    return tuple(result)


def _code(text: str) -> bool:
    """True if ``text`` holds more than whitespace and ``--`` comments."""
    return any(line.split("--", 1)[0].strip() for line in text.splitlines())
