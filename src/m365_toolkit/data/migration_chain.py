"""A migration re-anchors the chain: the copy gets its own chain (its own store id and
numbers), and a ``migrate`` record chained in it names the source's id, size and head.

Leaves hold what a record says, not where it sits (:mod:`..store.chain`), so they are the
same in any store: :func:`verify_source` holds a copy against its source, checking that the
source's chain still ends, at the size recorded, in the head recorded (nothing of it was
rewritten or dropped since), and that every record of the source up to there is in the copy,
unchanged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from .._util.system import format_time, utc_now
from ..errors import ConfigError
from ..store import Store, _safe
from ..store._notes import NOTE_KINDS, fixed
from ..store.chain import Break, BreakKind, ChainRow, SealResult, Verification

MAX_NAMED = 20  # source records missing from the copy named one by one


def anchor(source: Store, target: Store) -> SealResult:
    """Chain in ``target`` a record naming ``source``'s chain as it is now (sealed first)."""
    sealed = source.seal()
    fields = {"source_store": sealed.store_id, "source_size": sealed.size,
              "source_head": sealed.head, "source": _safe(source.location),
              "time": format_time(utc_now())}  # fmt: skip
    return target.seal(fixed("migrate", fields))


def verify_source(result: Verification, target: Store, source: Store) -> Verification:
    """Hold the copy (``result``: its verification) against its source.

    Raises:
        ConfigError: No migration record in the copy names the source.
    """
    sealed = source.seal()
    named = [(pos, r) for pos, r in result.migrations if r.get("source_store") == sealed.store_id]
    if not named:
        raise ConfigError(
            f"No migration record in {_safe(target.location)!r} names the store "
            f"{sealed.store_id} ({_safe(source.location)!r}): it was not copied from it."
        )
    pos, record = named[-1]
    size = int(record.get("source_size") or 0)
    source_leaves: list[tuple[int, bytes]] = []

    def keep(row: ChainRow, content: object) -> None:
        if row.pos < size and row.kind not in NOTE_KINDS and content is not None:
            source_leaves.append((row.pos, row.leaf))

    checked = source.verify(links_at={size - 1} if size else (), sink=keep)
    breaks: list[Break] = []

    def add(kind: BreakKind, detail: str, at: int | None = pos) -> None:
        breaks.append(Break(kind, at, None, None, "migrate", detail))

    if not checked.intact:
        add(BreakKind.CHECKPOINT_INVALID, f"the source does not verify: {checked.counts}")
    if checked.size < size:
        add(BreakKind.TRUNCATED, f"the source holds {checked.size} chain positions; "
            f"{size} were copied: the newest were removed since")  # fmt: skip
    elif size and checked.links.get(size - 1) != record.get("source_head"):
        add(BreakKind.CHECKPOINT_INVALID, f"the source's link at position {size - 1} is not the "
            "head the migration recorded: its history was rewritten since")  # fmt: skip
    held: Counter[bytes] = Counter()
    target.verify(sink=lambda row, content: held.update(
        [row.leaf] if row.kind not in NOTE_KINDS and content is not None else []))  # fmt: skip
    missing = 0
    for source_pos, leaf in source_leaves:
        if held[leaf] > 0:
            held[leaf] -= 1
            continue
        missing += 1
        if missing <= MAX_NAMED:
            add(BreakKind.DELETED, f"the record at the source's position {source_pos} is not "
                "in this copy, or not as it is in the source", None)  # fmt: skip
    counts = dict(result.counts)
    for item in breaks:
        counts[item.kind.value] = counts.get(item.kind.value, 0) + 1
    return replace(result, breaks=[*result.breaks, *breaks], counts=counts)
