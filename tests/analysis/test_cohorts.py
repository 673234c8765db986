"""Tests for analysis/cohorts.py: planted weak cohort, rule wording, defaults, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeRegressor

from analysis import cohorts as C
from analysis.cohorts import default_cohort_features, discover_weak_cohorts
from analysis.errors import AnalysisError


def _planted(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    country = rng.choice(["X", "DE", "FR", "US"], n)
    n_train = rng.integers(1, 60, n)
    ndcg = np.clip(0.5 + 0.1 * rng.standard_normal(n), 0, 1)
    bad = (country == "X") & (n_train < 10)
    ndcg[bad] = rng.uniform(0.0, 0.05, bad.sum())
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
            "val_ndcg@10": ndcg,
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
    assert worst["n_users"] == bad.sum()
    assert worst["share"] == pytest.approx(bad.mean())
    assert worst["mean_metric"] == pytest.approx(table.loc[bad, "ndcg@10"].mean())
    assert worst["overall_mean"] == pytest.approx(table["ndcg@10"].mean())
    leaves = rep.leaves
    assert list(leaves.columns) == [
        "leaf",
        "rule",
        "n_users",
        "share",
        "mean_metric",
        "overall_mean",
    ]
    assert leaves["mean_metric"].is_monotonic_increasing
    assert leaves["n_users"].sum() == len(table)
    assert leaves["share"].sum() == pytest.approx(1.0)
    assert (leaves["share"] >= 0.02).all()
    # membership maps users to leaves
    assert (rep.membership == worst["leaf"]).sum() == bad.sum()
    assert set(rep.membership[bad]) == {worst["leaf"]}
    assert rep.features == ("n_train", "mainstreamness", "country")
    assert rep.max_depth == 3


def test_nan_metric_users_are_left_out():
    table, bad = _planted()
    table.loc[:99, "ndcg@10"] = np.nan
    rep = discover_weak_cohorts(table, "ndcg@10")
    assert rep.leaves["n_users"].sum() == len(table) - 100
    assert (rep.membership.iloc[:100] == -1).all()
    assert rep.leaves.iloc[0]["n_users"] == bad[100:].sum()


def test_default_features():
    table, _ = _planted()
    assert default_cohort_features(table) == ["n_train", "mainstreamness", "country"]


def test_rule_wording_matches_a_reference_tree():
    # leaf rules agree with sklearn's own decision path on every user
    rng = np.random.default_rng(3)
    n = 800
    t = pd.DataFrame(
        {
            "n_train": rng.integers(1, 40, n),
            "mainstreamness": rng.random(n),
            "occupation": pd.Categorical(rng.choice(list("abcde"), n)),
        }
    )
    t["m"] = (
        0.2 * (t["n_train"] > 20)
        + 0.3 * t["mainstreamness"]
        + 0.2 * t["occupation"].isin(["a", "b"])
    )
    rep = discover_weak_cohorts(t, "m", max_depth=3, min_leaf_share=0.05)
    for _, leaf in rep.leaves.iterrows():
        members = rep.membership == leaf["leaf"]
        assert members.sum() == leaf["n_users"]
        assert t.loc[members, "m"].mean() == pytest.approx(leaf["mean_metric"])
        assert _eval_rule(leaf["rule"], t).equals(members), leaf["rule"]


def _eval_rule(rule: str, t: pd.DataFrame) -> pd.Series:
    """Independent reader of the rule text (the few shapes the tree emits here)."""
    out = pd.Series(True, index=t.index)
    for part in rule.split(" and "):
        words = part.split()
        if " is none of " in part:
            f, rest = part.split(" is none of ")
            out &= ~t[f].astype(str).isin([v.strip() for v in rest.split(",")])
        elif " is not " in part:
            f, v = part.split(" is not ")
            out &= t[f].astype(str) != v
        elif " is " in part:
            f, rest = part.split(" is ")
            vals = [v.strip() for v in rest.replace(" or ", ",").split(",")]
            out &= t[f].astype(str).isin(vals)
        elif len(words) == 5:  # lo <op> f <= hi
            lo, op, f, _, hi = words
            x = t[f]
            out &= ((x >= float(lo)) if op == "<=" else (x > float(lo))) & (x <= float(hi))
        else:
            f, op, v = words
            x, v = t[f], float(v)
            out &= {"<=": x <= v, ">=": x >= v, ">": x > v, "=": x == v}[op]
    return out


def test_float_thresholds_are_rounded_but_consistent():
    # thresholds print with 3 significant digits; pick values far from the cut
    t = pd.DataFrame({"mainstreamness": np.r_[np.full(50, 0.1), np.full(50, 0.9)]})
    t["m"] = np.r_[np.zeros(50), np.ones(50)]
    rep = discover_weak_cohorts(t, "m", ["mainstreamness"], max_depth=1)
    assert list(rep.leaves["rule"]) == ["mainstreamness <= 0.5", "mainstreamness > 0.5"]
    np.testing.assert_allclose(rep.leaves["mean_metric"], [0.0, 1.0])


def test_missing_numeric_values_are_named():
    x = np.r_[np.full(40, np.nan), np.full(30, 1.0), np.full(30, 9.0)]
    m = np.r_[np.zeros(40), np.zeros(30), np.ones(30)]
    t = pd.DataFrame({"mainstreamness": x, "m": m})
    rep = discover_weak_cohorts(t, "m", ["mainstreamness"], max_depth=1)
    assert rep.leaves.iloc[0]["rule"] == "(mainstreamness <= 5 or mainstreamness is missing)"
    assert rep.leaves.iloc[0]["n_users"] == 70
    assert rep.leaves.iloc[1]["rule"] == "mainstreamness >= 6"


def test_binary_and_merged_categorical_rules():
    t = pd.DataFrame(
        {
            "gender": ["F", "M"] * 50,
            "country": np.repeat(["A", "B", "C", "D"], 25),
        }
    )
    t["m"] = np.where(t["country"].isin(["A", "B", "C"]), 0.0, 1.0) + np.where(
        t["gender"] == "F", 0.0, 0.1
    )
    rep = discover_weak_cohorts(t, "m", ["gender", "country"], max_depth=2, min_leaf_share=0.1)
    rules = list(rep.leaves["rule"])
    assert rules[0] == "country is not D and gender is F"
    assert rules[-1] == "country is D and gender is M"


def test_categorical_level_cap():
    n = 400
    t = pd.DataFrame({"zip": [f"z{i % 40}" for i in range(n)], "m": np.arange(n) % 40 / 40})
    rep = discover_weak_cohorts(t, "m", ["zip"], max_depth=2, min_leaf_share=0.01)
    assert rep.leaves["n_users"].sum() == n
    X, cols, levels = C._encode(t[["zip"]])
    assert X.shape == (n, C.MAX_LEVELS + 1)
    assert levels["zip"][-1] == C.OTHER


def test_no_split_possible():
    t = pd.DataFrame({"n_train": [1, 2, 3, 4], "m": [0.5] * 4})
    rep = discover_weak_cohorts(t, "m", ["n_train"])
    assert list(rep.leaves["rule"]) == ["all users"]
    assert rep.leaves.iloc[0]["n_users"] == 4


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
    ref.fit(X, table["ndcg@10"])
    np.testing.assert_allclose(
        np.sort(rep.leaves["mean_metric"]),
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
