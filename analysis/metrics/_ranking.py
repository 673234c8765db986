"""Per-user top-k list metrics (NDCG, graded NDCG, recall, precision, hit, MRR, AP)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analysis.metrics._hits import lookup_gains
from analysis.metrics._validate import (
    check_item_range,
    check_k,
    check_recommendations,
    check_truth,
)

__all__ = ["UserMetrics", "compute_user_metrics", "metric_columns"]

#: metric names in column order; ``metric_columns(k)`` appends ``@k``.
METRIC_NAMES = ("ndcg", "ndcg_graded", "recall", "precision", "hit", "mrr", "ap")


def metric_columns(k: int) -> list[str]:
    """Column names of :meth:`UserMetrics.to_frame` for list length ``k``, in order."""
    return [f"{name}@{k}" for name in METRIC_NAMES] + ["n_relevant"]


@dataclass(frozen=True, eq=False)
class UserMetrics:
    """Per-user metrics for one list length k.

    Attributes:
        k: list length the metrics were computed at.
        values: column name -> float64 array, one entry per row of the inputs. Columns, in
            order: ``ndcg@k``, ``ndcg_graded@k``, ``recall@k``, ``precision@k``, ``hit@k``,
            ``mrr@k``, ``ap@k`` (NaN for rows that are not evaluated) and ``n_relevant``
            (number of held-out relevant items, 0 for rows that are not evaluated).
        evaluated: bool per row, True when the row has at least one relevant item.
    """

    k: int
    values: dict[str, np.ndarray]
    evaluated: np.ndarray

    @property
    def n_evaluated(self) -> int:
        """Rows with at least one held-out relevant item."""
        return int(np.count_nonzero(self.evaluated))

    @property
    def n_excluded(self) -> int:
        """Rows without held-out relevant items (NaN metrics, left out of every mean)."""
        return int(self.evaluated.size - self.n_evaluated)

    def to_frame(self) -> pd.DataFrame:
        """One row per input row, columns in :func:`metric_columns` order.

        Metric columns are float64 (NaN for excluded rows); ``n_relevant`` is int64.
        """
        cols = metric_columns(self.k)
        data = {c: self.values[c] for c in cols}
        data["n_relevant"] = self.values["n_relevant"].astype(np.int64)
        return pd.DataFrame(data, columns=cols)


def _ideal_gains(truth: sp.csr_matrix, k: int) -> np.ndarray:
    """(n, k) float64: each row's top-min(k, n_relevant) gains sorted descending, 0-padded."""
    n = truth.shape[0]
    n_rel = np.diff(truth.indptr)
    data = truth.data
    if truth.nnz == 0:
        return np.zeros((n, k), dtype=np.float64)
    if data.min() == data.max():  # one gain for all (binary relevance): no sort needed
        sorted_gain = data
    else:
        as32 = data if data.dtype == np.float32 else data.astype(np.float32)
        if n < (1 << 31) and (as32 is data or np.array_equal(as32, data)):
            # positive float32 bit patterns order like the values: pack (row, -gain) into
            # one int64 key; rows are already in order, so a stable (tim)sort is near-linear
            key = np.repeat(np.arange(n, dtype=np.int64), n_rel)
            key <<= 32
            desc = as32.view(np.int32).astype(np.int64)
            np.subtract(np.int64(0xFFFFFFFF), desc, out=desc)
            key |= desc
            del desc
            order = np.argsort(key, kind="stable")
        else:
            order = np.lexsort((-data, np.repeat(np.arange(n), n_rel)))
        sorted_gain = data[order]
    rank = np.arange(k)
    skip = rank[None, :] >= n_rel[:, None]
    idx = truth.indptr[:-1, None] + rank[None, :]
    np.minimum(idx, truth.nnz - 1, out=idx)
    ideal = sorted_gain[idx].astype(np.float64)
    ideal[skip] = 0.0
    return ideal


