"""Per-user AUC over the whole catalogue (Kaur & Shah's weak-user criterion)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from analysis.errors import AnalysisError
from analysis.metrics._validate import SHAPE_MISMATCH, check_scores, check_truth

__all__ = ["auc_from_scores"]

@njit(parallel=True, cache=True)
def _auc_kernel(scores, indptr, indices, out):  # pragma: no cover - compiled
    """Per row: integer pair counts, positives against every other finite-scored item."""
    b, n = scores.shape
    for r in prange(b):
        p0 = indptr[r]
        p1 = indptr[r + 1]
        if p1 == p0:
            out[r] = np.nan
            continue
        n_valid = 0
        n_neginf = 0
        for j in range(n):
            v = scores[r, j]
            n_valid += v > -np.inf  # NaN is neither valid nor -inf
            n_neginf += v == -np.inf
        n_pos_valid = 0
        wins2 = 0  # twice the wins: a tie is one, a win is two
        for a in range(p0, p1):
            t = scores[r, indices[a]]
            if not (t > -np.inf):  # a positive scored -inf/NaN wins no pair
                continue
            n_pos_valid += 1
            less = 0
            equal = 0
            for j in range(n):
                v = scores[r, j]
                less += v < t
                equal += v == t
            less -= n_neginf
            for c in range(p0, p1):  # positives are not negatives (self included in equal)
                v = scores[r, indices[c]]
                if v > -np.inf:
                    less -= v < t
                    equal -= v == t
            wins2 += 2 * less + equal
        n_neg = n_valid - n_pos_valid
        out[r] = wins2 / (2.0 * (p1 - p0) * n_neg) if n_neg > 0 else np.nan


def auc_from_scores(scores: np.ndarray, truth: sp.spmatrix) -> np.ndarray:
    """Per-row AUC of the scores: how often a held-out positive outranks a negative.

    ``AUC = (#{(p, q): s_p > s_q} + 0.5 * #{(p, q): s_p = s_q}) / (n_pos * n_neg)`` over
    all pairs of a positive ``p`` (an item stored in the truth row) and a negative ``q``
    (every other item whose score is not ``-inf``). Ties count one half.

    Conventions: the caller sets excluded items (seen in training, and for the test split
    also in validation) to ``-inf``; such items are not negatives. A positive scored
    ``-inf`` (or NaN) stays a positive, scored below every negative (it wins no pair). NaN
    scores of other items are treated like ``-inf``; ``+inf`` is an ordinary (top) score.
    A row with no positive or no negative gets NaN.

    Exact (integer pair counts, one division per row), computed by a compiled kernel that
    compares each positive against its row: ``O(n_pos * n_items)`` per row, parallel over
    rows, with no temporary arrays (the evaluation pass runs it over every score of the
    dataset, so a numpy version's temporaries dominated the whole pipeline).

    Args:
        scores: (b, n_items) real scores, higher is better, excluded items ``-inf``.
        truth: sparse (b, n_items), row ``i`` holds the positives of ``scores[i]``
            (stored values are gains > 0; only their positions matter here).

    Returns:
        float64 (b,) AUC per row, NaN where undefined.

    Raises:
        AnalysisError: ``scores`` not 2-D real, shapes differ, or a stored gain <= 0.
    """
    arr = check_scores(scores)
    t = check_truth(truth, arr.shape[0], "scores")
    if t.shape != arr.shape:
        raise AnalysisError(SHAPE_MISMATCH.format(left=arr.shape, right=t.shape))
    out = np.full(arr.shape[0], np.nan)
    if arr.shape[0]:
        _auc_kernel(np.ascontiguousarray(arr), t.indptr.astype(np.int64),
                    t.indices.astype(np.int64), out)
    return out
