"""Tests of analysis/gains/gain_report.py: the hybrid merge measured by hand.

Five users, six items, lists of k = C = 3 (``D2 = 1/log2(3)``, ``D3 = 1/log2(4) = 0.5``):

====  ======  ========  =========  ==========  ============  ==============
user  truth   baseline  hybrid     selected    reranked      NDCG before/after
====  ======  ========  =========  ==========  ============  ==============
0     {2}     0 1 2     2 0 1      yes         yes           D3 / 1
1     {4}     3 4 5     = baseline yes         no (fallback) D2 / D2
2     {0, 5}  0 1 2     = baseline no          no            1/(1+D2) both
3     {}      0 1 2     = baseline no          no            not evaluated
4     {1}     0 3 1     0 1 3      yes         yes           D3 / D2
====  ======  ========  =========  ==========  ============  ==============
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from analysis.gains.gain_report import NOT_RECOMPUTED, evaluate_gains, in_set_wins

D2 = 1 / math.log2(3)
D3 = 0.5
N_ITEMS = 6


def _truth(rows: list[list[int]], n_items: int = N_ITEMS) -> sp.csr_matrix:
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


TRUTH = _truth([[2], [4], [0, 5], [], [1]])
BASELINE = np.array([[0, 1, 2], [3, 4, 5], [0, 1, 2], [0, 1, 2], [0, 3, 1]], dtype=np.int32)
HYBRID = BASELINE.copy()
HYBRID[0] = [2, 0, 1]
HYBRID[4] = [0, 1, 3]
SELECTED = np.array([True, True, False, False, True])
RERANKED = np.array([True, False, False, False, True])
COST = np.array([0.02, 0.01, 0.0, 0.0, 0.03])  # the fallback user paid for its answer too
VALIDATION = np.array([0.1, 0.3, 0.9, np.nan, 0.2])  # the rule's metric on validation
PER_USER = pd.DataFrame(
    {
        "user_id": ["u0", "u1", "u2", "u3", "u4"],
        "evaluated": [True, True, True, False, True],
        "auc": [0.6, 0.7, 0.8, np.nan, 0.5],
        "activity": pd.Categorical(["low", "low", "high", "high", "high"],
                                   categories=["low", "high"]),
        "auc@heldout": [0.1, 0.9, 0.2, np.nan, 0.9],
    },
    index=pd.RangeIndex(5, name="user_idx"),
)
# NDCG@3 per evaluated user (0, 1, 2, 4), by hand
NDCG_BEFORE = [D3, D2, 1 / (1 + D2), D3]
NDCG_AFTER = [1.0, D2, 1 / (1 + D2), D2]


def _report(hybrid=HYBRID, **kw):
    args = {
        "selected": SELECTED, "reranked": RERANKED, "cost_usd": COST, "k": 3,
        "n_negatives": np.full(5, 5.0), "rule_metric": "ndcg@3", "rule_threshold": 0.62,
        "rule_validation": VALIDATION, "dimensions": ["activity"],
    } | kw
    return evaluate_gains(PER_USER, TRUTH, BASELINE, hybrid, **args)


def test_in_set_wins_by_hand():
    rows = np.array([[2, 0, 1, -1], [0, 1, 2, -1], [0, 3, 5, -1], [0, 3, 5, -1]], np.int32)
    truth = _truth([[2], [2], [3], [0, 5]])
    # relevant first above 2 negatives; relevant last; 3 above 5 (padding never counts);
    # 0 above 3 (5 is relevant, nothing below it)
    np.testing.assert_array_equal(in_set_wins(rows, truth), [2.0, 0.0, 1.0, 1.0])
    assert in_set_wins(rows, truth).dtype == np.float64


def test_per_user_before_after_by_hand():
    table = _report().per_user
    np.testing.assert_array_equal(table["user_idx"], [0, 1, 2, 4])  # user 3 has no test item
    assert table["user_id"].tolist() == ["u0", "u1", "u2", "u4"]
    np.testing.assert_array_equal(table["selected"], [True, True, False, True])
    np.testing.assert_array_equal(table["reranked"], [True, False, False, True])
    np.testing.assert_allclose(table["cost_usd"], [0.02, 0.01, 0.0, 0.03])
    np.testing.assert_allclose(table["before_ndcg@3"], NDCG_BEFORE)
    np.testing.assert_allclose(table["after_ndcg@3"], NDCG_AFTER)
    np.testing.assert_allclose(table["gain_ndcg@3"], [0.5, 0.0, 0.0, D2 - D3])
    # the relevant item stays in the top 3: recall and hit do not move, MRR and AP do
    np.testing.assert_allclose(table["before_recall@3"], [1.0, 1.0, 0.5, 1.0])
    np.testing.assert_allclose(table["gain_recall@3"], 0.0)
    np.testing.assert_allclose(table["gain_hit@3"], 0.0)
    np.testing.assert_allclose(table["before_mrr@3"], [1 / 3, 1 / 2, 1.0, 1 / 3])
    np.testing.assert_allclose(table["after_mrr@3"], [1.0, 1 / 2, 1.0, 1 / 2])
    np.testing.assert_allclose(table["before_ap@3"], [1 / 3, 1 / 2, 1 / 2, 1 / 3])
    np.testing.assert_allclose(table["after_ap@3"], [1.0, 1 / 2, 1 / 2, 1 / 2])


def test_auc_after_from_in_set_wins_or_given():
    # n_negatives: auc + (W_after - W_before) / (n_pos * n_neg); user 0: (2 - 0) / 5,
    # user 4: (1 - 0) / 5, the others keep their list
    table = _report().per_user
    np.testing.assert_allclose(table["before_auc"], [0.6, 0.7, 0.8, 0.5])
    np.testing.assert_allclose(table["gain_auc"], [0.4, 0.0, 0.0, 0.2])
    np.testing.assert_allclose(table["after_auc"], [1.0, 0.7, 0.8, 0.7])
    # an exact AUC from the caller wins; an undefined one is no gain
    given = np.array([0.9, np.nan, 0.8, 0.3, 0.45])
    table = _report(auc_after=given, n_negatives=None).per_user
    np.testing.assert_allclose(table["gain_auc"], [0.3, 0.0, 0.0, -0.05])
    np.testing.assert_allclose(table["after_auc"], [0.9, 0.7, 0.8, 0.45])


def test_headline_counts_means_paired_test_and_cost():
    h = _report().headline
    assert (h["k"], h["n_evaluated"], h["n_selected"], h["n_reranked"], h["n_fallback"]) == (
        3, 4, 3, 2, 1)
    assert h["mean_before"]["ndcg@3"] == pytest.approx(sum(NDCG_BEFORE) / 4)
    assert h["mean_after"]["ndcg@3"] == pytest.approx(sum(NDCG_AFTER) / 4)
    gain_all = (0.5 + D2 - D3) / 4
    assert h["mean_gain_all"]["ndcg@3"] == pytest.approx(gain_all)
    assert h["mean_gain_selected"]["ndcg@3"] == pytest.approx((0.5 + D2 - D3) / 3)
    assert h["mean_gain_all"]["auc"] == pytest.approx(0.6 / 4)
    # Wilcoxon on the selected users' NDCG gains (0.5, 0, D2 - D3): the zero is dropped, both
    # others are positive, so W- = 0 and the exact two-sided p is 2 * P(W <= 0) = 2 / 4
    assert h["wilcoxon_statistic"] == 0.0 and h["wilcoxon_p"] == pytest.approx(0.5)
    assert h["total_cost_usd"] == pytest.approx(0.06)
    assert h["cost_per_selected_user_usd"] == pytest.approx(0.02)
    assert h["cost_per_0.01_ndcg_usd"] == pytest.approx(0.06 / (gain_all / 0.01))


def test_weak_users_remaining_before_and_after():
    # NDCG@3 <= 0.62 on test: before users 0, 4 (D3) and 2 (1/(1+D2) = 0.613); after, user 2
    wr = _report().headline["weak_remaining"]
    assert (wr["metric"], wr["threshold"], wr["note"]) == ("ndcg@3", 0.62, None)
    assert (wr["selected_before"], wr["selected_after"]) == (2, 0)
    assert (wr["all_before"], wr["all_after"]) == (3, 1)
    assert wr["reduction_selected"] == 1.0
    assert wr["reduction_all"] == pytest.approx(2 / 3)


def test_weak_users_remaining_on_a_metric_not_recomputed():
    # auc@heldout <= 0.5: users 0 and 2 before; after is unknown
    wr = _report(rule_metric="auc@heldout", rule_threshold=0.5).headline["weak_remaining"]
    assert (wr["selected_before"], wr["all_before"]) == (1, 2)
    assert wr["selected_after"] is None and wr["all_after"] is None
    assert wr["reduction_selected"] is None and wr["reduction_all"] is None
    assert wr["note"] == NOT_RECOMPUTED.format(metric="auc@heldout")


def test_by_group_table_by_hand():
    g = _report().by_group
    assert g["dimension"].tolist() == ["activity", "activity"]
    assert g["group"].tolist() == ["low", "high"]  # category order
    # low: users 0, 1 (both selected); high: users 2, 4 (4 selected); user 3 not evaluated
    np.testing.assert_array_equal(g["n_users"], [2, 2])
    np.testing.assert_array_equal(g["n_selected"], [2, 1])
    np.testing.assert_allclose(g["mean_before"], [(D3 + D2) / 2, (1 / (1 + D2) + D3) / 2])
    np.testing.assert_allclose(g["mean_after"], [(1 + D2) / 2, (1 / (1 + D2) + D2) / 2])
    np.testing.assert_allclose(g["mean_gain"], [0.25, (D2 - D3) / 2])
    np.testing.assert_allclose(g["mean_gain_selected"], [0.25, D2 - D3])
    empty = _report(dimensions=()).by_group
    assert empty.empty and list(empty.columns) == [
        "dimension", "group", "n_users", "n_selected", "mean_before", "mean_after",
        "mean_gain", "mean_gain_selected"]


def test_cost_curve_reuses_the_answers():
    curve = _report().curve
    # thresholds: the 21 quantiles of the selected users' validation values (0.1, 0.2, 0.3:
    # 0.10, 0.11, ..., 0.30), plus the rule's own threshold
    assert len(curve) == 22 and curve["threshold"].is_monotonic_increasing
    assert curve["threshold"].iloc[-1] == 0.62
    base = sum(NDCG_BEFORE) / 4
    # <= 0.1: user 0; <= 0.2: users 0 and 4; <= 0.3 and beyond: also user 1 (no gain)
    for threshold, n, gain, cost in [
        (0.1, 1, 0.5 / 4, 0.02),
        (0.2, 2, (0.5 + D2 - D3) / 4, 0.05),
        (0.3, 3, (0.5 + D2 - D3) / 4, 0.06),
        (0.62, 3, (0.5 + D2 - D3) / 4, 0.06),
    ]:
        row = curve[np.isclose(curve["threshold"], threshold)].iloc[0]
        assert row["n_users"] == n and row["share"] == n / 4
        assert row["gain"] == pytest.approx(gain)
        assert row["mean_ndcg"] == pytest.approx(base + gain)
        assert row["cost_usd"] == pytest.approx(cost)
        assert row["usd_per_0.01"] == pytest.approx(cost / (gain / 0.01))
    # the points between the listed ones hold the same users as the point below them
    n_users = curve.set_index(curve["threshold"].round(2))["n_users"]
    assert n_users[0.15] == 1 and n_users[0.25] == 2


def test_nobody_selected():
    none = np.zeros(5, dtype=bool)
    report = _report(BASELINE, selected=none, reranked=none, cost_usd=np.zeros(5))
    h = report.headline
    assert (h["n_selected"], h["n_reranked"], h["n_fallback"]) == (0, 0, 0)
    assert h["mean_gain_all"]["ndcg@3"] == 0.0 and h["cost_per_0.01_ndcg_usd"] is None
    assert all(v is None for v in h["mean_gain_selected"].values())
    assert math.isnan(h["wilcoxon_statistic"]) and math.isnan(h["wilcoxon_p"])
    assert h["cost_per_selected_user_usd"] is None
    # nobody below any threshold: the curve has only the rule's threshold, no gain
    curve = report.curve
    assert curve["threshold"].tolist() == [0.62] and curve["n_users"].tolist() == [0]
    assert curve["gain"].tolist() == [0.0] and curve["usd_per_0.01"].tolist() == [np.inf]
