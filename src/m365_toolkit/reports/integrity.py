"""The trail's integrity for the dashboard's header: the store's own verify, summarised.

``Store.verify`` seals the records not chained yet and walks the whole chain, so its time
grows with the trail (about 80 µs a record on SQLite); ``m365-toolkit report --no-verify``
skips it, and the header then says the chain was not checked.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import StoreError
from ..store import Store
from ..store import checkpoint as checkpoints
from .model import Integrity


def integrity(store: Store, anchor_dir: Path | None = None) -> Integrity:
    """Verify the store's chain (held against the checkpoints filed in ``anchor_dir``).

    Raises:
        ConfigError: ``anchor_dir`` is missing or holds a file that is not a checkpoint.
    """
    found = checkpoints.anchors(anchor_dir) if anchor_dir is not None else []
    try:
        result = checkpoints.verify_with(store, found)
    except StoreError as exc:
        return Integrity(status="not checked", summary=f"The chain could not be verified: {exc}")
    newest = found[-1] if found else None
    first = result.first
    if first is None:
        status = "intact"
        summary = f"Intact: all {result.size:,} chained record(s) verified"
        if result.pruned:
            summary += f" ({result.pruned:,} pruned, their hashes kept)"
    elif first.pos is not None:
        status = "broken"
        summary = (f"Broken at position {first.pos:,}, intact up to position {first.pos - 1:,}"
                   f": {first.kind.value}: {first.detail}")  # fmt: skip
    else:
        status = "broken"
        summary = f"Broken outside the chain: {first.kind.value}: {first.detail}"
    if result.unsealed:
        summary += f"; {result.unsealed:,} record(s) written meanwhile, not sealed yet"
    return Integrity(
        status=status,
        summary=summary + ".",
        size=result.size,
        valid=result.valid,
        pruned=result.pruned,
        unsealed=result.unsealed,
        first_break=first.to_dict() if first is not None else None,
        break_counts=dict(result.counts),
        keyed=result.keyed,
        checkpoints=len(found),
        last_checkpoint_time=newest.time if newest is not None else None,
        last_checkpoint_size=newest.size if newest is not None else None,
        head=result.head,
    )
