"""The evaluation kernels as they were before issue 10, verbatim (``models/topk.py`` and
``analysis/metrics/_auc.py`` at a176a72, parallel over rows as they shipped): the independent
reference the new kernels are tested against bit for bit, and the "old" shape
``bench/bench_eval_stage.py`` times. Never used by the product."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

__all__ = ["old_auc_from_scores", "old_topk_rows"]


@njit(parallel=True, cache=False)
def old_topk(scores, k, out_items, out_scores):  # pragma: no cover - compiled
    b, n = scores.shape
    for r in prange(b):
        cnt = 0
        for j in range(n):
            s = scores[r, j]
            if not (s > -np.inf):  # -inf (excluded) and NaN never enter
                continue
            if cnt < k:
                pos = cnt
                cnt += 1
            else:
                if s <= out_scores[r, k - 1]:  # ties keep the earlier (lower) index
                    continue
                pos = k - 1
            while pos > 0 and out_scores[r, pos - 1] < s:
                out_scores[r, pos] = out_scores[r, pos - 1]
                out_items[r, pos] = out_items[r, pos - 1]
                pos -= 1
            out_scores[r, pos] = s
            out_items[r, pos] = j


@njit(parallel=True, cache=False)
def old_auc(scores, indptr, indices, out):  # pragma: no cover - compiled
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


def old_topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The previous ``topk_rows`` wrapper around ``old_topk``."""
    scores = np.asarray(scores)
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float32)
    b = scores.shape[0]
    items = np.full((b, max(k, 0)), -1, dtype=np.int32)
    out = np.full((b, max(k, 0)), -np.inf, dtype=scores.dtype)
    if b and k > 0 and scores.shape[1]:
        old_topk(np.ascontiguousarray(scores), int(k), items, out)
    return items, out.astype(np.float32, copy=False)


def old_auc_from_scores(scores: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """The previous ``auc_from_scores`` kernel call (truth canonical, as checked there)."""
    t = sp.csr_matrix(truth)
    t.sum_duplicates()
    out = np.full(scores.shape[0], np.nan)
    if scores.shape[0]:
        old_auc(np.ascontiguousarray(scores), t.indptr.astype(np.int64),
                t.indices.astype(np.int64), out)
    return out
