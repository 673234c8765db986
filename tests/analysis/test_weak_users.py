"""Tests for analysis/weak_users.py: rules, thresholds, breakdowns (hand-counted)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import weak_users as W
from analysis.errors import AnalysisError
from analysis.weak_users import WeakRule, WeakUserSelector, select_weak_users, ties_note


def _table() -> pd.DataFrame:
    # rows are deliberately not in user_idx order
    return pd.DataFrame(
        {
            "user_idx": np.array([5, 4, 3, 2, 1, 0, 6], dtype=np.int32),
            "val_ndcg@10": [0.0, 0.1, 0.2, 0.5, np.nan, 0.9, 0.1],
            "ndcg@10": [0.1, 0.0, np.nan, 0.6, 0.2, 0.8, 0.3],
            "val_auc": [0.4, 0.5, 0.6, 0.7, 0.3, np.nan, 0.2],
            "auc": [0.5, 0.5, 0.5, 0.9, 0.9, 0.9, 0.4],
            "inactive": [True, False, True, True, True, False, False],
            "country": pd.Categorical(["X", "X", "Y", "Y", "X", None, "Y"]),
            "activity": pd.Categorical(
                ["low", "low", "high", "high", "low", "high", "mid"],
                categories=["low", "mid", "high"],
                ordered=True,
            ),
        }
    )


class TestWeakRule:
    def test_paper_preset(self):
        r = WeakRule.paper()
        assert (r.metric, r.threshold, r.percentile, r.require_inactive) == ("auc", 0.5, None, True)
        assert WeakRule.paper(0.6).threshold == 0.6

    @pytest.mark.parametrize(
        ("kwargs", "msg"),
        [
            ({}, "exactly one of a threshold or a percentile"),
            ({"threshold": 0.1, "percentile": 10}, "exactly one of a threshold or a percentile"),
            ({"percentile": 101}, "percentile must lie in"),
            ({"percentile": -1}, "percentile must lie in"),
            ({"threshold": float("nan")}, "threshold must be a finite"),
        ],
    )
    def test_invalid(self, kwargs, msg):
        with pytest.raises(AnalysisError, match=msg):
            WeakRule(**kwargs)

    def test_frozen(self):
        with pytest.raises(AttributeError):
            WeakRule(threshold=0.1).threshold = 0.2  # type: ignore[misc]


class TestSelect:
    def test_absolute_threshold(self):
        w = select_weak_users(_table(), WeakRule(threshold=0.1))
        # val <= 0.1: rows 0, 1, 6 ; row 4 has no validation value
        np.testing.assert_array_equal(w.mask, [True, True, False, False, False, False, True])
        np.testing.assert_array_equal(w.user_idx, [5, 4, 6])
        assert w.n_weak == 3
        assert w.n_unselectable == 1
        assert w.share == pytest.approx(3 / 6)
        assert w.threshold_value == 0.1
        # test ndcg of weak rows 0,1,6: 0.1, 0.0, 0.3; rest with a value: rows 3,4,5: .6 .2 .8
        assert w.test_mean_weak == pytest.approx(0.4 / 3)
        assert w.test_mean_rest == pytest.approx(1.6 / 3)
        assert w.breakdown == {}

    def test_percentile_threshold(self):
        t = _table()
        w = select_weak_users(t, WeakRule(percentile=50))
        valid = t["val_ndcg@10"].dropna().to_numpy()
        assert w.threshold_value == pytest.approx(np.percentile(valid, 50))  # 0.15
        np.testing.assert_array_equal(w.mask, [True, True, False, False, False, False, True])
        w0 = select_weak_users(t, WeakRule(percentile=0))
        assert w0.threshold_value == 0.0 and w0.n_weak == 1
        w100 = select_weak_users(t, WeakRule(percentile=100))
        assert w100.threshold_value == 0.9 and w100.n_weak == 6 and w100.share == 1.0

    @pytest.mark.parametrize("p", [0, 7.5, 33.3, 50, 62.5, 99, 100])
    def test_percentile_matches_numpy(self, p):
        x = np.random.default_rng(0).random(101)
        x[::7] = np.nan
        t = pd.DataFrame({"val_m": x, "m": x})
        w = select_weak_users(t, WeakRule(metric="m", percentile=p))
        assert w.threshold_value == pytest.approx(np.nanpercentile(x, p))
        assert w.n_weak == int((x <= w.threshold_value).sum())

    def test_require_inactive(self):
        w = select_weak_users(_table(), WeakRule(threshold=0.1, require_inactive=True))
        np.testing.assert_array_equal(w.user_idx, [5])

    def test_paper_rule(self):
        # val_auc <= 0.5 and inactive: row0 (.4,T) yes, row1 (.5,F) no, row4 (.3,T) yes,
        # row6 (.2,F) no; row5 has no val_auc
        w = select_weak_users(_table(), WeakRule.paper())
        np.testing.assert_array_equal(w.user_idx, [5, 1])
        assert w.n_unselectable == 1
        assert w.test_mean_weak == pytest.approx((0.5 + 0.9) / 2)
        assert w.test_mean_rest == pytest.approx((0.5 + 0.5 + 0.9 + 0.9 + 0.4) / 5)

    def test_breakdown_counts(self):
        w = select_weak_users(_table(), WeakRule(threshold=0.1), ["country", "activity"])
        c = w.breakdown["country"]
        assert list(c.columns) == ["group", "n_users", "n_weak", "weak_share", "share_of_weak"]
        assert list(c["group"]) == ["X", "Y", "unknown"]
        # users with a validation value: X rows 0,1 (row 4 NaN); Y rows 2,3,6; unknown row 5
        np.testing.assert_array_equal(c["n_users"], [2, 3, 1])
        np.testing.assert_array_equal(c["n_weak"], [2, 1, 0])
        np.testing.assert_allclose(c["weak_share"], [1.0, 1 / 3, 0.0])
        np.testing.assert_allclose(c["share_of_weak"], [2 / 3, 1 / 3, 0.0])
        a = w.breakdown["activity"]
        assert list(a["group"]) == ["low", "mid", "high"]
        np.testing.assert_array_equal(a["n_users"], [2, 1, 3])
        np.testing.assert_array_equal(a["n_weak"], [2, 1, 0])

    def test_breakdown_plain_and_bool_columns(self):
        t = _table().assign(plain=["b", "a", "b", "a", "b", None, "a"])
        w = select_weak_users(t, WeakRule(threshold=0.1), ["plain", "inactive"])
        p = w.breakdown["plain"]
        assert list(p["group"]) == ["a", "b", "unknown"]
        np.testing.assert_array_equal(p["n_weak"], [2, 1, 0])
        i = w.breakdown["inactive"]
        assert list(i["group"]) == ["False", "True"]
        np.testing.assert_array_equal(i["n_weak"], [2, 1])

    def test_nobody_weak(self):
        w = select_weak_users(_table(), WeakRule(threshold=-1.0), ["country"])
        assert w.n_weak == 0 and w.share == 0.0
        assert np.isnan(w.test_mean_weak)
        assert w.breakdown["country"]["share_of_weak"].isna().all()

    def test_selector_reuse_is_consistent(self):
        t = _table()
        sel = WeakUserSelector(t, ["country"])
        assert sel.dimensions == ("country",)
        for rule in (WeakRule(threshold=0.2), WeakRule(percentile=40), WeakRule.paper()):
            a, b = sel.select(rule), select_weak_users(t, rule, ["country"])
            np.testing.assert_array_equal(a.mask, b.mask)
            pd.testing.assert_frame_equal(a.breakdown["country"], b.breakdown["country"])

    def test_user_idx_falls_back_to_index(self):
        t = _table().drop(columns="user_idx")
        t.index = [10, 11, 12, 13, 14, 15, 16]
        w = select_weak_users(t, WeakRule(threshold=0.0))
        np.testing.assert_array_equal(w.user_idx, [10])

    def test_errors(self):
        t = _table()
        with pytest.raises(AnalysisError, match="no validation column 'val_recall@10'"):
            select_weak_users(t, WeakRule(metric="recall@10", threshold=0.1))
        with pytest.raises(AnalysisError, match="no 'inactive' column"):
            select_weak_users(t.drop(columns="inactive"), WeakRule.paper())
        with pytest.raises(AnalysisError, match="Breakdown dimension 'nope'"):
            WeakUserSelector(t, ["nope"])
        with pytest.raises(AnalysisError, match="all NaN"):
            select_weak_users(t.assign(**{"val_ndcg@10": np.nan}), WeakRule(threshold=0.1))
        assert "{column" in W.MISSING_METRIC


class TestPaperPreset:
    def test_t_p_and_the_auc_definition_are_parameters(self):
        assert WeakRule.paper(t_p=0.7) == WeakRule(metric="auc", threshold=0.7,
                                                   require_inactive=True)
        r = WeakRule.paper(0.5, auc="heldout")
        assert (r.metric, r.threshold, r.require_inactive) == ("auc@heldout", 0.5, True)

    def test_unknown_auc_definition(self):
        with pytest.raises(AnalysisError, match="must be 'all'"):
            WeakRule.paper(auc="catalogue")

    def test_heldout_preset_selects_on_its_own_column(self):
        t = pd.DataFrame(
            {
                "val_auc": [0.9, 0.4, 0.9, 0.3],
                "auc": [0.9, 0.5, 0.8, 0.2],
                "val_auc@heldout": [0.5, 0.9, np.nan, 0.2],
                "auc@heldout": [0.4, 1.0, 0.6, np.nan],
                "inactive": [True, True, True, False],
            }
        )
        assert select_weak_users(t, WeakRule.paper()).mask.tolist() == [False, True, False, False]
        w = select_weak_users(t, WeakRule.paper(auc="heldout"))
        assert w.mask.tolist() == [True, False, False, False]  # user 3 is not inactive
        assert w.test_mean_weak == 0.4 and w.test_mean_rest == pytest.approx(0.8)
        assert select_weak_users(t, WeakRule.paper(0.9, "heldout")).n_weak == 2


def test_ties_at_a_percentile_are_called_out():
    """8 of 10 users at validation NDCG 0: the 20th percentile is 0 and the rule takes all 8
    (80%, not 20%): the note says so; without ties, or with a threshold rule, no note."""
    table = pd.DataFrame({"user_idx": np.arange(10),
                          "val_ndcg@10": [0.0] * 8 + [0.5, 0.9],
                          "ndcg@10": np.linspace(0, 1, 10)})
    weak = select_weak_users(table, WeakRule(metric="ndcg@10", percentile=20))
    assert weak.n_weak == 8
    assert weak.ties_note == ("80.0% are at or below the 20th percentile (0), not 20%: many "
                              "share that value and the rule takes all of them; a threshold "
                              "below it, or another metric, selects fewer.")
    assert select_weak_users(table, WeakRule(metric="ndcg@10", threshold=0.0)).ties_note is None
    assert ties_note(0.25, 20, 0.1) is None and ties_note(0.26, 20, 0.1) is not None
