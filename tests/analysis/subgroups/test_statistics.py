"""Tests of analysis/subgroups/_statistics.py: the Gini coefficient and the bootstrap CI of a mean."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.subgroups import EXACT_BOOTSTRAP_MAX, bootstrap_mean_ci, gini


class TestBootstrapMeanCI:
    def test_bootstrap_exact_matches_reference(self):
        x = np.array([0.0, 1.0, 0.25, 0.5])
        lo, hi = bootstrap_mean_ci(x, 500, 0.9, np.random.default_rng(7))
        idx = np.random.default_rng(7).integers(0, 4, size=(500, 4), dtype=np.int32)
        ref = np.quantile(x[idx].mean(axis=1), [0.05, 0.95])
        np.testing.assert_allclose([lo, hi], ref)

    def test_bootstrap_normal_limit_for_large_groups(self):
        rng = np.random.default_rng(2)
        x = rng.random(EXACT_BOOTSTRAP_MAX + 1)
        lo, hi = bootstrap_mean_ci(x, 1000, 0.95, rng)
        half = stats.norm.ppf(0.975) * x.std() / np.sqrt(len(x))
        np.testing.assert_allclose([lo, hi], [x.mean() - half, x.mean() + half])
        # and the exact bootstrap just below the cap agrees closely
        lo2, hi2 = bootstrap_mean_ci(x[:-1], 1000, 0.95, np.random.default_rng(0))
        assert abs(lo2 - lo) < 0.003 and abs(hi2 - hi) < 0.003


class TestGini:
    @pytest.mark.parametrize(
        ("x", "g"),
        [([1, 1, 1], 0.0), ([0, 0, 1], 2 / 3), ([0, 0, 0], 0.0), ([5], 0.0), ([1, 3], 0.25)],
    )
    def test_known_vectors(self, x, g):
        assert gini(np.array(x, dtype=float)) == pytest.approx(g)

    def test_edges(self):
        assert np.isnan(gini(np.array([])))
        assert np.isnan(gini(np.array([-1.0, 2.0])))
        assert gini(np.array([0.0, np.nan, 1.0])) == pytest.approx(0.5)

    def test_matches_pairwise_definition(self):
        x = np.random.default_rng(0).random(50)
        brute = np.abs(x[:, None] - x[None, :]).sum() / (2 * 50**2 * x.mean())
        assert gini(x) == pytest.approx(brute)
