"""Step 2: split each user's interactions into train / validation / test.

The :class:`Split` dataclass is the contract; :func:`make_split` dispatches to one of three
strategies, all vectorized (one ``lexsort``, then each row's rank within its user from the
user's start offset) and seeded:

* :func:`split_temporal`: per-user leave-last-n-out by timestamp (ties by a seeded key; the
  order comes from ``analysis/_user_time_order.py``);
* :func:`split_random`: per-user random fractions (Kaur & Shah's 80/10/10);
* :func:`split_global`: one global time cut for every user.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import scipy.sparse as sp

from analysis._user_time_order import order_by_user_time
from analysis.dataset import Dataset
from analysis.errors import AnalysisError, surface_hints

__all__ = [
    "TEST", "TRAIN", "VALIDATION", "Split", "SplitStrategy", "make_split", "split_global",
    "split_random", "split_temporal",
]

TRAIN, VALIDATION, TEST = 0, 1, 2


@dataclass(frozen=True)
class Split:
    """Assignment of every interaction of a :class:`Dataset` to a fold.

    Attributes:
        dataset: the dataset that was split.
        fold: int8 per interaction (aligned with ``dataset.user_idx``): 0 train,
            1 validation, 2 test.
        strategy: ``"temporal"``, ``"random"`` or ``"global"``.
        seed: the seed used (ties and random draws).
        params: the strategy's parameters, JSON-able.
    """

    dataset: Dataset
    fold: np.ndarray
    strategy: str
    seed: int
    params: dict

    def _matrix(self, fold: int, gains: bool) -> sp.csr_matrix:
        """n_users x n_items over the interactions of ``fold``: with ``gains`` the relevant
        ones (gain > 0) valued by their gain, else every one valued 1.0."""
        ds = self.dataset
        mask = self.fold == fold
        if gains:
            mask &= ds.gain > 0
        values = ds.gain[mask] if gains else np.ones(int(mask.sum()), dtype=np.float32)
        m = sp.csr_matrix(
            (values, (ds.user_idx[mask], ds.item_idx[mask])),
            shape=(ds.n_users, ds.n_items),
            dtype=np.float32,
        )
        m.sort_indices()
        return m

    @cached_property
    def train(self) -> sp.csr_matrix:
        """n_users x n_items, 1.0 for every training interaction (relevant or not)."""
        return self._matrix(TRAIN, gains=False)

    @cached_property
    def validation(self) -> sp.csr_matrix:
        """Gains of the relevant (gain > 0) validation interactions."""
        return self._matrix(VALIDATION, gains=True)

    @cached_property
    def test(self) -> sp.csr_matrix:
        """Gains of the relevant (gain > 0) test interactions."""
        return self._matrix(TEST, gains=True)

    @cached_property
    def validation_seen(self) -> sp.csr_matrix:
        """1.0 for every validation interaction, relevant or not (masked when ranking test)."""
        return self._matrix(VALIDATION, gains=False)

    @cached_property
    def train_sequences(self) -> tuple[np.ndarray, np.ndarray]:
        """Each user's training items in time order, as ``(indptr, items)``: user ``u``'s
        sequence is ``items[indptr[u]:indptr[u + 1]]``, oldest first (what a sequential model
        such as SASRec trains on; repeated interactions stay repeated).

        Order: by timestamp, equal timestamps in the seeded random order of
        :func:`analysis._user_time_order.order_by_user_time` with this split's seed (the
        order the temporal split cuts by, so a temporal split's train sequence is exactly the
        prefix it kept). Without timestamps (a random split of untimed data) the dataset's
        row order stands in for time. Only training rows enter: validation and test never do.

        Returns:
            ``indptr``: int64, length n_users + 1; ``items``: int32 item_idx, length the
            number of training interactions.
        """
        ds = self.dataset
        user_idx = np.asarray(ds.user_idx, dtype=np.int64)
        if ds.timestamp is None:
            order = np.argsort(user_idx, kind="stable")
        else:
            ts = np.asarray(ds.timestamp, dtype=np.int64)
            order = order_by_user_time(user_idx, ts, ds.n_users, self.seed)
        order = order[self.fold[order] == TRAIN]
        counts = np.bincount(user_idx[order], minlength=ds.n_users)
        indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return indptr, np.asarray(ds.item_idx, dtype=np.int32)[order]

    @cached_property
    def n_train(self) -> np.ndarray:
        """Training interactions per user (int64, length n_users)."""
        return np.bincount(
            self.dataset.user_idx[self.fold == TRAIN], minlength=self.dataset.n_users
        )


# --- user-facing messages -------------------------------------------------------------------
NO_TIMESTAMPS = surface_hints(
    "Dataset '{name}' has no timestamp column, so a {strategy} split is impossible.",
    app="Choose the random Split on the Baseline page, or ingest the data again on the Data "
    "page with its Timestamp column picked.",
    cli="Use --split random, or ingest the data again with --timestamp-col NAME.",
)
UNKNOWN_STRATEGY = (
    "Unknown split strategy '{strategy}'; choose one of: temporal, random, global."
)
BAD_PARAMS = "Split strategy '{strategy}' does not accept {detail}; accepted: {accepted}."
NEGATIVE_COUNT = "Split parameter {name} must be a whole number >= 0, got {value!r}."
BAD_FRACTION = "Split parameter {name} must be in [0, 1), got {value!r}."
FRACTIONS_TOO_LARGE = (
    "Split fractions validation_fraction + test_fraction must sum to less than 1, got "
    "{value!r}; lower one of them."
)
BAD_QUANTILE = "Split parameter {name} must be in [0, 1], got {value!r}."
BAD_CUT_ORDER = (
    "Global split: validation time {validation_time} is after test time {test_time}; the "
    "validation cut must come first."
)


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise AnalysisError(NEGATIVE_COUNT.format(name=name, value=value))
    return int(value)


def _check_unit(name: str, value: object, closed: bool) -> float:
    """``value`` as a float in [0, 1) (:data:`BAD_FRACTION`), or with ``closed`` in [0, 1]
    (:data:`BAD_QUANTILE`)."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        v = float("nan")
    if not (0.0 <= v < 1.0 or (closed and v == 1.0)):
        raise AnalysisError((BAD_QUANTILE if closed else BAD_FRACTION).format(
            name=name, value=value))
    return v


