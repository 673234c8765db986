"""Weak (user, scenario) pairs: chosen on validation only."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import AnalysisError
from analysis.scenarios import (
    WeakPairSelector,
    compute_pair_metrics,
    pair_metrics,
    pair_rule,
    select_weak_pairs,
)
from analysis.weak_users import WeakRule
from tests.analysis.scenarios.test_pairs import TEST, VAL, tiny


def test_selection_never_reads_test_columns(planted_run):
    pairs = pair_metrics(planted_run)
    rule = WeakRule(metric="ndcg@5", percentile=30.0)
    before = select_weak_pairs(pairs, rule)
    t = pairs.table.copy()
    rng = np.random.default_rng(0)
    for c in [c for c in t.columns if c.endswith("@5") and not c.startswith("val_")]:
        t[c] = rng.permutation(t[c].to_numpy())
    from dataclasses import replace
    after = select_weak_pairs(replace(pairs, table=t), rule)
    assert np.array_equal(before.selection.mask, after.selection.mask)
    assert before.n_weak > 0
    n_val = (pairs.table["n_validation"] > 0).sum()
    assert before.n_unselectable == len(pairs.table) - n_val
    assert before.n_weak + (~before.selection.mask[pairs.table["n_validation"] > 0]).sum() == n_val


def test_threshold_by_hand():
    pairs = compute_pair_metrics(tiny(), TEST, VAL, k=2)  # val_ndcg@2: [D2, NaN, D2, 1]
    weak = WeakPairSelector(pairs).select(WeakRule(metric="ndcg@2", threshold=0.7))
    assert weak.n_weak == 2 and weak.n_unselectable == 1 and weak.n_pairs == 4
    assert weak.table[["user_id", "scenario"]].astype(str).to_numpy().tolist() == [
        ["100", "a"], ["101", "a"]]
    assert np.isnan(weak.table["ndcg@2"].iloc[1])  # (1, a) has no test item
    assert weak.selection.test_mean_weak == 0.0  # (0, a) misses on test


def test_pair_rule_and_no_validation_lists():
    assert pair_rule(WeakRule.default(), 10) == WeakRule(metric="ndcg@10", percentile=20.0)
    assert pair_rule(WeakRule(metric="recall@5", threshold=0.1), 5).metric == "recall@5"
    with pytest.raises(AnalysisError, match="no validation lists"):
        WeakPairSelector(compute_pair_metrics(tiny(), TEST, None, k=2))
