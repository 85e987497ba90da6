"""Screenshots of the search page and the API docs (docs/serving-*.png), taken in Chromium.

    python examples/serve_screenshots.py --index build/bench-scifact [--query "..."]

Starts `encoderkit serve` on 127.0.0.1, opens the page in Debian's Chromium through Playwright (with
every request outside the server blocked), searches, expands the first result's explanation, opens the
document, and saves the pictures under docs/.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=Path("build/bench-scifact"))
    ap.add_argument("--query", default="does vitamin D supplementation reduce the risk of fractures")
    ap.add_argument("--out", type=Path, default=REPO / "docs")
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "encoderkit.cli", "serve", "--index", str(args.index), "--port", str(port), "--no-access-log"],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(240):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base) else r.abort())
            page.goto(base + "/")
            page.wait_for_selector("#search-form:not([hidden])")
            page.fill("#q", args.query)
            page.keyboard.press("Enter")
            page.wait_for_selector("#results li")
            page.keyboard.press("ArrowDown")
            page.keyboard.press("e")
            page.screenshot(path=str(args.out / "serving-search.png"))
            page.keyboard.press("Enter")
            page.wait_for_selector("#doc:not([hidden])")
            page.screenshot(path=str(args.out / "serving-document.png"))
            page.goto(base + "/docs")
            page.wait_for_selector(".swagger-ui .opblock")
            page.screenshot(path=str(args.out / "serving-api-docs.png"))
            browser.close()
        print(f"wrote {args.out}/serving-search.png, serving-document.png, serving-api-docs.png")
    finally:
        proc.terminate()
        proc.wait(20)


if __name__ == "__main__":
    main()