def _require_timestamps(dataset: Dataset, strategy: str) -> np.ndarray:
    if dataset.timestamp is None:
        raise AnalysisError(NO_TIMESTAMPS.format(name=dataset.name, strategy=strategy))
    return np.asarray(dataset.timestamp, dtype=np.int64)


def _rank_in_user(user_sorted: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-user counts and the position of each row within its user (rows sorted by user)."""
    counts = np.bincount(user_sorted, minlength=n_users).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(len(user_sorted), dtype=np.int64) - starts[user_sorted]
    return counts, rank


def _assign(
    order: np.ndarray, user_idx: np.ndarray, n_users: int, n_test: np.ndarray,
    n_val: np.ndarray, from_end: bool,
) -> np.ndarray:
    """Fold per interaction: within each user's rows in ``order``, the first (or, with
    ``from_end``, the last) ``n_test[u]`` go to test, the next ``n_val[u]`` to validation."""
    u = user_idx[order]
    counts, rank = _rank_in_user(u, n_users)
    if from_end:
        rank = counts[u] - 1 - rank
    fold_sorted = np.where(
        rank < n_test[u], TEST, np.where(rank < n_test[u] + n_val[u], VALIDATION, TRAIN)
    ).astype(np.int8)
    fold = np.empty(len(order), dtype=np.int8)
    fold[order] = fold_sorted
    return fold


def _holdout_counts(
    counts: np.ndarray, want_test: np.ndarray | int, want_val: np.ndarray | int, min_train: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cap held-out counts so that ``min_train`` train rows remain; test is filled first."""
    room = np.maximum(counts - min_train, 0)
    n_test = np.minimum(want_test, room)
    n_val = np.minimum(want_val, room - n_test)
    return n_test.astype(np.int64), n_val.astype(np.int64)


