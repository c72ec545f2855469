"""Checkpoints: the chain's size and head, signed, kept away from the store.

Without a key, anyone who can write the store can recompute every hash after an edit, or
drop the newest records, and the chain still verifies. A checkpoint states the store id, the
chain's size, its head link and the time; kept elsewhere (a ticket, another machine,
write-once storage), it makes both evident:

- ``TRUNCATED``: the chain is now shorter than a checkpoint says it was;
- ``CHECKPOINT-INVALID``: the link at the checkpoint's size is no longer its head (history
  was rewritten), its signature does not verify, or it names another store.

Every checkpoint is also a record of the chain itself (:mod:`._notes`), linked to the one
before it, so verify checks each of them, not only the newest; one filed away from the store
also catches what a rewrite of the whole chain hides. The text and its signatures (Ed25519 or
HMAC-SHA256) are in :mod:`._signing`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ..errors import ConfigError
from . import Store
from ._notes import as_checkpoint, checkpoint_maker
from ._signing import ORIGIN, Checkpoint, sign, signature_problem
from .chain import Break, BreakKind, Verification

SUFFIX = ".checkpoint"
__all__ = ["ORIGIN", "Checkpoint", "sign", "signature_problem"]


def generate_key(path: Path, *, shared: bool = False) -> Path:
    """Write a new signing key to ``path`` (owner-only); return the file an auditor needs:
    the Ed25519 public key beside it (``path`` + ``.pub``), or for ``shared`` (HMAC) the key
    itself.

    Raises:
        ConfigError: ``path`` exists already.
    """
    if path.exists():
        raise ConfigError(f"{str(path)!r} exists; name a new file for the key.")
    if shared:
        _write_private(path, os.urandom(32).hex().encode("ascii") + b"\n")
        return path
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_private(path, private)
    public_path = path.with_name(path.name + ".pub")
    public_path.write_bytes(public)
    return public_path


def checkpoint(store: Store, key: Path | None = None, *, now: datetime | None = None) -> Checkpoint:
    """Seal the store and chain a checkpoint of it (signed with ``key`` if one is given):
    the checkpoint states the chain before it, so its size is its own position."""
    sealed = store.seal(checkpoint_maker(key.read_bytes() if key is not None else None, now))
    assert sealed.note is not None
    return as_checkpoint(sealed.note)


def file_name(found: Checkpoint) -> str:
    """The checkpoint's file name in an anchor folder: store id and size."""
    return f"{found.store_id}-{found.size:012d}{SUFFIX}"


def anchor(found: Checkpoint, folder: Path) -> Path:
    """Write the checkpoint into ``folder`` (created if missing); never over another file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(found)
    with path.open("x", encoding="utf-8") as file:
        file.write(found.text())
    return path


def anchors(folder: Path) -> list[Checkpoint]:
    """Every checkpoint in ``folder``, in size order.

    Raises:
        ConfigError: The folder is missing or a file in it is not a checkpoint.
    """
    if not folder.is_dir():
        raise ConfigError(f"The anchor folder {str(folder)!r} does not exist.")
    found = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            found.append(Checkpoint.parse(path.read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{str(path)!r} is not a checkpoint ({exc}).") from exc
    return sorted(found, key=lambda item: item.size)


def verify_with(
    store: Store, checkpoints: Sequence[Checkpoint], key: bytes | None = None
) -> Verification:
    """Verify the store, then hold its chain against checkpoints kept elsewhere; the result
    is keyed when a key vouched for at least one checkpoint."""
    result = store.verify(links_at={c.size - 1 for c in checkpoints if c.size > 0})
    return verify_against(result, checkpoints, key)


def verify_against(
    result: Verification, checkpoints: Sequence[Checkpoint], key: bytes | None = None
) -> Verification:
    """A verification (made with ``links_at`` the checkpoints' last positions) held against
    checkpoints."""
    breaks = list(result.breaks)
    vouched = False
    for pos, record in result.checkpoints:  # in the chain: their structure is checked
        chained = as_checkpoint(record)
        if key is None or chained.algorithm == "none":
            continue
        wrong = signature_problem(chained, key)
        if wrong:
            detail = f"the checkpoint chained at position {pos} is not valid: {wrong}"
            breaks.append(Break(BreakKind.CHECKPOINT_INVALID, pos, pos, None, "checkpoint",
                                detail))  # fmt: skip
        vouched = True
    for found in checkpoints:
        problem = _against(result, found, key)
        if problem:
            kind, detail = problem
            pos = found.size - 1 if kind is BreakKind.CHECKPOINT_INVALID else result.size
            breaks.append(Break(kind, pos, None, None, "checkpoint", detail))
    counts = dict(result.counts)
    for item in breaks[len(result.breaks) :]:
        counts[item.kind.value] = counts.get(item.kind.value, 0) + 1
    keyed = key is not None and (vouched or any(c.algorithm != "none" for c in checkpoints))
    breaks.sort(key=lambda b: (b.kind is BreakKind.DERIVED_MISMATCH, b.pos is None, b.pos or 0))
    return replace(result, breaks=breaks, counts=counts, keyed=keyed)


def _against(
    result: Verification, found: Checkpoint, key: bytes | None
) -> tuple[BreakKind, str] | None:
    name = f"the checkpoint of size {found.size} taken {found.time}"
    if found.store_id != result.store_id:
        return BreakKind.CHECKPOINT_INVALID, f"{name} names another store, {found.store_id}"
    problem = signature_problem(found, key)
    if problem:
        return BreakKind.CHECKPOINT_INVALID, f"{name} is not valid: {problem}"
    truncated = (
        BreakKind.TRUNCATED,
        (
            f"{name} saw {found.size} records and was chained after them; the chain now holds "
            f"{result.size}: the newest were removed, or an older copy of the store was put back"
        ),
    )
    if found.size > result.size:
        return truncated
    chained = dict(result.checkpoints).get(found.size)
    if chained is not None and as_checkpoint(chained) != found:
        return BreakKind.CHECKPOINT_INVALID, (
            f"the checkpoint chained at position {found.size} is not {name}"
        )
    if found.size and result.links.get(found.size - 1) != found.head:
        return BreakKind.CHECKPOINT_INVALID, (
            f"the chain's link at position {found.size - 1} is not the head {name} recorded: "
            "the history up to it was rewritten"
        )
    if found.size == result.size:  # a checkpoint is chained at the position it names
        return truncated
    return None


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def describe(checkpoints: Iterable[Checkpoint]) -> str:
    """How many checkpoints, and the newest."""
    items = list(checkpoints)
    if not items:
        return "no checkpoints"
    last = items[-1]
    return f"{len(items)} checkpoint(s), the newest of size {last.size} taken {last.time}"
