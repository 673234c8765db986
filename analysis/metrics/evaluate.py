"""Step 4: per-user ranking quality of a fitted baseline on the validation and test splits.

One scoring pass over the users that have held-out items, in batches: each batch of dense
scores is masked and ranked twice,

* **validation**: training items excluded; top-k ranked against the validation items;
* **test**: training *and* validation items excluded (both are known by test time); top-C
  (C >= k) ranked against the test items.

AUC is computed from the same masked score rows in two definitions (``docs/metrics.md``):
``auc`` over the whole catalogue, whose negatives are exactly the items the ranking could have
shown, and ``auc@heldout`` within the user's held-out rated items of the split (relevant vs
rated below the relevance threshold). Validation metrics get a ``val_`` prefix; the
weak-user rule selects on them and is judged on the test metrics.

The rankings and the catalogue-wide AUCs of both splits come from one compiled kernel per
block (``eval_block_kernel``, ``analysis/metrics/_kernels.py``) that reads each score once:
the test split's extra exclusions (the validation items) are skipped by a sorted-index pointer
instead of a second pass over a re-masked block. Its outputs are identical, bit for bit, to
masking twice and calling :func:`~models.topk.topk_rows` and
:func:`~analysis.metrics.auc_from_scores` per split
(``tests/analysis/metrics/test_evaluate_fused.py`` checks this against the old loop).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analysis.errors import AnalysisError
from analysis.metrics import (
    auc_heldout_from_scores,
    candidate_recall,
    compute_user_metrics,
)
from analysis.metrics._kernels import eval_block_kernel
from analysis.metrics._validate import check_truth
from analysis.split import TEST, VALIDATION, Split
from models.base import Progress, Recommender
from models.topk import batch_size_for, mask_rows

__all__ = ["AUC_HELDOUT", "VAL_PREFIX", "Evaluation", "evaluate_recommender", "nonrelevant_items",
           "user_columns"]

VAL_PREFIX = "val_"
#: per-user AUC within the user's held-out rated items (relevant vs not relevant)
AUC_HELDOUT = "auc@heldout"
_BAD_K = "k must be a positive integer, got {k}; pass --k 10 for example."
_BAD_C = "The candidate list length ({c}) must be at least k ({k})."
_NO_HELDOUT = (
    "No user has a relevant held-out item in the {fold} split, so nothing can be evaluated: "
    "lower the relevance threshold or hold out more interactions per user."
)


@dataclass(frozen=True)
class Evaluation:
    """Per-user metrics of one baseline on one split.

    Attributes:
        per_user: one row per user of the dataset (index = ``user_idx``), columns ``user_idx``,
            ``user_id``, ``n_train``, ``n_validation``, ``n_test`` (relevant held-out items),
            ``evaluated`` (has >= 1 relevant test item), the test metrics (``ndcg@k``,
            ``ndcg_graded@k``, ``recall@k``, ``precision@k``, ``hit@k``, ``mrr@k``, ``ap@k``,
            ``auc``, ``auc@heldout``, ``candidate_recall@C``) and the same validation
            metrics prefixed ``val_`` (NaN where the user has no relevant item in that
            split; ``auc@heldout`` is also NaN without a non-relevant held-out item).
        recommendations: int32 (n_users, C) test-split ranking (item_idx, -1 padded) for every
            user; rows of users never scored are all -1. The first k columns are the top-k list.
        scores: float32 (n_users, C) the baseline's scores of ``recommendations``.
        k: list length of the metrics.
        n_candidates: C, the candidate list length (what an LLM reranker may reorder).
        timings: seconds per stage (``score_and_rank``, ``metrics``).
    """

    per_user: pd.DataFrame
    recommendations: np.ndarray
    scores: np.ndarray
    k: int
    n_candidates: int
    timings: dict = field(default_factory=dict)

    @property
    def metric_names(self) -> list[str]:
        """Test metric columns, in display order."""
        k, c = self.k, self.n_candidates
        return [
            f"ndcg@{k}",
            f"ndcg_graded@{k}",
            f"recall@{k}",
            f"precision@{k}",
            f"hit@{k}",
            f"mrr@{k}",
            f"ap@{k}",
            "auc",
            AUC_HELDOUT,
            f"candidate_recall@{c}",
        ]

    def overall(self) -> dict[str, float]:
        """Mean of every test metric over evaluated users with a value (NaN: none has one,
        e.g. the AUC over all items of an imported run), plus counts."""
        t = self.per_user
        ev = t["evaluated"].to_numpy()

        def mean(values: np.ndarray) -> float:
            values = values[~np.isnan(values)]
            return float(values.mean()) if len(values) else float("nan")

        out = {m: mean(t[m].to_numpy(np.float64)[ev]) for m in self.metric_names}
        out["n_evaluated"] = int(ev.sum())
        out["n_excluded"] = int(len(t) - ev.sum())
        return out


def nonrelevant_items(split: Split, fold: int) -> sp.csr_matrix:
    """n_users x n_items, 1.0 at the held-out interactions of ``fold`` that are not relevant."""
    ds = split.dataset
    mask = (split.fold == fold) & ~(ds.gain > 0)
    m = sp.csr_matrix(
        (np.ones(int(mask.sum()), np.float32), (ds.user_idx[mask], ds.item_idx[mask])),
        shape=(ds.n_users, ds.n_items),
    )
    m.sum_duplicates()
    return m


def _canonical(m: sp.csr_matrix) -> sp.csr_matrix:
    """``m`` with sorted, unique column indices per row (copied only when needed)."""
    if not m.has_canonical_format:
        m = m.copy()
        m.sum_duplicates()
    return m


def _rank_block(
    scores: np.ndarray,
    k: int,
    c: int,
    val: sp.csr_matrix,
    val_seen: sp.csr_matrix,
    test: sp.csr_matrix,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both splits of one block of training-masked scores, from one read of each score.

    Same values as ``topk_rows(scores, k)``, ``auc_from_scores(scores, val)``, then after
    ``mask_rows(scores, val_seen)``: ``topk_rows(scores, c)`` and
    ``auc_from_scores(scores, test)``; ``scores`` itself is not modified.

    Returns:
        (validation items (b, k), test items (b, c), test scores float32 (b, c),
        validation AUC (b,), test AUC (b,)).
    """
    if not 1 <= k <= c:
        raise ValueError(f"need 1 <= k <= c, got k={k}, c={c}")  # the merge relies on it
    scores = np.ascontiguousarray(scores)
    b = scores.shape[0]
    vp = check_truth(val, b, "scores")
    tp = check_truth(test, b, "scores")
    vs = _canonical(sp.csr_matrix(val_seen))
    val_items = np.full((b, k), -1, dtype=np.int32)
    val_scores = np.full((b, k), -np.inf, dtype=scores.dtype)
    test_items = np.full((b, c), -1, dtype=np.int32)
    test_scores = np.full((b, c), -np.inf, dtype=scores.dtype)
    val_auc = np.full(b, np.nan)
    test_auc = np.full(b, np.nan)
    if b and scores.shape[1]:
        n_work = vp.nnz + tp.nnz
        eval_block_kernel(
            scores, int(k), int(c),
            vp.indptr.astype(np.int64), vp.indices.astype(np.int64),
            vs.indptr.astype(np.int64), vs.indices.astype(np.int64),
            tp.indptr.astype(np.int64), tp.indices.astype(np.int64),
            np.empty(n_work, scores.dtype), np.empty(n_work, np.int64),
            np.empty(n_work, np.int64),
            val_items, val_scores, test_items, test_scores, val_auc, test_auc,
        )
    return val_items, test_items, test_scores.astype(np.float32, copy=False), val_auc, test_auc