def split_temporal(
    dataset: Dataset, *, n_validation: int = 5, n_test: int = 5, min_train: int = 1,
    seed: int = 0,
) -> Split:
    """Per-user leave-last-n-out by timestamp.

    Each user's interactions are ordered by timestamp; interactions with equal timestamps are
    ordered by a random permutation drawn from ``seed``. The last ``n_test`` go to test and the
    ``n_validation`` before them to validation, except that a user never keeps fewer than
    ``min_train`` training interactions: with ``c`` interactions, the user gets
    ``t = min(n_test, max(c - min_train, 0))`` test and
    ``v = min(n_validation, max(c - min_train, 0) - t)`` validation interactions (test is
    filled before validation; users with ``c <= min_train`` are train only).

    Args:
        dataset: the dataset; must have timestamps.
        n_validation: validation interactions per user (>= 0).
        n_test: test interactions per user (>= 0).
        min_train: training interactions every user keeps (>= 0).
        seed: seed of the tie-breaking key.

    Returns:
        A :class:`Split` with strategy ``"temporal"``.

    Raises:
        AnalysisError: no timestamps (:data:`NO_TIMESTAMPS`) or a negative count
            (:data:`NEGATIVE_COUNT`).
    """
    n_validation = _check_count("n_validation", n_validation)
    n_test = _check_count("n_test", n_test)
    min_train = _check_count("min_train", min_train)
    ts = _require_timestamps(dataset, "temporal")
    user_idx = np.asarray(dataset.user_idx, dtype=np.int64)
    order = order_by_user_time(user_idx, ts, dataset.n_users, seed)
    counts = np.bincount(user_idx, minlength=dataset.n_users)
    t, v = _holdout_counts(counts, n_test, n_validation, min_train)
    fold = _assign(order, user_idx, dataset.n_users, t, v, from_end=True)
    params = {"n_validation": n_validation, "n_test": n_test, "min_train": min_train}
    return Split(dataset=dataset, fold=fold, strategy="temporal", seed=int(seed), params=params)


def split_random(
    dataset: Dataset, *, validation_fraction: float = 0.1, test_fraction: float = 0.1,
    min_train: int = 1, seed: int = 0,
) -> Split:
    """Per-user random split (Kaur & Shah's 80/10/10 protocol by default).

    Each user's interactions are put in a random order drawn from ``seed``. A user with ``c``
    interactions asks for ``round(test_fraction * c)`` test and
    ``round(validation_fraction * c)`` validation interactions, rounding halves up
    (``floor(f * c + 0.5)``, so 5 interactions at 10% give 1); these are then capped exactly as
    in :func:`split_temporal` so that ``min_train`` training interactions remain, test before
    validation. The first ``t`` rows of the random order go to test, the next ``v`` to
    validation, the rest to train.

    Args:
        dataset: the dataset (timestamps not needed).
        validation_fraction: in [0, 1).
        test_fraction: in [0, 1); the two must sum to less than 1.
        min_train: training interactions every user keeps (>= 0).
        seed: seed of the per-user permutation.

    Returns:
        A :class:`Split` with strategy ``"random"``.

    Raises:
        AnalysisError: a fraction outside [0, 1) (:data:`BAD_FRACTION`), fractions summing to
            1 or more (:data:`FRACTIONS_TOO_LARGE`), negative ``min_train``.
    """
    validation_fraction = _check_unit("validation_fraction", validation_fraction, closed=False)
    test_fraction = _check_unit("test_fraction", test_fraction, closed=False)
    if validation_fraction + test_fraction >= 1.0:
        raise AnalysisError(
            FRACTIONS_TOO_LARGE.format(value=validation_fraction + test_fraction)
        )
    min_train = _check_count("min_train", min_train)
    rng = np.random.default_rng(seed)
    user_idx = np.asarray(dataset.user_idx, dtype=np.int64)
    # one int64 key: user in the high bits, a random 32-bit draw in the low bits
    key = (user_idx << 32) | rng.integers(0, 1 << 32, dataset.n_interactions, dtype=np.int64)
    order = np.argsort(key)
    counts = np.bincount(user_idx, minlength=dataset.n_users)
    eps = 1e-9  # so that e.g. 0.1 * 15 = 1.5000000000000002 and 0.1 * 5 = 0.5 both round up
    want_t = np.floor(test_fraction * counts + 0.5 + eps).astype(np.int64)
    want_v = np.floor(validation_fraction * counts + 0.5 + eps).astype(np.int64)
    t, v = _holdout_counts(counts, want_t, want_v, min_train)
    fold = _assign(order, user_idx, dataset.n_users, t, v, from_end=False)
    params = {
        "validation_fraction": validation_fraction,
        "test_fraction": test_fraction,
        "min_train": min_train,
    }
    return Split(dataset=dataset, fold=fold, strategy="random", seed=int(seed), params=params)


