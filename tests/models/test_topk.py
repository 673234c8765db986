"""Tests of models/topk.py against a plain sort, with ties, exclusions and NaN."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from models.topk import batch_size_for, mask_rows, topk_rows


def reference(scores: np.ndarray, k: int):
    items = np.full((len(scores), k), -1)
    for r, row in enumerate(scores):  # independent reference: a Python sort per row
        ok = [j for j in range(len(row)) if row[j] > -np.inf]
        best = sorted(ok, key=lambda j: (-row[j], j))[:k]
        items[r, : len(best)] = best
    return items


def test_hand_made_rows():
    s = np.array(
        [[1, 3, 3, 2, -np.inf], [0, 0, 0, 0, 0], [-1, -2, np.nan, -np.inf, -np.inf]],
        dtype=np.float32,
    )
    items, scores = topk_rows(s, 4)
    assert items.tolist() == [[1, 2, 3, 0], [0, 1, 2, 3], [0, 1, -1, -1]]
    assert scores[0].tolist() == [3, 3, 2, 1]
    assert scores[2].tolist() == [-1, -2, -np.inf, -np.inf]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 5, 12, 40])
def test_matches_sorting_with_many_ties(dtype, k):
    rng = np.random.default_rng(k)
    s = rng.integers(0, 6, size=(200, 30)).astype(dtype)  # heavy ties
    s[rng.random(s.shape) < 0.2] = -np.inf
    s[0, :] = -np.inf  # a row with nothing left
    items, scores = topk_rows(s, k)
    np.testing.assert_array_equal(items, reference(s, k))
    valid = items >= 0
    np.testing.assert_array_equal(
        scores[valid], np.take_along_axis(s, np.maximum(items, 0), 1)[valid]
    )
    assert (scores[~valid] == -np.inf).all()


def test_inf_scores_and_empty_inputs():
    s = np.array([[np.inf, 1.0, np.inf]], dtype=np.float32)
    assert topk_rows(s, 2)[0].tolist() == [[0, 2]]
    assert topk_rows(np.zeros((0, 5), np.float32), 3)[0].shape == (0, 3)
    assert topk_rows(np.zeros((2, 0), np.float32), 3)[0].tolist() == [[-1] * 3] * 2


def test_mask_rows_and_batch_size():
    s = np.zeros((2, 4), dtype=np.float32)
    mask_rows(s, sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 1, 0, 0]])))
    assert np.isneginf(s).tolist() == [[True, False, False, True], [False, True, False, False]]
    assert batch_size_for(20_000) == (1 << 24) // 20_000
    assert batch_size_for(10**9) == 1
