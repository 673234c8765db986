"""End-to-end tests of analysis/pipeline.py on synthetic data (and MovieLens 100K when present)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.ingest import dataset_from_frames
from analysis.ingest.synthetic import generate_synthetic
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.runs.baseline_folder import write_run_outputs


@pytest.fixture(scope="module")
def synth():
    return generate_synthetic(2500, 1000, seed=3, mean_interactions=25.0)


@pytest.fixture(scope="module")
def result(synth):
    ds = dataset_from_frames(synth.interactions, synth.users, synth.items, name="synth")
    return run_pipeline(ds, EvaluateConfig(model="als", k=10, split="temporal", seed=0))


def test_per_user_table_is_complete(result):
    t = result.per_user
    assert len(t) == result.dataset.n_users
    for col in [
        "user_id",
        "n_train",
        "n_test",
        "evaluated",
        "ndcg@10",
        "ndcg_graded@10",
        "recall@10",
        "precision@10",
        "hit@10",
        "mrr@10",
        "ap@10",
        "auc",
        "candidate_recall@20",
        "val_ndcg@10",
        "val_auc",
        "inactive",
        "activity",
        "mainstreamness",
    ]:
        assert col in t.columns, col
    ev = t["evaluated"].to_numpy()
    assert np.isfinite(t.loc[ev, "ndcg@10"]).all()
    assert t.loc[~ev, "ndcg@10"].isna().all()
    assert ((t.loc[ev, "auc"] >= 0) & (t.loc[ev, "auc"] <= 1)).all()
    # inactive as in Kaur & Shah: fewer training interactions than the mean
    np.testing.assert_array_equal(t["inactive"], t["n_train"] < t["n_train"].mean())


def test_baseline_beats_chance_and_niche_users_are_served_worse(result, synth):
    t = result.per_user
    ov = result.evaluation.overall()
    assert ov["auc"] > 0.72
    niche = t["user_id"].isin(synth.niche_user_ids).to_numpy()
    ev = t["evaluated"].to_numpy()
    assert t.loc[ev & niche, "ndcg@10"].mean() < 0.6 * t.loc[ev & ~niche, "ndcg@10"].mean()


def test_weak_cohort_tree_finds_the_planted_niche_group(result, synth):
    """The worst leaf of the error tree (fitted on validation) is dominated by the planted
    niche-taste users, and it replicates on the test split it never saw."""
    leaves = result.cohorts.leaves
    assert result.cohorts.fit_on == "val_ndcg@10" and result.cohorts.metric == "ndcg@10"
    assert not {"weak", "evaluated", "user_id", "user_idx"} & set(result.cohorts.features)
    assert len(leaves) >= 2 and leaves["val_mean"].is_monotonic_increasing
    worst = leaves.iloc[0]
    t = result.per_user
    niche = t["user_id"].isin(synth.niche_user_ids).to_numpy()
    evaluated = t["evaluated"].to_numpy()
    members = (result.cohorts.membership == worst["leaf"]).to_numpy()
    assert (members & evaluated).sum() == worst["n_users"]
    assert worst["test_mean"] == pytest.approx(t.loc[members & evaluated, "ndcg@10"].mean())
    assert worst["test_mean"] < 0.8 * worst["overall_test_mean"]
    base_rate = niche[evaluated].mean()
    share = niche[members].mean()
    # the planted group is at least 3x over-represented in the worst cohort, and the rule
    # that finds it is about taste (mainstreamness), not noise
    assert share > 3 * base_rate, (worst["rule"], share, base_rate)
    assert "mainstreamness" in worst["rule"], worst["rule"]


def test_weak_users_selected_on_validation_and_judged_on_test(result):
    w = result.weak
    t = result.per_user
    val = t["val_auc"].to_numpy()  # default rule: AUC at or below its 20th percentile
    thr = np.nanpercentile(val, 20)
    np.testing.assert_array_equal(w.mask, np.nan_to_num(val, nan=np.inf) <= thr)
    assert w.test_mean_weak < w.test_mean_rest


def test_outputs_are_written_with_raw_ids(result, tmp_path):
    out = tmp_path / "run"
    paths = write_run_outputs(result, out)
    assert set(paths) >= {
        "per_user.parquet",
        "recommendations.parquet",
        "test.parquet",
        "subgroups.csv",
        "weak_cohorts.csv",
        "summary.json",
    }
    ds = result.dataset
    per_user = pd.read_parquet(out / "per_user.parquet")
    assert set(per_user["user_id"]) == set(ds.user_ids.tolist())
    recs = pd.read_parquet(out / "recommendations.parquet")
    assert recs["rank"].min() == 1 and recs["rank"].max() == 10
    assert recs.groupby("user_id")["rank"].is_monotonic_increasing.all()
    assert set(recs["item_id"]).issubset(set(ds.item_ids.tolist()))
    assert recs["user_id"].nunique() == int(result.per_user["evaluated"].sum())
    test = pd.read_parquet(out / "test.parquet")
    assert list(test.columns) == ["user_id", "item_id", "gain"] and (test["gain"] > 0).all()
    assert len(test) == result.split.test.nnz
    # recommendations agree with the per-user metric: hit@10 = any rec in the user's test set
    hits = recs.merge(test, on=["user_id", "item_id"]).groupby("user_id").size()
    per = per_user.set_index("user_id")
    assert (per.loc[hits.index, "hit@10"] == 1).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["name"] == "als" and summary["seed"] == 0
    assert summary["dataset"]["n_users"] == ds.n_users
    assert set(summary["timings_s"]) >= {"split", "fit", "evaluate"}
    assert summary["overall"]["ndcg@10"] == pytest.approx(result.evaluation.overall()["ndcg@10"])
    subgroups = pd.read_csv(out / "subgroups.csv")
    assert {
        "dimension",
        "group",
        "size",
        "mean",
        "ci_low",
        "ci_high",
        "weak_share",
        "reliable",
    } <= set(subgroups.columns)
    np.testing.assert_array_equal(subgroups["reliable"], subgroups["size"] >= 20)
    cohorts = pd.read_csv(out / "weak_cohorts.csv")
    pd.testing.assert_frame_equal(cohorts, result.cohorts.leaves, check_dtype=False)


def test_disparity_headlines_use_reliable_groups_and_adjusted_p_values(result, tmp_path):
    from scipy import stats

    from analysis.subgroups import adjust_p_values

    out = tmp_path / "run"
    write_run_outputs(result, out)
    summary = json.loads((out / "summary.json").read_text())
    tests = pd.read_csv(out / "subgroup_tests.csv")
    dims = [d["dimension"] for d in summary["disparity"] if " x " not in d["dimension"]]
    n = len(dims)
    assert len(tests) == n + n * (n - 1) // 2  # every dimension and every pair
    raw = tests["kruskal_p"].to_numpy()
    np.testing.assert_allclose(tests["p_holm"], adjust_p_values(raw, "holm"))
    ok = ~np.isnan(raw)
    np.testing.assert_allclose(
        tests.loc[ok, "p_bh"], stats.false_discovery_control(raw[ok], method="bh")
    )
    by_dim = tests.set_index("dimension")
    for d in summary["disparity"]:
        assert d["min_group_size"] == 20
        label = d["dimension"].replace(" x ", " × ")
        assert d["kruskal_p"] == pytest.approx(by_dim.loc[label, "kruskal_p"])
        assert d["kruskal_p_holm"] == pytest.approx(by_dim.loc[label, "p_holm"])
        assert d["kruskal_p_bh"] == pytest.approx(by_dim.loc[label, "p_bh"])
        assert d["kruskal_p_holm"] >= d["kruskal_p"]
        assert d["p_family_size"] == int(ok.sum())
    # the worst group is never a group below the minimum size
    sg = pd.read_csv(out / "subgroups.csv", dtype={"group": str})
    for r in result.subgroups:
        rows = sg[
            sg["dimension"]
            == (r.dimension if isinstance(r.dimension, str) else " x ".join(r.dimension))
        ]
        reliable = rows[rows["reliable"]]
        if len(reliable):
            assert r.worst_group == reliable.loc[reliable["mean"].idxmin(), "group"]
            assert r.group_min == pytest.approx(reliable["mean"].min())


def test_rewriting_outputs_replaces_the_whole_folder(result, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    write_run_outputs(result, out)
    assert not (out / "stale.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers
