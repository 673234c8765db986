"""Two processes on one workspace: analysis/workspace/, jobs.py, runs.py and the ingest
transaction, with a real second process holding DuckDB's write lock.

The helper processes are small scripts written next to the workspace; test and helper
synchronise through flag files, never through sleeps of a fixed length.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.ingest import _ingest, ingest
from analysis.ingest.demo import DEMO_NAME, ensure_demo_dataset
from analysis.jobs import tasks
from analysis.jobs.manager import JobManager
from analysis.pipeline import EvaluateConfig
from analysis.runs.store import MANIFEST, RUN_NOT_LISTED_YET, RunStore
from analysis.workspace import NAME_TAKEN, WORKSPACE_LOCKED, Workspace, is_lock_error

REPO = Path(__file__).resolve().parents[2]
PATIENCE_S = 300  # the machine may be loaded: generous bounds, never expected durations

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and /proc")

_FLAGS = """
import os, sys, time
from pathlib import Path

def flag(path, text=""):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

def wait_for(path, timeout=600):
    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for " + str(path))
        time.sleep(0.02)
"""

HOLDER = _FLAGS + """
from analysis.workspace import Workspace

ws_path, take, held, release = sys.argv[1:5]
wait_for(take)
with Workspace(ws_path, lock_wait_s=600).connect() as con:  # waits if the app is writing
    con.execute("SELECT count(*) FROM datasets").fetchall()
    flag(held, str(os.getpid()))
    wait_for(release)
"""

JOB_OWNER = _FLAGS + """
import threading
from analysis.jobs.manager import JobManager
from analysis.workspace import Workspace

ws_path, started = sys.argv[1:3]
jm = JobManager(Workspace(ws_path))
job = jm.submit("baseline", "never ends", lambda ctx: threading.Event().wait())
flag(started, job)
threading.Event().wait()  # until killed
"""

SLOW_INGEST = _FLAGS + """
from analysis.ingest import _ingest, ingest
from analysis.workspace import Workspace

ws_path, csv_path, staged, go = sys.argv[1:5]
build = _ingest.build_tables

def build_then_pause(*args, **kwargs):
    report = build(*args, **kwargs)  # the input is read and every table built
    flag(staged, str(report.n_interactions))
    wait_for(go)
    return report

_ingest.build_tables = build_then_pause
report = ingest(Workspace(ws_path, lock_wait_s=600), "big", csv_path)
print(report.n_interactions)
"""


def flag(path: Path, text: str = "") -> None:
    tmp = Path(f"{path}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def wait_for(path: Path, proc: subprocess.Popen | None = None) -> str:
    """The flag's text once it exists; fails if the helper died or after PATIENCE_S."""
    deadline = time.monotonic() + PATIENCE_S
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"helper exited {proc.returncode}: {out}{err}")
        assert time.monotonic() < deadline, f"timed out waiting for {path.name}"
        time.sleep(0.02)
    return path.read_text()


def eventually(check, what: str):
    """``check()``'s first truthy value, polling for up to PATIENCE_S."""
    deadline = time.monotonic() + PATIENCE_S
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)
    return value


