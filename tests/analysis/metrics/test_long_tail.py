"""Tests of analysis/metrics/long_tail.py against hand-computed figures."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from analysis.metrics.long_tail import long_tail_figures, long_tail_items


def test_long_tail_items_by_hand():
    # popularity of items 0..4: 3, 1, 0, 1, 2 (user 0 twice on item 0 counts once)
    train = sp.csr_matrix(np.array([
        [2, 1, 0, 0, 1],
        [1, 0, 0, 1, 1],
        [1, 0, 0, 0, 0],
    ], dtype=np.float32))
    # ascending popularity, ties by index: 2 (0), 1 (1), 3 (1), 4 (2), 0 (3); 80% of 5 = 4
    np.testing.assert_array_equal(long_tail_items(train), [False, True, True, True, True])
    np.testing.assert_array_equal(long_tail_items(train, 0.4), [False, True, True, False, False])


def test_exposure_and_hit_rate_by_hand():
    tail = np.array([False, True, True, True, False])
    rankings = np.array([[0, 1, -1], [4, 0, 2], [3, 2, 1]])
    truth = sp.csr_matrix(np.array([
        [0, 1, 0, 0, 0],  # tail item 1, shown: hit
        [0, 0, 0, 1, 1],  # tail item 3, not shown: miss
        [1, 0, 0, 0, 0],  # no tail item: not counted
    ], dtype=np.float32))
    got = long_tail_figures(rankings, truth, tail, k=3)
    # filled slots 8, tail slots: 1 | 2 | 3, 2, 1 -> 5
    assert got.n_slots == 8 and got.exposure == 5 / 8
    assert got.n_users_with_tail_truth == 2 and got.hit_rate == 0.5
    at1 = long_tail_figures(rankings, truth, tail, k=1)
    assert at1.exposure == 1 / 3 and at1.hit_rate == 0.0


def test_no_tail_truth_gives_nan_hit_rate():
    got = long_tail_figures(np.array([[0]]), sp.csr_matrix(np.array([[1.0, 0.0]])),
                            np.array([False, True]), k=1)
    assert got.exposure == 0.0 and np.isnan(got.hit_rate)
