"""The one-read top-k of models/_kernels.py against the kernel it replaced (issue 10).

``old_topk`` (tests/reference_kernels.py) is a verbatim copy of the previous ``_topk_kernel``
(models/topk.py): an independent reference. Every output must match it bit for bit on random
blocks with heavy ties, NaN, -inf and +inf, rows with nothing valid, lists longer than the
valid items, float32 and float64, and widths that cut the kernel's chunks (``CHUNK`` scores)
anywhere. :func:`random_block` and :func:`bits` serve the AUC and evaluation-block tests too.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.topk import CHUNK, topk_rows
from tests.reference_kernels import old_topk_rows


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
