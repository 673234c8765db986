"""Fixtures shared by the page tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.jobs.tasks import ensure_demo_run
from analysis.runs.store import RunStore
from analysis.workspace import Workspace

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A workspace holding the demo run (built once per module), set as the app's workspace;
    yields the run's info and its per-user table."""
    path = tmp_path_factory.mktemp("ws") / "ws.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WEAKSPOT_WORKSPACE", str(path))
        ws = Workspace(path)
        info = ensure_demo_run(ws)
        yield info, RunStore(ws).load_baseline(info.run_id).per_user


@pytest.fixture
def at(demo, request) -> AppTest:
    """The app on the demo workspace, switched to the test module's ``PAGE``, without an
    exception."""
    app = AppTest.from_file(APP, default_timeout=120).run()
    app.switch_page(request.module.PAGE).run()
    assert not app.exception, app.exception
    return app
