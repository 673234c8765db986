"""Tests of analysis/subgroups/_columns.py: which per-user columns are metrics and dimensions."""

from __future__ import annotations

from analysis.subgroups._columns import metric_columns, metric_range, subgroup_dimensions


def test_metric_columns_lists_test_then_validation(table):
    assert metric_columns(table) == ["ndcg@10", "auc", "val_auc"]


def test_subgroup_dimensions_skip_ids_flags_and_too_many_groups(table):
    assert subgroup_dimensions(table) == ["gender", "inactive", "zip"]
    assert subgroup_dimensions(table, max_groups=5) == ["gender", "inactive"]


def test_metric_range_bounds_every_metric_but_not_other_columns():
    assert metric_range("ndcg@10") == (0.0, 1.0)
    assert metric_range("val_auc") == (0.0, 1.0)
    assert metric_range("n_train") is None
