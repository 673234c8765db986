"""The one-read kernels of models/_kernels.py against the kernels they replaced (issue 10).

``old_topk`` and ``old_auc`` below are verbatim copies of the previous ``_topk_kernel``
(models/topk.py) and ``_auc_kernel`` (analysis/metrics/_auc.py), compiled serially: an
independent reference. Every output must match it bit for bit on random blocks with heavy
ties, NaN, -inf and +inf, rows with nothing valid, rows with no positive, positives scored
-inf/NaN, lists longer than the valid items, float32 and float64, and widths that cut the
kernels' chunks (``CHUNK`` scores) anywhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from analysis.metrics import auc_from_scores
from models.topk import CHUNK, topk_rows
from tests.reference_kernels import old_auc_from_scores, old_topk_rows


def random_block(rng, b: int, n: int, dtype, levels: int | None) -> np.ndarray:
    """Scores with ties (``levels`` distinct values, or continuous), -inf, NaN and +inf, a
    row with nothing valid, a row of NaN and a row of one value."""
    if levels:
        s = rng.integers(0, levels, size=(b, n)).astype(dtype)
    else:
        s = rng.standard_normal((b, n)).astype(dtype)
    u = rng.random((b, n))
    s[u < 0.08] = -np.inf
    s[(u >= 0.08) & (u < 0.12)] = np.nan
    s[(u >= 0.12) & (u < 0.14)] = np.inf
    s[0] = -np.inf
    if b > 2:
        s[1] = np.nan
        s[2] = 3
    if b > 4:
        s[3, 1::2] = -np.inf  # fewer valid items than most list lengths
        s[4, :-3] = np.nan
    return s


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


WIDTHS = [1, 7, 100, CHUNK - 1, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 77]


def bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view({4: np.uint32, 8: np.uint64}[a.itemsize])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("levels", [3, 50, None])
@pytest.mark.parametrize("n", WIDTHS)
def test_topk_matches_the_old_kernel(dtype, levels, n):
    rng = np.random.default_rng(n * 7 + (levels or 0))
    s = random_block(rng, 40, n, dtype, levels)
    for k in sorted({1, 3, 32, 50, n, n + 5}):
        items, scores = topk_rows(s, k)
        ref_items, ref_scores = old_topk_rows(s, k)
        assert items.dtype == ref_items.dtype and scores.dtype == ref_scores.dtype
        np.testing.assert_array_equal(items, ref_items)
        np.testing.assert_array_equal(bits(scores), bits(ref_scores))
        assert not np.isnan(scores).any()
        assert ((items == -1) == (scores == -np.inf)).all()


def test_topk_integer_input_and_ordered_rows():
    # ascending, descending and constant rows: candidates found late, early, or everywhere
    s = np.tile(np.arange(3000, dtype=np.float32), (3, 1))
    s[1] = s[1, ::-1]
    s[2] = 1.0
    for k in (1, 20, 64):
        np.testing.assert_array_equal(topk_rows(s, k)[0], old_topk_rows(s, k)[0])
    ints = np.arange(12).reshape(3, 4) % 3
    np.testing.assert_array_equal(topk_rows(ints, 2)[0], old_topk_rows(ints, 2)[0])


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
