"""A store's chain as one file that verifies offline, away from the store.

JSON Lines: a header ``{"format": "m365-toolkit-audit/1", "store_id": ..., "hash":
"sha256"}``; then one line per chain position, ``{"pos", "kind", "ref", "leaf", "link",
"pruned", "record"}`` (no ``record`` for a pruned position: its leaf alone keeps the chain
whole);
then a trailer ``{"checkpoints": [...]}`` with the checkpoints handed to the export. The
records are the ones verify rebuilt and hashed, so an auditor recomputes every leaf and
link from the file alone, and holds it against checkpoints (``--public-key``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._util.atomic import atomic_text_file
from ..errors import ConfigError
from . import Store
from .chain import ChainRow, Verification, Walker
from .checkpoint import Checkpoint, verify_against

FORMAT = "m365-toolkit-audit/1"


def export_chain(store: Store, path: Path, checkpoints: Sequence[Checkpoint] = ()) -> Verification:
    """Write the store's chain and its records to ``path``; return the verification made
    while writing (the file holds what it saw, broken or not)."""
    with atomic_text_file(path, "chain export") as file:
        # The store id is known once the walk is done; the header goes first, so leave room.
        lines: list[str] = []

        def sink(row: ChainRow, record: Mapping[str, Any] | None) -> None:
            line: dict[str, Any] = {"pos": row.pos, "kind": row.kind, "ref": row.ref,
                                    "leaf": row.leaf.hex(), "link": row.link.hex(),
                                    "pruned": row.pruned}  # fmt: skip
            if record is not None:
                line["record"] = record
            lines.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")))

        result = store.verify(sink=sink)
        file.write(json.dumps({"format": FORMAT, "store_id": result.store_id, "hash": "sha256"}))
        file.write("\n")
        for line in lines:
            file.write(line + "\n")
        trailer = {"checkpoints": [found.text() for found in checkpoints]}
        file.write(json.dumps(trailer, ensure_ascii=False) + "\n")
    return result


def verify_file(
    path: Path, key: bytes | None = None, anchors: Sequence[Checkpoint] = ()
) -> Verification:
    """Verify an exported chain with nothing but the file (and the checkpoints in it and in
    ``anchors``, their signatures checked with ``key``).

    Raises:
        ConfigError: The file is not a chain export.
    """
    header, rows, checkpoints = _read(path)
    every = [*checkpoints, *anchors]
    walker = Walker(str(header["store_id"]), frozenset(c.size - 1 for c in every if c.size))
    for row, record in rows:
        walker.row(row, record, _session_of(record))
    return verify_against(walker.result(), every, key)


def _session_of(record: Mapping[str, Any] | None) -> str | None:
    value = record.get("session_id") if record is not None else None
    return value if isinstance(value, str) else None


def _read(
    path: Path,
) -> tuple[dict[str, Any], Iterator[tuple[ChainRow, dict[str, Any] | None]], list[Checkpoint]]:
    try:
        with path.open(encoding="utf-8") as file:
            lines = [json.loads(line) for line in file if line.strip()]
        header, *body = lines
        if header.get("format") != FORMAT:
            raise ValueError(f"the header names format {header.get('format')!r}")
        trailer = body.pop() if body and "checkpoints" in body[-1] else {"checkpoints": []}
        checkpoints = [Checkpoint.parse(text) for text in trailer["checkpoints"]]
        rows = [
            (ChainRow(int(item["pos"]), str(item["kind"]), int(item["ref"]),
                      bytes.fromhex(item["leaf"]), bytes.fromhex(item["link"]),
                      bool(item.get("pruned"))), item.get("record"))
            for item in body
        ]  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{str(path)!r} is not a chain export of this toolkit ({exc}).") from exc
    return header, iter(rows), checkpoints
