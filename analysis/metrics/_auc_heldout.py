"""Per-user AUC within the user's held-out rated items (relevant vs not relevant).

Our reading of Kaur & Shah's per-user AUC: they score users with CatBoost's query-level
ranking AUC, whose pairs are the documents of one query, i.e. the user's own held-out items
with their relevance labels, not the whole catalogue. See ``docs/kaur_shah_preset.md``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from analysis.errors import AnalysisError
from analysis.metrics._validate import BAD_TRUTH, SHAPE_MISMATCH, check_scores, check_truth

__all__ = ["OVERLAP", "auc_heldout_from_scores"]

OVERLAP = (
    "Item_idx {item} of row {row} is both relevant (truth) and not relevant (negatives); "
    "an item is held out once, with one label: build both from the same held-out fold."
)


def _entries(m: sp.csr_matrix, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    return rows, scores[rows, m.indices]


def auc_heldout_from_scores(
    scores: np.ndarray, truth: sp.spmatrix, negatives: sp.spmatrix
) -> np.ndarray:
    """Per-row AUC of the scores over the row's held-out items only.

    ``AUC = (#{(p, q): s_p > s_q} + 0.5 * #{(p, q): s_p = s_q}) / (n_pos * n_neg)`` over all
    pairs of a positive ``p`` (an item stored in ``truth``: a held-out relevant item) and a
    negative ``q`` (an item stored in ``negatives``: a held-out item rated below the
    relevance threshold). Items the user did not hold out play no part.

    Conventions: ties count one half; NaN scores are treated as ``-inf``, and ``-inf`` is an
    ordinary (lowest) score here (two ``-inf`` items tie), since both sides are named
    explicitly. A row with no positive or no negative gets NaN, so on count data (every
    interaction relevant) the metric is NaN for everyone.

    Exact (integer pair counts, one division per row) and vectorised: the held-out entries of
    all rows are sorted once by ``(row, score)``; each positive's wins are the negatives of
    its row below its score plus half those tied with it. ``O(m log m)`` for ``m`` held-out
    entries in the batch.

    Args:
        scores: (b, n_items) real scores, higher is better.
        truth: sparse (b, n_items), row ``i`` holds the relevant held-out items of
            ``scores[i]`` (stored values are gains > 0; only positions matter here).
        negatives: sparse (b, n_items), the non-relevant held-out items (stored positions;
            values ignored), disjoint from ``truth``.

    Returns:
        float64 (b,) AUC per row, NaN where undefined.

    Raises:
        AnalysisError: ``scores`` not 2-D real, shapes differ, a gain <= 0, ``negatives``
            not sparse, or an item in both ``truth`` and ``negatives`` (:data:`OVERLAP`).
    """
    arr = check_scores(scores)
    b = arr.shape[0]
    pos = check_truth(truth, b, "scores")
    if not sp.issparse(negatives):
        raise AnalysisError(BAD_TRUTH.format(kind=type(negatives).__name__))
    neg = sp.csr_matrix(negatives)
    for m in (pos, neg):
        if m.shape != arr.shape:
            raise AnalysisError(SHAPE_MISMATCH.format(left=arr.shape, right=m.shape))
    if not neg.has_canonical_format:
        neg = neg.copy()
        neg.sum_duplicates()
    n_pos = np.diff(pos.indptr)
    n_neg = np.diff(neg.indptr)
    out = np.full(b, np.nan)
    if b == 0:
        return out

    pos_rows, pos_s = _entries(pos, arr)
    neg_rows, neg_s = _entries(neg, arr)
    n_items = arr.shape[1]
    both = np.intersect1d(pos_rows * n_items + pos.indices, neg_rows * n_items + neg.indices)
    if both.size:
        raise AnalysisError(
            OVERLAP.format(row=int(both[0] // n_items), item=int(both[0] % n_items))
        )

    rows = np.concatenate([pos_rows, neg_rows])
    s = np.concatenate([pos_s, neg_s]).astype(np.float64)
    s[np.isnan(s)] = -np.inf
    is_neg = np.concatenate([np.zeros(len(pos_s), np.int64), np.ones(len(neg_s), np.int64)])
    order = np.lexsort((s, rows))
    rows, s, is_neg = rows[order], s[order], is_neg[order]
    # groups of equal (row, score); negatives strictly below a group = prefix count of
    # negatives at the group's start minus the prefix count at the row's start
    new = np.r_[True, (rows[1:] != rows[:-1]) | (s[1:] != s[:-1])]
    group = np.cumsum(new) - 1
    before = np.cumsum(is_neg) - is_neg  # negatives strictly earlier in the sorted order
    group_start = np.flatnonzero(new)
    row_start = np.searchsorted(rows, rows, side="left")
    less = before[group_start][group] - before[row_start]
    equal = np.bincount(group, weights=is_neg)[group].astype(np.int64)
    is_pos = is_neg == 0
    wins2 = np.bincount(rows[is_pos], weights=(2 * less + equal)[is_pos], minlength=b)
    ok = (n_pos > 0) & (n_neg > 0)
    out[ok] = wins2[ok] / (2.0 * n_pos[ok] * n_neg[ok])
    return out
