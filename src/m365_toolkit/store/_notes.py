"""Records kept in the chain alone: checkpoints, prune records and migration anchors.

Their text is kept beside their chain row (the ``outcome`` column); ``ref`` is their own
position. A *checkpoint* states the chain before it (``size`` = its position, ``head`` = the
link before it), the time, the previous checkpoint's position, and a signature over the
checkpoint text (:mod:`._signing`). A *prune* record names the positions whose content
retention removed (their leaves stay): a position marked pruned that no prune record names
was deleted behind the store's back. A *migrate* record names the head of the store its
records were copied from, which ``verify --source`` holds against that store.

Cadence of automatic checkpoints, with a signing key configured (``M365_TOOLKIT_CHECKPOINT_KEY``):
when a seal finds :data:`EVERY` or more records after the last checkpoint, or any record
after one older than :data:`AGE` (so a store written by short-lived processes gets about
four an hour, not one per process), and at every prune.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .._util.system import format_time, parse_time, utc_now
from ._signing import Checkpoint, sign

NOTE_KINDS = frozenset({"checkpoint", "prune", "migrate"})
EVERY = 1000
AGE = timedelta(minutes=15)
VERSION = 1

NoteMaker = Callable[[str, int, bytes, "int | None"], dict[str, Any]]
"""Builds a note from the store id, the chain's size and head, and the position of its
last checkpoint, inside the sealing transaction."""


def checkpoint_maker(key: bytes | None = None, now: datetime | None = None) -> NoteMaker:
    """A checkpoint of the chain as sealed, signed with ``key`` if one is given."""

    def make(store_id: str, size: int, head: bytes, previous: int | None) -> dict[str, Any]:
        found = Checkpoint(store_id, size, head.hex(), format_time(now or utc_now()))
        if key is not None:
            found = sign(found, key)
        return {
            "v": VERSION, "kind": "checkpoint", "store": store_id, "size": size,
            "head": found.head, "time": found.time, "prev": previous,
            "algorithm": found.algorithm, "key_id": found.key_id, "signature": found.signature,
        }  # fmt: skip

    return make


def fixed(kind: str, fields: Mapping[str, Any]) -> NoteMaker:
    """A note of ``kind`` with these fields (a prune record, a migration anchor)."""

    def make(store_id: str, size: int, head: bytes, previous: int | None) -> dict[str, Any]:
        return {"v": VERSION, "kind": kind, **fields}

    return make


def as_checkpoint(record: Mapping[str, Any]) -> Checkpoint:
    """The checkpoint text a chained checkpoint record states (its signature covers it)."""
    return Checkpoint(
        str(record.get("store")), int(record.get("size") or 0), str(record.get("head")),
        str(record.get("time")), str(record.get("algorithm") or "none"),
        str(record.get("key_id") or ""), str(record.get("signature") or ""),
    )  # fmt: skip


def due(size: int, last: tuple[int, str] | None, now: datetime | None = None) -> bool:
    """Whether an automatic checkpoint is due for a chain of ``size`` whose last
    checkpoint is ``last`` (position, time)."""
    if last is None:
        return size > 0
    pos, time = last
    after = size - pos - 1
    if after >= EVERY:
        return True
    try:
        old = (now or utc_now()) - parse_time(time) >= AGE
    except ValueError:
        old = True
    return after > 0 and old


def ranges(positions: Iterable[int]) -> list[list[int]]:
    """Sorted positions as inclusive ``[first, last]`` runs."""
    runs: list[list[int]] = []
    for pos in sorted(positions):
        if runs and runs[-1][1] + 1 == pos:
            runs[-1][1] = pos
        else:
            runs.append([pos, pos])
    return runs


@dataclass
class Notes:
    """What the verify walk learns from the notes, and what it checks with them."""

    store_id: str
    checkpoints: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    migrations: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    _pruned: list[list[int]] = field(default_factory=list)
    _covered: list[tuple[int, int]] = field(default_factory=list)

    def pruned(self, pos: int) -> None:
        """A position whose record is gone, marked pruned."""
        if self._pruned and self._pruned[-1][1] + 1 == pos:
            self._pruned[-1][1] = pos
        else:
            self._pruned.append([pos, pos])

    def see(self, pos: int, record: Mapping[str, Any], before: bytes) -> str:
        """Take in a note whose leaf holds; return why it is not what it claims ("")."""
        kind = record.get("kind")
        if kind == "prune":
            for run in record.get("positions") or ():
                if isinstance(run, list) and len(run) == 2 and all(type(p) is int for p in run):
                    self._covered.append((run[0], min(run[1], pos - 1)))
            return ""
        if kind == "migrate":
            self.migrations.append((pos, dict(record)))
            return ""
        previous = self.checkpoints[-1][0] if self.checkpoints else None
        self.checkpoints.append((pos, dict(record)))
        wrong = [
            f"{name} is {record.get(name)!r}, not {value!r}"
            for name, value in (("store", self.store_id), ("size", pos), ("head", before.hex()),
                                ("prev", previous))
            if record.get(name) != value
        ]  # fmt: skip
        return "; ".join(wrong)

    def uncovered(self) -> list[list[int]]:
        """Runs of positions marked pruned that no prune record names."""
        covered = sorted(self._covered)
        left: list[list[int]] = []
        for first, last in self._pruned:
            start = first
            for low, high in covered:
                if high < start or low > last:
                    continue
                if low > start:
                    left.append([start, low - 1])
                start = max(start, high + 1)
                if start > last:
                    break
            if start <= last:
                left.append([start, last])
        return left
