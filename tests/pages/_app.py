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


#: the longest a test waits for a background job: generous, so a loaded machine only slows it
JOB_WAIT_S = 600


def wait_adopted(at: AppTest, manager, job_id: str, key: str = "baseline_job"):
    """Wait for the job to end (no fixed sleep), then re-run the page while it has not yet
    adopted it (dropped ``key`` from the session); the job's final status."""
    status = manager.wait(job_id, timeout=JOB_WAIT_S)
    assert not status.active, f"job still {status.state} after {JOB_WAIT_S} s"
    if key in at.session_state:
        at.run()
        assert not at.exception, at.exception
    assert key not in at.session_state
    return status
