"""Screenshot of an HTML report in headless Chromium, 1400 px wide: the README's picture of the report.

    .venv/bin/python scripts/report_screenshot.py results/demo/index.html results/demo/report.png

Uses Debian's `chromium` (scripts/setup.sh installs it for the HTML report test) through playwright.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

WIDTH = 1400


def screenshot(page_path: Path, out: Path, *, width: int = WIDTH) -> Path:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(page_path.resolve().as_uri())
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    from PIL import Image

    Image.open(out).convert("RGB").quantize(256).save(out, optimize=True)  # a palette keeps the PNG small
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: report_screenshot.py REPORT.html OUT.png")
    print(screenshot(Path(sys.argv[1]), Path(sys.argv[2])))
