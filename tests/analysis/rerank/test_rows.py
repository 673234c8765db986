"""Tests of analysis/rerank/_rows.py: row-wise helpers of the candidate and history builders."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.rerank._rows import rank_sorted, recent_take


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("width", [0, 1, 3, 10])
def test_recent_top_n_kernel_equals_the_sort(seed, width):
    rng = np.random.default_rng(seed)
    n, m = 40, 3000
    row = np.sort(rng.integers(0, n, m))  # grouped by user, as the workspace returns them
    item = rng.integers(0, 50, m)
    ts = rng.integers(0, 8, m)  # many ties in time, broken by item
    got = recent_take(row, item, ts, n, width)
    order = np.lexsort((item, -ts, row))
    rank = rank_sorted(row[order], n)
    if width == 0:
        assert got is None
        return
    take, cols = got
    want = np.full((n, width), -1)
    want[row[order[rank < width]], rank[rank < width]] = order[rank < width]
    have = np.full((n, width), -1)
    have[row[take], cols] = take
    np.testing.assert_array_equal(have, want)
    assert recent_take(row[::-1].copy(), item, ts, n, width) is None  # not grouped: the sort
