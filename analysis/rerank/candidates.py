"""Step 7a: the candidate list each weak user's LLM prompt ranks.

Two protocols, both vectorized over users and seeded:

* :func:`realistic_candidates`: the baseline's own top-C test ranking (what a deployed
  reranker would see). The relevant test items may be absent, so ``candidate_recall`` is the
  ceiling of any reranker's hit rate.
* :func:`paper_candidates` (Kaur & Shah 2024): the user's relevant test items plus sampled
  unseen items up to C, ordered by the baseline's scores. Every test item is present (or a
  sample of C of them), so gains are optimistic: an offline replication protocol, for
  comparison with the paper's setting, never a deployment estimate. The sampled
  items are popularity-matched by default (``negatives="popularity"``): drawn uniformly,
  they are mostly obscure and training popularity alone picks out the test items.

The order in which candidates are *shown* to the LLM is a seeded permutation that depends
only on ``(seed, user_idx, column)`` through a fixed 64-bit integer mix (splitmix64), so a
user's prompt is the same whichever other users share the batch, and can be rebuilt from the
recorded seed (:func:`~analysis.rerank.seeding.hash_keys`). Random draws of the paper
protocol (test-item sample, negatives: :mod:`~analysis.rerank.negatives`) use the same mix,
so they are batch-independent too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import scipy.sparse as sp

from analysis.errors import AnalysisError, surface_hints
from analysis.metrics import candidate_recall as _candidate_recall
from analysis.rerank._rows import compact_left, rank_sorted
from analysis.rerank.negatives import (
    NEGATIVES,
    UNKNOWN_NEGATIVES,
    Negatives,
    popularity_ranks,
    sample_negatives,
)
from analysis.rerank.seeding import KEY_MAX, hash_keys
from analysis.split import TRAIN, Split

__all__ = [
    "NEGATIVES",
    "UNKNOWN_NEGATIVES",
    "CandidateSet",
    "Negatives",
    "check_user_idx",
    "hash_keys",
    "paper_candidates",
    "popularity_ranks",
    "realistic_candidates",
    "shown_permutation",
]

# --- user-facing messages -------------------------------------------------------------------
BAD_N_CANDIDATES = (
    "n_candidates must be a whole number >= 1, got {value!r}; pass e.g. n_candidates=20."
)
BAD_USERS = (
    "user_idx must be a 1-D array of user indices in 0..{max_user}, got {detail}; pass the "
    "weak users' user_idx."
)
RANKING_TOO_SHORT = surface_hints(
    "The baseline ranking has {width} candidates per user but {c} were asked for.",
    app="Lower Candidates C on the LLM rerank page to {width} or fewer, or train the baseline "
    "with Candidates C of at least {c} on the Baseline page.",
    cli="Pass --candidates {width} or fewer, or evaluate the baseline again with --candidates "
    "{c} or more.",
)
BAD_RANKINGS = (
    "rankings must be a 2-D integer array of item_idx (n_users x C, -1 padded), got shape "
    "{shape} and dtype {dtype}; pass Evaluation.recommendations."
)
BAD_TRUTH_ROWS = (
    "truth has {n_truth} rows but rankings have {n_rank}; pass both for all users "
    "(e.g. split.test and Evaluation.recommendations)."
)
BAD_SCORES_SHAPE = (
    "scores_fn returned shape {got} for {want} candidates; it must return one score per "
    "(user, candidate), e.g. Recommender.score."
)

Protocol = Literal["realistic", "paper"]


@dataclass(frozen=True)
class CandidateSet:
    """Candidates of each reranked user, in baseline order, plus the order shown to the LLM.

    Attributes:
        user_idx: int64 (n,) the users, one row each.
        items: int32 (n, C) item_idx in BASELINE order (best first), ``-1`` padded at the end.
        shown: int16 (int32 when C > 32767) (n, C): ``shown[i, j]`` is the column of ``items``
            shown at prompt position ``j`` (identifier ``j + 1``); a seeded permutation of the
            valid columns, ``-1`` where padded.
        protocol: ``"realistic"`` or ``"paper"``.
        seed: the seed of the shuffle (and of the paper protocol's draws).
        candidate_recall: float64 (n,) 1.0 when any relevant test item is in ``items[i]``,
            0.0 when none is, NaN when the user has no relevant test item.
    """

    user_idx: np.ndarray
    items: np.ndarray
    shown: np.ndarray
    protocol: str
    seed: int
    candidate_recall: np.ndarray

    @property
    def n_candidates(self) -> int:
        """C, the width of ``items``."""
        return int(self.items.shape[1])

    @property
    def n_valid(self) -> np.ndarray:
        """int64 (n,) number of real (non-padding) candidates per user."""
        return (self.items >= 0).sum(axis=1).astype(np.int64)

    @cached_property
    def shown_items(self) -> np.ndarray:
        """int32 (n, C) item_idx at each prompt position (``-1`` where padded); computed
        once, read-only."""
        col = self.shown.astype(np.int64)
        out = np.take_along_axis(self.items, np.maximum(col, 0), axis=1)
        out = np.where(col >= 0, out, -1).astype(np.int32)
        out.flags.writeable = False
        return out

    @property
    def baseline_rank(self) -> np.ndarray:
        """int (n, C): baseline position of the candidate shown at each prompt position.

        It is ``shown`` itself (columns of ``items`` are baseline positions); this is the
        ``baseline_rank`` argument of :func:`analysis.rerank.parsing.parse_ranking`.
        """
        return self.shown


def _check_n_candidates(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise AnalysisError(BAD_N_CANDIDATES.format(value=value))
    return int(value)


def check_user_idx(user_idx: object, n_users: int, *, distinct: bool = False) -> np.ndarray:
    """``user_idx`` as int64, checked: 1-D, integer, in ``0..n_users-1`` (and no repeats).

    Raises:
        AnalysisError: :data:`BAD_USERS`.
    """
    u = np.asarray(user_idx)
    if u.ndim != 1 or not (np.issubdtype(u.dtype, np.integer) or u.size == 0):
        raise AnalysisError(BAD_USERS.format(
            max_user=n_users - 1, detail=f"shape {u.shape} and dtype {u.dtype}"))
    u = u.astype(np.int64)
    if u.size and (u.min() < 0 or u.max() >= n_users):
        bad = int(u[(u < 0) | (u >= n_users)][0])
        raise AnalysisError(BAD_USERS.format(max_user=n_users - 1, detail=f"user_idx {bad}"))
    if distinct and len(np.unique(u)) != len(u):
        raise AnalysisError(BAD_USERS.format(max_user=n_users - 1, detail="repeated users"))
    return u


def shown_permutation(user_idx: np.ndarray, items: np.ndarray, seed: int) -> np.ndarray:
    """Seeded prompt order of each row's valid candidates, independent of the batch.

    Column ``c`` of row ``i`` gets the key ``hash_keys(seed, user_idx[i], c)``; valid columns
    are shown in increasing key order, padded columns (``items == -1``, at the end) get ``-1``.

    Args:
        user_idx: (n,) users.
        items: (n, C) candidates, valid entries first, ``-1`` padded.
        seed: the shuffle seed.

    Returns:
        int16 (int32 when C > 32767) (n, C) ``shown`` array (see :class:`CandidateSet`).
    """
    n, c = items.shape
    dtype = np.int16 if c <= np.iinfo(np.int16).max else np.int32
    if n == 0 or c == 0:
        return np.full((n, c), -1, dtype=dtype)
    keys = hash_keys(seed, np.asarray(user_idx, dtype=np.int64)[:, None], np.arange(c)[None, :])
    keys = np.where(items >= 0, keys, KEY_MAX)
    shown = np.argsort(keys, axis=1, kind="stable")
    n_valid = (items >= 0).sum(axis=1)
    shown = np.where(np.arange(c)[None, :] < n_valid[:, None], shown, -1)
    return shown.astype(dtype)


def realistic_candidates(
    rankings: np.ndarray, user_idx: np.ndarray, truth: sp.csr_matrix, *,
    n_candidates: int = 20, seed: int = 0,
) -> CandidateSet:
    """The baseline's own top-C test ranking of each user, shuffled for the prompt.

    Args:
        rankings: int (n_users, >= C) the baseline's test ranking for every user, rows by
            ``user_idx``, best first, ``-1`` padded (``Evaluation.recommendations``).
        user_idx: (n,) the users to rerank (rows of ``rankings`` and ``truth``).
        truth: sparse (n_users, n_items) relevant held-out test gains (``split.test``).
        n_candidates: C, how many of the top items the LLM reorders.
        seed: seed of the shown order.

    Returns:
        A :class:`CandidateSet` with protocol ``"realistic"``; ``candidate_recall`` is
        ``candidate_recall@C`` of the baseline ranking (see
        :func:`analysis.metrics.candidate_recall`).

    Raises:
        AnalysisError: bad ``n_candidates`` (:data:`BAD_N_CANDIDATES`), rankings narrower than
            C (:data:`RANKING_TOO_SHORT`), bad shapes or user indices.
    """
    c = _check_n_candidates(n_candidates)
    r = np.asarray(rankings)
    if r.ndim != 2 or not (np.issubdtype(r.dtype, np.integer) or r.size == 0):
        raise AnalysisError(BAD_RANKINGS.format(shape=r.shape, dtype=r.dtype))
    if r.shape[1] < c:
        raise AnalysisError(RANKING_TOO_SHORT.format(width=r.shape[1], c=c))
    if not sp.issparse(truth) or truth.shape[0] != r.shape[0]:
        n_truth = truth.shape[0] if sp.issparse(truth) else type(truth).__name__
        raise AnalysisError(BAD_TRUTH_ROWS.format(n_truth=n_truth, n_rank=r.shape[0]))
    users = check_user_idx(user_idx, r.shape[0])
    items = compact_left(r[users, :c].astype(np.int32))
    recall = _candidate_recall(items, sp.csr_matrix(truth)[users], c)
    return _candidate_set(users, items, "realistic", seed, recall)


def paper_candidates(
    split: Split, scores_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    user_idx: np.ndarray, *, n_candidates: int = 20, seed: int = 0,
    negatives: Negatives = "popularity",
) -> CandidateSet:
    """Kaur & Shah's protocol: relevant test items plus sampled unseen items, C in all.

    For each user: its relevant test items (``split.test``); when it has more than C of them,
    the C with the smallest ``hash_keys(seed, user, 0, item)`` (a seeded, batch-independent
    sample). The remaining slots are filled with negatives: items the user has no
    interaction with in any fold (train, validation or test, relevant or not), distinct,
    drawn by :func:`~analysis.rerank.negatives.sample_negatives`:

    * ``"popularity"`` (default): popularity-matched. Items are ranked by training
      popularity (train interactions per item, ties in seeded random order,
      :func:`popularity_ranks`); the user's negatives are spread evenly over its kept test
      items, and each one is drawn among the user's unseen items nearest its test item in
      that ranking (3 more popular and 3 less popular, a window widened only while distinct
      items run short). So the negatives' training-popularity distribution follows that of
      the user's own test items, and popularity alone hardly tells the test items apart
      (MovieLens 100K, leave-5-out, C=20: mean per-user popularity AUC 0.51, against 0.83
      with uniform draws). What is left comes from the top of the ranking: a test item
      among the user's few most popular unseen items can only get less popular negatives.
      A user without test items gets negatives near items drawn with probability
      proportional to training popularity.
    * ``"uniform"``: uniformly without replacement (the paper's draw; mostly obscure items,
      which popularity separates from the test items).

    A user who has seen almost the whole catalogue gets fewer candidates (``-1`` padded).
    The candidates are then put in the baseline's order: score descending (``scores_fn``),
    ties by lower item_idx, NaN scores last.

    Users with no relevant test item get only sampled items and ``candidate_recall`` NaN;
    for the others ``candidate_recall`` is 1.0 by construction.

    Args:
        split: the split (its dataset gives every fold's interactions).
        scores_fn: ``scores_fn(user_idx (n,), items (n, C)) -> (n, C)`` baseline scores, e.g.
            ``Recommender.score``. Padding cells are passed as item 0 and their scores ignored.
        user_idx: (n,) users to rerank.
        n_candidates: C.
        seed: seed of the test-item sample, the negatives and the shown order.
        negatives: ``"popularity"`` or ``"uniform"``, how the unseen items are drawn.

    Returns:
        A :class:`CandidateSet` with protocol ``"paper"``.

    Raises:
        AnalysisError: bad ``n_candidates``, unknown ``negatives``
            (:data:`UNKNOWN_NEGATIVES`), bad user indices, or a ``scores_fn`` returning the
            wrong shape (:data:`BAD_SCORES_SHAPE`).
    """
    c = _check_n_candidates(n_candidates)
    if negatives not in NEGATIVES:
        raise AnalysisError(UNKNOWN_NEGATIVES.format(value=negatives))
    users = check_user_idx(user_idx, split.dataset.n_users)
    test = split.test[users]  # (n, n_items) relevant test gains, canonical CSR
    pos_items, n_pos = _sample_test_items(test, users, c, seed)
    neg = _paper_negatives(split, users, pos_items, n_pos, c, seed, negatives)
    cand = _in_baseline_order(_fill_slots(pos_items, n_pos, neg), users, scores_fn)
    items = cand.astype(np.int32)
    recall = _candidate_recall(items, test, c) if len(users) else np.zeros(0, dtype=np.float64)
    return _candidate_set(users, items, "paper", seed, recall)


def _sample_test_items(
    test: sp.csr_matrix, users: np.ndarray, c: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's relevant test items, the C with the smallest ``hash_keys(seed, user, 0,
    item)`` when it has more: int64 (n, C) ``-1`` padded, and how many (n,)."""
    n = len(users)
    n_test = np.diff(test.indptr)
    rows = np.repeat(np.arange(n), n_test)
    t_items = test.indices.astype(np.int64)
    t_key = hash_keys(seed, users[rows], 0, t_items)
    order = np.lexsort((t_items, t_key, rows))
    rank = rank_sorted(rows[order], n)
    keep = rank < c
    pos_items = np.full((n, c), -1, dtype=np.int64)
    pos_items[rows[order][keep], rank[keep]] = t_items[order][keep]
    return pos_items, np.minimum(n_test, c)


def _paper_negatives(
    split: Split, users: np.ndarray, pos_items: np.ndarray, n_pos: np.ndarray, c: int,
    seed: int, negatives: Negatives,
) -> np.ndarray:
    """The negatives filling each user's other slots: items never seen in any fold."""
    ds = split.dataset
    n_items = ds.n_items
    seen_keys = np.unique(ds.user_idx.astype(np.int64) * n_items + ds.item_idx.astype(np.int64))
    n_seen = np.bincount(ds.user_idx, minlength=ds.n_users)[users]
    need = np.minimum(c - n_pos, n_items - n_seen).astype(np.int64)
    popularity = np.bincount(ds.item_idx[split.fold == TRAIN], minlength=n_items)
    return sample_negatives(users, need, seen_keys, n_items, seed, negatives=negatives,
                            anchors=pos_items, popularity=popularity)


def _fill_slots(pos_items: np.ndarray, n_pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """(n, C) each user's test items, then its negatives, ``-1`` padded."""
    n, c = pos_items.shape
    cand = np.full((n, c), -1, dtype=np.int64)
    if n:
        col = np.arange(c)[None, :]
        cand = np.where(col < n_pos[:, None], pos_items, -1)
        neg_col = col - n_pos[:, None]
        in_neg = (neg_col >= 0) & (neg_col < neg.shape[1])
        if neg.shape[1]:
            neg_vals = np.take_along_axis(neg, np.clip(neg_col, 0, neg.shape[1] - 1), axis=1)
            cand = np.where(in_neg, neg_vals, cand)
    return cand


def _in_baseline_order(
    cand: np.ndarray, users: np.ndarray,
    scores_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Each row's candidates by baseline score descending, ties by lower item_idx, NaN scores
    and padding last.

    Raises:
        AnalysisError: ``scores_fn`` returned the wrong shape (:data:`BAD_SCORES_SHAPE`).
    """
    valid = cand >= 0
    if not (len(users) and valid.any()):
        return cand
    scores = np.asarray(scores_fn(users, np.where(valid, cand, 0).astype(np.int32)))
    if scores.shape != cand.shape:
        raise AnalysisError(BAD_SCORES_SHAPE.format(got=scores.shape, want=cand.shape))
    s = np.where(valid, scores.astype(np.float64), -np.inf)
    s = np.where(np.isnan(s), -np.inf, s)
    # baseline order: valid first, then score descending, then lower item_idx
    order = np.lexsort((np.where(valid, cand, np.iinfo(np.int64).max), -s, ~valid), axis=1)
    return np.take_along_axis(cand, order, axis=1)


def _candidate_set(
    users: np.ndarray, items: np.ndarray, protocol: str, seed: int, recall: np.ndarray
) -> CandidateSet:
    """The :class:`CandidateSet` of ``items`` (baseline order), with its seeded shown order."""
    return CandidateSet(
        user_idx=users,
        items=items,
        shown=shown_permutation(users, items, seed),
        protocol=protocol,
        seed=int(seed),
        candidate_recall=recall,
    )
