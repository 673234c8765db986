"""Step 4 for an imported run: per-user metrics of its top-C lists against the held-out items.

The lists are the run's own; nothing is scored here. The list metrics are
:func:`analysis.metrics.compute_user_metrics` on the first k items (the test list) and on the
validation run's lists; ``candidate_recall@C`` on the whole test list.

AUC: the catalogue-wide ``auc`` needs a score for every item, which a run of top-C lists does
not have: it is NaN for every user (stated in the run's summary). ``auc@heldout`` (the user's
held-out rated items, relevant vs not relevant) is computed from the ranks
(:func:`auc_heldout_from_ranks`, ``docs/metrics.md``, "Imported runs").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analysis.metrics import auc_heldout_from_scores, candidate_recall, compute_user_metrics
from analysis.metrics.evaluate import (
    AUC_HELDOUT,
    VAL_PREFIX,
    Evaluation,
    nonrelevant_items,
    user_columns,
)
from analysis.split import TEST, VALIDATION, Split

__all__ = ["ListCounts", "auc_heldout_from_ranks", "evaluate_rankings", "listed_in"]

#: dense score cells per block of :func:`auc_heldout_from_ranks`
_BLOCK_CELLS = 1 << 24


def listed_in(items: np.ndarray, m: sp.spmatrix) -> np.ndarray:
    """bool (n, C): whether each listed item (``items[u, j] >= 0``) is stored in row ``u`` of
    ``m`` (n x n_items)."""
    m = sp.csr_matrix(m)
    if not m.has_canonical_format:
        m = m.copy()
        m.sum_duplicates()
    n_items = np.int64(m.shape[1])
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    keys = rows * n_items + m.indices  # sorted: canonical CSR
    cell = np.arange(items.shape[0], dtype=np.int64)[:, None] * n_items + items
    found = np.searchsorted(keys, cell.ravel()).reshape(cell.shape)
    found = np.minimum(found, max(len(keys) - 1, 0))
    return (items >= 0) & (len(keys) > 0) & (keys[found] == cell if len(keys) else False)


def auc_heldout_from_ranks(
    items: np.ndarray, truth: sp.spmatrix, negatives: sp.spmatrix
) -> np.ndarray:
    """Per-user AUC within the held-out rated items, from a ranked list (no scores).

    Every held-out item gets the score ``-position`` (position 1 = best) when it is listed,
    and ``-(C + 1)`` when it is not: an item missing from the list ranks below every listed
    one, and missing items tie among themselves (a tied pair counts one half). Then
    :func:`analysis.metrics.auc_heldout_from_scores`:
    ``(#{(p, q): s_p > s_q} + 0.5 #{(p, q): s_p = s_q}) / (n_pos n_neg)`` over pairs of a
    relevant held-out item ``p`` (``truth``) and a non-relevant one ``q`` (``negatives``);
    NaN without a positive or without a negative.

    Args:
        items: int (n, C) item_idx best first, -1 padded.
        truth: sparse (n, n_items) relevant held-out items (gains > 0).
        negatives: sparse (n, n_items) held-out items rated below the relevance threshold.

    Returns:
        float64 (n,).
    """
    n, c = items.shape
    n_items = truth.shape[1]
    truth, negatives = sp.csr_matrix(truth), sp.csr_matrix(negatives)
    out = np.full(n, np.nan)
    has = (np.diff(truth.indptr) > 0) & (np.diff(negatives.indptr) > 0)
    users = np.flatnonzero(has)
    bs = max(1, _BLOCK_CELLS // max(n_items, 1))
    neg_pos = -np.arange(1, c + 1, dtype=np.float32)
    for start in range(0, len(users), bs):
        batch = users[start : start + bs]
        block = np.full((len(batch), n_items), -(c + 1), np.float32)
        its = items[batch]
        r, j = np.nonzero(its >= 0)
        block[r, its[r, j]] = neg_pos[j]
        out[batch] = auc_heldout_from_scores(block, truth[batch], negatives[batch])
    return out


@dataclass(frozen=True)
class ListCounts:
    """What the lists hold that a run of unseen items should not, per split (counted, kept:
    such an item is ranked, and can never be a hit).

    Attributes:
        seen_test: test-list cells naming an item of the user's training or validation
            interactions; ``seen_validation``: validation-list cells naming a training item.
        unranked_test: users with relevant test items but no list in the test run (their
            metrics are 0: nothing was recommended); ``unranked_validation`` likewise.
    """

    seen_test: int
    seen_validation: int
    unranked_test: int
    unranked_validation: int


def evaluate_rankings(
    split: Split,
    test_items: np.ndarray,
    test_scores: np.ndarray,
    validation_items: np.ndarray | None,
    *,
    k: int,
) -> tuple[Evaluation, ListCounts]:
    """Per-user metrics of imported lists, in :class:`~analysis.metrics.evaluate.Evaluation`'s
    shape (the same columns as a trained baseline's).

    Args:
        split: the folds whose held-out items judge the lists.
        test_items: int32 (n_users, C) the test run's lists; ``test_scores`` their scores.
        validation_items: int32 (n_users, C') the validation run's lists, or None (every
            ``val_`` column NaN).
        k: the list metrics' length (<= C).

    Returns:
        (the evaluation, what the lists hold that they should not).
    """
    ds = split.dataset
    c = test_items.shape[1]
    val, test = split.validation, split.test
    cols = user_columns(split)
    nan = np.full(ds.n_users, np.nan)
    splits = [("", test, test_items, TEST)]
    if validation_items is not None:
        splits.append((VAL_PREFIX, val, validation_items, VALIDATION))
    for prefix, truth, recs, fold in splits:
        for name, values in compute_user_metrics(recs, truth, k).values.items():
            if name != "n_relevant":
                cols[prefix + name] = values
        cols[prefix + "auc"] = nan.copy()
        cols[prefix + AUC_HELDOUT] = auc_heldout_from_ranks(recs, truth,
                                                            nonrelevant_items(split, fold))
        if not prefix:
            cols[f"candidate_recall@{c}"] = candidate_recall(recs, truth, c)
    if validation_items is None:
        for name in [*compute_user_metrics(test_items[:0], test[:0], k).values, "auc",
                     AUC_HELDOUT]:
            if name != "n_relevant":
                cols[VAL_PREFIX + name] = nan.copy()
    seen_val = 0
    unranked_val = 0
    if validation_items is not None:
        seen_val = int(listed_in(validation_items, split.train).sum())
        unranked_val = int(((cols["n_validation"] > 0) & (validation_items[:, 0] < 0)).sum())
    counts = ListCounts(
        seen_test=int((listed_in(test_items, split.train)
                       | listed_in(test_items, split.validation_seen)).sum()),
        seen_validation=seen_val,
        unranked_test=int((cols["evaluated"] & (test_items[:, 0] < 0)).sum()),
        unranked_validation=unranked_val,
    )
    evaluation = Evaluation(
        per_user=pd.DataFrame(cols),
        recommendations=test_items.astype(np.int32, copy=False),
        scores=test_scores.astype(np.float32, copy=False),
        k=int(k),
        n_candidates=int(c),
    )
    return evaluation, counts
