"""Run settings checked before a job, the comparison table, dataset rename/delete with runs."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.ingest import ingest, load_dataset
from analysis.ingest.uploads import ingest_synthetic
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.runs.compare import (
    BAD_INT,
    HAS_RUNS,
    RUN_COLUMNS,
    baseline_config,
    compare_baseline_runs,
    delete_dataset,
    rename_dataset,
)
from analysis.runs.store import RunStore
from analysis.split import NO_TIMESTAMPS, UNKNOWN_STRATEGY
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
                                                 valid="als, bpr, lmf, itemknn, pop, sasrec")),
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
    assert exc.value.message == NO_TIMESTAMPS.format(name="nots", strategy=split)
    assert str(exc.value).endswith("with its Timestamp column picked.")


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


# -- issue #9, point 14: runs told apart on weak users -----------------------------------------


def test_run_columns_put_the_metrics_first():
    assert RUN_COLUMNS[:6] == ["run_id", "model", "ndcg", "recall", "auc", "weak_share"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A pop and an ALS run of one synthetic dataset (20th percentile of validation AUC)."""
    ws = Workspace(tmp_path_factory.mktemp("cw") / "ws.duckdb")
    ingest_synthetic(ws, "syn", n_users=150, n_items=70, mean_interactions=12, seed=4)
    store = RunStore(ws)
    data = load_dataset(ws, "syn")
    results = {m: run_pipeline(data, _cfg(ws, model=m, k=5, n_candidates=10))
               for m in ("pop", "als")}
    ids = {m: store.save_baseline(r).run_id for m, r in results.items()}
    return store, ids, results


def test_compare_weak_users_at_the_reference_runs_absolute_threshold(two_runs):
    from analysis.runs.compare import compare_weak_users

    store, ids, results = two_runs
    cmp = compare_weak_users(store, "syn", ids["pop"])
    t = results["pop"].weak.threshold_value
    assert cmp.reference_run_id == ids["pop"] and cmp.metric == "auc"
    assert cmp.threshold == pytest.approx(t) and not cmp.require_inactive
    weak = {}
    for m, r in results.items():  # by hand: val_auc <= t, among users with a value
        val = r.per_user.set_index("user_id")["val_auc"].dropna()
        weak[m] = set(val.index[val <= t])
        row = cmp.counts.set_index("run_id").loc[ids[m]]
        assert row["model"] == m and row["n_users"] == len(val)
        assert row["n_weak"] == len(weak[m]) and row["share"] == pytest.approx(
            len(weak[m]) / len(val))
    assert cmp.counts["run_id"].tolist()[0] == ids["pop"]  # the reference first
    # on the reference itself the fixed threshold picks exactly its percentile rule's users
    assert cmp.counts.iloc[0]["n_weak"] == results["pop"].weak.n_weak
    assert weak["pop"] != weak["als"]  # the two models fail different users
    pairs = cmp.pairs.set_index(["weak_under", "not_weak_under"])
    assert len(pairs) == 2
    only_pop = pairs.loc[(ids["pop"], ids["als"])]
    assert only_pop["user_ids"] == tuple(sorted(weak["pop"] - weak["als"]))
    assert only_pop["n_users"] == len(weak["pop"] - weak["als"]) > 0
    only_als = pairs.loc[(ids["als"], ids["pop"])]
    assert only_als["user_ids"] == tuple(sorted(weak["als"] - weak["pop"]))


def test_compare_weak_users_needs_a_baseline_of_the_dataset(two_runs):
    from analysis.runs.compare import NOT_A_BASELINE_OF, compare_weak_users

    store, _, _ = two_runs
    with pytest.raises(AnalysisError) as exc:
        compare_weak_users(store, "syn", "nope")
    assert str(exc.value) == NOT_A_BASELINE_OF.format(run_id="nope", dataset="syn")
