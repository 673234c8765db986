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


def save_blend_remedy(runs: Runs, seed: int = 1):
    """A content blend of random item vectors (labelled TF-IDF, no LLM) for the baseline's
    weak users, saved under it; returns ``(baseline run, store)``."""
    import numpy as np

    from analysis.remedies.content_blend import blend_content

    store = RunStore(runs.workspace)
    run = store.load_baseline(runs.baseline.run_id)
    vectors = np.random.default_rng(seed).normal(size=(run.dataset.n_items, 8))
    remedy = blend_content(run, vectors.astype(np.float32)).remedy_run(
        encoder="tfidf:x", uses_llm=False, one_off_usd=0.0)
    store.save_remedy(remedy, runs.baseline.run_id, run.dataset)
    return run, store
