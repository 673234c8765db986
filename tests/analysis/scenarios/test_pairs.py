"""Per-(user, scenario) metrics: a hand-computed case in both list modes, and agreement with
the per-user metrics for users active in one scenario."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.dataset import Dataset
from analysis.errors import AnalysisError
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.scenarios import compute_pair_metrics, pair_metrics, scenario_items, scenario_users
from analysis.split import Split
from tests.analysis.scenarios.planted import planted_dataset
from tests.datasets import make_dataset

D2 = 1 / math.log2(3)  # discount at rank 2


def tiny() -> Split:
    """2 users, items 0-2 in scenario a, 3-5 in b (by interaction).

    u0: train 0(a) 3(b), test 1(a) 4(b), validation 2(a);
    u1: train 1(a) 4(b), test 5(b), validation 0(a) 3(b).
    Training scenario items: a = {0, 1}, b = {3, 4} (2 and 5 have no training interaction).
    """
    rows = [(0, 0, 0), (0, 3, 0), (0, 1, 2), (0, 4, 2), (0, 2, 1),
            (1, 1, 0), (1, 4, 0), (1, 5, 2), (1, 0, 1), (1, 3, 1)]
    u, i, fold = (np.array(c) for c in zip(*rows))
    base = make_dataset(u, i, n_users=2, n_items=6)
    ds = Dataset(**{**base.__dict__, "scenario": (i >= 3).astype(np.int16),
                    "scenario_names": ("a", "b")})
    return Split(dataset=ds, fold=fold.astype(np.int8), strategy="random", seed=0, params={})


TEST = np.array([[4, 2, 1], [2, 5, 0]], np.int32)
VAL = np.array([[1, 2, 5], [3, 0, 2]], np.int32)


def test_catalogue_mode_by_hand():
    t = compute_pair_metrics(tiny(), TEST, VAL, k=2).table
    assert t[["user_idx", "scenario_code", "n_test", "n_validation"]].to_numpy().tolist() == [
        [0, 0, 1, 1], [0, 1, 1, 0], [1, 0, 0, 1], [1, 1, 1, 1]]
    assert list(t["scenario"].astype(str)) == ["a", "b", "a", "b"]
    # (0,a): top-2 [4, 2] misses 1; (0,b) hits 4 first; (1,b): [2, 5] hits 5 second
    np.testing.assert_allclose(t["ndcg@2"], [0.0, 1.0, np.nan, D2])
    np.testing.assert_allclose(t["recall@2"], [0.0, 1.0, np.nan, 1.0])
    # validation lists [1, 2] and [3, 0]: (0,a) hits 2 second; (1,a) 0 second; (1,b) 3 first
    np.testing.assert_allclose(t["val_ndcg@2"], [D2, np.nan, D2, 1.0])
    assert list(t["scenario_users"]) == ["cross-scenario"] * 4


def test_scenario_mode_by_hand():
    t = compute_pair_metrics(tiny(), TEST, VAL, k=2, mode="scenario").table
    # (0,a): a-items of [4, 2, 1] -> [1]: hit; (0,b): [4]: hit; (1,b): 5 has no training
    # interaction in b, so the b-list of [2, 5, 0] is empty: 0
    np.testing.assert_allclose(t["ndcg@2"], [1.0, 1.0, np.nan, 0.0])
    # validation: (0,a) a-list of [1, 2, 5] is [1], item 2 is in no scenario: 0;
    # (1,a): [0] hit; (1,b): [3] hit
    np.testing.assert_allclose(t["val_ndcg@2"], [0.0, np.nan, 1.0, 1.0])
    assert scenario_items(tiny()).tolist() == [[True, True, False, False, False, False],
                                               [False, False, False, True, True, False]]


def test_without_validation_lists_and_errors():
    pairs = compute_pair_metrics(tiny(), TEST, None, k=2)
    assert not pairs.has_validation and pairs.table["val_ndcg@2"].isna().all()
    with pytest.raises(AnalysisError, match="list mode"):
        compute_pair_metrics(tiny(), TEST, VAL, k=2, mode="both")
    plain = Split(dataset=make_dataset([0, 0], [0, 1]), fold=np.array([0, 2], np.int8),
                  strategy="random", seed=0, params={})
    with pytest.raises(AnalysisError, match="no scenario column"):
        compute_pair_metrics(plain, TEST[:1], None, k=2)


def test_cross_and_single_users():
    split = Split(dataset=planted_dataset(n_users=8, n_items=160, n_cross=3),
                  fold=np.zeros(8 * 14 + 3 * 8, np.int8), strategy="random", seed=0, params={})
    groups = scenario_users(split)
    assert list(groups.astype(str)) == ["cross-scenario"] * 3 + ["single-scenario"] * 5


def test_catalogue_pairs_match_user_metrics_in_one_scenario():
    """A user whose held-out items all lie in one scenario has that pair's catalogue metrics
    equal to their own, test and validation (the recomputed validation ranking is the
    evaluation's)."""
    res = run_pipeline(planted_dataset(), EvaluateConfig(
        model="als", model_params={"factors": 8, "iterations": 3}, split="random", k=5))
    run = res.run
    pairs = pair_metrics(run, "catalogue").table
    one = pairs.groupby("user_idx")["scenario_code"].transform("size") == 1
    p = pairs[one].set_index("user_idx")
    users = run.per_user.loc[p.index]
    np.testing.assert_allclose(p["ndcg@5"], users["ndcg@5"])
    np.testing.assert_allclose(p["val_ndcg@5"], users["val_ndcg@5"])
    assert p["ndcg@5"].notna().sum() > 50 and p["val_ndcg@5"].notna().sum() > 50
