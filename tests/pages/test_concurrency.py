"""Two analysts on one server: one trains a baseline while the other moves the weak-user
slider. Neither blocks or corrupts the other, nor the workspace."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from analysis.ingest.demo import DEMO_NAME
from analysis.jobs.manager import get_job_manager
from analysis.jobs.tasks import baseline_task, ensure_demo_run
from analysis.pipeline import EvaluateConfig
from analysis.runs.store import RunStore
from analysis.weak_users import WeakRule, select_weak_users
from analysis.workspace import Workspace

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_training_and_slider_sessions_do_not_block_each_other(tmp_path, monkeypatch):
    path = tmp_path / "ws.duckdb"
    monkeypatch.setenv("WEAKSPOT_WORKSPACE", str(path))
    ws = Workspace(path)
    demo = ensure_demo_run(ws)
    table = RunStore(ws).load_baseline(demo.run_id).per_user

    # session 1 starts training (an ALS with more iterations: it runs while session 2 works)
    jobs = get_job_manager(Workspace(str(path)))
    trainer = AppTest.from_file(APP, default_timeout=120).run()
    slow_als = EvaluateConfig(model="als", model_params={"iterations": 300, "factors": 64})
    job = jobs.submit("baseline", "ALS, 300 iterations",
                      baseline_task(jobs.workspace, DEMO_NAME, slow_als))
    trainer.switch_page("pages/2_baseline.py").run()
    assert not trainer.exception, trainer.exception

    # session 2 moves the weak-users slider the whole time, and every answer is right
    analyst = AppTest.from_file(APP, default_timeout=120).run()
    analyst.switch_page("pages/4_weak_users.py").run()
    assert not analyst.exception, analyst.exception
    moves = 0
    overlapped = []
    t0 = time.monotonic()
    for pct in (5.0, 10.0, 30.0, 45.0, 60.0, 15.0):
        analyst.slider(key="wu_percentile").set_value(pct).run()
        assert not analyst.exception, analyst.exception
        expect = select_weak_users(table, WeakRule(metric="auc", percentile=pct))
        shown = {m.label: m.value for m in analyst.metric}["Weak users"]
        assert shown == f"{expect.n_weak:,}"
        overlapped.append(jobs.get(job).active)
        moves += 1
    elapsed = time.monotonic() - t0
    status = jobs.wait(job, timeout=300)
    assert status.state == "done", status.error
    assert moves == 6 and sum(overlapped) >= 3  # the slider moved while the model trained
    assert elapsed < 60  # the slider session was never stuck behind the training

    # the workspace is intact: both runs listed and loadable, the new one complete
    store = RunStore(ws)
    runs = store.list_runs(dataset=DEMO_NAME, kind="baseline")
    assert set(runs["run_id"]) == {demo.run_id, status.run_id}
    new = store.load_baseline(status.run_id)
    assert len(new.per_user) == len(table)
    trainer.run()
    assert not trainer.exception, trainer.exception
