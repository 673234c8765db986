"""Tests for analysis/subgroups/cohorts.py: planted weak cohort (fitted on validation, judged on test),
defaults, forbidden features, errors (the rules' wording: test_cohort_rules.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeRegressor

from analysis.errors import AnalysisError
from analysis.subgroups import cohorts as C
from analysis.subgroups._cohort_rules import encode_features
from analysis.subgroups.cohorts import default_cohort_features, discover_weak_cohorts


def _planted(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Validation and test NDCG share the planted weak cohort, with independent noise."""
    rng = np.random.default_rng(seed)
    country = rng.choice(["X", "DE", "FR", "US"], n)
    n_train = rng.integers(1, 60, n)
    bad = (country == "X") & (n_train < 10)
    ndcg = np.clip(0.5 + 0.1 * rng.standard_normal(n), 0, 1)
    ndcg[bad] = rng.uniform(0.0, 0.05, bad.sum())
    val = np.clip(0.5 + 0.1 * rng.standard_normal(n), 0, 1)
    val[bad] = rng.uniform(0.0, 0.05, bad.sum())
    table = pd.DataFrame(
        {
            "user_idx": np.arange(n, dtype=np.int32),
            "user_id": [f"u{i}" for i in range(n)],
            "n_train": n_train,
            "n_test": 1,
            "mainstreamness": rng.random(n),
            "mainstream": "mid",
            "country": pd.Categorical(country),
            "inactive": n_train < n_train.mean(),
            "ndcg@10": ndcg,
            "val_ndcg@10": val,
            "recall@10": ndcg,
            "auc": ndcg,
            "age_bin": "Q1",
        }
    )
    return table, bad


def test_planted_cohort_is_the_worst_leaf():
    table, bad = _planted()
    rep = discover_weak_cohorts(table, "ndcg@10")
    worst = rep.leaves.iloc[0]
    assert worst["rule"] == "n_train <= 9 and country is X"
    assert worst["n_fit"] == bad.sum() and worst["n_users"] == bad.sum()
    assert worst["share"] == pytest.approx(bad.mean())
    assert worst["val_mean"] == pytest.approx(table.loc[bad, "val_ndcg@10"].mean())
    assert worst["test_mean"] == pytest.approx(table.loc[bad, "ndcg@10"].mean())
    assert worst["overall_test_mean"] == pytest.approx(table["ndcg@10"].mean())
    leaves = rep.leaves
    assert list(leaves.columns) == [
        "leaf",
        "rule",
        "n_fit",
        "val_mean",
        "n_users",
        "share",
        "test_mean",
        "overall_test_mean",
    ]
    assert leaves["val_mean"].is_monotonic_increasing  # ordered on validation, not on test
    assert leaves["n_users"].sum() == len(table)
    assert leaves["share"].sum() == pytest.approx(1.0)
    assert (leaves["share"] >= 0.02).all()
    # membership maps users to leaves
    assert (rep.membership == worst["leaf"]).sum() == bad.sum()
    assert set(rep.membership[bad]) == {worst["leaf"]}
    assert rep.features == ("n_train", "mainstreamness", "country")
    assert rep.max_depth == 3 and rep.fit_on == "val_ndcg@10" and rep.metric == "ndcg@10"


def test_fitted_on_validation_and_judged_on_test():
    # the validation metric carries a planted cohort; the test metric is noise unrelated to
    # any feature. The tree must find the cohort on validation, and its test figure must show
    # that it does not replicate (test mean of the worst leaf near the overall one).
    table, bad = _planted()
    rng = np.random.default_rng(9)
    table["ndcg@10"] = np.clip(0.5 + 0.1 * rng.standard_normal(len(table)), 0, 1)
    rep = discover_weak_cohorts(table, "ndcg@10")
    worst = rep.leaves.iloc[0]
    assert worst["rule"] == "n_train <= 9 and country is X"
    assert worst["val_mean"] < 0.05
    assert worst["test_mean"] == pytest.approx(table.loc[bad, "ndcg@10"].mean())
    assert abs(worst["test_mean"] - worst["overall_test_mean"]) < 0.03
    # the same tree as sklearn's fitted on the validation column, leaf by leaf
    feats = ["n_train", "mainstreamness", "country"]
    X, _, _ = encode_features(table[feats])
    ref = DecisionTreeRegressor(max_depth=3, min_samples_leaf=60, random_state=0)
    ref.fit(X, table["val_ndcg@10"])
    leaf = ref.apply(X)
    for _, row in rep.leaves.iterrows():
        members = leaf == row["leaf"]
        assert table.loc[members, "val_ndcg@10"].mean() == pytest.approx(row["val_mean"])
        assert table.loc[members, "ndcg@10"].mean() == pytest.approx(row["test_mean"])


