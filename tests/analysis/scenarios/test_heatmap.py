"""Scenario x user subgroup means with counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.scenarios import compute_pair_metrics, scenario_heatmap
from tests.analysis.scenarios.test_pairs import TEST, VAL, tiny

D2 = 1 / np.log2(3)


def test_cells_by_hand():
    pairs = compute_pair_metrics(tiny(), TEST, VAL, k=2)  # ndcg@2: [0, 1, NaN, D2]
    per_user = pd.DataFrame({"group": pd.Categorical(["x", "y"])})
    heat = scenario_heatmap(pairs, per_user, "group", min_group_size=1)
    t = heat.table
    assert t[["scenario", "group", "size"]].values.tolist() == [
        ["a", "x", 1], ["a", "y", 0], ["b", "x", 1], ["b", "y", 1]]
    np.testing.assert_allclose(t["mean"], [0.0, np.nan, 1.0, D2])
    assert heat.worst == ("a", "x")
    assert np.isnan(heat.grid().loc["a", "y"])


def test_small_cells_never_worst_and_unknown_dimension():
    pairs = compute_pair_metrics(tiny(), TEST, VAL, k=2)
    per_user = pd.DataFrame({"group": ["x", "x"]})
    heat = scenario_heatmap(pairs, per_user, "group", min_group_size=2)
    # (a, x) has the lowest mean (0) but one pair: greyed, never named worst
    assert heat.worst == ("b", "x") and np.isnan(heat.grid().loc["a", "x"])
    assert heat.grid("size").loc["b", "x"] == 2
    assert scenario_heatmap(pairs, per_user, "group", min_group_size=3).worst is None
    with pytest.raises(AnalysisError, match="'age' is not a column"):
        scenario_heatmap(pairs, per_user, "age")
