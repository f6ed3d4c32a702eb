"""Draws the docs' picture of the shortcut demo: the concept cards of the class
that carries the badge, as the audit's report shows them in a browser.

Reads the report that `camlens demo --shortcut DIR` wrote (`DIR/audit/report.html`),
opens it in headless Chromium (Playwright, the Chromium of the tests), filters it
to the shortcut class and saves a screenshot of that class's concept cards.

Usage:
    camlens demo --shortcut /tmp/shortcut
    python scripts/shortcut_picture.py /tmp/shortcut docs/audit-concepts.jpg
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from camlens.demo.shortcut import SHORTCUT_CLASS  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    report, out = Path(sys.argv[1]) / "audit" / "report.html", Path(sys.argv[2])
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(report.resolve().as_uri())
        page.wait_for_load_state("load")
        page.select_option("#class-filter", str(SHORTCUT_CLASS))
        jpeg = {"quality": 85} if out.suffix in (".jpg", ".jpeg") else {}
        page.locator(f".concepts[data-class='{SHORTCUT_CLASS}']").screenshot(path=str(out), **jpeg)
        browser.close()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
