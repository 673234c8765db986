"""Which recommended items are relevant: the boolean hit matrix every list metric reduces."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from analysis.metrics._validate import (
    check_item_range,
    check_k,
    check_recommendations,
    check_truth,
)

__all__ = ["hits_matrix"]


def lookup_gains(recs: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """Gain of each recommended cell (0.0 for misses, padding and repeated items).

    ``recs`` is a validated (n, k) int64 array, ``truth`` a canonical CSR with gains > 0.
    Each cell is looked up by a binary search inside its user's truth row (scipy's
    ``csr_sample_values``); a repeated item keeps its gain only at its first position.
    """
    n, k = recs.shape
    if n == 0 or k == 0 or truth.nnz == 0:
        return np.zeros((n, k), dtype=np.float64)
    # int32 indices when they fit, so scipy does not copy them to its index dtype
    idx_dtype = np.int32 if max(n, truth.shape[1], truth.nnz) < (1 << 31) - 1 else np.int64
    rows = np.repeat(np.arange(n, dtype=idx_dtype), k)
    cols = recs.ravel().astype(idx_dtype)
    invalid = cols < 0  # -1 padding (the only negative value left after validation)
    np.maximum(cols, 0, out=cols)
    found = truth[rows, cols]  # fancy indexing: one binary search per cell
    gains = np.asarray(found, dtype=np.float64).ravel()
    gains[invalid] = 0.0
    hit_flat = np.flatnonzero(gains)
    if hit_flat.size > 1:  # drop repeats of a relevant item: keep its first position only
        keys = rows[hit_flat].astype(np.int64) * truth.shape[1] + cols[hit_flat]
        order = np.argsort(keys, kind="stable")  # stable: equal keys stay in rank order
        repeat = keys[order[1:]] == keys[order[:-1]]
        gains[hit_flat[order[1:][repeat]]] = 0.0
    return gains.reshape(n, k)


def hits_matrix(recommendations: np.ndarray, truth: sp.spmatrix, k: int) -> np.ndarray:
    """Boolean (n, k) matrix: is the item at rank ``j + 1`` of row ``i`` relevant?

    ``hit[i, j] = recommendations[i, j]`` is stored in ``truth[i]``, and is not ``-1``
    padding, and did not already appear at an earlier rank of the same row (a repeated item
    counts only at its first occurrence).

    Args:
        recommendations: int (n, >= k) item_idx per row, best first, ``-1`` padded. Only the
            first ``k`` columns are read; a narrower array is treated as ``-1`` padded.
        truth: sparse (n, n_items); every stored entry is a relevant held-out item (gain > 0).
        k: list length.

    Returns:
        bool (n, k) array.

    Raises:
        AnalysisError: bad ``k``, shapes, item indices or non-positive gains.
    """
    k = check_k(k)
    recs = check_recommendations(recommendations, k)
    t = check_truth(truth, recs.shape[0], "recommendations")
    check_item_range(recs, t.shape[1])
    return lookup_gains(recs, t) > 0
