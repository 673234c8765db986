"""Per-user AUC over the whole catalogue (Kaur & Shah's weak-user criterion)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from analysis.errors import AnalysisError
from analysis.metrics._kernels import auc_kernel as _auc_kernel
from analysis.metrics._validate import SHAPE_MISMATCH, check_scores, check_truth

__all__ = ["auc_from_scores"]


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

    Exact (integer pair counts, one division per row), computed by a compiled kernel
    (``analysis/metrics/_kernels.py``, parallel over rows, no temporary arrays: the
    evaluation pass runs it over every score of the dataset) that reads each row once: the
    row's validly scored positives are gathered first, then every cache-sized chunk of the
    row is compared with each of them in one vectorised pass. ``O(n_pos * n_items)``
    comparisons but one memory read of the row.

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
        n = t.indices.size
        _auc_kernel(np.ascontiguousarray(arr), t.indptr.astype(np.int64),
                    t.indices.astype(np.int64), np.empty(n, arr.dtype),
                    np.empty(n, np.int64), np.empty(n, np.int64), out)
    return out
