"""Run settings checked before a job, the comparison table, dataset rename/delete with runs."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.baseline_runs import (
    BAD_INT,
    HAS_RUNS,
    RUN_COLUMNS,
    baseline_config,
    compare_baseline_runs,
    delete_dataset,
    rename_dataset,
)
from analysis.errors import AnalysisError
from analysis.ingest import ingest, load_dataset
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.runs import RunStore
from analysis.split import NO_TIMESTAMPS, UNKNOWN_STRATEGY
from analysis.uploads import ingest_synthetic
from analysis.workspace import Workspace
from models.baselines import BAD_PARAM, UNKNOWN_MODEL


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("br") / "ws.duckdb")
    ingest_synthetic(ws, "syn", n_users=120, n_items=60, mean_interactions=10, seed=2)
    ingest(ws, "nots", pd.DataFrame({"user": [1, 1, 2], "item": [1, 2, 1]}))
    return ws


def _cfg(ws, dataset="syn", **kw):
    args = {"model": "als", "model_params": {}, "split": "temporal",
            "split_params": {"n_validation": 2, "n_test": 2}, "k": 10, "n_candidates": 20,
            "seed": 0}
    args.update(kw)
    return baseline_config(ws, dataset, **args)


def test_baseline_config_keeps_only_changed_params(ws):
    cfg = _cfg(ws, model="ALS", model_params={"factors": 32, "iterations": "5"}, seed=3.0)
    assert cfg == EvaluateConfig(model="als", model_params={"iterations": 5}, k=10,
                                 n_candidates=20, split="temporal",
                                 split_params={"n_validation": 2, "n_test": 2}, seed=3)
    assert _cfg(ws, "nots", split="random", split_params={}).split == "random"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"split": "weekly"}, UNKNOWN_STRATEGY.format(strategy="weekly")),
        ({"k": 0}, BAD_INT.format(name="k", minimum=1, value=0)),
        ({"k": 2.5}, BAD_INT.format(name="k", minimum=1, value=2.5)),
        ({"n_candidates": 5}, BAD_INT.format(name="Candidates C", minimum=10, value=5)),
        ({"seed": -1}, BAD_INT.format(name="Seed", minimum=0, value=-1)),
        ({"seed": "x"}, BAD_INT.format(name="Seed", minimum=0, value="x")),
        ({"model": "svd"}, UNKNOWN_MODEL.format(name="svd",
                                                 valid="als, bpr, lmf, itemknn, pop")),
        ({"model_params": {"factors": 0}},
         BAD_PARAM.format(param="factors", name="als", expected="an integer >= 1", value=0)),
    ],
)
def test_baseline_config_errors(ws, kw, message):
    with pytest.raises(AnalysisError) as exc:
        _cfg(ws, **kw)
    assert str(exc.value) == message


@pytest.mark.parametrize("split", ["temporal", "global"])
def test_time_split_needs_timestamps(ws, split):
    with pytest.raises(AnalysisError) as exc:
        _cfg(ws, "nots", split=split)
    assert str(exc.value) == NO_TIMESTAMPS.format(name="nots", strategy=split)


def test_compare_rename_delete(ws):
    store = RunStore(ws)
    assert list(compare_baseline_runs(store, "syn").columns) == RUN_COLUMNS
    assert compare_baseline_runs(store, "syn").empty
    cfg = _cfg(ws, model="pop", k=5, n_candidates=10)
    result = run_pipeline(load_dataset(ws, "syn"), cfg)
    info = store.save_baseline(result)
    table = compare_baseline_runs(store, "syn")
    assert len(table) == 1
    row = table.iloc[0]
    overall = result.evaluation.overall()
    assert row["run_id"] == info.run_id and row["model"] == "pop" and row["k"] == 5
    assert row["params"] == "(none)"
    assert row["split"] == "temporal (n_validation=2, n_test=2)"
    assert row["ndcg"] == pytest.approx(overall["ndcg@5"])
    assert row["recall"] == pytest.approx(overall["recall@5"])
    assert row["auc"] == pytest.approx(overall["auc"])
    assert row["weak_share"] == pytest.approx(result.weak.share)
    assert row["fit_s"] == pytest.approx(result.timings["fit"], abs=1e-4)
    assert compare_baseline_runs(store, "nots").empty

    with pytest.raises(AnalysisError) as exc:
        rename_dataset(ws, store, "syn", "syn2")
    assert str(exc.value) == HAS_RUNS.format(name="syn", n=1)
    rename_dataset(ws, store, "nots", "nots2")
    assert ws.has_dataset("nots2") and not ws.has_dataset("nots")
    with pytest.raises(AnalysisError, match="is not allowed"):
        rename_dataset(ws, store, "nots2", "a/b")

    with pytest.raises(AnalysisError, match="No dataset named 'nope'"):
        delete_dataset(ws, store, "nope")
    assert delete_dataset(ws, store, "syn") == 1
    assert not ws.has_dataset("syn") and store.list_runs().empty
    assert not info.path.exists()
    assert delete_dataset(ws, store, "nots2") == 0
