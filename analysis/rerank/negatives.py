"""The unseen items (negatives) that fill the paper protocol's candidate lists.

Kaur & Shah's protocol (:func:`analysis.rerank.candidates.paper_candidates`) puts each user's
held-out items among C candidates; the other slots are items the user never interacted with
in any fold, drawn here:

* ``"popularity"`` (default): popularity-matched. Each negative is drawn among the user's
  unseen items nearest one of its held-out items in training popularity
  (:func:`popularity_ranks`), so popularity alone hardly tells the held-out items apart.
* ``"uniform"``: uniformly without replacement (the paper's draw; mostly obscure items,
  which training popularity alone picks out from the held-out items).

Every draw is keyed by :func:`analysis.rerank.seeding.hash_keys` over ``(seed, user, slot)``,
so a user's negatives never depend on the other users of the batch.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from analysis.errors import AnalysisError
from analysis.rerank._rows import compact_left, first_unique, take_first
from analysis.rerank.seeding import KEY_MAX, hash_keys

__all__ = ["NEGATIVES", "UNKNOWN_NEGATIVES", "Negatives", "popularity_ranks", "sample_negatives"]

UNKNOWN_NEGATIVES = (
    "Unknown negatives {value!r}; choose popularity (unseen items as popular in training as "
    "the user's held-out items) or uniform (any unseen item)."
)

Negatives = Literal["popularity", "uniform"]
NEGATIVES = ("popularity", "uniform")

_HALF_WINDOW = 3  # popularity draws: first window, +-3 unseen items around the anchor


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
        self.anchors = compact_left(np.asarray(anchors, dtype=np.int64))
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


def sample_negatives(
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
    todo = _draw_rounds(out, users, need, seen_keys, n_items, seed, rounds, pop_draws)
    if todo.size:
        _exhaustive_pass(out, todo, users, need, seen_keys, n_items, seed, pop_draws)
    return out


def _draw_rounds(
    out: np.ndarray, users: np.ndarray, need: np.ndarray, seen_keys: np.ndarray, n_items: int,
    seed: int, rounds: int, pop_draws: _PopularityDraws | None,
) -> np.ndarray:
    """The draw rounds of :func:`sample_negatives`, filling ``out`` in place; returns the
    rows still short of ``need`` distinct unseen items."""
    n, width = out.shape
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
        valid = first_unique(pool_t) & ~seen
        out[todo] = take_first(valid, pool_t, need[todo], width)
        # keep the valid draws (compacted) for the next round
        new_pool = np.full((n, pool_t.shape[1]), -1, dtype=np.int64)
        new_pool[todo] = take_first(valid, pool_t, np.full(todo.size, pool_t.shape[1]),
                                    pool_t.shape[1])
        pool = new_pool
        todo = todo[(out[todo] >= 0).sum(axis=1) < need[todo]]
    return todo


def _exhaustive_pass(
    out: np.ndarray, todo: np.ndarray, users: np.ndarray, need: np.ndarray,
    seen_keys: np.ndarray, n_items: int, seed: int, pop_draws: _PopularityDraws | None,
) -> None:
    """Rows ``todo`` of ``out`` from all their unseen items (see :func:`sample_negatives`),
    in chunks of about 2**22 cells."""
    width = out.shape[1]
    chunk = max(1, (1 << 22) // n_items)
    all_items = np.arange(n_items, dtype=np.int64)
    for s in range(0, todo.size, chunk):
        rows = todo[s:s + chunk]
        seen = _lookup_seen(seen_keys, users[rows, None] * n_items + all_items[None, :])
        if pop_draws is None:
            h = hash_keys(seed, users[rows, None], 2, all_items[None, :])
            h = np.where(seen, KEY_MAX, h)
            order = np.argsort(h, axis=1, kind="stable")[:, :width]
        else:
            order = pop_draws.fallback_order(rows, seen)[:, :width]
        ok = ~np.take_along_axis(seen, order, axis=1)
        ok &= np.arange(width)[None, :] < need[rows, None]
        out[rows] = np.where(ok, order, -1)
