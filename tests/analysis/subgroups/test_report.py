"""Tests of analysis/subgroups/_report.py: subgroup reports by hand (statistics, reliable groups,
intersections, bootstrap seeding, disparity figures, the test) and their errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.errors import AnalysisError
from analysis.subgroups import MIN_GROUP_SIZE, subgroup_report
from analysis.subgroups import _report as R


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_idx": np.arange(7, dtype=np.int32),
            "ndcg@5": [0.0, 0.5, 1.0, 0.2, 0.4, np.nan, 0.35],
            "grp": ["A", "A", "A", "B", "B", "B", None],
            "flag": [True, False, True, False, True, True, False],
        }
    )


class TestSubgroupReport:
    def test_hand_computed(self):
        t = _table()
        weak = np.array([True, False, False, True, True, False, False])
        r = subgroup_report(t, "ndcg@5", "grp", weak=weak, n_boot=200, min_group_size=1)
        bg = r.by_group.set_index("group")
        assert list(bg.index) == ["A", "B", "unknown"]
        np.testing.assert_array_equal(bg["size"], [3, 2, 1])
        np.testing.assert_allclose(bg["mean"], [0.5, 0.3, 0.35])
        np.testing.assert_allclose(bg["median"], [0.5, 0.3, 0.35])
        np.testing.assert_allclose(bg["weak_share"], [1 / 3, 1.0, 0.0])
        assert r.n_excluded == 1
        assert r.overall["size"] == 6
        assert r.overall["mean"] == pytest.approx(2.45 / 6)
        assert r.overall["median"] == pytest.approx(0.375)
        assert r.overall["weak_share"] == pytest.approx(3 / 6)
        assert r.group_min == pytest.approx(0.3) and r.group_max == pytest.approx(0.5)
        assert r.worst_group == "B"
        assert r.difference == pytest.approx(0.2)
        assert r.ratio == pytest.approx(0.6)
        assert r.dimension == "grp" and r.metric == "ndcg@5"
        x = np.array([0.0, 0.5, 1.0, 0.2, 0.4, 0.35])
        brute = np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())
        assert r.gini == pytest.approx(brute)
        ref = stats.kruskal([0.0, 0.5, 1.0], [0.2, 0.4], [0.35])
        assert r.kruskal_h == pytest.approx(ref.statistic)
        assert r.kruskal_p == pytest.approx(ref.pvalue)
        assert list(r.by_group.columns) == [
            "group",
            "size",
            "mean",
            "median",
            "ci_low",
            "ci_high",
            "weak_share",
            "reliable",
        ]
        assert bg["reliable"].all() and r.n_small_groups == 0

    def test_no_weak_mask_gives_nan_share(self):
        r = subgroup_report(_table(), "ndcg@5", "grp", n_boot=10)
        assert r.by_group["weak_share"].isna().all()
        assert np.isnan(r.overall["weak_share"])

    def test_min_group_size(self):
        r = subgroup_report(_table(), "ndcg@5", "grp", min_group_size=2, n_boot=10)
        # the 1-user group stays listed, marked unreliable, and out of every headline figure
        assert list(r.by_group["group"]) == ["A", "B", "unknown"]
        assert list(r.by_group["reliable"]) == [True, True, False]
        assert r.n_small_groups == 1 and r.min_group_size == 2
        assert r.group_min == pytest.approx(0.3) and r.group_max == pytest.approx(0.5)
        assert r.worst_group == "B" and r.ratio == pytest.approx(0.6)
        ref = stats.kruskal([0.0, 0.5, 1.0], [0.2, 0.4])
        assert r.kruskal_p == pytest.approx(ref.pvalue)
        assert r.overall["size"] == 6  # overall keeps everyone evaluated

    def test_default_min_group_size_keeps_a_tiny_group_out_of_the_headline(self):
        # 4 users with the lowest mean (0.0) would be the "worst group" without a minimum size
        x = np.r_[np.zeros(4), np.full(25, 0.2), np.full(25, 0.6)]
        x[4:] += np.tile([0.0, 0.1], 25)  # spread, so the test has ranks to compare
        t = pd.DataFrame({"m": x, "g": ["tiny"] * 4 + ["low"] * 25 + ["high"] * 25})
        r = subgroup_report(t, "m", "g", n_boot=0)
        assert MIN_GROUP_SIZE == 20 and r.min_group_size == 20
        bg = r.by_group.set_index("group")
        assert bool(bg.loc["tiny", "reliable"]) is False and bg.loc["tiny", "mean"] == 0.0
        assert r.worst_group == "low" and r.n_small_groups == 1
        assert r.group_min == pytest.approx(x[4:29].mean())
        assert r.ratio == pytest.approx(x[4:29].mean() / x[29:].mean())
        assert r.kruskal_p == pytest.approx(stats.kruskal(x[4:29], x[29:]).pvalue)

    def test_no_reliable_group_lists_all_and_has_no_headline(self):
        r = subgroup_report(_table(), "ndcg@5", "grp", n_boot=0)  # groups of 3, 2, 1 < 20
        assert list(r.by_group["group"]) == ["A", "B", "unknown"]
        assert not r.by_group["reliable"].any() and r.n_small_groups == 3
        assert r.worst_group is None
        assert np.isnan([r.group_min, r.group_max, r.difference, r.ratio, r.kruskal_p]).all()

    def test_intersection(self):
        r = subgroup_report(_table(), "ndcg@5", ("grp", "flag"), n_boot=10, min_group_size=1)
        bg = r.by_group
        assert list(bg.columns[:3]) == ["group", "grp", "flag"]
        assert list(bg["group"]) == [
            "A × False",
            "A × True",
            "B × False",
            "B × True",
            "unknown × False",
        ]
        np.testing.assert_array_equal(bg["size"], [1, 2, 1, 1, 1])
        np.testing.assert_allclose(bg["mean"], [0.5, 0.5, 0.2, 0.4, 0.35])
        assert r.dimension == ("grp", "flag")
        assert r.worst_group == "B × False"

    def test_categorical_order_kept(self):
        t = _table()
        t["grp"] = pd.Categorical(t["grp"], categories=["B", "A", "C"], ordered=True)
        r = subgroup_report(t, "ndcg@5", "grp", n_boot=10)
        assert list(r.by_group["group"]) == ["B", "A", "unknown"]  # empty C left out

    def test_single_group_kruskal_nan(self):
        t = _table().assign(one="x")
        r = subgroup_report(t, "ndcg@5", "one", n_boot=10, min_group_size=1)
        assert np.isnan(r.kruskal_h) and np.isnan(r.kruskal_p)
        assert r.ratio == 1.0 and r.difference == 0.0

    def test_identical_values_kruskal_nan(self):
        t = pd.DataFrame({"m": [0.5] * 4, "g": ["a", "a", "b", "b"]})
        r = subgroup_report(t, "m", "g", n_boot=10)
        assert np.isnan(r.kruskal_h)
        assert r.gini == 0.0

    def test_ci_contains_mean_and_shrinks(self):
        rng = np.random.default_rng(1)
        x = rng.random(1100)
        t = pd.DataFrame({"m": x, "g": ["small"] * 100 + ["large"] * 1000})
        r = subgroup_report(t, "m", "g").by_group.set_index("group")
        for g in ("small", "large"):
            assert r.loc[g, "ci_low"] < r.loc[g, "mean"] < r.loc[g, "ci_high"]
        width = r["ci_high"] - r["ci_low"]
        assert width["large"] < width["small"] / 2  # ~ 1/sqrt(10)

    def test_bootstrap_deterministic_by_seed(self):
        rng = np.random.default_rng(5)
        t = pd.DataFrame({"m": rng.random(60), "g": np.repeat(["a", "b", "c"], 20)})
        a = subgroup_report(t, "m", "g", seed=3, n_boot=300).by_group
        b = subgroup_report(t, "m", "g", seed=3, n_boot=300).by_group
        c = subgroup_report(t, "m", "g", seed=4, n_boot=300).by_group
        pd.testing.assert_frame_equal(a, b)
        assert not np.allclose(a["ci_low"], c["ci_low"])
        pd.testing.assert_frame_equal(a[["group", "size", "mean"]], c[["group", "size", "mean"]])

    def test_bootstrap_independent_of_other_groups(self):
        t = _table()
        full = subgroup_report(t, "ndcg@5", "grp", seed=0).by_group.set_index("group")
        only_a = subgroup_report(t.iloc[:3], "ndcg@5", "grp", seed=0).by_group.set_index("group")
        assert full.loc["A", "ci_low"] == only_a.loc["A", "ci_low"]

    def test_n_boot_zero_skips_ci(self):
        r = subgroup_report(_table(), "ndcg@5", "grp", n_boot=0)
        assert r.by_group["ci_low"].isna().all()

    def test_errors(self):
        t = _table()
        with pytest.raises(AnalysisError, match="Metric column 'nope'"):
            subgroup_report(t, "nope", "grp")
        with pytest.raises(AnalysisError, match="Subgroup dimension 'zzz'"):
            subgroup_report(t, "ndcg@5", "zzz")
        with pytest.raises(AnalysisError, match="Subgroup dimension 'zzz'"):
            subgroup_report(t, "ndcg@5", ("grp", "zzz"))
        with pytest.raises(AnalysisError, match="Group by one dimension"):
            subgroup_report(t, "ndcg@5", ("grp", "grp"))
        with pytest.raises(AnalysisError, match="not numeric"):
            subgroup_report(t, "grp", "flag")
        with pytest.raises(AnalysisError, match="all NaN"):
            subgroup_report(t.assign(m=np.nan), "m", "grp")
        with pytest.raises(AnalysisError, match="weak-user mask"):
            subgroup_report(t, "ndcg@5", "grp", weak=np.ones(3, dtype=bool))
        with pytest.raises(AnalysisError, match="weak-user mask"):
            subgroup_report(t, "ndcg@5", "grp", weak=np.ones(7))
        with pytest.raises(AnalysisError, match="ci must lie"):
            subgroup_report(t, "ndcg@5", "grp", ci=1.0)
        with pytest.raises(AnalysisError, match="n_boot must be"):
            subgroup_report(t, "ndcg@5", "grp", n_boot=-1)
        with pytest.raises(AnalysisError, match="min_group_size must be"):
            subgroup_report(t, "ndcg@5", "grp", min_group_size=0)
        assert "{metric" in R.UNKNOWN_METRIC  # message templates are importable constants
