"""Screenshot the running app for the README: ``python scripts/screenshot.py [OUT.png]``.

Starts ``streamlit run app.py`` on a loopback port (workspace in a temporary folder, so the
demo is computed fresh), opens it in Debian's headless Chromium through Playwright
(``pip install playwright``; ``apt-get install chromium``), waits until the page has drawn
its metrics, and saves a full-page PNG (default ``assets/screenshot-overview.png``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "assets" / "screenshot-overview.png"
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, WEAKSPOT_WORKSPACE=str(Path(tmp) / "ws.duckdb"))
        server = subprocess.Popen(
            [str(REPO / ".venv" / "bin" / "streamlit"), "run", str(REPO / "app.py"),
             "--server.headless", "true", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=shutil.which("chromium"),
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync"],
                )
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                deadline = time.time() + 60
                while True:
                    try:
                        page.goto(f"http://127.0.0.1:{port}", timeout=5000)
                        break
                    except Exception:
                        if time.time() > deadline:
                            raise
                        time.sleep(1)
                page.wait_for_selector('[data-testid="stMetric"]', timeout=180_000)
                page.wait_for_selector('[data-testid="stDataFrame"]', timeout=60_000)
                time.sleep(2)  # let the data grid paint
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
