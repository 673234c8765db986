"""Exact top-k over dense score rows, ties broken by lower item index.

Used by every baseline's ``recommend`` and by the evaluation pass. The score and the item
index are packed into one int64 key (order-preserving float32 bits in the high 32 bits,
``2**24 - 1 - item_idx`` in the low 24), so a single ``argpartition`` finds an exact,
deterministic top-k with ties resolved by item index, for a whole batch of users at once.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["topk_rows", "mask_rows", "batch_size_for"]

_ITEM_BITS = 24
_MAX_ITEMS = 1 << _ITEM_BITS


def batch_size_for(n_items: int, budget_cells: int = 1 << 24) -> int:
    """Users per batch so that a dense batch x n_items block stays near ``budget_cells``."""
    return max(1, min(65536, budget_cells // max(1, n_items)))


def mask_rows(scores: np.ndarray, rows: sp.csr_matrix | None, value: float = -np.inf) -> None:
    """In place: set ``scores[r, j] = value`` for every stored (r, j) of ``rows``.

    Args:
        scores: (b, n_items) float32 block.
        rows: (b, n_items) CSR aligned with ``scores`` (e.g. ``train[batch_users]``).
    """
    if rows is None or rows.nnz == 0:
        return
    r = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    scores[r, rows.indices] = value


def _sort_keys(scores: np.ndarray) -> np.ndarray:
    s = np.ascontiguousarray(scores, dtype=np.float32) + np.float32(0.0)  # -0.0 -> 0.0
    s = np.where(np.isnan(s), np.float32(-np.inf), s)
    bits = s.view(np.int32)
    key32 = bits ^ ((bits >> 31) & np.int32(0x7FFFFFFF))  # monotonic in the float value
    n_items = scores.shape[1]
    tie = (_MAX_ITEMS - 1 - np.arange(n_items, dtype=np.int64))[None, :]
    return (key32.astype(np.int64) << _ITEM_BITS) | tie


def topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k columns of each row, by score descending then item index ascending.

    Items scored ``-inf`` (excluded) are never returned: their slots are padded with
    item ``-1`` and score ``-inf``.

    Args:
        scores: (b, n_items) float scores.
        k: list length.

    Returns:
        (items int32 (b, k), scores float32 (b, k)).
    """
    b, n_items = scores.shape
    if n_items >= _MAX_ITEMS:
        raise ValueError(f"topk_rows supports fewer than {_MAX_ITEMS} items")
    out_items = np.full((b, k), -1, dtype=np.int32)
    out_scores = np.full((b, k), -np.inf, dtype=np.float32)
    if b == 0 or n_items == 0 or k <= 0:
        return out_items, out_scores
    keys = _sort_keys(scores)
    kk = min(k, n_items)
    if kk < n_items:
        part = np.argpartition(-keys, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(n_items), (b, n_items)).copy()
    part_keys = np.take_along_axis(keys, part, axis=1)
    order = np.argsort(-part_keys, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    sc = np.take_along_axis(np.asarray(scores, dtype=np.float32), idx, axis=1)
    valid = np.isfinite(sc) | (sc > 0)  # +inf is a valid (huge) score; -inf/NaN are not
    idx = np.where(valid, idx, -1)
    sc = np.where(valid, sc, np.float32(-np.inf))
    out_items[:, :kk] = idx
    out_scores[:, :kk] = sc
    return out_items, out_scores
