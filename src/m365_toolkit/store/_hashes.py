"""The chain's hashes (see :mod:`.chain`): the genesis link bound to a store's id, RFC 6962
leaf hashes of canonical bytes, and the links between them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ._canonical import canonical

GENESIS_TAG = b"m365-toolkit/chain/v1"


def genesis(store_id: str) -> bytes:
    """The link before the first record, bound to the store's id."""
    return hashlib.sha256(GENESIS_TAG + store_id.encode("utf-8")).digest()


# The domain separation of RFC 6962: hashers fed their prefix once, then copied for each
# hash (a copy costs less than a new OpenSSL hasher); never updated themselves.
_LEAF, _LINK = hashlib.sha256(b"\x00"), hashlib.sha256(b"\x01")


def leaf_of(body: bytes) -> bytes:
    """The RFC 6962 leaf hash of a record's canonical bytes ``body``."""
    hasher = _LEAF.copy()
    hasher.update(body)
    return hasher.digest()


def leaf_hash(record: Mapping[str, Any], *, plain: bool = False) -> bytes:
    """The leaf hash of a record (:func:`leaf_of` its canonical bytes); ``plain`` as
    :func:`~._canonical.canonical` takes it."""
    return leaf_of(canonical(record, plain=plain))


def link_hash(previous: bytes, leaf: bytes) -> bytes:
    """The link after ``previous`` for a record whose leaf is ``leaf``."""
    hasher = _LINK.copy()
    hasher.update(previous)
    hasher.update(leaf)
    return hasher.digest()