@dataclass(frozen=True)
class _UserScores:
    """What the scoring pass fills, one row per user (users never scored keep item -1,
    score -inf, AUC NaN). ``val_*`` / ``test_*``: the validation / test split."""

    val_recs: np.ndarray  # int32 (n_users, k)
    test_recs: np.ndarray  # int32 (n_users, C)
    test_scores: np.ndarray  # float32 (n_users, C)
    val_auc: np.ndarray
    test_auc: np.ndarray
    val_auc_heldout: np.ndarray
    test_auc_heldout: np.ndarray

    @classmethod
    def unscored(cls, n_users: int, k: int, c: int) -> _UserScores:
        def nan() -> np.ndarray:
            return np.full(n_users, np.nan)

        return cls(
            val_recs=np.full((n_users, k), -1, dtype=np.int32),
            test_recs=np.full((n_users, c), -1, dtype=np.int32),
            test_scores=np.full((n_users, c), -np.inf, dtype=np.float32),
            val_auc=nan(), test_auc=nan(), val_auc_heldout=nan(), test_auc_heldout=nan(),
        )


def _score_users(
    model: Recommender, split: Split, users: np.ndarray, k: int, c: int,
    batch_size: int | None, progress: Progress | None,
) -> _UserScores:
    """Score, mask and rank ``users`` in batches; the two AUCs of both splits."""
    ds = split.dataset
    train, val, test = split.train, split.validation, split.test
    val_seen = split.validation_seen
    val_neg = nonrelevant_items(split, VALIDATION)
    test_neg = nonrelevant_items(split, TEST)
    out = _UserScores.unscored(ds.n_users, k, c)
    bs = batch_size or batch_size_for(ds.n_items)
    for start in range(0, len(users), bs):  # loop over batches, not users
        batch = users[start : start + bs]
        scores = np.ascontiguousarray(model.score_users(batch), dtype=np.float32)
        mask_rows(scores, train[batch])
        vb, seen, tb = val[batch], val_seen[batch], test[batch]
        (out.val_recs[batch], out.test_recs[batch], out.test_scores[batch],
         out.val_auc[batch], out.test_auc[batch]) = _rank_block(scores, k, c, vb, seen, tb)
        out.val_auc_heldout[batch] = auc_heldout_from_scores(scores, vb, val_neg[batch])
        mask_rows(scores, seen)  # auc@heldout of the test split sees validation items as -inf
        out.test_auc_heldout[batch] = auc_heldout_from_scores(scores, tb, test_neg[batch])
        if progress is not None:
            progress(min(1.0, (start + len(batch)) / len(users)), "scoring users")
    return out


