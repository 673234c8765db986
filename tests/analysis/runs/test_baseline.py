"""Tests of analysis/runs/baseline.py: one BaselineRun type, whether just computed (the
pipeline's ``run``) or read back from its folder (``load_run``). The two hold the same
figures, and a rerank of either gives the same result without refitting any model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.ingest import load_dataset
from analysis.ingest.uploads import ingest_synthetic
from analysis.pipeline import EvaluateConfig, PipelineResult, run_pipeline
from analysis.rerank.cache import CallCache
from analysis.rerank.config import RerankConfig
from analysis.rerank.execute import execute_rerank
from analysis.rerank.plan import plan_rerank
from analysis.runs.baseline import BaselineRun, load_run, read_summary, user_table
from analysis.runs.baseline_folder import write_run_outputs
from analysis.workspace import Workspace
from models.baselines import ALS, BPR, LMF, ItemKNN, MostPopular
from models.llm.fake import FakeBackend

#: the rerank's settings, whatever the run (fake backend: deterministic, free)
RERANK = RerankConfig(backend="fake", model="claude-haiku-4-5")


@pytest.fixture(scope="module")
def computed(tmp_path_factory) -> tuple[PipelineResult, Workspace]:
    root = tmp_path_factory.mktemp("runs_baseline")
    ws = Workspace(root / "ws.duckdb")
    ingest_synthetic(ws, "syn", n_users=400, n_items=250, mean_interactions=20.0, seed=3)
    result = run_pipeline(load_dataset(ws, "syn"), EvaluateConfig(model="als", seed=2))
    write_run_outputs(result, root / "run", workspace=str(ws.path))
    return result, ws


@pytest.fixture(scope="module")
def in_memory(computed) -> BaselineRun:
    return computed[0].run


@pytest.fixture(scope="module")
def from_disk(computed) -> BaselineRun:
    result, ws = computed
    return load_run(Path(ws.path).parent / "run")


def test_the_computed_run_and_the_loaded_run_hold_the_same_figures(in_memory, from_disk):
    assert in_memory.path is None and from_disk.path is not None
    assert np.array_equal(in_memory.rankings, from_disk.rankings)
    assert in_memory.rankings.dtype == from_disk.rankings.dtype == np.int32
    pd.testing.assert_frame_equal(in_memory.per_user, from_disk.per_user)
    assert np.array_equal(in_memory.split.fold, from_disk.split.fold)
    assert np.array_equal(in_memory.item_factors, from_disk.item_factors)
    mem, disk = in_memory.summary.to_json(), from_disk.summary.to_json()
    assert {k: v for k, v in disk.items() if k not in ("source", "provenance")} == mem
    assert (in_memory.k, in_memory.n_candidates, in_memory.model_name) == (10, 20, "als")
    assert in_memory.model_is_stored and from_disk.model_is_stored


def test_summary_fields_are_typed(from_disk):
    s = from_disk.summary
    assert s.model.name == "als" and s.model.params["factors"] > 0
    assert s.split.strategy == "temporal" and s.seed == 2
    assert s.weak_users.rule.metric == "auc" and s.weak_users.rule.percentile == 20.0
    assert s.weak_users.n_weak == int(from_disk.per_user["weak"].sum())
    assert s.source.dataset == "syn" and s.source.workspace.endswith("ws.duckdb")
    assert len(s.dataset_sha256) == 64
    assert s == read_summary(from_disk.path)


def test_user_table_indexes_users_by_their_dense_index(from_disk):
    raw = pd.DataFrame({"user_id": from_disk.dataset.user_ids[[5, 1, 3]], "x": [50, 10, 30]})
    table = user_table(raw, from_disk.dataset)
    assert table.index.tolist() == [1, 3, 5] and table["x"].tolist() == [10, 30, 50]
    assert table["user_idx"].dtype == np.int32


def _rerank(run: BaselineRun, ws_file) -> tuple:
    cache = CallCache(Workspace(ws_file))
    backend = FakeBackend(RERANK.model, policy="reverse")
    plan = plan_rerank(run, RERANK, backend, cache)
    return plan, execute_rerank(plan, run, backend, cache, wave_size=16)


@pytest.fixture
def no_fit(monkeypatch):
    """Every baseline's ``fit`` fails the test if called."""
    def refuse(self, *args, **kwargs):
        raise AssertionError(f"{type(self).__name__}.fit was called")

    for cls in (ALS, BPR, LMF, ItemKNN, MostPopular):
        monkeypatch.setattr(cls, "fit", refuse)


def test_loading_a_run_and_reranking_it_never_fits_a_model(computed, tmp_path, no_fit):
    _, ws = computed
    run = load_run(Path(ws.path).parent / "run")
    plan, result = _rerank(run, tmp_path / "calls.duckdb")
    assert len(plan.users) > 0 and result.per_user["reranked"].all()
    assert run.model.item_factors is not None  # the stored model, read and used


def test_reranking_in_memory_and_from_disk_gives_identical_results(in_memory, from_disk,
                                                                   tmp_path, no_fit):
    plan_m, mem = _rerank(in_memory, tmp_path / "a.duckdb")
    plan_d, disk = _rerank(from_disk, tmp_path / "b.duckdb")
    assert np.array_equal(plan_m.users, plan_d.users)
    pd.testing.assert_frame_equal(mem.per_user.drop(columns=["latency_s"]),
                                  disk.per_user.drop(columns=["latency_s"]))
    pd.testing.assert_frame_equal(mem.by_group, disk.by_group)
    pd.testing.assert_frame_equal(mem.curve, disk.curve)
    varying = ("wall_s", "job_id", "backend_stats")
    a = {k: v for k, v in mem.summary.to_json().items() if k not in varying}
    b = {k: v for k, v in disk.summary.to_json().items() if k not in varying}
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
