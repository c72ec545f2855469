"""Regenerate the README's screenshot of the dashboard (``docs/dashboard.png``).

Usage (from the repo root): ``python bench/dashboard_screenshot.py [OUT.png]``

In a temporary folder holding the sample audit results (``m365_cis_audit.json``, a fictional
tenant), ``m365-toolkit demo`` records its sessions and writes their dashboard; headless
Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) then photographs the top of
the page, in the light colour scheme (the PNG must stay under 150 KB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from m365_toolkit.cli.demo import sample

HERE = Path(__file__).resolve().parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip
LIMIT = 150 * 1024


def demo_page(folder: Path) -> Path:
    """Run the demo in ``folder`` beside the sample results; return its dashboard."""
    reports = folder / "output" / "reports" / "security"
    reports.mkdir(parents=True)
    shutil.copy(sample("m365_cis_audit_sample.json"), reports / "m365_cis_audit.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("M365_TOOLKIT_")}
    env["M365_TOOLKIT_USER"] = "admin@contoso.com"
    script = Path(sys.executable).with_name("m365-toolkit")
    out = subprocess.run([str(script), "demo", "--json"], cwd=folder, env=env, check=True,
                         capture_output=True, text=True)  # fmt: skip
    import json

    return Path(json.loads(out.stdout)["dashboard"])


def photograph(page_file: Path, png: Path, chromium: str) -> int:
    """Screenshot the page's top (1200 x 1300 CSS px at scale 1); return the PNG's bytes."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1200, "height": 1300}, color_scheme="light")
        tab.goto(page_file.as_uri())
        tab.wait_for_selector("html[data-ready=true]")
        tab.screenshot(path=str(png), full_page=False)
        browser.close()
    return png.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", type=Path, default=HERE.parent / "docs" / "dashboard.png")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or sys.exit("chromium is not installed")
    with tempfile.TemporaryDirectory() as folder:
        size = photograph(demo_page(Path(folder)), args.out, chromium)
    print(f"{args.out}: {size / 1024:.0f} KB" + (" (over 150 KB!)" if size > LIMIT else ""))


if __name__ == "__main__":
    main()
