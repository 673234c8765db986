"""A workspace with the demo baseline run and one small rerank of it (deterministic fake
backend), shared by the report and rerank-results tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis.jobs.manager import get_job_manager
from analysis.jobs.tasks import ensure_demo_run, rerank_task
from analysis.rerank.config import RerankConfig
from analysis.runs.store import RunInfo, RunStore
from analysis.weak_users import WeakRule
from analysis.workspace import Workspace
from models.llm import make_backend

MODEL = "claude-haiku-4-5"


@dataclass(frozen=True)
class Runs:
    workspace: Workspace
    baseline: RunInfo
    rerank: RunInfo


def build_runs(folder: Path, percentile: float = 3.0) -> Runs:
    """Demo baseline (~3 s) plus a fake-backend rerank of its weakest users (~1 s)."""
    ws = Workspace(str(folder / "ws.duckdb"))
    base = ensure_demo_run(ws)
    cfg = RerankConfig(backend="fake", model=MODEL,
                       rule=WeakRule(metric="auc", percentile=percentile))
    jm = get_job_manager(ws)
    job = jm.submit("rerank", "fixture", rerank_task(
        ws, base.run_id, cfg, lambda: make_backend("fake", model=MODEL)))
    status = jm.wait(job, timeout=120)
    assert status.state == "done", status.error
    store = RunStore(ws)
    return Runs(ws, store.get(base.run_id), store.get(status.run_id))
