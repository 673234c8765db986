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
recorded seed. Random draws of the paper protocol (test-item sample, negatives) use the same
mix, so they are batch-independent too.
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
from analysis.split import TRAIN, Split

__all__ = [
    "NEGATIVES",
    "CandidateSet",
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

UNKNOWN_NEGATIVES = (
    "Unknown negatives {value!r}; choose popularity (unseen items as popular in training as "
    "the user's held-out items) or uniform (any unseen item)."
)

Protocol = Literal["realistic", "paper"]
Negatives = Literal["popularity", "uniform"]
NEGATIVES = ("popularity", "uniform")

_HALF_WINDOW = 3  # popularity draws: first window, +-3 unseen items around the anchor
_MASK64 = (1 << 64) - 1
_G = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer over uint64 arrays (wrap-around arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _G
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def hash_keys(seed: int, *parts: np.ndarray | int) -> np.ndarray:
    """Pseudo-random uint64 keys that depend only on ``(seed, *parts)``, elementwise.

    ``h = mix(seed); h = mix(h ^ p)`` for each part ``p`` (broadcast together), where ``mix``
    is splitmix64. Equal inputs give equal keys whatever else is in the arrays, which is what
    makes shuffles and samples independent of the batch.

    Args:
        seed: any Python int (taken modulo 2**64).
        *parts: integer arrays (or ints), broadcast against each other.

    Returns:
        uint64 array of the broadcast shape.
    """
    h = _splitmix(np.asarray(int(seed) & _MASK64, dtype=np.uint64))
    for p in parts:
        h = _splitmix(h ^ np.asarray(p).astype(np.int64).astype(np.uint64))
    return np.asarray(h, dtype=np.uint64)


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


def _compact_left(items: np.ndarray) -> np.ndarray:
    """Move the valid (>= 0) entries of each row to the front, keeping their order."""
    order = np.argsort(items < 0, axis=1, kind="stable")
    return np.take_along_axis(items, order, axis=1)


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
    keys = np.where(items >= 0, keys, np.uint64(_MASK64))
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
    items = _compact_left(r[users, :c].astype(np.int32))
    recall = _candidate_recall(items, sp.csr_matrix(truth)[users], c)
    return CandidateSet(
        user_idx=users,
        items=items,
        shown=shown_permutation(users, items, seed),
        protocol="realistic",
        seed=int(seed),
        candidate_recall=recall,
    )


def _first_unique(rows: np.ndarray) -> np.ndarray:
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


def _take_first(valid: np.ndarray, values: np.ndarray, need: np.ndarray, width: int) -> np.ndarray:
    """Per row, the first ``need[i]`` values where ``valid``, in column order, -1 padded."""
    order = np.argsort(~valid, axis=1, kind="stable")
    picked = np.take_along_axis(values, order, axis=1)
    got = np.take_along_axis(valid, order, axis=1)
    keep = got & (np.arange(values.shape[1])[None, :] < need[:, None])
    out = np.where(keep, picked, -1)
    if out.shape[1] < width:
        out = np.pad(out, ((0, 0), (0, width - out.shape[1])), constant_values=-1)
    return out[:, :width]


def popularity_ranks(popularity: np.ndarray, seed: int) -> np.ndarray:
    """Each item's position when items are sorted by training popularity, least popular first.

    Ties (many items share a small count) are broken by ``hash_keys(seed, -1, item)``, so
    items of equal popularity are interleaved at random rather than by item_idx.

    Args:
        popularity: (n_items,) training interactions per item.
        seed: seed of the tie-break.

    Returns:
        int64 (n_items,) ranks ``0..n_items-1`` (a permutation).
    """
    pop = np.asarray(popularity)
    n_items = len(pop)
    order = np.lexsort((hash_keys(seed, -1, np.arange(n_items)), pop))
    rank = np.empty(n_items, dtype=np.int64)
    rank[order] = np.arange(n_items)
    return rank


def _lookup_seen(seen_keys: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Mask of ``key`` cells present in the sorted ``seen_keys``."""
    if len(seen_keys) == 0:
        return np.zeros(key.shape, dtype=bool)
    pos = np.searchsorted(seen_keys, key)
    return seen_keys[np.minimum(pos, len(seen_keys) - 1)] == key


class _PopularityDraws:
    """Popularity-matched draws: unseen items next to an anchor in popularity rank.

    Each user's unseen items (no interaction in any fold), ordered by popularity rank
    (:func:`popularity_ranks`), are numbered ``0..U-1``; an item's *position* is the number
    of the user's unseen items less popular than it. Each draw slot has an anchor: the
    user's held-out item ``slot % n_anchors`` (so the negatives are spread evenly over
    them), or, for a user without held-out items, an item drawn with probability
    proportional to its training popularity (what a held-out interaction looks like on
    average). The slot draws uniformly among the ``2w`` unseen items around the anchor's
    position (``w`` less popular, ``w`` more popular; the window is shifted inwards at the
    ends of the ranking). Working among unseen items keeps the window balanced where the
    user has seen most of the popular items; draws are never seen items, only repeats.
    """

    def __init__(self, users: np.ndarray, anchors: np.ndarray, popularity: np.ndarray,
                 seen_keys: np.ndarray, seed: int) -> None:
        n, n_items = len(users), len(popularity)
        self.users, self.seed, self.n_items = users, seed, n_items
        self.rank = popularity_ranks(popularity, seed)
        self.item_at_rank = np.argsort(self.rank)
        self.anchors = _compact_left(np.asarray(anchors, dtype=np.int64))
        self.n_anchors = (self.anchors >= 0).sum(axis=1)
        weights = np.asarray(popularity, dtype=np.float64)
        self.cdf = np.cumsum(weights) if weights.sum() > 0 else np.arange(1.0, n_items + 1)
        # each row's seen items as sorted popularity ranks, flattened with a row offset
        row_of = np.full(int(users.max(initial=-1)) + 1, -1, dtype=np.int64)
        row_of[users] = np.arange(n)
        s_user = seen_keys // n_items
        in_batch = s_user < len(row_of)
        s_row = np.where(in_batch, row_of[np.minimum(s_user, len(row_of) - 1)], -1)
        keep = s_row >= 0
        s_row, s_rank = s_row[keep], self.rank[seen_keys[keep] % n_items]
        order = np.lexsort((s_rank, s_row))
        s_row, s_rank = s_row[order], s_rank[order]
        counts = np.bincount(s_row, minlength=n)
        self.start = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        self.n_unseen = n_items - counts
        self.stride = 2 * n_items + 1
        j = np.arange(len(s_row)) - self.start[s_row]
        self.seen_rank_key = s_row * self.stride + s_rank  # sorted
        self.gap_key = s_row * self.stride + (s_rank - j)  # sorted: s_rank - j is nondecreasing

    def _position(self, rows: np.ndarray, rank: np.ndarray) -> np.ndarray:
        """Number of unseen items of each row's user with popularity rank below ``rank``."""
        below = np.searchsorted(self.seen_rank_key, rows * self.stride + rank, side="left")
        return rank - (below - self.start[rows])

    def _rank_at(self, rows: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Popularity rank of the unseen item at position ``pos`` of each row's user."""
        j = np.searchsorted(self.gap_key, rows * self.stride + pos, side="right")
        return pos + (j - self.start[rows])

    def _anchor_ranks(self, rows: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """(len(rows), len(slots)) popularity rank of each slot's anchor."""
        na = self.n_anchors[rows][:, None]
        out = np.zeros((len(rows), len(slots)), dtype=np.int64)
        if self.anchors.shape[1]:
            col = slots[None, :] % np.maximum(na, 1)
            item = np.take_along_axis(self.anchors[rows], col, axis=1)
            out = self.rank[np.maximum(item, 0)]
        if (na == 0).any():
            u = (hash_keys(self.seed, self.users[rows, None], 5, slots[None, :])
                 >> np.uint64(11)).astype(np.float64) / float(1 << 53)  # uniform in [0, 1)
            drawn = np.searchsorted(self.cdf, u * self.cdf[-1], side="right")
            out = np.where(na > 0, out, self.rank[np.minimum(drawn, self.n_items - 1)])
        return out

    def draw(self, rows: np.ndarray, slots: np.ndarray, half_width: int) -> np.ndarray:
        """(len(rows), len(slots)) drawn unseen item_idx."""
        r2 = np.broadcast_to(rows[:, None], (len(rows), len(slots)))
        anchor = self._position(r2, self._anchor_ranks(rows, slots))
        n_unseen = self.n_unseen[rows][:, None]
        size = np.minimum(2 * half_width, n_unseen)
        lo = np.clip(anchor - half_width, 0, np.maximum(n_unseen - size, 0))
        pick = (hash_keys(self.seed, self.users[rows, None], 4, slots[None, :])
                % np.maximum(size, 1).astype(np.uint64)).astype(np.int64)
        return self.item_at_rank[np.minimum(self._rank_at(r2, lo + pick), self.n_items - 1)]

    def fallback_order(self, rows: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """Per row, all items by distance in popularity rank to the nearest anchor (ties by
        ``hash_keys(seed, user, 2, item)``), seen items last."""
        all_items = np.arange(self.n_items, dtype=np.int64)
        dist = np.zeros((len(rows), self.n_items), dtype=np.int64)
        for j in range(self.anchors.shape[1]):  # over anchor columns (<= C), not users
            a = self.anchors[rows, j]
            d = np.abs(self.rank[None, :] - self.rank[np.maximum(a, 0)][:, None])
            dist = np.where((a >= 0)[:, None] & ((d < dist) | (j == 0)), d, dist)
        h = hash_keys(self.seed, self.users[rows, None], 2, all_items[None, :])
        return np.lexsort((h, dist, seen), axis=1)


def _sample_negatives(
    users: np.ndarray, need: np.ndarray, seen_keys: np.ndarray, n_items: int, seed: int,
    rounds: int = 6, *, negatives: Negatives = "popularity", anchors: np.ndarray | None = None,
    popularity: np.ndarray | None = None,
) -> np.ndarray:
    """Per user, ``need[i]`` distinct items that user never interacted with, -1 padded.

    Each round draws ``d`` items per user in numbered slots (numbered across rounds, so a
    user's draws never depend on the batch), drops seen items and repeats, and keeps the
    first ``need`` valid draws in slot order:

    * ``"uniform"``: slot ``s`` draws ``hash_keys(seed, user, 1, s) % n_items``.
    * ``"popularity"``: slot ``s`` draws one of the ``2w`` unseen items nearest its anchor
      in popularity rank (see :class:`_PopularityDraws`), ``w = 3 * 2**round``: the window
      widens round by round only for users still short of distinct items, so the nearest
      items come first. Never a seen item, only repeats are dropped.

    Users still short after ``rounds`` rounds (those who have seen most of the catalogue)
    take, from an exhaustive pass over their unseen items, those with the smallest
    ``hash_keys(seed, user, 2, item)`` (``"uniform"``) or the closest in popularity rank to
    an anchor, ties by that key (``"popularity"``).

    Args:
        users: (n,) users.
        need: (n,) negatives wanted per user.
        seen_keys: sorted ``user * n_items + item`` of every interaction of any fold.
        n_items: catalogue size.
        seed: seed of the draws.
        rounds: draw rounds before the exhaustive pass.
        negatives: ``"popularity"`` or ``"uniform"``.
        anchors: (n, A) each user's held-out item_idx, ``-1`` padded (``"popularity"``).
        popularity: (n_items,) training interactions per item (``"popularity"``).

    Raises:
        AnalysisError: unknown ``negatives`` (:data:`UNKNOWN_NEGATIVES`).
    """
    if negatives not in NEGATIVES:
        raise AnalysisError(UNKNOWN_NEGATIVES.format(value=negatives))
    n = len(users)
    width = int(need.max()) if n else 0
    out = np.full((n, width), -1, dtype=np.int64)
    if width == 0:
        return out
    pop_draws = None
    if negatives == "popularity":
        pop_draws = _PopularityDraws(
            users,
            np.full((n, 0), -1, np.int64) if anchors is None else anchors,
            np.zeros(n_items) if popularity is None else popularity,
            seen_keys,
            seed,
        )
    todo = np.flatnonzero(need > 0)
    draws_per_round = 2 * width + 8
    pool = np.empty((n, 0), dtype=np.int64)
    for r in range(rounds):
        if todo.size == 0:
            break
        slots = r * draws_per_round + np.arange(draws_per_round)
        if pop_draws is None:
            draw = (hash_keys(seed, users[todo, None], 1, slots[None, :])
                    % np.uint64(n_items)).astype(np.int64)
        else:
            draw = pop_draws.draw(todo, slots, _HALF_WINDOW << r)
        pool_t = np.concatenate([pool[todo] if pool.shape[1] else
                                 np.empty((todo.size, 0), np.int64), draw], axis=1)
        seen = _lookup_seen(seen_keys, users[todo, None] * n_items + pool_t)
        valid = _first_unique(pool_t) & ~seen
        out[todo] = _take_first(valid, pool_t, need[todo], width)
        # keep the valid draws (compacted) for the next round
        new_pool = np.full((n, pool_t.shape[1]), -1, dtype=np.int64)
        new_pool[todo] = _take_first(valid, pool_t, np.full(todo.size, pool_t.shape[1]),
                                     pool_t.shape[1])
        pool = new_pool
        todo = todo[(out[todo] >= 0).sum(axis=1) < need[todo]]
    if todo.size:  # exhaustive pass, in chunks of about 2**22 cells
        chunk = max(1, (1 << 22) // n_items)
        all_items = np.arange(n_items, dtype=np.int64)
        for s in range(0, todo.size, chunk):
            rows = todo[s:s + chunk]
            seen = _lookup_seen(seen_keys, users[rows, None] * n_items + all_items[None, :])
            if pop_draws is None:
                h = hash_keys(seed, users[rows, None], 2, all_items[None, :])
                h = np.where(seen, np.uint64(_MASK64), h)
                order = np.argsort(h, axis=1, kind="stable")[:, :width]
            else:
                order = pop_draws.fallback_order(rows, seen)[:, :width]
            ok = ~np.take_along_axis(seen, order, axis=1)
            ok &= np.arange(width)[None, :] < need[rows, None]
            out[rows] = np.where(ok, order, -1)
    return out


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
    drawn by :func:`_sample_negatives`:

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
    ds = split.dataset
    users = check_user_idx(user_idx, ds.n_users)
    n, n_items = len(users), ds.n_items
    test = split.test[users]  # (n, n_items) relevant test gains, canonical CSR
    n_test = np.diff(test.indptr)
    # test items: keep the C with the smallest per-(user, item) key
    rows = np.repeat(np.arange(n), n_test)
    t_items = test.indices.astype(np.int64)
    t_key = hash_keys(seed, users[rows], 0, t_items)
    order = np.lexsort((t_items, t_key, rows))
    starts = np.concatenate(([0], np.cumsum(n_test)[:-1])).astype(np.int64)
    rank = np.arange(len(rows)) - starts[rows[order]]
    keep = rank < c
    pos_items = np.full((n, c), -1, dtype=np.int64)
    pos_items[rows[order][keep], rank[keep]] = t_items[order][keep]
    n_pos = np.minimum(n_test, c)
    # negatives: never seen in any fold
    seen_keys = np.unique(ds.user_idx.astype(np.int64) * n_items + ds.item_idx.astype(np.int64))
    n_seen = np.bincount(ds.user_idx, minlength=ds.n_users)[users]
    need = np.minimum(c - n_pos, n_items - n_seen).astype(np.int64)
    popularity = np.bincount(ds.item_idx[split.fold == TRAIN], minlength=n_items)
    neg = _sample_negatives(users, need, seen_keys, n_items, seed, negatives=negatives,
                            anchors=pos_items, popularity=popularity)
    cand = np.full((n, c), -1, dtype=np.int64)
    if n:
        col = np.arange(c)[None, :]
        cand = np.where(col < n_pos[:, None], pos_items, -1)
        neg_col = col - n_pos[:, None]
        in_neg = (neg_col >= 0) & (neg_col < neg.shape[1])
        if neg.shape[1]:
            neg_vals = np.take_along_axis(neg, np.clip(neg_col, 0, neg.shape[1] - 1), axis=1)
            cand = np.where(in_neg, neg_vals, cand)
    valid = cand >= 0
    if n and valid.any():
        scores = np.asarray(scores_fn(users, np.where(valid, cand, 0).astype(np.int32)))
        if scores.shape != cand.shape:
            raise AnalysisError(BAD_SCORES_SHAPE.format(got=scores.shape, want=cand.shape))
        s = np.where(valid, scores.astype(np.float64), -np.inf)
        s = np.where(np.isnan(s), -np.inf, s)
        # baseline order: valid first, then score descending, then lower item_idx
        order = np.lexsort((np.where(valid, cand, np.iinfo(np.int64).max), -s, ~valid), axis=1)
        cand = np.take_along_axis(cand, order, axis=1)
    items = cand.astype(np.int32)
    recall = _candidate_recall(items, test, c) if n else np.zeros(0, dtype=np.float64)
    return CandidateSet(
        user_idx=users,
        items=items,
        shown=shown_permutation(users, items, seed),
        protocol="paper",
        seed=int(seed),
        candidate_recall=recall,
    )
