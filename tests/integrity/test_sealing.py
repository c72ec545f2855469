"""Sealing runs after a write has committed: when it fails, the write still succeeds, and
the records are sealed later."""

from __future__ import annotations

import logging

from m365_toolkit.errors import StoreError
from m365_toolkit.store import open_store
from tests.store.test_contract import new_session


def test_a_failed_seal_is_logged_and_the_write_it_followed_still_succeeds(
    tmp_path, monkeypatch, caplog
):
    with open_store(tmp_path / "sessions.db") as store:
        store.seal_every = 1  # type: ignore[attr-defined]
        real = store._chain.seal  # type: ignore[attr-defined]

        def broken() -> None:
            raise StoreError("The disk is full.")

        monkeypatch.setattr(store._chain, "seal", broken)  # type: ignore[attr-defined]
        with caplog.at_level(logging.WARNING, "m365_toolkit.store"):
            session = new_session()
            assert store.create(session)
        assert "retried later" in caplog.text
        assert store.get(session.session_id) is not None
        monkeypatch.setattr(store._chain, "seal", real)  # type: ignore[attr-defined]
        result = store.verify()
        assert result.intact and result.size == 1
