"""Opening the app on one page through AppTest, for the page tests."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_page(workspace_path: str, page: str, monkeypatch) -> AppTest:
    """The app on the workspace at ``workspace_path``, switched to ``page`` (a file under
    ``pages/``), without an exception."""
    monkeypatch.setenv("WEAKSPOT_WORKSPACE", str(workspace_path))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at
