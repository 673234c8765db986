"""Tests for analysis/subgroups: user features (hand-computed tiny split) and subgroup reports."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.dataset import Dataset
from analysis.errors import AnalysisError
from analysis.split import Split
from analysis.subgroups import (
    EXACT_BOOTSTRAP_MAX,
    MIN_GROUP_SIZE,
    adjust_p_values,
    bootstrap_mean_ci,
    compute_user_features,
    dimension_pairs,
    gini,
    kruskal_family,
    subgroup_report,
)
from analysis.subgroups import _features as F
from analysis.subgroups import _multiple as MT
from analysis.subgroups import _report as R

# ---------------------------------------------------------------- tiny split fixture
# train: u0 {0,1,2}, u1 {0,1}, u2 {0}, u3 {0,1,2,3}, u4 {} ; validation/test items extra.
_TRAIN = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0), (3, 0), (3, 1), (3, 2), (3, 3)]
_VAL = [(0, 3), (1, 2), (4, 0)]
_TEST = [(1, 3), (2, 1), (4, 3)]


def _split(users: pd.DataFrame | None = None) -> Split:
    pairs = _TRAIN + _VAL + _TEST
    fold = np.array([0] * len(_TRAIN) + [1] * len(_VAL) + [2] * len(_TEST), dtype=np.int8)
    u = np.array([p[0] for p in pairs], dtype=np.int32)
    i = np.array([p[1] for p in pairs], dtype=np.int32)
    ds = Dataset(
        name="tiny",
        user_idx=u,
        item_idx=i,
        value=None,
        timestamp=None,
        gain=np.ones(len(u), dtype=np.float32),
        user_ids=np.array(["a", "b", "c", "d", "e"], dtype=object),
        item_ids=np.array([10, 11, 12, 13]),
        users=users,
        kind="implicit",
    )
    return Split(dataset=ds, fold=fold, strategy="random", seed=0, params={})


def _users() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d", "e"],
            "age": [20.0, 30.0, np.nan, 40.0, 50.0],
            "gender": ["M", "F", None, "F", "M"],
            "activity": ["x", "y", "x", "y", "x"],  # collides with a computed column
        }
    )


class TestUserFeatures:
    def test_counts_and_inactive(self):
        t = compute_user_features(_split()).table
        assert list(t.index) == [0, 1, 2, 3, 4]
        assert t.index.name == "user_idx"
        np.testing.assert_array_equal(t["n_train"], [3, 2, 1, 4, 0])
        # mean n_train = 2: strictly below
        np.testing.assert_array_equal(t["inactive"], [False, False, True, False, True])
        # 20th percentile of [0,1,2,3,4] (linear) = 0.8
        np.testing.assert_array_equal(t["inactive_pct"], [False, False, False, False, True])

    def test_inactive_percentile_param(self):
        t = compute_user_features(_split(), inactive_percentile=40).table  # P40 = 1.6
        np.testing.assert_array_equal(t["inactive_pct"], [False, False, True, False, True])

    def test_mainstreamness_by_hand(self):
        # popularity: item0 4, item1 3, item2 2, item3 1 -> ECDF pct 1, .75, .5, .25
        t = compute_user_features(_split()).table
        expected = [(1 + 0.75 + 0.5) / 3, (1 + 0.75) / 2, 1.0, (1 + 0.75 + 0.5 + 0.25) / 4]
        np.testing.assert_allclose(t["mainstreamness"].to_numpy()[:4], expected)
        assert np.isnan(t["mainstreamness"].iloc[4])

    def test_popularity_percentile_ties_and_unseen(self):
        pct = F._item_popularity_percentile(np.array([0, 0, 1, 1, 2]), n_items=4)
        # pops [2, 2, 1, 0]: seen items 3; item 3 unseen -> 0
        np.testing.assert_allclose(pct, [1.0, 1.0, 1 / 3, 0.0])

    def test_activity_bins(self):
        t = compute_user_features(_split()).table
        act = t["activity"]
        assert act.cat.ordered
        assert list(act.cat.categories) == ["Q1 (0-1)", "Q2 (2)", "Q3 (3)", "Q4 (4)"]
        assert list(act.astype(str)) == ["Q3 (3)", "Q2 (2)", "Q1 (0-1)", "Q4 (4)", "Q1 (0-1)"]

    def test_activity_ties_merge_bins(self):
        t = compute_user_features(_split(), activity_bins=2).table
        assert list(t["activity"].cat.categories) == ["Q1 (0-2)", "Q2 (3-4)"]

    def test_mainstream_bins(self):
        t = compute_user_features(_split()).table
        ms = t["mainstream"]
        assert ms.cat.ordered
        assert list(ms.cat.categories) == ["niche", "mid", "mainstream", "unknown"]
        assert list(ms.astype(str)) == ["niche", "mid", "mainstream", "niche", "unknown"]

    def test_attributes(self):
        feats = compute_user_features(_split(_users()))
        t = feats.table
        np.testing.assert_array_equal(t["age"].to_numpy()[[0, 1, 3, 4]], [20, 30, 40, 50])
        assert list(t["age_bin"].astype(str)) == [
            "Q1 (20-30)",
            "Q1 (20-30)",
            "unknown",
            "Q2 (40)",
            "Q3 (50)",
        ]
        assert isinstance(t["gender"].dtype, pd.CategoricalDtype)
        assert list(t["gender"].astype(str)) == ["M", "F", "unknown", "F", "M"]
        assert "user_id" not in t.columns
        # the computed "activity" wins; the attribute is renamed
        assert list(t["attr_activity"].astype(str)) == ["x", "y", "x", "y", "x"]
        assert feats.dimensions == {
            "activity": "activity",
            "inactive": "inactive",
            "inactive_pct": "inactive",
            "mainstream": "mainstream",
            "age_bin": "numeric_binned",
            "gender": "attribute",
            "attr_activity": "attribute",
        }
        for dim in feats.dimensions:
            assert dim in t.columns

    def test_bad_inputs(self):
        with pytest.raises(AnalysisError, match="activity_bins must be an integer"):
            compute_user_features(_split(), activity_bins=0)
        with pytest.raises(AnalysisError, match="inactive_percentile must lie"):
            compute_user_features(_split(), inactive_percentile=120)
        with pytest.raises(AnalysisError, match="one row per user_idx"):
            compute_user_features(_split(_users().iloc[:3]))


# ---------------------------------------------------------------- subgroup report
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

    def test_bootstrap_exact_matches_reference(self):
        x = np.array([0.0, 1.0, 0.25, 0.5])
        lo, hi = bootstrap_mean_ci(x, 500, 0.9, np.random.default_rng(7))
        idx = np.random.default_rng(7).integers(0, 4, size=(500, 4), dtype=np.int32)
        ref = np.quantile(x[idx].mean(axis=1), [0.05, 0.95])
        np.testing.assert_allclose([lo, hi], ref)

    def test_bootstrap_normal_limit_for_large_groups(self):
        rng = np.random.default_rng(2)
        x = rng.random(EXACT_BOOTSTRAP_MAX + 1)
        lo, hi = bootstrap_mean_ci(x, 1000, 0.95, rng)
        half = stats.norm.ppf(0.975) * x.std() / np.sqrt(len(x))
        np.testing.assert_allclose([lo, hi], [x.mean() - half, x.mean() + half])
        # and the exact bootstrap just below the cap agrees closely
        lo2, hi2 = bootstrap_mean_ci(x[:-1], 1000, 0.95, np.random.default_rng(0))
        assert abs(lo2 - lo) < 0.003 and abs(hi2 - hi) < 0.003

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


class TestAdjustPValues:
    def test_holm_hand_computed(self):
        # sorted 0.01, 0.03, 0.04 (m = 3): 3 * 0.01 = 0.03; max(0.03, 2 * 0.03) = 0.06;
        # max(0.06, 1 * 0.04) = 0.06
        np.testing.assert_allclose(adjust_p_values([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
        # capped at 1, and the running maximum keeps the order: 4 tests
        # sorted 0.001, 0.2, 0.3, 0.5: 0.004, 0.6, max(0.6, 0.6) = 0.6, min(1, 0.5) = 0.5 -> 0.6
        np.testing.assert_allclose(
            adjust_p_values([0.5, 0.001, 0.3, 0.2], "holm"), [0.6, 0.004, 0.6, 0.6]
        )
        np.testing.assert_allclose(adjust_p_values([0.4, 0.9], "holm"), [0.8, 0.9])
        np.testing.assert_allclose(adjust_p_values([0.6, 0.7], "holm"), [1.0, 1.0])

    def test_bh_matches_scipy(self):
        np.testing.assert_allclose(adjust_p_values([0.01, 0.04, 0.03], "bh"), [0.03, 0.04, 0.04])
        rng = np.random.default_rng(3)
        for m in (1, 2, 7, 40):
            p = np.r_[rng.random(m) ** 3, 0.02, 0.02][:m]  # skewed, with ties
            np.testing.assert_allclose(
                adjust_p_values(p, "bh"), stats.false_discovery_control(p, method="bh")
            )

    def test_nan_is_kept_and_not_counted(self):
        out = adjust_p_values([0.01, np.nan, 0.04, 0.03], "holm")
        assert np.isnan(out[1])
        np.testing.assert_allclose(out[[0, 2, 3]], [0.03, 0.06, 0.06])
        assert np.isnan(adjust_p_values([np.nan], "bh")).all()
        assert adjust_p_values([], "holm").shape == (0,)

    def test_errors(self):
        with pytest.raises(AnalysisError, match="adjustment must be one of holm, bh"):
            adjust_p_values([0.1], "bonferroni")
        with pytest.raises(AnalysisError, match=r"must lie in \[0, 1\]"):
            adjust_p_values([0.1, 1.5])
        assert "{value" in MT.BAD_METHOD


class TestKruskalFamily:
    def _table(self) -> pd.DataFrame:
        rng = np.random.default_rng(11)
        n = 120
        a = np.repeat(["x", "y", "z"], n // 3)
        b = np.tile(["u", "v"], n // 2)
        m = rng.random(n) + (a == "x") * 0.3
        return pd.DataFrame({"m": m, "a": a, "b": b, "c": np.tile(["p", "q", "r", "s"], 30)})

    def test_every_dimension_and_pair_adjusted_as_one_family(self):
        t = self._table()
        fam = kruskal_family(t, "m", ["a", "b", "c"], min_group_size=5)
        assert list(fam["dimension"]) == ["a", "b", "c", "a × b", "a × c", "b × c"]
        raw = [
            subgroup_report(t, "m", by, n_boot=0, min_group_size=5).kruskal_p
            for by in ["a", "b", "c", ("a", "b"), ("a", "c"), ("b", "c")]
        ]
        np.testing.assert_allclose(fam["kruskal_p"], raw)
        # Holm by hand: sort, multiply by m - j + 1, running maximum, cap at 1
        order = np.argsort(raw)
        holm = np.empty(6)
        running = 0.0
        for j, i in enumerate(order):  # six tests, written out as the definition reads
            running = max(running, min(1.0, (6 - j) * raw[i]))
            holm[i] = running
        np.testing.assert_allclose(fam["p_holm"], holm)
        np.testing.assert_allclose(fam["p_bh"], stats.false_discovery_control(raw, method="bh"))
        assert (fam["family_size"] == 6).all()
        assert fam.loc[0, "n_groups"] == 3 and fam.loc[3, "n_groups"] == 6

    def test_extra_pairs_and_untestable_ones(self):
        t = self._table()
        # a × c cells hold 10 users: with min_group_size 11 the pair has no test (NaN), and
        # the family shrinks to the tests that ran
        fam = kruskal_family(t, "m", ["a"], extra=[("a", "c"), ("c", "a")], min_group_size=11)
        assert list(fam["dimension"]) == ["a", "a × c"]
        assert np.isnan(fam.loc[1, "kruskal_p"]) and np.isnan(fam.loc[1, "p_holm"])
        assert fam.loc[0, "p_holm"] == pytest.approx(fam.loc[0, "kruskal_p"])
        assert (fam["family_size"] == 1).all()

    def test_pairs(self):
        assert dimension_pairs(["a", "b", "c", "a"]) == [("a", "b"), ("a", "c"), ("b", "c")]
        assert dimension_pairs(["a"]) == []


class TestGini:
    @pytest.mark.parametrize(
        ("x", "g"),
        [([1, 1, 1], 0.0), ([0, 0, 1], 2 / 3), ([0, 0, 0], 0.0), ([5], 0.0), ([1, 3], 0.25)],
    )
    def test_known_vectors(self, x, g):
        assert gini(np.array(x, dtype=float)) == pytest.approx(g)

    def test_edges(self):
        assert np.isnan(gini(np.array([])))
        assert np.isnan(gini(np.array([-1.0, 2.0])))
        assert gini(np.array([0.0, np.nan, 1.0])) == pytest.approx(0.5)

    def test_matches_pairwise_definition(self):
        x = np.random.default_rng(0).random(50)
        brute = np.abs(x[:, None] - x[None, :]).sum() / (2 * 50**2 * x.mean())
        assert gini(x) == pytest.approx(brute)


# ---------------------------------------------------------------- real data (optional)
def _ml100k() -> Path:
    root = os.environ.get("WEAKSPOT_DATASETS")
    if not root or not (Path(root) / "ml-100k" / "u.data").exists():
        pytest.skip("set WEAKSPOT_DATASETS to the folder holding ml-100k/")
    return Path(root) / "ml-100k"


def test_features_on_movielens_100k():
    d = _ml100k()
    data = pd.read_csv(d / "u.data", sep="\t", names=["u", "i", "r", "t"])
    users = pd.read_csv(
        d / "u.user", sep="|", names=["user_id", "age", "gender", "occupation", "zip_code"]
    )
    uids, u = np.unique(data["u"].to_numpy(), return_inverse=True)
    iids, i = np.unique(data["i"].to_numpy(), return_inverse=True)
    users = users.set_index("user_id").loc[uids].reset_index()
    fold = (np.random.default_rng(0).random(len(data)) < 0.2).astype(np.int8) * 2
    ds = Dataset(
        name="ml-100k",
        user_idx=u.astype(np.int32),
        item_idx=i.astype(np.int32),
        value=data["r"].to_numpy(np.float32),
        timestamp=None,
        gain=np.ones(len(data), np.float32),
        user_ids=uids,
        item_ids=iids,
        users=users,
    )
    split = Split(dataset=ds, fold=fold, strategy="random", seed=0, params={})
    feats = compute_user_features(split)
    t = feats.table
    assert len(t) == 943
    np.testing.assert_array_equal(t["n_train"], np.bincount(u[fold == 0], minlength=943))
    assert t["mainstreamness"].between(0, 1).all()
    assert t["activity"].cat.categories.size == 4
    assert {"age_bin", "gender", "occupation", "zip_code"} <= set(feats.dimensions)
    assert t["inactive"].mean() > 0.5  # long tail: most users are below the mean