def split_global(
    dataset: Dataset, *, validation_time: int | None = None, test_time: int | None = None,
    validation_quantile: float = 0.8, test_quantile: float = 0.9, seed: int = 0,
) -> Split:
    """One time cut for everybody: ``ts < t_val`` train, ``t_val <= ts < t_test`` validation,
    ``ts >= t_test`` test.

    A time left as ``None`` is the given quantile of all timestamps, taken as an observed
    timestamp (``numpy.quantile(ts, q, method="lower")``). Users whose interactions all fall
    after a cut have no training rows and keep their held-out rows (they are cold-start users
    for the model); there is no ``min_train`` guarantee here. ``seed`` is only recorded.

    Args:
        dataset: the dataset; must have timestamps.
        validation_time: Unix seconds of the validation cut, or ``None``.
        test_time: Unix seconds of the test cut, or ``None``.
        validation_quantile: quantile used when ``validation_time`` is ``None``, in [0, 1].
        test_quantile: quantile used when ``test_time`` is ``None``, in [0, 1].
        seed: recorded in the Split for uniformity (nothing random here).

    Returns:
        A :class:`Split` with strategy ``"global"``; ``params`` holds the resolved
        ``validation_time`` and ``test_time`` (int).

    Raises:
        AnalysisError: no timestamps, a quantile outside [0, 1] (:data:`BAD_QUANTILE`), or the
            validation cut after the test cut (:data:`BAD_CUT_ORDER`).
    """
    validation_quantile = _check_unit("validation_quantile", validation_quantile, closed=True)
    test_quantile = _check_unit("test_quantile", test_quantile, closed=True)
    ts = _require_timestamps(dataset, "global")
    if len(ts) == 0:
        t_val = int(validation_time) if validation_time is not None else 0
        t_test = int(test_time) if test_time is not None else 0
    else:
        t_val = (int(validation_time) if validation_time is not None
                 else int(np.quantile(ts, validation_quantile, method="lower")))
        t_test = (int(test_time) if test_time is not None
                  else int(np.quantile(ts, test_quantile, method="lower")))
    if t_val > t_test:
        raise AnalysisError(BAD_CUT_ORDER.format(validation_time=t_val, test_time=t_test))
    fold = np.where(ts >= t_test, TEST, np.where(ts >= t_val, VALIDATION, TRAIN)).astype(np.int8)
    params = {
        "validation_time": t_val,
        "test_time": t_test,
        "validation_quantile": validation_quantile,
        "test_quantile": test_quantile,
        "time_source": {
            "validation_time": "given" if validation_time is not None else "quantile",
            "test_time": "given" if test_time is not None else "quantile",
        },
    }
    return Split(dataset=dataset, fold=fold, strategy="global", seed=int(seed), params=params)


SplitStrategy = Literal["temporal", "random", "global"]
_STRATEGIES = {"temporal": split_temporal, "random": split_random, "global": split_global}


def make_split(dataset: Dataset, strategy: SplitStrategy, *, seed: int = 0, **params) -> Split:
    """Split with the named strategy; ``params`` are that function's keyword arguments.

    Args:
        dataset: the dataset.
        strategy: ``"temporal"`` (:func:`split_temporal`), ``"random"`` (:func:`split_random`)
            or ``"global"`` (:func:`split_global`).
        seed: seed for ties / random draws.
        **params: keyword arguments of the chosen function.

    Returns:
        The :class:`Split`.

    Raises:
        AnalysisError: unknown strategy (:data:`UNKNOWN_STRATEGY`), a parameter the strategy
            does not accept (:data:`BAD_PARAMS`), or any error of the strategy itself.
    """
    fn = _STRATEGIES.get(strategy) if isinstance(strategy, str) else None
    if fn is None:
        raise AnalysisError(UNKNOWN_STRATEGY.format(strategy=strategy))
    accepted = [
        p for p in inspect.signature(fn).parameters if p not in ("dataset", "seed")
    ]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise AnalysisError(BAD_PARAMS.format(
            strategy=strategy, detail=", ".join(unknown), accepted=", ".join(accepted)))
    return fn(dataset, seed=seed, **params)
