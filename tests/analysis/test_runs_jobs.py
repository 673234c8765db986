"""Tests of analysis/runs.py, analysis/jobs.py and analysis/tasks.py."""

from __future__ import annotations

import threading
import time

import pytest

from analysis.demo import DEMO_NAME
from analysis.errors import AnalysisError
from analysis.jobs import JobManager
from analysis.pipeline import EvaluateConfig
from analysis.rerank.job import RerankConfig
from analysis.runs import RunStore
from analysis.tasks import baseline_task, ensure_demo_run, rerank_task
from analysis.workspace import Workspace
from models.rerankers.fake import FakeBackend


@pytest.fixture
def ws(tmp_path):
    return Workspace(tmp_path / "ws.duckdb")


def test_demo_run_is_made_once_and_then_read(ws):
    first = ensure_demo_run(ws)
    again = ensure_demo_run(ws)
    assert first.run_id == again.run_id and first.dataset == DEMO_NAME
    assert (first.path / "per_user.parquet").exists()
    runs = RunStore(ws).list_runs()
    assert len(runs) == 1 and runs.iloc[0]["headline"]["overall"]["ndcg@10"] > 0


def test_baseline_and_rerank_jobs_run_in_the_background(ws):
    ensure_demo_run(ws)
    jm = JobManager(ws)
    job = jm.submit("baseline", "pop on demo",
                    baseline_task(ws, DEMO_NAME, EvaluateConfig(model="pop", k=5)))
    status = jm.wait(job, timeout=120)
    assert status.state == "done", status.error
    assert status.progress == 1.0
    store = RunStore(ws)
    run = store.get(status.run_id)
    assert run.params["model"] == "pop" and run.params["k"] == 5
    rr = jm.submit("rerank", "fake rerank", rerank_task(
        ws, run.run_id, RerankConfig(backend="fake", model="claude-haiku-4-5"),
        lambda: FakeBackend("claude-haiku-4-5")))
    st = jm.wait(rr, timeout=120)
    assert st.state == "done", st.error
    assert st.detail["done"] == st.detail["total"] > 0
    child = store.get(st.run_id)
    assert child.kind == "rerank" and child.parent_run_id == run.run_id
    assert (child.path / "rerank_per_user.parquet").exists()
    # a later manager (a restarted server) still lists the finished jobs
    later = JobManager(ws)
    assert {j.job_id for j in later.jobs()} >= {job, rr}
    store.delete(run.run_id)
    assert run.run_id not in set(store.list_runs()["run_id"])
    assert not run.path.exists() and not child.path.exists()


def test_failed_and_cancelled_jobs(ws):
    jm = JobManager(ws)

    def bad(ctx):
        raise AnalysisError("the file has no rating column")

    st = jm.wait(jm.submit("baseline", "bad", bad), timeout=10)
    assert st.state == "failed" and st.error == "the file has no rating column"

    def boom(ctx):
        raise ZeroDivisionError("oops")

    st = jm.wait(jm.submit("baseline", "bug", boom), timeout=10)
    assert st.state == "failed" and st.error.startswith("internal error: ZeroDivisionError")

    started = threading.Event()

    def slow(ctx):
        started.set()
        while not ctx.cancelled:
            time.sleep(0.01)
        return None

    job = jm.submit("rerank", "slow", slow)
    started.wait(5)
    jm.cancel(job)
    assert jm.wait(job, timeout=10).state == "cancelled"


def test_jobs_of_a_dead_server_show_as_interrupted(ws):
    jm = JobManager(ws)
    release = threading.Event()
    job = jm.submit("baseline", "never ends", lambda ctx: release.wait(10) and None)
    later = JobManager(ws)  # what a restarted server sees in the workspace
    assert later.get(job).state == "interrupted"
    release.set()
    jm.wait(job, timeout=10)
