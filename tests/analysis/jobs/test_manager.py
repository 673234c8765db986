"""Tests of analysis/runs/store.py, analysis/jobs/manager.py and analysis/jobs/tasks.py."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import duckdb
import pytest

from analysis.errors import AnalysisError
from analysis.ingest import load_dataset
from analysis.ingest.demo import DEMO_NAME
from analysis.jobs.manager import JOB_THREAD_ENDED, JobManager
from analysis.jobs.tasks import baseline_task, ensure_demo_run, rerank_task
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.rerank.config import RerankConfig
from analysis.runs.store import MANIFEST, RunStore
from analysis.workspace import Workspace
from models.llm.fake import FakeBackend


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

    job = jm.submit("rerank", "slow", slow)
    started.wait(5)
    jm.cancel(job)
    assert jm.wait(job, timeout=10).state == "cancelled"


def test_a_live_job_is_not_interrupted_by_a_second_manager(ws):
    jm = JobManager(ws)
    release = threading.Event()
    job = jm.submit("baseline", "waits", lambda ctx: release.wait(120) and None)
    later = JobManager(ws)  # e.g. a second server: its start must not mark live jobs
    assert later.get(job).state == "running"
    with ws.connect() as con:
        row = con.execute("SELECT state, pid, host FROM jobs WHERE job_id = ?", [job]).fetchone()
    assert row == ("running", os.getpid(), socket.gethostname())
    release.set()
    assert jm.wait(job, timeout=120).state == "done"
    assert later.get(job).state == "done"


def _insert_job(con, job_id: str, state: str, pid=None, host=None, proc_start=None) -> None:
    con.execute(
        "INSERT INTO jobs (job_id, kind, title, state, progress, message, detail, started_at, "
        "pid, host, proc_start) VALUES (?, 'baseline', ?, ?, 0.5, '', '{}', now(), ?, ?, ?)",
        [job_id, job_id, state, pid, host, proc_start],
    )


def _table_states(ws) -> dict[str, str]:
    with ws.connect() as con:
        return dict(con.execute("SELECT job_id, state FROM jobs").fetchall())


def test_jobs_of_a_gone_process_show_as_interrupted(ws):
    JobManager(ws)
    host = socket.gethostname()
    with ws.connect() as con:
        _insert_job(con, "old", "running")  # written before owners were recorded
        _insert_job(con, "reused", "running", os.getpid(), host, "0")  # PID now another's
        _insert_job(con, "remote", "queued", 1, "another-host")  # cannot be checked
        _insert_job(con, "finished", "done")
    later = JobManager(ws)  # what a restarted server sees in the workspace
    expected = {"old": "interrupted", "reused": "interrupted", "remote": "queued",
                "finished": "done"}
    assert {j.job_id: j.state for j in later.jobs()} == expected
    assert _table_states(ws) == expected  # written back
    # any later read does the same, not only a manager's start
    with ws.connect() as con:
        _insert_job(con, "since", "running", os.getpid(), host, "0")
    assert later.get("since").state == "interrupted"
    assert _table_states(ws)["since"] == "interrupted"


def test_an_old_jobs_table_is_migrated_keeping_its_rows(ws):
    with ws.connect() as con:
        con.execute(
            "CREATE TABLE jobs (job_id VARCHAR PRIMARY KEY, kind VARCHAR, title VARCHAR, "
            "state VARCHAR, progress DOUBLE, message VARCHAR, detail VARCHAR, run_id VARCHAR, "
            "error VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP)"
        )
        con.execute(
            "INSERT INTO jobs VALUES ('a1', 'baseline', 'pop', 'done', 1.0, 'ok', '{\"n\": 3}', "
            "'run-1', NULL, TIMESTAMP '2024-01-01 10:00', TIMESTAMP '2024-01-01 10:01'), "
            "('a2', 'rerank', 'fake', 'running', 0.4, '', '{}', NULL, NULL, "
            "TIMESTAMP '2024-01-02 10:00', NULL)"
        )
    jm = JobManager(ws)
    with ws.connect() as con:
        cols = [r[0] for r in con.execute("DESCRIBE jobs").fetchall()]
    assert cols[-3:] == ["pid", "host", "proc_start"]
    done, gone = jm.get("a1"), jm.get("a2")
    assert (done.state, done.run_id, done.detail, done.title) == ("done", "run-1", {"n": 3}, "pop")
    assert gone.state == "interrupted" and gone.progress == 0.4
    job = jm.submit("baseline", "new", lambda ctx: None)
    assert jm.wait(job, timeout=120).state == "done"
    assert _table_states(ws) == {"a1": "done", "a2": "interrupted", job: "done"}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_job_whose_thread_ends_without_a_result_is_not_left_running(ws, monkeypatch):
    jm = JobManager(ws)

    def torn_down(ctx):
        raise SystemExit  # what a thread sees when its interpreter shuts down

    st = jm.wait(jm.submit("baseline", "torn down", torn_down), timeout=120)
    assert st.state == "interrupted" and st.error == JOB_THREAD_ENDED
    assert _table_states(ws)[st.job_id] == "interrupted"
    # a thread that ended without recording anything is found when its job is read
    monkeypatch.setattr(jm, "_finish", lambda *args, **kwargs: None)
    job = jm.submit("baseline", "vanishes", lambda ctx: "run-x")
    jm._threads[job].join(120)
    assert jm.get(job).state == "interrupted"
    assert not jm.active()
    assert _table_states(ws)[job] == "interrupted"


def test_a_run_saved_while_the_workspace_is_held_is_kept_and_listed_later(ws, monkeypatch):
    ensure_demo_run(ws)
    result = run_pipeline(load_dataset(ws, DEMO_NAME), EvaluateConfig(model="pop", k=5))
    real = duckdb.connect

    def held(*args, **kwargs):
        raise duckdb.IOException(
            f'IO Error: Could not set lock on file "{ws.path}": Conflicting lock is held in '
            "/usr/bin/python3 (PID 999999999). See also https://duckdb.org/docs"
        )

    monkeypatch.setattr(duckdb, "connect", held)
    info = RunStore(Workspace(ws.path, lock_wait_s=0.2)).save_baseline(result)
    assert not info.listed
    files = {p.name for p in info.path.iterdir()}
    assert {"per_user.parquet", "summary.json", "candidates.parquet", MANIFEST} <= files
    manifest = json.loads((info.path / MANIFEST).read_text())
    assert manifest["run_id"] == info.run_id and manifest["params"]["model"] == "pop"
    assert manifest["workspace"] == str(Path(ws.path).resolve())
    assert not [p for p in info.path.parent.iterdir() if p.name.startswith(".")]  # no temp left
    monkeypatch.setattr(duckdb, "connect", real)

    store = RunStore(ws)
    runs = store.list_runs(kind="baseline")
    assert info.run_id in set(runs["run_id"])
    row = runs[runs["run_id"] == info.run_id].iloc[0]
    assert row["headline"] == json.loads(json.dumps(info.headline))
    assert row["label"] == info.label and Path(row["path"]) == info.path
    assert store.get(info.run_id).params["k"] == 5
    # get() lists a pending run too; a run of another workspace beside it never is
    with ws.connect() as con:
        con.execute("DELETE FROM runs WHERE run_id = ?", [info.run_id])
    assert store.get(info.run_id).label == info.label
    other = Workspace(Path(ws.path).parent / "other.duckdb")
    assert RunStore(other).root == store.root and len(RunStore(other).list_runs()) == 0
    # deleting removes the manifest with the folder: the run does not come back
    store.delete(info.run_id)
    assert info.run_id not in set(store.list_runs()["run_id"])
    assert not info.path.exists()


def test_progress_never_goes_down_and_only_a_finished_job_is_at_100(ws):
    jm = JobManager(ws)
    release = threading.Event()
    reported = threading.Event()

    def job(ctx):
        ctx.progress(0.6, "fit: epoch 3")
        ctx.progress(0.4, "fit: epoch 4")  # a stage that reports a lower share
        reported.set()
        release.wait(30)

    job_id = jm.submit("baseline", "steps", job)
    assert reported.wait(10)
    st = jm.get(job_id)
    assert (st.progress, st.message, st.stage) == (0.6, "fit: epoch 4", "fit: epoch 4")
    release.set()
    st = jm.wait(job_id, timeout=10)
    assert (st.state, st.progress, st.stage) == ("done", 1.0, "done")


def test_one_job_written_from_several_threads_at_once_never_conflicts(ws):
    """The job thread's progress and another thread's writes (a cancel from a page) of the same
    row are serialised: two connections writing one row at once fail in DuckDB."""
    import threading

    jm = JobManager(ws)
    jm.persist_every_s = 0.0  # every progress call writes
    go = threading.Event()
    errors: list[BaseException] = []

    def job(ctx):
        go.wait(300)
        for i in range(150):
            ctx.progress(i / 150, f"step {i}")

    job_id = jm.submit("baseline", "busy", job)

    def other():
        try:
            go.wait(300)
            for _ in range(150):
                jm._persist(jm.get(job_id), force=True)
        except BaseException as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    go.set()
    status = jm.wait(job_id, timeout=300)
    thread.join(300)
    assert not errors, errors
    assert status.state == "done", status.error
