"""The page in a real browser: headless Chromium (Debian's package) driven by Playwright.

Skipped when Chromium or Playwright is missing; under ``CI=true`` that is a failure, as for
PostgreSQL (``.ci/run`` installs Chromium when it is missing).
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from m365_toolkit.reports import write_dashboard

from ..conftest import STORE_KINDS, PostgresSchemas, store_file
from .seeding import CONTROLS, COSTS, PROFILES, expected_day_status, seed

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LATEST = {c: v for c, v in CONTROLS.items() if v[3]}


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    problem = ""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "Playwright is not installed (pip install playwright)"
    executable = _chromium()
    if not problem and executable is None:
        problem = "Chromium is not installed (apt-get install chromium)"
    if problem:
        if os.environ.get("CI", "").strip().lower() in ("true", "1"):
            pytest.fail(f"The browser tests are required in CI: {problem}.", pytrace=False)
        pytest.skip(f"{problem}; the dashboard's browser tests need both.")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Loaded:
    """A page opened from disk, with every console message and every request it made."""

    def __init__(self, browser: Any, path: Path, **context: Any) -> None:
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.url = path.as_uri()

        def route(route: Any) -> None:
            self.requests.append(route.request.url)
            if route.request.url == self.url:
                route.continue_()
            else:
                route.abort()

        self.page.route("**/*", route)
        self.page.goto(self.url)

    def visible_rows(self, table: str) -> int:
        return self.page.locator(f"#{table} tbody tr:not([hidden])").count()

    def close(self) -> None:
        self.context.close()


def _seeded_page(request: pytest.FixtureRequest, factory: Any, kind: str) -> Iterator[Path]:
    root = factory.mktemp(f"board-{kind}")
    schemas = None
    if kind == "postgres":
        schemas = PostgresSchemas(*request.getfixturevalue("postgres_server"))
        location: Path | str = schemas.new()
    else:
        location = store_file(root, kind)
    try:
        with seed(root, location) as manager:
            yield write_dashboard(manager.store, root, clock=manager.clock).path
    finally:
        if schemas is not None:
            schemas.drop()


@pytest.fixture(scope="module")
def page_path(
    request: pytest.FixtureRequest, tmp_path_factory: Any, browser: Any
) -> Iterator[Path]:
    """The seeded dashboard of a SQLite store, written once for the module."""
    yield from _seeded_page(request, tmp_path_factory, "sqlite")


@pytest.fixture(scope="module", params=[k for k in STORE_KINDS if k != "sqlite"])
def other_page(
    request: pytest.FixtureRequest, tmp_path_factory: Any, browser: Any
) -> Iterator[Path]:
    """The same seed in the other stores (JSON, PostgreSQL): the same page."""
    yield from _seeded_page(request, tmp_path_factory, request.param)


@pytest.fixture
def loaded(browser, page_path) -> Iterator[Loaded]:
    opened = Loaded(browser, page_path)
    yield opened
    opened.close()


def test_the_page_loads_with_no_console_errors_and_no_request_but_itself(loaded):
    assert loaded.page.evaluate("document.documentElement.dataset.ready") == "true"
    assert loaded.console == []
    assert loaded.requests == [loaded.url]
    integrity = loaded.page.locator("#integrity")
    assert integrity.get_attribute("data-status") == "intact" and integrity.is_visible()
    assert "Intact: all" in integrity.text_content()


def test_every_store_gives_the_same_page(browser, page_path, other_page):
    pages = [Loaded(browser, path) for path in (page_path, other_page)]
    try:
        for opened in pages:
            assert opened.console == [] and opened.requests == [opened.url]
        for selector in ("#chart-trend .mark", "#chart-sessions .mark", "#chart-costs .mark",
                         "#controls tbody tr", "#drift tbody tr", "#budgets tbody tr"):  # fmt: skip
            counts = [opened.page.locator(selector).count() for opened in pages]
            assert counts[0] == counts[1] > 0, selector
        for opened in pages:
            opened.page.select_option('form[data-table="controls"] select[name="status"]', "Fail")
        expected = sum(v[3] == "Fail" for v in LATEST.values())
        assert [opened.visible_rows("controls") for opened in pages] == [expected, expected]
        assert pages[1].page.get_attribute("#integrity", "data-status") == "intact"
    finally:
        for opened in pages:
            opened.close()


def test_the_charts_have_one_mark_per_data_point(loaded):
    marks = loaded.page.locator
    assert marks("#chart-trend .mark").count() == 4  # the file run and three sessions
    day_status = sum(len(statuses) for statuses in expected_day_status().values())
    assert marks("#chart-sessions .mark").count() == day_status
    assert marks("#chart-costs .mark").count() == len({c[0] for c in COSTS})


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("status", "Fail", sum(v[3] == "Fail" for v in LATEST.values())),
        ("severity", "High", sum(v[1] == "High" for v in LATEST.values())),
        ("section", "1 Microsoft 365 admin center", sum(c.startswith("1.") for c in LATEST)),
        ("profile", "E5 L2", sum(PROFILES[c] == "E5 L2" for c in LATEST)),
        ("engine", "graph", len(LATEST)),
    ],
)
def test_each_controls_filter_shows_only_the_matching_rows(loaded, name, value, expected):
    page = loaded.page
    assert loaded.visible_rows("controls") == len(LATEST)
    page.select_option(f'form[data-table="controls"] select[name="{name}"]', value)
    assert loaded.visible_rows("controls") == expected
    assert page.text_content("#controls-count") == f"{expected} of {len(LATEST)} rows"
    page.select_option(f'form[data-table="controls"] select[name="{name}"]', "")
    assert loaded.visible_rows("controls") == len(LATEST)


def test_filters_combine_and_the_search_matches_text(loaded):
    page = loaded.page
    page.select_option('form[data-table="controls"] select[name="status"]', "Pass")
    page.select_option('form[data-table="controls"] select[name="severity"]', "Low")
    assert loaded.visible_rows("controls") == 2  # 1.3.1 and 8.1.1
    page.fill('form[data-table="controls"] input[name="q"]', "teams")
    assert loaded.visible_rows("controls") == 1


def test_the_drift_filter_and_sorting(loaded):
    page = loaded.page
    page.select_option('form[data-table="drift"] select[name="drift"]', "regressed")
    assert page.locator("#drift tbody tr:not([hidden]) th").all_text_contents() == ["1.1.1"]
    header = page.locator("#controls thead th").first
    header.locator("button").click()
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    first = page.locator("#controls tbody tr th").first.text_content()
    assert first == "8.1.1"


def test_a_screenshot_is_not_blank(loaded):
    png = loaded.page.screenshot(full_page=True)
    pixels = _png_bytes(png)
    assert len(set(pixels)) > 50  # many colours, not one flat fill


def test_the_page_reads_without_javascript(browser, page_path):
    opened = Loaded(browser, page_path, java_script_enabled=False)
    try:
        assert opened.visible_rows("controls") == len(LATEST)
        assert opened.page.locator('form[data-table="controls"]').is_hidden()
        assert opened.page.locator("#chart-trend .mark").count() == 4
    finally:
        opened.close()


def test_dark_mode_and_print_styles_apply(browser, page_path):
    background = "getComputedStyle(document.body).backgroundColor"
    dark = Loaded(browser, page_path, color_scheme="dark")
    light = Loaded(browser, page_path, color_scheme="light")
    try:
        assert dark.page.evaluate(background) != light.page.evaluate(background)
        light.page.emulate_media(media="print")
        assert light.page.locator('form[data-table="controls"]').is_hidden()
    finally:
        dark.close()
        light.close()


def test_the_hostile_text_fixture_executes_nothing(browser, tmp_path):
    root = tmp_path / "hostile"
    with seed(root, root / "s.db", hostile=True) as manager:
        path = write_dashboard(manager.store, root, clock=manager.clock).path
    opened = Loaded(browser, path)
    try:
        page = opened.page
        assert page.evaluate("typeof window.pwned") == "undefined"
        assert page.evaluate("document.images.length") == 0
        assert page.evaluate("document.scripts.length") == 2
        assert opened.console == [] and opened.dialogs == []
        assert opened.requests == [opened.url]
        assert "window.pwned=1" in page.locator("#controls").text_content()
        assert "[U+202E]" in page.locator("#by-user").text_content()
    finally:
        opened.close()


def _png_bytes(png: bytes) -> bytes:
    """The decompressed image data of a PNG (enough to tell a blank page from a drawn one)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    data, offset = b"", 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        if kind == b"IDAT":
            data += png[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return zlib.decompress(data)
