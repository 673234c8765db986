"""Tests of analysis/subgroups/_multiple.py: Holm and BH adjustment by hand and against scipy, and
the Kruskal-Wallis family of every dimension and pair."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.errors import AnalysisError
from analysis.subgroups import _multiple as MT
from analysis.subgroups import adjust_p_values, dimension_pairs, kruskal_family, subgroup_report


class TestAdjustPValues:
    def test_holm_hand_computed(self):
        # sorted 0.01, 0.03, 0.04 (m = 3): 3 * 0.01 = 0.03; max(0.03, 2 * 0.03) = 0.06;
        # max(0.06, 1 * 0.04) = 0.06
        np.testing.assert_allclose(adjust_p_values([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
        # capped at 1, and the running maximum keeps the order: 4 tests
        # sorted 0.001, 0.2, 0.3, 0.5: 0.004, 0.6, max(0.6, 0.6) = 0.6, min(1, 0.5) = 0.5 -> 0.6
        np.testing.assert_allclose(
            adjust_p_values([0.5, 0.001, 0.3, 0.2], "holm"), [0.6, 0.004, 0.6, 0.6]
        )
        np.testing.assert_allclose(adjust_p_values([0.4, 0.9], "holm"), [0.8, 0.9])
        np.testing.assert_allclose(adjust_p_values([0.6, 0.7], "holm"), [1.0, 1.0])

    def test_bh_matches_scipy(self):
        np.testing.assert_allclose(adjust_p_values([0.01, 0.04, 0.03], "bh"), [0.03, 0.04, 0.04])
        rng = np.random.default_rng(3)
        for m in (1, 2, 7, 40):
            p = np.r_[rng.random(m) ** 3, 0.02, 0.02][:m]  # skewed, with ties
            np.testing.assert_allclose(
                adjust_p_values(p, "bh"), stats.false_discovery_control(p, method="bh")
            )

    def test_nan_is_kept_and_not_counted(self):
        out = adjust_p_values([0.01, np.nan, 0.04, 0.03], "holm")
        assert np.isnan(out[1])
        np.testing.assert_allclose(out[[0, 2, 3]], [0.03, 0.06, 0.06])
        assert np.isnan(adjust_p_values([np.nan], "bh")).all()
        assert adjust_p_values([], "holm").shape == (0,)

    def test_errors(self):
        with pytest.raises(AnalysisError, match="adjustment must be one of holm, bh"):
            adjust_p_values([0.1], "bonferroni")
        with pytest.raises(AnalysisError, match=r"must lie in \[0, 1\]"):
            adjust_p_values([0.1, 1.5])
        assert "{value" in MT.BAD_METHOD


class TestKruskalFamily:
    def _table(self) -> pd.DataFrame:
        rng = np.random.default_rng(11)
        n = 120
        a = np.repeat(["x", "y", "z"], n // 3)
        b = np.tile(["u", "v"], n // 2)
        m = rng.random(n) + (a == "x") * 0.3
        return pd.DataFrame({"m": m, "a": a, "b": b, "c": np.tile(["p", "q", "r", "s"], 30)})

    def test_every_dimension_and_pair_adjusted_as_one_family(self):
        t = self._table()
        fam = kruskal_family(t, "m", ["a", "b", "c"], min_group_size=5)
        assert list(fam["dimension"]) == ["a", "b", "c", "a × b", "a × c", "b × c"]
        raw = [
            subgroup_report(t, "m", by, n_boot=0, min_group_size=5).kruskal_p
            for by in ["a", "b", "c", ("a", "b"), ("a", "c"), ("b", "c")]
        ]
        np.testing.assert_allclose(fam["kruskal_p"], raw)
        # Holm by hand: sort, multiply by m - j + 1, running maximum, cap at 1
        order = np.argsort(raw)
        holm = np.empty(6)
        running = 0.0
        for j, i in enumerate(order):  # six tests, written out as the definition reads
            running = max(running, min(1.0, (6 - j) * raw[i]))
            holm[i] = running
        np.testing.assert_allclose(fam["p_holm"], holm)
        np.testing.assert_allclose(fam["p_bh"], stats.false_discovery_control(raw, method="bh"))
        assert (fam["family_size"] == 6).all()
        assert fam.loc[0, "n_groups"] == 3 and fam.loc[3, "n_groups"] == 6

    def test_extra_pairs_and_untestable_ones(self):
        t = self._table()
        # a × c cells hold 10 users: with min_group_size 11 the pair has no test (NaN), and
        # the family shrinks to the tests that ran
        fam = kruskal_family(t, "m", ["a"], extra=[("a", "c"), ("c", "a")], min_group_size=11)
        assert list(fam["dimension"]) == ["a", "a × c"]
        assert np.isnan(fam.loc[1, "kruskal_p"]) and np.isnan(fam.loc[1, "p_holm"])
        assert fam.loc[0, "p_holm"] == pytest.approx(fam.loc[0, "kruskal_p"])
        assert (fam["family_size"] == 1).all()

    def test_pairs(self):
        assert dimension_pairs(["a", "b", "c", "a"]) == [("a", "b"), ("a", "c"), ("b", "c")]
        assert dimension_pairs(["a"]) == []
