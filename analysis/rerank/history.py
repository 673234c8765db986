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

from analysis.errors import AnalysisError, surface_hints
from analysis.rerank._rows import cosine_rows, mean_factors, rank_sorted, recent_take, scatter
from analysis.rerank.candidates import CandidateSet, check_user_idx
from analysis.rerank.seeding import hash_keys
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
    return mean_factors(r, items[valid], len(users), factors)


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
    if strategy == "long-short" and use_candidates is None:
        use_candidates = candidates is not None and candidates.protocol != "paper"
    params, width = _strategy_params(strategy, n_recent, n_paper, n_short, n_long, seed,
                                     bool(use_candidates))
    _check_inputs(split, strategy, item_factors, candidates, bool(use_candidates))
    train = _TrainRows.of(split, users)
    if strategy == "recent":
        take, cols = _take_recent(train, n, width)
    elif strategy == "paper":
        take, cols = _take_paper(train, users, n, width, seed)
        params["order"] = ("none" if train.value is None and train.ts is None
                           else "recent" if train.value is None
                           else "rating" if ds.kind == "explicit" else "count")
    else:
        take, cols = _take_long_short(train, users, n, params["n_short"], params["n_long"],
                                      np.asarray(item_factors), candidates, bool(use_candidates))
    items_out, ratings_out = scatter(
        n, width, train.row[take], cols, train.item[take].astype(np.int32), train.rating[take],
        fills=(-1, np.nan),
    )
    return History(
        user_idx=users,
        items=items_out,
        ratings=ratings_out.astype(np.float32),
        strategy=strategy,
        params=params,
    )


def _strategy_params(
    strategy: str, n_recent: int, n_paper: int, n_short: int, n_long: int, seed: int,
    use_candidates: bool,
) -> tuple[dict, int]:
    """The strategy's checked parameters (:attr:`History.params`) and its history length."""
    if strategy == "recent":
        width = _check_count("n_recent", n_recent)
        return {"n_recent": width}, width
    if strategy == "paper":
        width = _check_count("n_paper", n_paper)
        return {"n_paper": width, "seed": int(seed)}, width
    n_short = _check_count("n_short", n_short)
    n_long = _check_count("n_long", n_long)
    params = {"n_short": n_short, "n_long": n_long,
              "similar_to": "candidates" if use_candidates else "recent"}
    return params, n_short + n_long


def _check_inputs(
    split: Split, strategy: str, item_factors: np.ndarray | None,
    candidates: CandidateSet | None, use_candidates: bool,
) -> None:
    """What the strategy reads is there: timestamps, factors, allowed candidates."""
    ds = split.dataset
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


@dataclass(frozen=True)
class _TrainRows:
    """The TRAIN interactions of the requested users, each with its output row.

    Attributes:
        row: int64 output row (position in ``user_idx``).
        item: int64 item_idx.
        ts: int64 timestamps, or None when the dataset has none.
        value: float32 feedback values, or None.
        rating: float32 the value for explicit feedback, else NaN (a count is not a rating).
    """

    row: np.ndarray
    item: np.ndarray
    ts: np.ndarray | None
    value: np.ndarray | None
    rating: np.ndarray

    @classmethod
    def of(cls, split: Split, users: np.ndarray) -> _TrainRows:
        ds = split.dataset
        pos = np.full(ds.n_users, -1, dtype=np.int64)
        pos[users] = np.arange(len(users))
        sel = np.flatnonzero((split.fold == TRAIN) & (pos[ds.user_idx] >= 0))
        ts = None if ds.timestamp is None else np.asarray(ds.timestamp, dtype=np.int64)[sel]
        value = None if ds.value is None else np.asarray(ds.value, dtype=np.float32)[sel]
        rating = (value if (value is not None and ds.kind == "explicit")
                  else np.full(len(sel), np.nan, dtype=np.float32))
        return cls(pos[ds.user_idx[sel]], ds.item_idx[sel].astype(np.int64), ts, value, rating)


def _take_recent(train: _TrainRows, n: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``"recent"``: entries and columns of each row's ``width`` most recent items."""
    row, item, ts = train.row, train.item, train.ts
    fast = recent_take(row, item, ts, n, width)
    if fast is not None:
        return fast
    order = np.lexsort((item, -ts, row))
    rank = rank_sorted(row[order], n)
    return order[rank < width], rank[rank < width]


def _take_paper(
    train: _TrainRows, users: np.ndarray, n: int, width: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``"paper"``: a seeded sample of ``width`` items per row, by value then recency."""
    row, item, ts, value = train.row, train.item, train.ts, train.value
    key = hash_keys(seed, users[row], item)
    order = np.lexsort((item, key, row))
    rank = rank_sorted(row[order], n)
    picked = order[rank < width]  # the sample, then its display order
    keys = [item[picked]]
    if ts is not None:
        keys.append(-ts[picked])
    if value is not None:
        keys.append(-value[picked].astype(np.float64))
    keys.append(row[picked])
    take = picked[np.lexsort(tuple(keys))]
    return take, rank_sorted(row[take], n)


def _take_long_short(
    train: _TrainRows, users: np.ndarray, n: int, n_short: int, n_long: int,
    factors: np.ndarray, candidates: CandidateSet | None, use_candidates: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``"long-short"``: the ``n_short`` most recent items, then the ``n_long`` others most
    similar to the anchor (the candidates, or the recent items)."""
    row, item, ts = train.row, train.item, train.ts
    order = np.lexsort((item, -ts, row))
    rank = rank_sorted(row[order], n)
    short = order[rank < n_short]
    rest = order[rank >= n_short]
    if use_candidates:
        means = _mean_candidate_factors(candidates, users, factors)
    else:  # the user's own recent items only: nothing held out can steer the choice
        anchor = order[rank < max(n_short, 1)]
        means = mean_factors(row[anchor], item[anchor], n, factors)
    sim = cosine_rows(factors, item[rest], means, row[rest])
    long_sorted = rest[np.lexsort((item[rest], -ts[rest], -sim, row[rest]))]
    rank2 = rank_sorted(row[long_sorted], n)
    long_take = long_sorted[rank2 < n_long]
    n_short_got = np.bincount(row[short], minlength=n)
    take = np.concatenate([short, long_take])
    cols = np.concatenate([
        rank[rank < n_short],
        n_short_got[row[long_take]] + rank2[rank2 < n_long],
    ])
    return take, cols