def compute_user_metrics(
    recommendations: np.ndarray, truth: sp.spmatrix, k: int
) -> UserMetrics:
    """Top-k ranking metrics for every row (user) at once.

    Notation for one row: ``rel_j`` is 1 when the item at rank ``j`` (1-based, ``j <= k``) is
    a held-out relevant item, else 0; ``g_j`` is its stored gain (0 for misses);
    ``R = n_relevant`` is the number of stored entries of the truth row; ``d_j = 1/log2(j+1)``.

    * ``ndcg@k = sum_j rel_j d_j / sum_{j <= min(k, R)} d_j`` (binary gain).
    * ``ndcg_graded@k = sum_j g_j d_j / sum_{j <= min(k, R)} g*_j d_j`` with linear gain
      (Jarvelin & Kekalainen, ranx's default ``ndcg``, not ``2**g - 1``) and ``g*`` the row's
      gains sorted descending (ideal list truncated at ``min(k, R)``).
    * ``recall@k = hits / R`` with ``hits = sum_j rel_j`` (ranx's definition, not
      ``hits / min(k, R)``).
    * ``precision@k = hits / k``; ``k`` stays fixed when a row has fewer than ``k`` items.
    * ``hit@k = 1`` when ``hits >= 1`` else 0.
    * ``mrr@k = 1 / j*`` with ``j*`` the rank of the first hit, 0 when there is none.
    * ``ap@k = sum_j rel_j * (sum_{i <= j} rel_i / j) / min(k, R)``. ranx's ``map@k``
      divides by ``R`` instead: ``ranx = ours * min(k, R) / R`` (equal whenever ``R <= k``).

    Edge cases: ``-1`` cells are padding and never hit; an item repeated in a row counts only
    at its first rank; columns beyond ``k`` are ignored (a narrower array is ``-1`` padded);
    rows with ``R = 0`` get NaN in every metric column, ``n_relevant = 0`` and
    ``evaluated = False``. Score ties were already broken by the ranking step (lower
    item_idx first).

    Args:
        recommendations: int (n, >= k) item_idx per row, best first, ``-1`` padded.
        truth: sparse (n, n_items), row ``i`` aligned with ``recommendations[i]``; stored
            values are the gains (> 0) of the held-out relevant items.
        k: list length (>= 1).

    Returns:
        :class:`UserMetrics` with float64 columns ``ndcg@k``, ``ndcg_graded@k``,
        ``recall@k``, ``precision@k``, ``hit@k``, ``mrr@k``, ``ap@k``, ``n_relevant``.

    Raises:
        AnalysisError: ``k`` not a positive int, ``recommendations`` not a 2-D int array,
            row counts differ, item_idx outside ``-1..n_items-1``, or a gain <= 0.
    """
    k = check_k(k)
    recs = check_recommendations(recommendations, k)
    t = check_truth(truth, recs.shape[0], "recommendations")
    check_item_range(recs, t.shape[1])

    gains = lookup_gains(recs, t)  # (n, k) float64, 0 where no hit
    hit = (gains > 0).astype(np.float64)
    n_rel = np.diff(t.indptr).astype(np.float64)
    evaluated = n_rel > 0
    rank = np.arange(1, k + 1, dtype=np.float64)
    discount = 1.0 / np.log2(rank + 1.0)
    cut = np.minimum(n_rel, k).astype(np.int64)  # min(k, R)

    n_hits = hit.sum(axis=1)
    dcg = hit @ discount
    idcg = np.concatenate(([0.0], np.cumsum(discount)))[cut]
    dcg_graded = gains @ discount
    idcg_graded = _ideal_gains(t, k) @ discount
    first = np.argmax(hit, axis=1)  # first 1.0 of the row (0 when none: masked below)
    prec_at_hits = np.cumsum(hit, axis=1)  # hits up to each rank ...
    prec_at_hits /= rank  # ... -> precision@j ...
    prec_at_hits *= hit  # ... kept at hit ranks only

    with np.errstate(divide="ignore", invalid="ignore"):
        raw = {
            "ndcg": dcg / idcg,
            "ndcg_graded": dcg_graded / idcg_graded,
            "recall": n_hits / n_rel,
            "precision": n_hits / k,
            "hit": (n_hits > 0).astype(np.float64),
            "mrr": np.where(n_hits > 0, 1.0 / (first + 1.0), 0.0),
            "ap": prec_at_hits.sum(axis=1) / cut,
        }
    values = {f"{name}@{k}": np.where(evaluated, raw[name], np.nan) for name in METRIC_NAMES}
    values["n_relevant"] = n_rel
    return UserMetrics(k=k, values=values, evaluated=evaluated)
