"""Tests of analysis/subgroups/_weak_figures.py: weak users against everyone, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import AnalysisError
from analysis.subgroups._weak_figures import validation_figures, weak_composition
from analysis.weak_users import WeakRule, select_weak_users


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