@pytest.fixture
def helpers(tmp_path):
    """Start helper scripts in their own processes; kill whatever is left at the end."""
    started: list[subprocess.Popen] = []

    def start(script: str, *args) -> subprocess.Popen:
        file = tmp_path / f"helper{len(started)}.py"
        file.write_text(script)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(
            [sys.executable, str(file), *map(str, args)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def job_rows(path: Path) -> dict[str, str]:
    with Workspace(path).connect() as con:
        return dict(con.execute("SELECT job_id, state FROM jobs").fetchall())


def test_app_job_finishing_while_a_cli_holds_the_workspace_keeps_its_run(
    tmp_path, helpers, monkeypatch
):
    path = tmp_path / "ws.duckdb"
    ensure_demo_dataset(Workspace(path))
    take, held, release = tmp_path / "take", tmp_path / "held", tmp_path / "release"
    holder = helpers(HOLDER, path, take, held, release)

    # the job loads its dataset, then the other process takes the workspace before training
    real_pipeline = tasks.run_pipeline

    def pipeline_once_held(*args, **kwargs):
        flag(take)
        wait_for(held, holder)
        return real_pipeline(*args, **kwargs)

    monkeypatch.setattr(tasks, "run_pipeline", pipeline_once_held)
    app = Workspace(path, lock_wait_s=1.0)
    jm = JobManager(app)
    job = jm.submit("baseline", "pop on demo",
                    tasks.baseline_task(app, DEMO_NAME, EvaluateConfig(model="pop", k=5)))
    status = jm.wait(job, timeout=PATIENCE_S)
    assert holder.poll() is None  # the other process held the workspace all along

    # the trained run is kept whole in its folder, and the job says so
    assert status.state == "done", status.error
    assert status.run_id and status.progress == 1.0
    run_dir = RunStore(app).root / status.run_id
    assert status.message == RUN_NOT_LISTED_YET.format(run_id=status.run_id)
    assert str(run_dir) not in status.message
    files = {p.name for p in run_dir.iterdir()}
    assert {"per_user.parquet", "candidates.parquet", "summary.json", MANIFEST} <= files

    # meanwhile any other writer waits its bound, then says who holds the workspace
    pid = int(held.read_text())
    t0 = time.monotonic()
    with pytest.raises(AnalysisError) as err:
        Workspace(path, lock_wait_s=0.2).list_datasets()
    assert time.monotonic() - t0 >= 0.2
    assert is_lock_error(err.value)
    assert str(err.value).startswith(WORKSPACE_LOCKED.split("{holder}")[0].format(file=path.name))
    assert f"in use by process {pid} (helper0.py)" in str(err.value)

    # the other process finishes: the run is listed and no job row stays running
    flag(release)
    assert holder.wait(timeout=PATIENCE_S) == 0
    store = RunStore(Workspace(path))
    eventually(lambda: job_rows(path).get(job) == "done", "the job's final state is written")
    runs = store.list_runs(dataset=DEMO_NAME, kind="baseline")
    assert runs["run_id"].tolist() == [status.run_id]
    run = store.get(status.run_id)
    assert run.params["model"] == "pop" and run.path == run_dir
    assert run.headline["overall"]["ndcg@5"] > 0
    assert len(store.load_baseline(status.run_id).per_user) > 0
    assert not [s for s in job_rows(path).values() if s in ("queued", "running")]
    assert jm.get(job).state == "done"


def test_a_killed_process_running_job_reads_as_interrupted(tmp_path, helpers):
    path = tmp_path / "ws.duckdb"
    started = tmp_path / "started"
    owner = helpers(JOB_OWNER, path, started)
    job = wait_for(started, owner)

    # a second server starting while the first lives leaves its job alone
    jm = JobManager(Workspace(path))
    assert jm.get(job).state == "running"
    assert job_rows(path)[job] == "running"

    owner.send_signal(signal.SIGKILL)
    owner.wait(timeout=PATIENCE_S)
    assert jm.get(job).state == "interrupted"
    assert job_rows(path)[job] == "interrupted"  # written back
    assert [j.state for j in JobManager(Workspace(path)).jobs()] == ["interrupted"]


def test_ingest_leaves_the_workspace_free_while_it_reads(tmp_path, helpers):
    path = tmp_path / "ws.duckdb"
    rng = np.random.default_rng(0)
    n = 200_000
    big = pd.DataFrame({"user": rng.integers(0, 5000, n), "item": rng.integers(0, 2000, n),
                        "rating": rng.integers(1, 6, n), "timestamp": rng.integers(0, 10**9, n)})
    big.to_csv(tmp_path / "big.csv", index=False)
    Workspace(path).list_datasets()  # the file exists before the ingest starts
    staged, go = tmp_path / "staged", tmp_path / "go"
    proc = helpers(SLOW_INGEST, path, tmp_path / "big.csv", staged, go)
    n_stored = int(wait_for(staged, proc))
    assert n_stored > 0

    # the ingest has read and built everything, yet the workspace is free without waiting
    free = Workspace(path, lock_wait_s=0)
    ingest(free, "small", pd.DataFrame({"user": [1, 1, 2], "item": [1, 2, 1]}))
    free.rename_dataset("small", "small.v2")
    assert free.list_datasets()["name"].tolist() == ["small.v2"]

    flag(go)
    out, err = proc.communicate(timeout=PATIENCE_S)
    assert proc.returncode == 0, err
    assert int(out.split()[-1]) == n_stored
    listed = Workspace(path).list_datasets().set_index("name")
    assert listed.index.tolist() == ["small.v2", "big"]
    assert listed.loc["big", "n_interactions"] == n_stored


def test_the_name_is_checked_again_when_the_ingest_commits(tmp_path, monkeypatch):
    ws = Workspace(tmp_path / "ws.duckdb")
    build = _ingest.build_tables
    rival = pd.DataFrame({"user": [7], "item": [8]})

    def someone_takes_the_name(*args, **kwargs):
        report = build(*args, **kwargs)
        monkeypatch.setattr(_ingest, "build_tables", build)
        ingest(ws, "shared", rival)  # between the early check and the commit
        return report

    monkeypatch.setattr(_ingest, "build_tables", someone_takes_the_name)
    frame = pd.DataFrame({"user": [1, 1, 2], "item": [1, 2, 1]})
    with pytest.raises(AnalysisError, match="A dataset named 'shared' already exists"):
        ingest(ws, "shared", frame)
    assert NAME_TAKEN.startswith("A dataset named {name!r} already exists")
    tables = ws.table_names()
    assert ws.dataset_info("shared")["n_interactions"] == 1  # the rival's, untouched
    assert tables == ["datasets", "ds_000001_interactions", "schema_version"]

    report = ingest(ws, "shared", frame, replace=True)
    assert report.n_interactions == 3
    assert ws.dataset_info("shared")["table_prefix"] == "ds_000002"
    assert ws.table_names() == ["datasets", "ds_000002_interactions", "schema_version"]
