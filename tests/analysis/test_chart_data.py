"""Tests of analysis/chart_data.py: hand-computed ECDFs, histograms and compositions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.chart_data import (
    ecdf_by_group,
    group_labels,
    histogram,
    metric_columns,
    subgroup_dimensions,
    validation_figures,
    weak_composition,
)
from analysis.errors import AnalysisError
from analysis.subgroups import subgroup_report
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
