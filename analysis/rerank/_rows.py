"""Row-wise operations shared by the candidate and history builders.

Two layouts: padded ``(n, w)`` arrays whose rows hold valid entries (``>= 0``) and ``-1``
padding, and flat entries tagged with their row (``rows``), sorted or grouped by row. All
vectorized over rows; the one loop (:func:`recent_take`) is compiled.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

__all__ = [
    "compact_left",
    "cosine_rows",
    "first_unique",
    "mean_factors",
    "rank_sorted",
    "recent_take",
    "scatter",
    "take_first",
]


def compact_left(items: np.ndarray) -> np.ndarray:
    """Move the valid (>= 0) entries of each row to the front, keeping their order."""
    order = np.argsort(items < 0, axis=1, kind="stable")
    return np.take_along_axis(items, order, axis=1)


def first_unique(rows: np.ndarray) -> np.ndarray:
    """Mask of the first occurrence of each value >= 0 in each row (False for -1)."""
    n, w = rows.shape
    if w == 0:
        return np.zeros((n, w), dtype=bool)
    order = np.argsort(rows, axis=1, kind="stable")  # stable: equal values keep column order
    s = np.take_along_axis(rows, order, axis=1)
    first_sorted = np.ones((n, w), dtype=bool)
    first_sorted[:, 1:] = s[:, 1:] != s[:, :-1]
    first = np.empty_like(first_sorted)
    np.put_along_axis(first, order, first_sorted, axis=1)
    return first & (rows >= 0)


def take_first(valid: np.ndarray, values: np.ndarray, need: np.ndarray, width: int) -> np.ndarray:
    """Per row, the first ``need[i]`` values where ``valid``, in column order, -1 padded."""
    order = np.argsort(~valid, axis=1, kind="stable")
    picked = np.take_along_axis(values, order, axis=1)
    got = np.take_along_axis(valid, order, axis=1)
    keep = got & (np.arange(values.shape[1])[None, :] < need[:, None])
    out = np.where(keep, picked, -1)
    if out.shape[1] < width:
        out = np.pad(out, ((0, 0), (0, width - out.shape[1])), constant_values=-1)
    return out[:, :width]


def rank_sorted(rows_sorted: np.ndarray, n_rows: int) -> np.ndarray:
    """Position of each entry within its row, for entries sorted by row."""
    counts = np.bincount(rows_sorted, minlength=n_rows)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    return np.arange(len(rows_sorted), dtype=np.int64) - starts[rows_sorted]


def scatter(n: int, width: int, rows: np.ndarray, cols: np.ndarray, *values: np.ndarray,
            fills: tuple) -> list[np.ndarray]:
    """One ``(n, width)`` array per ``values``: ``values[k]`` at ``(rows[k], cols[k])``, the
    matching ``fills`` entry elsewhere."""
    out = []
    for v, fill in zip(values, fills):
        a = np.full((n, width), fill, dtype=v.dtype)
        a[rows, cols] = v
        out.append(a)
    return out


@njit(cache=True)
def _recent_kernel(starts, ts, item, width, out):  # pragma: no cover - compiled
    """Per segment ``[starts[r], starts[r + 1])``: positions of its ``width`` entries with the
    largest ``ts`` (ties: smaller ``item``), best first, into ``out[r]`` (-1 padded)."""
    for r in range(len(starts) - 1):
        cnt = 0
        for j in range(starts[r], starts[r + 1]):
            t, it = ts[j], item[j]
            if cnt < width:
                pos = cnt
                cnt += 1
            else:
                last = out[r, width - 1]
                if t < ts[last] or (t == ts[last] and it >= item[last]):  # ties: earlier wins
                    continue
                pos = width - 1
            while pos > 0:
                prev = out[r, pos - 1]
                if ts[prev] > t or (ts[prev] == t and item[prev] <= it):
                    break
                out[r, pos] = prev
                pos -= 1
            out[r, pos] = j


def recent_take(row: np.ndarray, item: np.ndarray, ts: np.ndarray, n: int,
                width: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Each row's ``width`` most recent entries (ties: smaller ``item``) without a sort, when
    each row's entries are contiguous and in row order (the workspace returns interactions
    by user): ``(take, cols)``, the entries and their column, equal to those of
    ``lexsort((item, -ts, row))`` then :func:`rank_sorted` ``< width``; None otherwise."""
    if width == 0 or len(row) == 0 or (np.diff(row) < 0).any():
        return None
    counts = np.bincount(row, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    out = np.full((n, width), -1, dtype=np.int64)
    _recent_kernel(starts, ts, item, width, out)
    cols = np.broadcast_to(np.arange(width), out.shape)
    keep = out >= 0
    return out[keep], cols[keep]


def mean_factors(rows: np.ndarray, items: np.ndarray, n: int, factors: np.ndarray) -> np.ndarray:
    """(n, f) mean factor of the items of each row (pairs ``rows[k], items[k]``; zeros for a
    row without items)."""
    cnt = np.bincount(rows, minlength=n)
    w = 1.0 / np.maximum(cnt[rows], 1)
    m = sp.csr_matrix((w, (rows, items)), shape=(n, factors.shape[0]))
    return np.asarray(m @ factors, dtype=np.float64)


def cosine_rows(factors: np.ndarray, items: np.ndarray, means: np.ndarray, rows: np.ndarray,
                 chunk: int = 1 << 20) -> np.ndarray:
    """cos(factors[items[k]], means[rows[k]]) for each k (0.0 where a norm is zero)."""
    f = np.asarray(factors, dtype=np.float64)
    fn = np.linalg.norm(f, axis=1)
    mn = np.linalg.norm(means, axis=1)
    out = np.empty(len(items), dtype=np.float64)
    for s in range(0, len(items), chunk):  # bounded memory: chunk x f cells at a time
        it, rw = items[s:s + chunk], rows[s:s + chunk]
        dot = np.einsum("ij,ij->i", f[it], means[rw])
        den = fn[it] * mn[rw]
        out[s:s + chunk] = np.where(den > 0, dot / np.where(den > 0, den, 1.0), 0.0)
    return out
