"""Candidate recall: does the first-stage list contain anything a reranker could lift?"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from analysis.metrics._hits import lookup_gains
from analysis.metrics._validate import (
    check_item_range,
    check_k,
    check_recommendations,
    check_truth,
)

__all__ = ["candidate_recall"]


def candidate_recall(recommendations: np.ndarray, truth: sp.spmatrix, c: int) -> np.ndarray:
    """Per row: 1.0 when any held-out relevant item is among the first ``c`` candidates.

    ``candidate_recall@c = 1 if sum_{j <= c} rel_j >= 1 else 0`` (equal to ``hit@c``): the
    best an LLM reranker of those ``c`` candidates can achieve for ``hit``. ``-1`` padding
    never counts; rows with no relevant item get NaN. The caller names the column
    ``candidate_recall@{c}``.

    Args:
        recommendations: int (n, >= c) candidate item_idx per row, best first, ``-1`` padded.
        truth: sparse (n, n_items) held-out relevant items (gains > 0).
        c: number of candidates handed to the reranker.

    Returns:
        float64 (n,) array of 0.0 / 1.0 / NaN.

    Raises:
        AnalysisError: bad ``c``, shapes, item indices or non-positive gains.
    """
    c = check_k(c, "c")
    recs = check_recommendations(recommendations, c)
    t = check_truth(truth, recs.shape[0], "recommendations")
    check_item_range(recs, t.shape[1])
    found = (lookup_gains(recs, t) > 0).any(axis=1).astype(np.float64)
    return np.where(np.diff(t.indptr) > 0, found, np.nan)
