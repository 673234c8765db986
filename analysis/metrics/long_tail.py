"""Long-tail figures of a set of top-k lists: how much of what is shown, and of what is found,
lies in the catalogue's least popular items.

Definitions (``docs/metrics.md``, "Long-tail exposure and hit rate"):

* **Long-tail items**: sort the items by training popularity (number of training
  interactions, each user counted once per item) ascending, ties by item index ascending;
  the first ``floor(share * n_items)`` are the long tail (``share = 0.8``: the least popular
  80%). Items never seen in training are the least popular of all.
* **Long-tail exposure@k**: over the given users' top-k lists, the share of the filled slots
  (``-1`` padding excluded) that hold a long-tail item. Popularity-driven recommenders show
  few; a uniform random list shows about ``share``.
* **Long-tail hit rate@k**: among the given users with at least one long-tail item in their
  held-out relevant items, the share with at least one of those in their top k (NaN when no
  user has one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["LONG_TAIL_SHARE", "LongTail", "long_tail_figures", "long_tail_items"]

#: the least popular share of the catalogue that is the long tail
LONG_TAIL_SHARE = 0.8


def long_tail_items(train: sp.spmatrix, share: float = LONG_TAIL_SHARE) -> np.ndarray:
    """bool ``(n_items,)``: True for the least popular ``share`` of the items (see above)."""
    binary = sp.csc_matrix(train, copy=True)
    binary.data[:] = 1
    binary.sum_duplicates()
    binary.data[:] = 1
    popularity = np.diff(binary.indptr)
    n_items = train.shape[1]
    order = np.lexsort((np.arange(n_items), popularity))  # popularity, then item index
    tail = np.zeros(n_items, dtype=bool)
    tail[order[: int(np.floor(share * n_items))]] = True
    return tail


@dataclass(frozen=True)
class LongTail:
    """Long-tail figures of a set of top-k lists (see the module docstring).

    Attributes:
        exposure: share of the filled slots holding a long-tail item (NaN: no filled slot).
        hit_rate: share of the users with a long-tail test item that find one in the top k.
        n_slots: filled slots counted.
        n_users_with_tail_truth: users with at least one long-tail held-out relevant item.
    """

    exposure: float
    hit_rate: float
    n_slots: int
    n_users_with_tail_truth: int


def long_tail_figures(rankings: np.ndarray, truth: sp.csr_matrix, tail: np.ndarray,
                      k: int) -> LongTail:
    """Long-tail exposure@k and hit rate@k of ``rankings`` (int ``(n, >= k)``, item_idx best
    first, ``-1`` padded) against ``truth`` (CSR ``(n, n_items)``, row-aligned)."""
    top = np.asarray(rankings)[:, :k]
    filled = top >= 0
    in_tail = filled & tail[np.where(filled, top, 0)]
    n_slots = int(filled.sum())
    exposure = float(in_tail.sum() / n_slots) if n_slots else float("nan")
    truth = sp.csr_matrix(truth)
    tail_truth = truth.multiply(tail[None, :].astype(np.int8)).tocsr()
    tail_truth.eliminate_zeros()
    has_tail = np.diff(tail_truth.indptr) > 0
    n_with = int(has_tail.sum())
    if not n_with:
        return LongTail(exposure, float("nan"), n_slots, 0)
    rows = np.repeat(np.arange(top.shape[0]), top.shape[1])
    cols = top.ravel()
    keep = cols >= 0
    shown = sp.csr_matrix((np.ones(int(keep.sum()), np.int8), (rows[keep], cols[keep])),
                          shape=truth.shape)
    shown.data[:] = 1
    found = np.asarray((shown.multiply(tail_truth) != 0).sum(axis=1)).ravel() > 0
    return LongTail(exposure, float(found[has_tail].mean()), n_slots, n_with)
