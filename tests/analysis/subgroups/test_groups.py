"""Tests of analysis/subgroups/_groups.py: group labels, groups by mean, sizes, the weakest
dimension."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.subgroups import subgroup_report
from analysis.subgroups._groups import (
    extreme_groups,
    group_labels,
    group_order,
    group_sizes,
    weakest_dimension,
)


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


def test_group_order_sorts_by_mean_and_labels_sizes_and_small_groups():
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


def test_group_sizes_counts_users_with_a_value_per_column(table):
    sizes = group_sizes(table, "gender", ["ndcg@10", "val_auc"])
    assert sizes.to_dict("list") == {
        "group": ["F", "M", "unknown"], "n_users": [3, 2, 1], "n_ndcg@10": [2, 2, 1],
        "n_val_auc": [2, 2, 1]}


def test_weakest_dimension_has_the_largest_gap_between_groups_of_enough_users(table):
    # gender: F 0.25, M 0.25 (gap 0); inactive: True 0.0 (2 users), False 2/3 (3 users)
    assert weakest_dimension(table, "ndcg@10", ["gender", "inactive"], min_group_size=2) == (
        "inactive")
    assert weakest_dimension(table, "ndcg@10", ["gender", "inactive"], min_group_size=3) is None
