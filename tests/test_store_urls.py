"""Store URLs (issue 9): SQLAlchemy's convention for ``sqlite:`` and ``json:`` (three slashes
and a relative path, four for an absolute one), RFC 8089 for ``file:``, plain paths as they
are, and every ambiguous form refused with a message that shows the two unambiguous ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from m365_toolkit.errors import ConfigError
from m365_toolkit.store import StoreLocation, open_store


@pytest.mark.parametrize(
    ("location", "scheme", "path"),
    [
        ("sqlite:///rel.db", "sqlite", "rel.db"),
        ("sqlite:////ABS/trail.db", "sqlite", "/ABS/trail.db"),
        ("json:///nested/trail.json", "json", "nested/trail.json"),
        ("json:////ABS/trail.json", "json", "/ABS/trail.json"),
        ("file:///ABS/trail.json", "json", "/ABS/trail.json"),
        ("file:///ABS/trail.db", "sqlite", "/ABS/trail.db"),
        ("file://localhost/ABS/trail.db", "sqlite", "/ABS/trail.db"),
        ("rel/trail.db", "sqlite", "rel/trail.db"),
        ("/ABS/trail.json", "json", "/ABS/trail.json"),
        ("SQLite:////ABS/x.db?synchronous=full", "sqlite", "/ABS/x.db"),
    ],
)
def test_valid_forms_name_the_file_the_convention_says(location, scheme, path):
    parsed = StoreLocation.parse(location)
    assert (parsed.scheme, str(parsed.path)) == (scheme, path)


def test_an_absolute_json_url_opens_the_absolute_file(tmp_path: Path, monkeypatch):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    target = tmp_path / "team" / "trail.json"
    for url in (f"json:///{target}", f"file://{target}"):  # json:////abs and file:///abs
        with open_store(url) as store:
            assert store.location == str(target)
    assert target.parent.is_dir() and list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("location", "says"),
    [
        ("sqlite://rel.db", "sqlite:///rel.db"),
        ("sqlite://rel.db", "sqlite:////"),
        ("json://server/trail.json", "host"),
        ("file://server/trail.db", "host"),
        ("file:rel.db", "file:///"),
    ],
)
def test_a_url_with_a_host_or_no_slashes_is_refused_showing_the_valid_forms(location, says):
    with pytest.raises(ConfigError, match="ambiguous|host") as caught:
        StoreLocation.parse(location)
    assert says in str(caught.value)


def test_three_slashes_before_an_existing_top_folder_is_refused_as_ambiguous(
    tmp_path: Path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # ./tmp does not exist here, /tmp does
    url = "json:///tmp/team/trail.json"
    with pytest.raises(ConfigError, match="ambiguous") as caught:
        StoreLocation.parse(url)
    message = str(caught.value)
    assert "json:////tmp/team/trail.json" in message and "json:///./tmp/team" in message
    assert list(tmp_path.iterdir()) == []
    assert str(StoreLocation.parse("json:///./tmp/team/trail.json").path) == "tmp/team/trail.json"


def test_the_docs_list_the_valid_forms():
    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "configuration.md").read_text(encoding="utf-8")
    for form in ("sqlite:///rel.db", "sqlite:////abs.db", "json:////abs.json", "file:///abs"):
        assert form in text, form
