"""Drive the real app in a headless browser: the end-to-end test and the README screenshots.

:class:`AppServer` runs ``streamlit run app.py`` on a free loopback port (its own workspace,
extra environment such as a fake LLM server's URL) and stops it, bounded in time;
:func:`launch_chromium` starts Debian's Chromium through Playwright (``playwright install``
is never needed); :class:`AppDriver` waits for a rerun to finish, switches pages through the
sidebar, finds widgets by their ``key=`` (Streamlit renders it as the CSS class
``st-key-<key>``), checks a page shows no error and saves screenshots.

Imported by ``tests/e2e/test_browser.py`` and ``scripts/screenshot.py``; no pytest here.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: launch flags that work for Debian's chromium as root in a container, with no network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: the pages in the navigation order of app.py: (sidebar title, page file)
PAGES = [
    ("Overview", "pages/0_overview.py"),
    ("Data", "pages/1_data.py"),
    ("Baseline", "pages/2_baseline.py"),
    ("Subgroups", "pages/3_subgroups.py"),
    ("Weak users", "pages/4_weak_users.py"),
    ("LLM rerank", "pages/5_llm_rerank.py"),
    ("Remedies", "pages/6_remedies.py"),
    ("Report", "pages/7_report.py"),
]
#: words that must never be visible: a traceback means a bug reached the user
FORBIDDEN = ("Traceback", "Exception")


def chromium_path() -> str | None:
    """Debian's ``chromium`` (or ``chromium-browser``) on PATH, else None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """``streamlit run app.py`` on 127.0.0.1 as a context manager.

    Args:
        workspace: the workspace file (``WEAKSPOT_WORKSPACE``) the app uses.
        log_path: where the server's stdout and stderr go.
        env: extra environment variables (API keys, base URLs).
        start_timeout: seconds to wait for ``/_stcore/health``.
    """

    def __init__(
        self,
        workspace: Path,
        log_path: Path,
        env: dict[str, str] | None = None,
        start_timeout: float = 90.0,
    ) -> None:
        self.workspace = Path(workspace)
        self.log_path = Path(log_path)
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> AppServer:
        env = dict(os.environ, WEAKSPOT_WORKSPACE=str(self.workspace), **self.extra_env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        cmd = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(REPO / "app.py"),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(self.port),
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
        ]
        self._proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self._proc.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"streamlit did not answer in {self.start_timeout:.0f} s")
            time.sleep(0.25)

    def stop(self) -> None:
        """Terminate the server (its process group), killing it after 15 s."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self, tail: int = 4000) -> str:
        """The last ``tail`` characters of the server's output."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-tail:]
        except OSError:
            return ""

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def launch_chromium(playwright, executable: str | None = None):
    """Headless Chromium from the system (``apt-get install chromium``)."""
    return playwright.chromium.launch(
        executable_path=executable or chromium_path(),
        args=CHROMIUM_ARGS,
        headless=True,
        timeout=60_000,
    )


def key_selector(key: str) -> str:
    """CSS selector of the element Streamlit wraps around the widget with ``key=key``."""
    return ".st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", key.strip())


class AppDriver:
    """A Playwright page on the running app, with Streamlit-aware waits.

    Args:
        page: a Playwright ``Page``.
        base_url: the server's URL.
        shots: folder for screenshots (created on demand).
    """

    def __init__(self, page, base_url: str, shots: Path | None = None) -> None:
        self.page = page
        self.base_url = base_url
        self.shots = shots

    # -- waiting ---------------------------------------------------------------------------

    def wait_idle(self, timeout: float = 120.0, settle: float = 0.6) -> None:
        """Wait until the script has finished running and nothing spins for ``settle`` s.

        Streamlit marks its root element with ``data-test-script-state``; ``notRunning``
        with no spinner or skeleton, seen continuously for ``settle`` seconds, is idle.
        """
        idle = '[data-testid="stApp"][data-test-script-state="notRunning"]'
        busy = '[data-testid="stSpinner"], [data-testid="stSkeleton"]'
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            if self.page.locator(idle).count() and not self.page.locator(busy).count():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    return
            else:
                quiet_since = None
            self.page.wait_for_timeout(100)
        raise TimeoutError(f"the app was still running after {timeout:.0f} s")

    def wait_text(self, text: str | re.Pattern, timeout: float = 60.0):
        """The first visible element of the main area showing ``text``."""
        loc = self.main.get_by_text(text).first
        loc.wait_for(state="visible", timeout=timeout * 1000)
        return loc

    def wait_outcome(self, success: str | re.Pattern, timeout: float = 120.0) -> None:
        """Wait for ``success`` to show in the main area; fail early on an error box."""
        ok = self.main.get_by_text(success).first
        error = self.main.locator('[data-testid="stAlertContentError"]').first
        ok.or_(error).wait_for(state="visible", timeout=timeout * 1000)
        if not ok.is_visible():
            raise AssertionError(f"the app shows an error: {error.inner_text()}")

    # -- navigation ------------------------------------------------------------------------

    def open(self, timeout: float = 180.0) -> None:
        """Load the app and wait for its first page."""
        self.page.goto(self.base_url, timeout=60_000)
        self.page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=timeout * 1000)
        self.wait_idle(timeout)

    def goto(self, title: str, timeout: float = 120.0) -> None:
        """Switch page through the sidebar link named ``title`` (session state is kept)."""
        nav = self.page.locator('[data-testid="stSidebarNav"]')
        nav.get_by_role("link", name=title, exact=True).click(timeout=30_000)
        self.wait_idle(timeout)

    # -- widgets ---------------------------------------------------------------------------

    def widget(self, key: str):
        """The container of the widget created with ``key=key``."""
        return self.page.locator(key_selector(key)).first

    def click(self, key: str, timeout: float = 120.0) -> None:
        """Click the button (or download button) with ``key=key`` and wait for the rerun."""
        self.widget(key).get_by_role("button").first.click(timeout=30_000)
        self.wait_idle(timeout)

    @property
    def main(self):
        return self.page.locator('[data-testid="stMain"], section.main').first

    # -- checks ----------------------------------------------------------------------------

    def main_text(self) -> str:
        return self.main.inner_text(timeout=30_000)

    def assert_clean(self) -> str:
        """The main area's text, after checking it shows no exception, traceback or error box."""
        n_exc = self.page.locator(
            '[data-testid="stException"], [data-testid="stAlertContentError"]'
        ).count()
        text = self.main_text()
        bad = [w for w in FORBIDDEN if w in text]
        assert n_exc == 0 and not bad, f"the page shows an error ({bad}, {n_exc} boxes):\n{text}"
        return text

    def content_height(self) -> int:
        """Height in pixels of the page with the main area fully scrolled out."""
        return int(
            self.page.evaluate(
                """() => {
                const els = [document.scrollingElement,
                             document.querySelector('[data-testid="stMain"]'),
                             document.querySelector('[data-testid="stAppViewContainer"]')];
                return Math.max(...els.filter(Boolean).map(e => e.scrollHeight));
            }"""
            )
        )

    def screenshot(self, name: str, full_page: bool = True, max_height: int = 6000) -> Path:
        """Save ``<shots>/<name>.png`` and return its path.

        Streamlit scrolls its main area inside the window, so a "full page" shot is taken by
        growing the viewport to the content's height (at most ``max_height``) and restoring it.
        """
        assert self.shots is not None, "no screenshot folder given"
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        size = self.page.viewport_size
        if full_page and size:
            height = min(max(self.content_height(), size["height"]), max_height)
            self.page.set_viewport_size({"width": size["width"], "height": height})
            self.page.evaluate(
                "() => document.querySelector('[data-testid=\"stMain\"]')?.scrollTo(0, 0)"
            )
        try:
            self.page.wait_for_timeout(800)  # let charts and data grids re-lay out and paint
            self.page.screenshot(path=str(path), timeout=60_000)
        finally:
            if full_page and size:
                self.page.set_viewport_size(size)
        return path
