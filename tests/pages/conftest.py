"""Fixtures shared by the page tests."""

from __future__ import annotations

import pytest

from analysis.jobs.tasks import ensure_demo_run
from analysis.runs.store import RunStore
from analysis.workspace import Workspace


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
