"""Order interaction rows by (user, timestamp), ties in timestamp in a seeded random order:
the order the temporal split cuts each user's history by (:func:`analysis.split.split_temporal`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["order_by_user_time"]


@njit(cache=True)
def _sort_segments(starts, ts, tie, out):  # pragma: no cover - compiled
    """``out[a:b]`` = the rows ``a..b-1`` of each segment ordered by ``(ts, tie)``
    (``tie`` distinct); insertion sort for the short segments, two stable sorts else."""
    for s in range(len(starts) - 1):
        a, b = starts[s], starts[s + 1]
        if b - a <= 32:
            for j in range(a, b):
                t, k = ts[j], tie[j]
                pos = j
                while pos > a:
                    prev = out[pos - 1]
                    if ts[prev] < t or (ts[prev] == t and tie[prev] < k):
                        break
                    out[pos] = prev
                    pos -= 1
                out[pos] = j
        else:
            by_tie = np.argsort(tie[a:b], kind="mergesort")
            by_time = np.argsort(ts[a:b][by_tie], kind="mergesort")
            out[a:b] = a + by_tie[by_time]


def order_by_user_time(
    user_idx: np.ndarray, ts: np.ndarray, n_users: int, seed: int
) -> np.ndarray:
    """Row order by (user, timestamp), ties in timestamp in a random order drawn from ``seed``.

    Ties follow a random permutation ``perm`` of the rows: among rows with equal user and
    timestamp, the one earlier in ``perm`` comes first. When rows come grouped by user (the
    workspace returns them by user) each user's rows are sorted alone by a compiled kernel;
    else, when user and time fit in one int64 (always for real data), a single stable
    argsort of the permuted packed key; else an equivalent lexsort. All three give the same
    order.
    """
    n = len(user_idx)
    perm = np.random.default_rng(seed).permutation(n)
    if n == 0:
        return perm
    if n > 1 and (np.diff(user_idx) >= 0).all():
        tie = np.empty(n, dtype=np.int64)
        tie[perm] = np.arange(n)
        starts = np.flatnonzero(np.r_[True, user_idx[1:] != user_idx[:-1], True]).astype(
            np.int64)
        out = np.empty(n, dtype=np.int64)
        _sort_segments(starts, np.ascontiguousarray(ts, dtype=np.int64), tie, out)
        return out
    t0 = int(ts.min())
    span = int(ts.max()) - t0
    user_bits = max(1, int(n_users - 1).bit_length())
    if span.bit_length() + user_bits <= 62:
        key = (user_idx[perm] << (62 - user_bits)) | (ts[perm] - t0)
        return perm[np.argsort(key, kind="stable")]
    tie = np.empty(n, dtype=np.int64)
    tie[perm] = np.arange(n)
    return np.lexsort((tie, ts, user_idx))
