"""Checkpoints: the chain's size and head, signed, kept away from the store.

Without a key, anyone who can write the store can recompute every hash after an edit, or
drop the newest records, and the chain still verifies. A checkpoint states the store id, the
chain's size, its head link and the time; kept elsewhere (a ticket, another machine,
write-once storage), it makes both evident:

- ``TRUNCATED``: the chain is now shorter than a checkpoint says it was;
- ``CHECKPOINT-INVALID``: the link at the checkpoint's size is no longer its head (history
  was rewritten), its signature does not verify, or it names another store.

The signed text follows C2SP's signed-note body (``m365-toolkit/<store id>``, size, base64
head, time, one per line). Ed25519 (``cryptography``) is the default: the auditor holds only
the public key, so verifying cannot forge. HMAC-SHA256 with one shared key is the other
choice. A key file beginning ``-----BEGIN PRIVATE KEY-----`` is Ed25519, any other is an HMAC
key (its bytes as written).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .._util.system import format_time, utc_now
from ..errors import ConfigError
from . import Store
from .chain import Break, BreakKind, Verification

ORIGIN = "m365-toolkit"
SUFFIX = ".checkpoint"
_PEM_PRIVATE = b"-----BEGIN PRIVATE KEY-----"
_PEM_PUBLIC = b"-----BEGIN PUBLIC KEY-----"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain of one store at one moment: ``size`` positions ending in link ``head``."""

    store_id: str
    size: int
    head: str
    time: str
    algorithm: str = "none"
    key_id: str = ""
    signature: str = ""

    def body(self) -> str:
        """The signed text."""
        head = base64.b64encode(bytes.fromhex(self.head)).decode("ascii")
        return f"{ORIGIN}/{self.store_id}\n{self.size}\n{head}\n{self.time}\n"

    def text(self) -> str:
        """The checkpoint as printed and filed: the body, a blank line, the signature line."""
        return self.body() + f"\n— {self.algorithm} {self.key_id or '-'} {self.signature or '-'}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read :meth:`text`.

        Raises:
            ValueError: It is not a checkpoint.
        """
        lines = text.split("\n")
        if len(lines) < 6 or not lines[0].startswith(f"{ORIGIN}/") or lines[4] != "":
            raise ValueError("not a checkpoint of this toolkit")
        dash, algorithm, key_id, signature = lines[5].split(" ")
        if dash != "—":
            raise ValueError("no signature line")
        head = base64.b64decode(lines[2], validate=True).hex()
        key_id, signature = (
            ("" if key_id == "-" else key_id),
            ("" if signature == "-" else signature),
        )
        return cls(lines[0].split("/", 1)[1], int(lines[1]), head, lines[3], algorithm, key_id,
                   signature)  # fmt: skip


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
    """Seal the store and state its chain, signed with ``key`` if one is given."""
    sealed = store.seal()
    found = Checkpoint(sealed.store_id, sealed.size, sealed.head, format_time(now or utc_now()))
    return sign(found, key.read_bytes()) if key is not None else found


def sign(found: Checkpoint, key: bytes) -> Checkpoint:
    """The checkpoint signed with an Ed25519 private key (PEM) or an HMAC key."""
    body = found.body().encode("utf-8")
    if key.startswith(_PEM_PRIVATE):
        private = serialization.load_pem_private_key(key, password=None)
        if not isinstance(private, ed25519.Ed25519PrivateKey):
            raise ConfigError("The signing key is not an Ed25519 key.")
        raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                serialization.PublicFormat.Raw)  # fmt: skip
        signature = private.sign(body)
        return replace(found, algorithm="ed25519", key_id=_key_id(raw), signature=_b64(signature))
    secret = key.strip()
    mac = hmac.new(secret, body, hashlib.sha256).digest()
    return replace(found, algorithm="hmac-sha256", key_id=_key_id(secret), signature=_b64(mac))


def signature_problem(found: Checkpoint, key: bytes | None) -> str:
    """Why the checkpoint's signature does not hold under ``key`` ("" when it does; without
    a key an unsigned checkpoint holds and a signed one cannot be checked)."""
    if key is None:
        return ""
    if found.algorithm == "none":
        return "it is not signed, though a key was given"
    body = found.body().encode("utf-8")
    try:
        signature = base64.b64decode(found.signature, validate=True)
    except ValueError:
        return "its signature is not base64"
    if key.startswith(_PEM_PUBLIC):
        public = serialization.load_pem_public_key(key)
        if not isinstance(public, ed25519.Ed25519PublicKey) or found.algorithm != "ed25519":
            return f"it is signed with {found.algorithm}, the key given is an Ed25519 key"
        try:
            public.verify(signature, body)
        except InvalidSignature:
            return "its Ed25519 signature does not verify with the public key given"
        return ""
    if found.algorithm != "hmac-sha256":
        return f"it is signed with {found.algorithm}, the key given is an HMAC key"
    expected = hmac.new(key.strip(), body, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        return "its HMAC-SHA256 does not verify with the key given"
    return ""


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
    for found in checkpoints:
        problem = _against(result, found, key)
        if problem:
            kind, detail = problem
            pos = found.size - 1 if kind is BreakKind.CHECKPOINT_INVALID else result.size
            breaks.append(Break(kind, pos, None, None, "checkpoint", detail))
    counts = dict(result.counts)
    for item in breaks[len(result.breaks) :]:
        counts[item.kind.value] = counts.get(item.kind.value, 0) + 1
    keyed = key is not None and any(c.algorithm != "none" for c in checkpoints)
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
    if found.size > result.size:
        return BreakKind.TRUNCATED, (
            f"{name} saw {found.size} records; the chain now holds {result.size}: the newest "
            "were removed, or an older copy of the store was put back"
        )
    if found.size and result.links.get(found.size - 1) != found.head:
        return BreakKind.CHECKPOINT_INVALID, (
            f"the chain's link at position {found.size - 1} is not the head {name} recorded: "
            "the history up to it was rewritten"
        )
    return None


def _key_id(material: bytes) -> str:
    return hashlib.sha256(material).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


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
