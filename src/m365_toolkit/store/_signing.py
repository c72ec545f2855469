"""Checkpoint texts and their signatures (no store here: sealing signs, verify checks).

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
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .. import settings
from ..errors import ConfigError

ORIGIN = "m365-toolkit"
PEM_PRIVATE = b"-----BEGIN PRIVATE KEY-----"
PEM_PUBLIC = b"-----BEGIN PUBLIC KEY-----"
log = logging.getLogger("m365_toolkit.store")


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


def sign(found: Checkpoint, key: bytes) -> Checkpoint:
    """The checkpoint signed with an Ed25519 private key (PEM) or an HMAC key.

    Raises:
        ConfigError: The key is a public key, or a PEM key of another kind.
    """
    body = found.body().encode("utf-8")
    if key.startswith(PEM_PUBLIC):
        raise ConfigError("The signing key is a public key; sign with its private key.")
    if key.startswith(PEM_PRIVATE):
        private = serialization.load_pem_private_key(key, password=None)
        if not isinstance(private, ed25519.Ed25519PrivateKey):
            raise ConfigError("The signing key is not an Ed25519 key.")
        raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                serialization.PublicFormat.Raw)  # fmt: skip
        signature = private.sign(body)
        return replace(found, algorithm="ed25519", key_id=key_id(raw), signature=b64(signature))
    secret = key.strip()
    mac = hmac.new(secret, body, hashlib.sha256).digest()
    return replace(found, algorithm="hmac-sha256", key_id=key_id(secret), signature=b64(mac))


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
    if key.startswith(PEM_PUBLIC):
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


def configured_key() -> bytes | None:
    """The signing key named by ``M365_TOOLKIT_CHECKPOINT_KEY``, for the checkpoints a store
    takes on its own; ``None`` when unset, or (logged) when the file cannot be read: a
    missing key must not stop a store from recording."""
    path = settings.checkpoint_key()
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        log.warning("%s names %r, which cannot be read (%s): no automatic checkpoints.",
                    settings.CHECKPOINT_KEY, path, exc)  # fmt: skip
        return None


def key_id(material: bytes) -> str:
    return hashlib.sha256(material).hexdigest()[:16]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
