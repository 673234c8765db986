"""Step 7b: which of a user's past items go into the prompt.

Named strategies, each one ``lexsort`` over the TRAIN interactions of the requested users
(validation and test interactions are never read), then each row's rank within its user:

* ``"recent"``: the ``n_recent`` most recent train items, most recent first (a compiled
  top-n per user, no sort, when the interactions come grouped by user, as the workspace
  returns them; the same items as the sort).
* ``"paper"`` (Kaur & Shah 2024): ``n_paper`` train items drawn at random (seeded,
  batch-independent), shown best rated first.
* ``"long-short"`` (in the spirit of RecLoRA): the ``n_short`` most recent items, then, from
  the rest of the train history, the ``n_long`` items most similar to the user's candidates
  (or, under the paper protocol, whose candidates hold the held-out items, to the user's
  recent items). Short prompts that still carry the relevant long-term taste.

Each :class:`History` says in words how it was chosen and ordered
(:attr:`History.description`, from :func:`history_phrase`); prompts quote it, so a prompt
never claims an order its history does not have. The phrase depends only on the strategy
and its settings, never on the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numba import njit

from analysis.errors import AnalysisError, surface_hints
from analysis.rerank.candidates import CandidateSet, check_user_idx, hash_keys
from analysis.split import TRAIN, Split

__all__ = [
    "HISTORY_STRATEGIES",
    "History",
    "HistoryStrategy",
    "history_phrase",
    "select_history",
]

HistoryStrategy = Literal["recent", "paper", "long-short"]
HISTORY_STRATEGIES = ("recent", "paper", "long-short")

# --- user-facing messages -------------------------------------------------------------------
UNKNOWN_HISTORY = "Unknown history strategy {strategy!r}; choose one of: recent, paper, long-short."
NO_TIMESTAMPS = (
    "Dataset '{name}' has no timestamps, so the {strategy!r} history (most recent items) is "
    "impossible; use the 'paper' history (random rated items) instead."
)
NO_FACTORS = (
    "The 'long-short' history needs item embeddings to find the history items most similar to "
    "the candidates, and this baseline has none (item-kNN, popularity); use an ALS/BPR baseline "
    "or the 'recent' history."
)
BAD_FACTORS = (
    "item_factors must be a 2-D float array with one row per item ({n_items}), got shape "
    "{shape}; pass Recommender.item_factors."
)
NO_CANDIDATES = surface_hints(
    "The 'long-short' history was asked to pick the history items closest to the candidates "
    "but was given no candidate set.",
    app="Choose another History on the LLM rerank page.",
    cli="Use another --history.",
)
CANDIDATES_GIVE_AWAY = surface_hints(
    "The 'long-short' history may not pick items by similarity to the paper protocol's "
    "candidates: they hold the user's held-out items.",
    app="Choose the realistic Candidates or another History on the LLM rerank page.",
    cli="Use --protocol realistic or another --history.",
)
MISSING_CANDIDATES = (
    "The candidate set has no row for user_idx {user}; build the candidates for the same users."
)
BAD_COUNT = "History parameter {name} must be a whole number >= 0, got {value!r}."


@dataclass(frozen=True)
class History:
    """The past items shown in each user's prompt.

    Attributes:
        user_idx: int64 (n,) one row per user, in the order requested.
        items: int32 (n, H) train item_idx in prompt order, ``-1`` padded at the end.
        ratings: float32 (n, H) the user's rating of each item (explicit feedback); NaN for
            padding and for count/implicit feedback (a count is not a rating).
        strategy: ``"recent"``, ``"paper"`` or ``"long-short"``.
        params: the strategy's parameters (and seed), JSON-able; ``"paper"`` adds ``order``
            (what its display order sorts by: ``"rating"``, ``"count"``, ``"recent"`` or
            ``"none"``), ``"long-short"`` adds ``similar_to`` (``"candidates"`` or
            ``"recent"``).
    """

    user_idx: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    strategy: str
    params: dict = field(default_factory=dict)

    @property
    def n_items(self) -> np.ndarray:
        """int64 (n,) number of history items per user."""
        return (self.items >= 0).sum(axis=1).astype(np.int64)

    @property
    def description(self) -> str:
        """How these histories were chosen and ordered, in words for a prompt
        (:func:`history_phrase`); the same for every user."""
        return history_phrase(self.strategy, self.params)


_PAPER_ORDER_PHRASES = {
    "rating": "best rated first",
    "count": "most interacted with first",
    "recent": "most recent first",
    "none": "in no particular order",
}


def history_phrase(strategy: str, params: dict) -> str:
    """The selection and order of a history in words, for the prompt's ``{history_order}``.

    ``"recent"``: ``"most recent first"``. ``"paper"``: ``"a random sample of up to N items,
    best rated first"`` (or ``most interacted with first``, ``most recent first``, ``in no
    particular order``, following ``params["order"]``). ``"long-short"``:
    ``"up to S most recent items, most recent first, then up to L earlier items most similar
    to the candidates, most similar first"`` (``to those recent items`` when
    ``params["similar_to"] == "recent"``; one part only when S or L is 0).

    Args:
        strategy: :attr:`History.strategy`.
        params: :attr:`History.params`.

    Returns:
        One phrase, lower case, no final period; it depends only on the arguments.

    Raises:
        AnalysisError: unknown strategy (:data:`UNKNOWN_HISTORY`).
    """
    if strategy == "recent":
        return "most recent first"
    if strategy == "paper":
        order = _PAPER_ORDER_PHRASES[params.get("order", "rating")]
        return f"a random sample of up to {params.get('n_paper', 20)} items, {order}"
    if strategy != "long-short":
        raise AnalysisError(UNKNOWN_HISTORY.format(strategy=strategy))
    n_short, n_long = int(params.get("n_short", 5)), int(params.get("n_long", 10))
    short = f"up to {n_short} most recent items, most recent first"
    if params.get("similar_to", "candidates") == "candidates":
        target = "the candidates"
    else:
        target = "those recent items" if n_short else "the most recent item"
    if n_long == 0:
        return short
    long = f"up to {n_long} {'earlier ' if n_short else ''}items most similar to {target}"
    long += ", most similar first"
    return long if n_short == 0 else f"{short}, then {long}"


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise AnalysisError(BAD_COUNT.format(name=name, value=value))
    return int(value)


def _rank_sorted(rows_sorted: np.ndarray, n_rows: int) -> np.ndarray:
    """Position of each entry within its row, for entries sorted by row."""
    counts = np.bincount(rows_sorted, minlength=n_rows)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    return np.arange(len(rows_sorted), dtype=np.int64) - starts[rows_sorted]


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


def _recent_take(row: np.ndarray, item: np.ndarray, ts: np.ndarray, n: int,
                 width: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``"recent"`` selection without a sort, when each row's entries are contiguous and
    in row order (the workspace returns interactions by user): ``(take, cols)`` equal to
    the lexsort path's; None otherwise."""
    if width == 0 or len(row) == 0 or (np.diff(row) < 0).any():
        return None
    counts = np.bincount(row, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    out = np.full((n, width), -1, dtype=np.int64)
    _recent_kernel(starts, ts, item, width, out)
    cols = np.broadcast_to(np.arange(width), out.shape)
    keep = out >= 0
    return out[keep], cols[keep]


def _scatter(n: int, width: int, rows: np.ndarray, cols: np.ndarray, *values: np.ndarray,
             fills: tuple) -> list[np.ndarray]:
    out = []
    for v, fill in zip(values, fills):
        a = np.full((n, width), fill, dtype=v.dtype)
        a[rows, cols] = v
        out.append(a)
    return out


def _mean_factors(rows: np.ndarray, items: np.ndarray, n: int, factors: np.ndarray) -> np.ndarray:
    """(n, f) mean factor of the items of each row (pairs ``rows[k], items[k]``; zeros for a
    row without items)."""
    cnt = np.bincount(rows, minlength=n)
    w = 1.0 / np.maximum(cnt[rows], 1)
    m = sp.csr_matrix((w, (rows, items)), shape=(n, factors.shape[0]))
    return np.asarray(m @ factors, dtype=np.float64)


def _mean_candidate_factors(
    candidates: CandidateSet, users: np.ndarray, factors: np.ndarray
) -> np.ndarray:
    """(n, f) mean factor of each user's valid candidates (zeros when it has none)."""
    pos = np.full(int(max(users.max(initial=-1), candidates.user_idx.max(initial=-1))) + 1, -1,
                  dtype=np.int64)
    pos[candidates.user_idx] = np.arange(len(candidates.user_idx))
    rows = pos[users]
    if (rows < 0).any():
        raise AnalysisError(MISSING_CANDIDATES.format(user=int(users[rows < 0][0])))
    items = candidates.items[rows].astype(np.int64)
    valid = items >= 0
    r = np.repeat(np.arange(len(users)), valid.sum(axis=1))
    return _mean_factors(r, items[valid], len(users), factors)


def _cosine_rows(factors: np.ndarray, items: np.ndarray, means: np.ndarray, rows: np.ndarray,
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


def select_history(
    split: Split, user_idx: np.ndarray, strategy: HistoryStrategy, *, n_recent: int = 10,
    n_paper: int = 20, n_short: int = 5, n_long: int = 10,
    item_factors: np.ndarray | None = None, candidates: CandidateSet | None = None,
    seed: int = 0, use_candidates: bool | None = None,
) -> History:
    """Pick each user's prompt history from its TRAIN interactions.

    Orders (all ties end on lower item_idx, so the result is deterministic):

    * ``"recent"``: timestamp descending; the first ``n_recent``.
    * ``"paper"``: the ``n_paper`` train items with the smallest
      ``hash_keys(seed, user, item)`` (a uniform sample, independent of the batch), shown by
      value descending (rating, or count), then timestamp descending (when present).
    * ``"long-short"``: the ``n_short`` most recent items (most recent first), then among the
      user's other train items the ``n_long`` with the highest cosine similarity between the
      item's factor and an anchor (most similar first, ties more recent first): the mean
      factor of the user's valid candidates, or, when the candidates may not be looked at,
      the mean factor of the user's ``max(n_short, 1)`` most recent train items (the
      history then depends on nothing but the user's own train history). A zero vector has
      similarity 0.

    The paper protocol's candidates hold the user's held-out items, so the ``"long-short"``
    history never looks at them: by default (``use_candidates=None``) it uses the candidates
    only when they are given and not the paper protocol's, else the recent items.

    Args:
        split: the split; only ``fold == 0`` (train) interactions are used.
        user_idx: (n,) distinct users.
        strategy: ``"recent"``, ``"paper"`` or ``"long-short"``.
        n_recent: history length of ``"recent"``.
        n_paper: history length of ``"paper"``.
        n_short: recent part of ``"long-short"``.
        n_long: similar part of ``"long-short"``.
        item_factors: (n_items, f) item embeddings (``Recommender.item_factors``), needed by
            ``"long-short"``.
        candidates: the users' candidate set, read by ``"long-short"`` (realistic protocol).
        seed: seed of the ``"paper"`` sample.
        use_candidates: ``"long-short"`` anchor: True, the candidates (required, and not the
            paper protocol's); False, the user's recent items (``candidates`` ignored);
            None, the candidates when given and not the paper protocol's, else the recent
            items. Recorded as ``params["similar_to"]``.

    Returns:
        A :class:`History`, rows in the order of ``user_idx``, width the strategy's length.

    Raises:
        AnalysisError: unknown strategy (:data:`UNKNOWN_HISTORY`), no timestamps for
            ``"recent"``/``"long-short"`` (:data:`NO_TIMESTAMPS`), no factors
            (:data:`NO_FACTORS`) for ``"long-short"``, ``use_candidates=True`` without
            candidates (:data:`NO_CANDIDATES`) or with the paper protocol's
            (:data:`CANDIDATES_GIVE_AWAY`), negative lengths, bad user indices.
    """
    if strategy not in HISTORY_STRATEGIES:
        raise AnalysisError(UNKNOWN_HISTORY.format(strategy=strategy))
    ds = split.dataset
    users = check_user_idx(user_idx, ds.n_users, distinct=True)
    n = len(users)
    if strategy == "recent":
        width = _check_count("n_recent", n_recent)
        params = {"n_recent": width}
    elif strategy == "paper":
        width = _check_count("n_paper", n_paper)
        params = {"n_paper": width, "seed": int(seed)}
    else:
        n_short = _check_count("n_short", n_short)
        n_long = _check_count("n_long", n_long)
        width = n_short + n_long
        if use_candidates is None:
            use_candidates = candidates is not None and candidates.protocol != "paper"
        params = {"n_short": n_short, "n_long": n_long,
                  "similar_to": "candidates" if use_candidates else "recent"}
    if strategy in ("recent", "long-short") and ds.timestamp is None:
        raise AnalysisError(NO_TIMESTAMPS.format(name=ds.name, strategy=strategy))
    if strategy == "long-short":
        if item_factors is None:
            raise AnalysisError(NO_FACTORS)
        f = np.asarray(item_factors)
        if f.ndim != 2 or f.shape[0] != ds.n_items:
            raise AnalysisError(BAD_FACTORS.format(n_items=ds.n_items, shape=f.shape))
        if use_candidates and candidates is None:
            raise AnalysisError(NO_CANDIDATES)
        if use_candidates and candidates.protocol == "paper":
            raise AnalysisError(CANDIDATES_GIVE_AWAY)

    # the train interactions of the requested users, with their row in the output
    pos = np.full(ds.n_users, -1, dtype=np.int64)
    pos[users] = np.arange(n)
    sel = np.flatnonzero((split.fold == TRAIN) & (pos[ds.user_idx] >= 0))
    row = pos[ds.user_idx[sel]]
    item = ds.item_idx[sel].astype(np.int64)
    ts = None if ds.timestamp is None else np.asarray(ds.timestamp, dtype=np.int64)[sel]
    value = None if ds.value is None else np.asarray(ds.value, dtype=np.float32)[sel]
    rating = (value if (value is not None and ds.kind == "explicit")
              else np.full(len(sel), np.nan, dtype=np.float32))

    if strategy == "recent":
        fast = _recent_take(row, item, ts, n, width)
        if fast is not None:
            take, cols = fast
        else:
            order = np.lexsort((item, -ts, row))
            rank = _rank_sorted(row[order], n)
            take = order[rank < width]
            cols = rank[rank < width]
    elif strategy == "paper":
        key = hash_keys(seed, users[row], item)
        order = np.lexsort((item, key, row))
        rank = _rank_sorted(row[order], n)
        picked = order[rank < width]  # the sample, then its display order
        keys = [item[picked]]
        if ts is not None:
            keys.append(-ts[picked])
        if value is not None:
            keys.append(-value[picked].astype(np.float64))
        keys.append(row[picked])
        order2 = np.lexsort(tuple(keys))
        take = picked[order2]
        cols = _rank_sorted(row[take], n)
        params["order"] = ("none" if value is None and ts is None else "recent" if value is None
                           else "rating" if ds.kind == "explicit" else "count")
    else:
        order = np.lexsort((item, -ts, row))
        rank = _rank_sorted(row[order], n)
        short = order[rank < n_short]
        rest = order[rank >= n_short]
        factors = np.asarray(item_factors)
        if use_candidates:
            means = _mean_candidate_factors(candidates, users, factors)
        else:  # the user's own recent items only: nothing held out can steer the choice
            anchor = order[rank < max(n_short, 1)]
            means = _mean_factors(row[anchor], item[anchor], n, factors)
        sim = _cosine_rows(factors, item[rest], means, row[rest])
        order2 = np.lexsort((item[rest], -ts[rest], -sim, row[rest]))
        long_sorted = rest[order2]
        rank2 = _rank_sorted(row[long_sorted], n)
        long_take = long_sorted[rank2 < n_long]
        n_short_got = np.bincount(row[short], minlength=n)
        take = np.concatenate([short, long_take])
        cols = np.concatenate([
            rank[rank < n_short],
            n_short_got[row[long_take]] + rank2[rank2 < n_long],
        ])
    items_out, ratings_out = _scatter(
        n, width, row[take], cols, item[take].astype(np.int32), rating[take],
        fills=(-1, np.nan),
    )
    return History(
        user_idx=users,
        items=items_out,
        ratings=ratings_out.astype(np.float32),
        strategy=strategy,
        params=params,
    )