def test_weak_evaluated_and_ids_are_never_features():
    # weak and evaluated would predict the validation metric perfectly; ids single users out
    table, bad = _planted(n=600)
    table["weak"] = table["val_ndcg@10"] < 0.3
    table["evaluated"] = ~bad
    table["item_idx"] = np.arange(len(table))
    feats = default_cohort_features(table)
    assert not {"weak", "evaluated", "user_id", "user_idx", "item_idx"} & set(feats)
    rep = discover_weak_cohorts(table, "ndcg@10")
    assert "weak" not in rep.features and "evaluated" not in rep.features
    assert not rep.leaves["rule"].str.contains("weak|evaluated|user_id|_idx").any()
    for col in ("weak", "evaluated", "user_id", "user_idx", "item_idx", "val_ndcg@10", "auc"):
        with pytest.raises(AnalysisError, match=f"Column '{col}' cannot be a cohort feature"):
            discover_weak_cohorts(table, "ndcg@10", ["n_train", col])


def test_nan_metric_users_are_left_out():
    table, bad = _planted()
    table.loc[:99, "ndcg@10"] = np.nan  # no test value: fitted on, not judged
    table.loc[100:149, ["ndcg@10", "val_ndcg@10"]] = np.nan  # neither: in no leaf
    rep = discover_weak_cohorts(table, "ndcg@10")
    assert rep.leaves["n_users"].sum() == len(table) - 150
    assert rep.leaves["n_fit"].sum() == len(table) - 50
    assert rep.leaves["share"].sum() == pytest.approx(1.0)
    assert (rep.membership.iloc[100:150] == -1).all() and (rep.membership.iloc[:100] >= 0).all()
    assert rep.leaves.iloc[0]["n_users"] == bad[150:].sum()
    assert rep.leaves.iloc[0]["n_fit"] == bad[:100].sum() + bad[150:].sum()


def test_default_features():
    table, _ = _planted()
    assert default_cohort_features(table) == ["n_train", "mainstreamness", "country"]


def test_no_split_possible():
    t = pd.DataFrame({"n_train": [1, 2, 3, 4], "m": [0.5] * 4, "val_m": [0.4] * 4})
    rep = discover_weak_cohorts(t, "m", ["n_train"])
    assert list(rep.leaves["rule"]) == ["all users"]
    assert rep.leaves.iloc[0]["n_users"] == 4
    assert rep.leaves.iloc[0]["val_mean"] == pytest.approx(0.4)
    assert rep.leaves.iloc[0]["test_mean"] == pytest.approx(0.5)


def test_deterministic_by_seed():
    table, _ = _planted(n=1000, seed=4)
    a = discover_weak_cohorts(table, seed=1).leaves
    b = discover_weak_cohorts(table, seed=1).leaves
    pd.testing.assert_frame_equal(a, b)


def test_leaf_means_match_sklearn():
    table, _ = _planted(n=1000, seed=2)
    rep = discover_weak_cohorts(table, features=["n_train", "mainstreamness"])
    ref = DecisionTreeRegressor(max_depth=3, min_samples_leaf=20, random_state=0)
    X = table[["n_train", "mainstreamness"]].to_numpy(float)
    ref.fit(X, table["val_ndcg@10"])
    np.testing.assert_allclose(
        np.sort(rep.leaves["val_mean"]),
        np.sort(ref.tree_.value[ref.tree_.children_left == -1, 0, 0]),
    )


def test_errors():
    table, _ = _planted(n=200)
    with pytest.raises(AnalysisError, match="Metric column 'nope'"):
        discover_weak_cohorts(table, "nope")
    with pytest.raises(AnalysisError, match="Feature 'zzz'"):
        discover_weak_cohorts(table, features=["zzz"])
    with pytest.raises(AnalysisError, match="No feature"):
        discover_weak_cohorts(table, features=[])
    with pytest.raises(AnalysisError, match="max_depth must be"):
        discover_weak_cohorts(table, max_depth=0)
    with pytest.raises(AnalysisError, match="min_leaf_share must lie"):
        discover_weak_cohorts(table, min_leaf_share=0.0)
    with pytest.raises(AnalysisError, match="all NaN"):
        discover_weak_cohorts(table.assign(**{"ndcg@10": np.nan}))
    with pytest.raises(AnalysisError, match="all NaN"):
        discover_weak_cohorts(table.assign(**{"val_ndcg@10": np.nan}))
    with pytest.raises(AnalysisError, match="Column 'val_recall@10' is not in the per-user"):
        discover_weak_cohorts(table, "recall@10")
    with pytest.raises(AnalysisError, match="must not be fitted on the metric it is judged on"):
        discover_weak_cohorts(table, fit_on="ndcg@10")
    assert "{column" in C.NO_VALIDATION


def test_read_cohorts_returns_the_file(tmp_path):
    table, _ = _planted(n=500)
    leaves = discover_weak_cohorts(table).leaves
    leaves.to_csv(tmp_path / "weak_cohorts.csv", index=False)
    pd.testing.assert_frame_equal(C.read_cohorts(tmp_path), leaves, check_dtype=False)
    with pytest.raises(AnalysisError, match="no weak_cohorts.csv"):
        C.read_cohorts(tmp_path / "nope")
