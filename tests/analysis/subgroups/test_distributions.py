"""Tests of analysis/subgroups/distributions.py: hand-computed ECDFs, histograms and compositions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.subgroups import subgroup_report
from analysis.subgroups.distributions import (
    ecdf_by_group,
    group_labels,
    histogram,
    metric_columns,
    subgroup_dimensions,
    validation_figures,
    weak_composition,
)
from analysis.weak_users import WeakRule, select_weak_users


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": np.arange(6) + 100,
            "evaluated": [True] * 5 + [False],
            "weak": [True, False, False, True, False, False],
            "ndcg@10": [0.0, 0.5, 0.5, 0.0, 1.0, np.nan],
            "auc": [0.2, 0.6, 0.7, 0.3, 0.9, np.nan],
            "val_auc": [0.1, 0.6, 0.8, 0.4, 0.9, np.nan],
            "n_train": [1, 5, 6, 2, 9, 3],
            "mainstreamness": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            "gender": pd.Categorical(["F", "M", "F", "M", None, "F"]),
            "inactive": [True, False, False, True, False, True],
            "zip": [f"z{i}" for i in range(6)],
        }
    )


def test_metric_columns_lists_test_then_validation(table):
    assert metric_columns(table) == ["ndcg@10", "auc", "val_auc"]


def test_subgroup_dimensions_skip_ids_flags_and_too_many_groups(table):
    assert subgroup_dimensions(table) == ["gender", "inactive", "zip"]
    assert subgroup_dimensions(table, max_groups=5) == ["gender", "inactive"]


def test_group_labels_one_and_two_dimensions(table):
    one = group_labels(table, "gender")
    assert one.astype(str).tolist() == ["F", "M", "F", "M", "unknown", "F"]
    two = group_labels(table, ["gender", "inactive"])
    assert two.astype(str).tolist()[:2] == ["F × True", "M × False"]
    # the same labels subgroup_report uses
    rep = subgroup_report(table, "ndcg@10", ("gender", "inactive"), n_boot=0)
    assert set(rep.by_group["group"]) <= set(two.cat.categories)


def test_group_labels_rejects_bad_by(table):
    with pytest.raises(AnalysisError, match="not in the per-user table"):
        group_labels(table, "nope")
    with pytest.raises(AnalysisError, match="pair of two different"):
        group_labels(table, ["gender", "gender"])


def test_ecdf_by_group_hand_computed(table):
    e = ecdf_by_group(table, "ndcg@10", "gender")
    # F: users 0, 2 -> values 0.0, 0.5 (user 5 is NaN); M: 0.5, 0.0; unknown: 1.0
    assert e["group"].tolist() == ["F", "F", "M", "M", "unknown"]
    assert e["value"].tolist() == [0.0, 0.5, 0.0, 0.5, 1.0]
    assert e["ecdf"].tolist() == [0.5, 1.0, 0.5, 1.0, 1.0]
    assert e["n"].tolist() == [2, 2, 2, 2, 1]


def test_ecdf_keeps_one_row_per_tied_value():
    t = pd.DataFrame({"m": [0.0, 0.0, 0.0, 1.0], "g": ["a"] * 4})
    e = ecdf_by_group(t, "m", "g")
    assert e["value"].tolist() == [0.0, 1.0]
    assert e["ecdf"].tolist() == [0.75, 1.0]


def test_ecdf_matches_a_brute_force_reference():
    rng = np.random.default_rng(0)
    t = pd.DataFrame({"m": rng.integers(0, 5, 200) / 4, "g": rng.choice(["x", "y", "z"], 200)})
    e = ecdf_by_group(t, "m", "g")
    for row in e.itertuples():
        vals = t.loc[t["g"] == row.group, "m"].to_numpy()
        assert row.ecdf == pytest.approx((vals <= row.value).mean())


def test_histogram_counts_and_edges():
    h = histogram([0.0, 0.1, 0.5, 1.0, np.nan], bins=2, value_range=(0.0, 1.0))
    assert h["left"].tolist() == [0.0, 0.5]
    assert h["count"].tolist() == [2, 2]  # 0.5 opens the last bin, 1.0 closes it
    assert h["share"].tolist() == [0.5, 0.5]


def test_histogram_constant_empty_and_bad_bins():
    h = histogram([3.0, 3.0], bins=1)
    assert h["left"].tolist() == [2.5] and h["count"].tolist() == [2]
    assert histogram([np.nan], bins=4).empty
    assert histogram([], bins=2, value_range=(0, 1))["share"].tolist() == [0.0, 0.0]
    with pytest.raises(AnalysisError, match="bins must be an integer"):
        histogram([1.0], bins=0)


def test_weak_composition_by_hand(table):
    weak = select_weak_users(table, WeakRule(metric="auc", threshold=0.4), ["gender"])
    c = weak_composition(weak)
    # users with val_auc: 0 F, 1 M, 2 F, 3 M, 4 unknown; weak (<= 0.4): users 0 (F), 3 (M)
    assert c["group"].tolist() == ["F", "M", "unknown"]
    assert c["n_users"].tolist() == [2, 2, 1]
    assert c["n_weak"].tolist() == [1, 1, 0]
    assert c["share_all"].tolist() == pytest.approx([0.4, 0.4, 0.2])
    assert c["share_weak"].tolist() == pytest.approx([0.5, 0.5, 0.0])
    assert c["over_representation"].tolist() == pytest.approx([1.25, 1.25, 0.0])


def test_weak_composition_nobody_weak_and_no_breakdown(table):
    weak = select_weak_users(table, WeakRule(metric="auc", threshold=0.0), ["gender"])
    c = weak_composition(weak)
    assert c["share_weak"].isna().all()
    none = weak_composition(select_weak_users(table, WeakRule(metric="auc", threshold=0.5)))
    assert none.empty and "share_weak" in none.columns


def test_validation_figures_by_hand(table):
    # val_auc 0.1, 0.6, 0.8, 0.4, 0.9, NaN; threshold 0.5 -> users 0 and 3 are weak
    w = select_weak_users(table, WeakRule(metric="auc", threshold=0.5))
    f = validation_figures(table, w)
    assert f.column == "val_auc" and (f.n_weak, f.n_rest) == (2, 3)
    assert f.mean_weak == pytest.approx((0.1 + 0.4) / 2)
    assert f.mean_rest == pytest.approx((0.6 + 0.8 + 0.9) / 3)  # the NaN user is in neither
    nobody = validation_figures(table, select_weak_users(table, WeakRule("auc", threshold=0.0)))
    assert np.isnan(nobody.mean_weak) and nobody.n_rest == 5
    with pytest.raises(AnalysisError, match="'val_auc' is not in the per-user table"):
        validation_figures(table.drop(columns="val_auc"), w)


# -- charts that fit the data (issue #9, point 15) ----------------------------------------------


def test_metric_range_bounds_every_metric_but_not_other_columns():
    from analysis.subgroups.distributions import metric_range

    assert metric_range("ndcg@10") == (0.0, 1.0)
    assert metric_range("val_auc") == (0.0, 1.0)
    assert metric_range("n_train") is None


def test_default_plot_is_a_histogram_when_most_users_score_zero():
    from analysis.subgroups.distributions import default_distribution_plot

    most_zero = default_distribution_plot(np.array([0.0, 0.0, 0.0, 0.5, np.nan]))
    assert most_zero.kind == "Histogram" and most_zero.zero_share == pytest.approx(0.75)
    assert "75% of the users score exactly 0" in most_zero.reason
    half = default_distribution_plot(pd.Series([0.0, 0.5, 0.5, 0.0]))
    assert half.kind == "Box" and half.zero_share == pytest.approx(0.5)


def test_group_order_sorts_by_mean_and_labels_sizes_and_small_groups():
    from analysis.subgroups.distributions import extreme_groups, group_order

    by_group = pd.DataFrame({"group": ["a", "b", "c", "d"], "size": [1500, 12, 30, 1030],
                             "mean": [0.3, 0.1, np.nan, 0.1]})
    order = group_order(by_group, min_group_size=20)
    assert order["group"].tolist() == ["b", "d", "a", "c"]  # ties keep input order, NaN last
    assert order["label"].tolist() == ["b (n=12, small)", "d (n=1,030)", "a (n=1,500)",
                                       "c (n=30)"]
    assert order["small"].tolist() == [True, False, False, False]
    # the report's reliable flag wins over the size threshold
    flagged = group_order(by_group.assign(reliable=[True, True, False, True]))
    assert flagged.set_index("group")["small"].to_dict() == {
        "a": False, "b": False, "c": True, "d": False}
    assert extreme_groups(order, 1) == ["b", "c"]
    assert extreme_groups(order, 2) == ["b", "d", "a", "c"]
    with pytest.raises(AnalysisError):
        extreme_groups(order, 0)


def test_histogram_by_group_hand_computed(table):
    from analysis.subgroups.distributions import histogram_by_group

    h = histogram_by_group(table, "ndcg@10", "gender", bins=2)
    assert h["group"].tolist() == ["F", "F", "M", "M", "unknown", "unknown"]
    assert h["left"].tolist() == [0.0, 0.5] * 3 and h["right"].tolist() == [0.5, 1.0] * 3
    assert h["count"].tolist() == [1, 1, 1, 1, 0, 1]  # 1.0 falls in the closed last bin
    assert h["share"].tolist() == [0.5, 0.5, 0.5, 0.5, 0.0, 1.0]
    marked = histogram_by_group(table, "ndcg@10", "gender", bins=2,
                                mark=table["weak"].to_numpy(bool))
    f = marked[marked["group"] == "F"]
    assert f["marked"].tolist() == [False, True, False, True]
    assert f["count"].tolist() == [0, 1, 1, 0]  # user 100 (0.0) is weak, user 102 (0.5) not
    assert f["share"].sum() == pytest.approx(1.0)


def test_group_sizes_counts_users_with_a_value_per_column(table):
    from analysis.subgroups.distributions import group_sizes

    sizes = group_sizes(table, "gender", ["ndcg@10", "val_auc"])
    assert sizes.to_dict("list") == {
        "group": ["F", "M", "unknown"], "n_users": [3, 2, 1], "n_ndcg@10": [2, 2, 1],
        "n_val_auc": [2, 2, 1]}


def test_weakest_dimension_has_the_largest_gap_between_groups_of_enough_users(table):
    from analysis.subgroups.distributions import weakest_dimension

    # gender: F 0.25, M 0.25 (gap 0); inactive: True 0.0 (2 users), False 2/3 (3 users)
    assert weakest_dimension(table, "ndcg@10", ["gender", "inactive"], min_group_size=2) == (
        "inactive")
    assert weakest_dimension(table, "ndcg@10", ["gender", "inactive"], min_group_size=3) is None


def test_histogram_by_group_many_groups_and_bins():
    """Group codes are int8 for few groups: group * bins must not overflow."""
    from analysis.subgroups.distributions import histogram_by_group

    t = pd.DataFrame({"g": [f"g{i:02d}" for i in range(30)] * 2,
                      "ndcg@10": np.r_[np.zeros(30), np.ones(30)]})
    h = histogram_by_group(t, "ndcg@10", "g", bins=20)
    assert len(h) == 30 * 20 and h.groupby("group")["count"].sum().eq(2).all()
    assert h.loc[h["group"] == "g29", "count"].tolist() == [1] + [0] * 18 + [1]


def test_box_stats_are_exact_over_every_user():
    """Quartiles by linear interpolation, Tukey whiskers (the most extreme values within 1.5
    IQR), mean and size per group, against numpy on each group; NaN users left out."""
    from analysis.subgroups.distributions import box_stats

    rng = np.random.default_rng(5)
    table = pd.DataFrame({"g": rng.choice(["x", "y"], 500), "auc": rng.random(500)})
    table.loc[::9, "auc"] = np.nan
    table.loc[[1, 2], "auc"] = [4.0, -3.0]  # outliers beyond the whiskers
    got = box_stats(table, "auc", "g").set_index("group")
    for g, part in table.dropna().groupby("g"):
        v = part["auc"].to_numpy()
        q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
        iqr = q3 - q1
        row = got.loc[g]
        assert row["n"] == len(v)
        assert (row["q1"], row["median"], row["q3"]) == pytest.approx((q1, med, q3))
        assert row["lowerfence"] == v[v >= q1 - 1.5 * iqr].min()
        assert row["upperfence"] == v[v <= q3 + 1.5 * iqr].max()
        assert row["mean"] == pytest.approx(v.mean())
    # hand-computed: values 1..5 -> q1 2, median 3, q3 4; 100 lies beyond 4 + 1.5 * 2
    small = pd.DataFrame({"g": ["a"] * 6, "auc": [1.0, 2.0, 3.0, 4.0, 5.0, 100.0]})
    row = box_stats(small, "auc", "g").iloc[0]
    assert (row["q1"], row["median"], row["q3"]) == (2.25, 3.5, 4.75)
    assert (row["lowerfence"], row["upperfence"]) == (1.0, 5.0)