def user_columns(split: Split) -> dict[str, np.ndarray]:
    """The per-user table's leading columns, whatever ranked the lists: ``user_idx``,
    ``user_id``, ``n_train``, ``n_validation``, ``n_test`` and ``evaluated`` (has test
    items)."""
    ds = split.dataset
    n_test = np.diff(split.test.indptr)
    return {
        "user_idx": np.arange(ds.n_users, dtype=np.int32),
        "user_id": ds.user_ids,
        "n_train": split.n_train.astype(np.int64),
        "n_validation": np.diff(split.validation.indptr).astype(np.int64),
        "n_test": n_test.astype(np.int64),
        "evaluated": n_test > 0,
    }


def _per_user_table(split: Split, k: int, c: int, scored: _UserScores) -> pd.DataFrame:
    """:attr:`Evaluation.per_user` from the scoring pass's arrays."""
    val, test = split.validation, split.test
    cols = user_columns(split)
    splits = (
        ("", test, scored.test_recs, scored.test_auc, scored.test_auc_heldout),
        (VAL_PREFIX, val, scored.val_recs, scored.val_auc, scored.val_auc_heldout),
    )
    for prefix, truth, recs, auc, auc_heldout in splits:
        for name, values in compute_user_metrics(recs, truth, k).values.items():
            if name != "n_relevant":
                cols[prefix + name] = values
        cols[prefix + "auc"] = auc
        cols[prefix + AUC_HELDOUT] = auc_heldout
        if not prefix:  # the candidate list is the test split's
            cols[f"candidate_recall@{c}"] = candidate_recall(recs, truth, c)
    return pd.DataFrame(cols)


def evaluate_recommender(
    model: Recommender,
    split: Split,
    *,
    k: int = 10,
    n_candidates: int = 20,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Score, rank and measure every user with held-out items.

    Args:
        model: a fitted recommender.
        split: the split it was fitted on (``split.train``).
        k: list length for the metrics.
        n_candidates: length C of the stored test ranking (>= k); ``candidate_recall@C``.
        batch_size: users per scoring batch (default: sized to ~16M score cells).
        progress: optional ``progress(fraction, message)`` callback.

    Returns:
        An :class:`Evaluation`.

    Raises:
        AnalysisError: bad ``k``/``n_candidates`` or no user with relevant held-out items.
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise AnalysisError(_BAD_K.format(k=k))
    if n_candidates < k:
        raise AnalysisError(_BAD_C.format(c=n_candidates, k=k))
    n_val = np.diff(split.validation.indptr)
    n_test = np.diff(split.test.indptr)
    if not (n_test > 0).any():
        raise AnalysisError(_NO_HELDOUT.format(fold="test"))
    users = np.flatnonzero((n_val > 0) | (n_test > 0)).astype(np.int64)
    c = int(n_candidates)

    t0 = time.perf_counter()
    scored = _score_users(model, split, users, k, c, batch_size, progress)
    t1 = time.perf_counter()
    per_user = _per_user_table(split, k, c, scored)
    t2 = time.perf_counter()
    return Evaluation(
        per_user=per_user,
        recommendations=scored.test_recs,
        scores=scored.test_scores,
        k=int(k),
        n_candidates=c,
        timings={"score_and_rank": t1 - t0, "metrics": t2 - t1},
    )
