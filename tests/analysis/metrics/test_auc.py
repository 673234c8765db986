"""The one-read AUC kernel (analysis/metrics/_kernels.py, through ``auc_from_scores``)
against the kernel it replaced (issue 10).

``old_auc`` (tests/reference_kernels.py) is a verbatim copy of the previous ``_auc_kernel``
(analysis/metrics/_auc.py): an independent reference. Every output must match it bit for bit
on random blocks with heavy ties, NaN, -inf and +inf, rows with nothing valid, rows with no
positive, positives scored -inf/NaN, float32 and float64, and widths that cut the kernel's
chunks (``CHUNK`` scores) anywhere. Hand-computed cases: tests/analysis/metrics/test_metrics.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from analysis.metrics import auc_from_scores
from tests.models.test_topk_fused import WIDTHS, bits, random_block
from tests.reference_kernels import old_auc_from_scores


def random_truth(rng, scores: np.ndarray, mean: float) -> sp.csr_matrix:
    """Positives per row ~ Poisson(mean) (rows with none included), some of them on items
    scored -inf or NaN (masked positives)."""
    b, n = scores.shape
    cnt = rng.poisson(mean, b)
    cnt[:: 5] = 0
    rows = np.repeat(np.arange(b), cnt)
    cols = rng.integers(0, n, rows.size)
    bad = np.flatnonzero(~(scores[1 % b] > -np.inf))
    if bad.size and b > 1:  # row 1: every positive on a NaN (never valid)
        rows = np.r_[rows, [1, 1]]
        cols = np.r_[cols, bad[:2]]
    t = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(b, n))
    t.sum_duplicates()
    t.data[:] = 1.0
    return t



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("levels", [2, 40, None])
@pytest.mark.parametrize("n", WIDTHS[1:])
@pytest.mark.parametrize("mean", [1.0, 8.0])
def test_auc_matches_the_old_kernel(dtype, levels, n, mean):
    rng = np.random.default_rng(n * 13 + (levels or 1) + int(mean))
    s = random_block(rng, 60, n, dtype, levels)
    truth = random_truth(rng, s, mean)
    got = auc_from_scores(s, truth)
    want = old_auc_from_scores(s, truth)
    np.testing.assert_array_equal(bits(got), bits(want))
    assert np.isnan(got[0])  # a row with nothing valid
    assert np.isnan(got[::5]).all()  # rows with no positive


def test_auc_many_positives_and_all_ties():
    rng = np.random.default_rng(5)
    s = rng.integers(0, 4, size=(6, 3000)).astype(np.float32)
    s[1] = 2.0  # every item ties: AUC 0.5
    s[2, ::3] = -np.inf
    truth = sp.random(6, 3000, density=0.05, random_state=1, format="csr")
    truth.data[:] = 1.0
    got = auc_from_scores(s, truth)
    np.testing.assert_array_equal(bits(got), bits(old_auc_from_scores(s, truth)))
    assert got[1] == 0.5
