"""Tests of analysis/subgroups/distributions.py: hand-computed ECDFs, histograms, box figures and
the chart a metric's values call for; every chart table importable from this one module."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.subgroups import distributions
from analysis.subgroups.distributions import (
    box_stats,
    default_distribution_plot,
    ecdf_by_group,
    histogram,
    histogram_by_group,
)


def test_every_chart_table_is_importable_from_distributions():
    # the pages import every chart table from this module, wherever it is kept
    for name in distributions.__all__:
        assert getattr(distributions, name) is not None, name
    assert {"group_order", "metric_columns", "weak_composition"} <= set(distributions.__all__)


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


def test_histogram_by_group_hand_computed(table):
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


def test_histogram_by_group_many_groups_and_bins():
    """Group codes are int8 for few groups: group * bins must not overflow."""
    t = pd.DataFrame({"g": [f"g{i:02d}" for i in range(30)] * 2,
                      "ndcg@10": np.r_[np.zeros(30), np.ones(30)]})
    h = histogram_by_group(t, "ndcg@10", "g", bins=20)
    assert len(h) == 30 * 20 and h.groupby("group")["count"].sum().eq(2).all()
    assert h.loc[h["group"] == "g29", "count"].tolist() == [1] + [0] * 18 + [1]


def test_box_stats_are_exact_over_every_user():
    """Quartiles by linear interpolation, Tukey whiskers (the most extreme values within 1.5
    IQR), mean and size per group, against numpy on each group; NaN users left out."""
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


def test_default_plot_is_a_histogram_when_most_users_score_zero():
    most_zero = default_distribution_plot(np.array([0.0, 0.0, 0.0, 0.5, np.nan]))
    assert most_zero.kind == "Histogram" and most_zero.zero_share == pytest.approx(0.75)
    assert "75% of the users score exactly 0" in most_zero.reason
    half = default_distribution_plot(pd.Series([0.0, 0.5, 0.5, 0.0]))
    assert half.kind == "Box" and half.zero_share == pytest.approx(0.5)
