"""Tests of analysis/subgroups/_cohort_rules.py: the weak-cohort tree's rules in words (read back
independently against every user), rounding, missing values, categorical levels and their cap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.subgroups import _cohort_rules as R
from analysis.subgroups.cohorts import discover_weak_cohorts


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
    t["val_m"] = t["m"]
    rep = discover_weak_cohorts(t, "m", max_depth=3, min_leaf_share=0.05)
    for _, leaf in rep.leaves.iterrows():
        members = rep.membership == leaf["leaf"]
        assert members.sum() == leaf["n_users"]
        assert t.loc[members, "m"].mean() == pytest.approx(leaf["test_mean"])
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
    t["m"] = t["val_m"] = np.r_[np.zeros(50), np.ones(50)]
    rep = discover_weak_cohorts(t, "m", ["mainstreamness"], max_depth=1)
    assert list(rep.leaves["rule"]) == ["mainstreamness <= 0.5", "mainstreamness > 0.5"]
    np.testing.assert_allclose(rep.leaves["test_mean"], [0.0, 1.0])


def test_missing_numeric_values_are_named():
    x = np.r_[np.full(40, np.nan), np.full(30, 1.0), np.full(30, 9.0)]
    m = np.r_[np.zeros(40), np.zeros(30), np.ones(30)]
    t = pd.DataFrame({"mainstreamness": x, "m": m, "val_m": m})
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
    t["val_m"] = t["m"]
    rep = discover_weak_cohorts(t, "m", ["gender", "country"], max_depth=2, min_leaf_share=0.1)
    rules = list(rep.leaves["rule"])
    assert rules[0] == "country is not D and gender is F"
    assert rules[-1] == "country is D and gender is M"


def test_categorical_level_cap():
    n = 400
    m = np.arange(n) % 40 / 40
    t = pd.DataFrame({"zip": [f"z{i % 40}" for i in range(n)], "m": m, "val_m": m})
    rep = discover_weak_cohorts(t, "m", ["zip"], max_depth=2, min_leaf_share=0.01)
    assert rep.leaves["n_users"].sum() == n
    X, _, levels = R.encode_features(t[["zip"]])
    assert X.shape == (n, R.MAX_LEVELS + 1)
    assert levels["zip"][-1] == R.OTHER
