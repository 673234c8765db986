"""Shared machinery of the baselines: input checks, batched top-n, candidate scoring."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from analysis.errors import AnalysisError
from models.base import Progress
from models.topk import batch_size_for, mask_rows, topk_rows

from ._device import resolve_device
from ._params import resolve_params

__all__ = [
    "BAD_EXCLUDE",
    "BAD_ITEMS",
    "BAD_N",
    "BAD_SEED",
    "BAD_SEQUENCES",
    "BAD_TRAIN",
    "BAD_USERS",
    "EMPTY_TRAIN",
    "NONFINITE_TRAIN",
    "NOT_FITTED",
    "TOO_MANY_ITEMS",
    "BaselineRecommender",
]

BAD_TRAIN = "The train matrix must be a 2-D scipy.sparse users x items matrix; got {kind}."
EMPTY_TRAIN = (
    "The train matrix ({n_users} users x {n_items} items) has no interactions: "
    "check that the split put interactions in the train fold."
)
NONFINITE_TRAIN = (
    "The train matrix has {count} NaN or infinite values: clean the value column before fitting."
)
TOO_MANY_ITEMS = "The train matrix has {n_items} items; at most {limit} are supported."
NOT_FITTED = "Model {name!r} is not fitted yet: call fit(train) before scoring or recommending."
BAD_USERS = (
    "user_idx must be a 1-D array of integers in [0, {n_users}) (rows of the train matrix); "
    "got {detail}."
)
BAD_ITEMS = (
    "item_idx must be a ({n_rows}, c) array of integers in [-1, {n_items}) "
    "(-1 marks padding); got {detail}."
)
BAD_SEED = "seed must be an integer; got {seed!r}."
BAD_N = "n (the list length) must be a positive integer; got {n!r}."
BAD_SEQUENCES = (
    "sequences must be (indptr, items): indptr {n_users} + 1 non-decreasing offsets from 0 to "
    "len(items), items integers in [0, {n_items}) that the user has in the train matrix; "
    "got {detail}."
)
BAD_EXCLUDE = (
    "exclude must be a scipy.sparse matrix with {n_items} columns and a row for every user "
    "(at least {n_rows} rows); got {detail}."
)

UseGpu = bool | Literal["auto"]


def report(progress: Progress | None, fraction: float, message: str) -> None:
    """Call ``progress`` if given, with ``fraction`` clipped to [0, 1]."""
    if progress is not None:
        progress(float(min(1.0, max(0.0, fraction))), message)


def check_train(train: Any) -> sp.csr_matrix:
    """Validated float32 CSR copy of ``train`` (explicit zeros dropped, indices sorted)."""
    if not sp.issparse(train) or train.ndim != 2:
        kind = type(train).__name__ if not sp.issparse(train) else f"{train.ndim}-D sparse"
        raise AnalysisError(BAD_TRAIN.format(kind=kind))
    csr = sp.csr_matrix(train, dtype=np.float32, copy=True)
    n_users, n_items = csr.shape
    bad = int((~np.isfinite(csr.data)).sum())
    if bad:
        raise AnalysisError(NONFINITE_TRAIN.format(count=bad))
    csr.eliminate_zeros()
    if csr.nnz == 0 or n_users == 0 or n_items == 0:
        raise AnalysisError(EMPTY_TRAIN.format(n_users=n_users, n_items=n_items))
    limit = (1 << 24) - 1
    if n_items > limit:
        raise AnalysisError(TOO_MANY_ITEMS.format(n_items=n_items, limit=limit))
    csr.sum_duplicates()
    csr.sort_indices()
    return csr


def check_sequences(sequences: Any, train: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(indptr, items)`` (int64, int64): every entry one of the user's train cells.

    The check that each (user, item) of the sequences is stored in ``train`` is what keeps a
    sequential model from ever seeing a validation or test interaction.
    """
    n_users, n_items = train.shape
    fmt = {"n_users": n_users, "n_items": n_items}
    try:
        indptr, items = (np.asarray(a) for a in sequences)
    except (TypeError, ValueError):
        raise AnalysisError(BAD_SEQUENCES.format(detail=type(sequences).__name__, **fmt)) from None
    if (indptr.ndim != 1 or items.ndim != 1 or len(indptr) != n_users + 1
            or indptr.dtype.kind not in "iu" or (items.size and items.dtype.kind not in "iu")):
        detail = f"indptr shape {indptr.shape}, items shape {items.shape}"
        raise AnalysisError(BAD_SEQUENCES.format(detail=detail, **fmt))
    indptr = indptr.astype(np.int64)
    items = items.astype(np.int64)
    if indptr[0] != 0 or indptr[-1] != len(items) or (np.diff(indptr) < 0).any():
        raise AnalysisError(BAD_SEQUENCES.format(detail="offsets out of order", **fmt))
    if items.size and (items.min() < 0 or items.max() >= n_items):
        detail = f"items from {items.min()} to {items.max()}"
        raise AnalysisError(BAD_SEQUENCES.format(detail=detail, **fmt))
    users = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(indptr))
    outside = int((np.asarray(train[users, items]).ravel() == 0).sum()) if items.size else 0
    if outside:
        detail = f"{outside} entries not in the train matrix"
        raise AnalysisError(BAD_SEQUENCES.format(detail=detail, **fmt))
    return indptr, items


class BaselineRecommender:
    """Common base of the baselines (implements :class:`models.base.Recommender`).

    Subclasses implement ``_fit(train, progress)`` and ``_score_rows(users)``; this class
    provides input checks, the batched exact top-n of :meth:`recommend` and :meth:`score`.

    Attributes:
        name: model name (``"als"``, ``"bpr"``, ``"lmf"``, ``"itemknn"``, ``"pop"``).
        params: resolved hyperparameters plus ``seed`` (JSON-able); ``make_recommender(name,
            **params)`` rebuilds the same model.
        use_gpu: the requested device policy (``"auto"``, ``True`` or ``False``).
        device: ``"cpu"`` or ``"gpu"``: where the last fit ran (``None`` before fit).
    """

    name: str = ""

    #: whether implicit has a CUDA version of this model
    _has_gpu_version = False
    #: the running fit's cancel hook (``fit(..., should_stop=f)``), None outside a fit
    _should_stop: Callable[[], bool] | None = None
    #: whether ``fit`` reads ``sequences`` (checked and passed to :meth:`_fit_sequences`)
    _uses_sequences = False

    def __init__(self, *, seed: int = 0, use_gpu: UseGpu = "auto", **params: Any) -> None:
        """Hyperparameters are keyword arguments; defaults and help: ``describe_params``."""
        self.params: dict[str, Any] = resolve_params(self.name, params)
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise AnalysisError(BAD_SEED.format(seed=seed))
        self.params["seed"] = int(seed)
        self._resolve_device(use_gpu)  # fail early
        self.use_gpu = use_gpu
        self.device: str | None = None
        self._shape: tuple[int, int] | None = None

    # --- public API ---------------------------------------------------------------------

    @property
    def seed(self) -> int:
        return int(self.params["seed"])

    @property
    def uses_sequences(self) -> bool:
        """Whether :meth:`fit` trains on the users' time-ordered ``sequences`` (SASRec)."""
        return self._uses_sequences

    @property
    def is_fitted(self) -> bool:
        return self._shape is not None

    @property
    def n_users(self) -> int:
        return self._fitted_shape()[0]

    @property
    def n_items(self) -> int:
        return self._fitted_shape()[1]

    @property
    def item_factors(self) -> np.ndarray | None:
        """(n_items, f) float32 item embeddings for ALS/BPR/LMF, None otherwise."""
        return None

    @property
    def user_factors(self) -> np.ndarray | None:
        """(n_users, f) float32 user embeddings for ALS/BPR/LMF, None otherwise."""
        return None

    def fit(
        self,
        train: sp.csr_matrix,
        progress: Progress | None = None,
        *,
        sequences: tuple[np.ndarray, np.ndarray] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> BaselineRecommender:
        """Fit on the n_users x n_items train matrix (values are confidences).

        Args:
            train: sparse users x items matrix (converted to float32 CSR; zeros dropped).
            progress: optional ``progress(fraction, message)`` callback, called at the start
                (0.0), after every training iteration, and last with 1.0.
            sequences: each user's training items in time order, ``(indptr, items)`` as
                :attr:`analysis.split.Split.train_sequences` gives them; every entry must be
                a cell of ``train``. Sequential models (SASRec) need it; the others ignore it
                (unchecked).
            should_stop: optional cancel hook: the iterative models ask it after every
                iteration (ALS, BPR, LMF) or before every batch (SASRec) and stop when it
                returns True, keeping nothing (their one-line error says where); item-kNN and
                most-popular fit in one pass and ignore it.

        Returns:
            ``self``, fitted.

        Raises:
            AnalysisError: not a sparse matrix, no interactions, NaN/inf values, or a GPU was
                demanded (``use_gpu=True``) but none is available.
        """
        csr = check_train(train)
        self._should_stop = should_stop
        try:
            if sequences is not None and self._uses_sequences:
                self._fit_sequences(csr, check_sequences(sequences, csr), progress)
            else:
                self._fit(csr, progress)
        finally:
            self._should_stop = None
        self._shape = csr.shape
        return self

    def score_users(self, user_idx: np.ndarray) -> np.ndarray:
        """Dense (len(user_idx), n_items) float32 scores for all items, nothing excluded."""
        users = self._check_users(user_idx)
        return np.ascontiguousarray(self._score_rows(users), dtype=np.float32)

    def recommend(
        self,
        user_idx: np.ndarray,
        n: int,
        exclude: sp.csr_matrix | None = None,
        batch_size: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n items per user, exact, with ties broken by lower item index.

        Args:
            user_idx: 1-D dense user indices (duplicates allowed).
            n: list length (>= 1).
            exclude: optional sparse n_users x n_items matrix indexed by ``user_idx``; its
                stored entries (e.g. the train matrix) are never recommended.
            batch_size: users scored per dense block; default
                :func:`models.topk.batch_size_for` of n_items.

        Returns:
            ``(items, scores)``: int32 and float32 arrays of shape (len(user_idx), n),
            ordered by score descending then item index ascending, padded with -1 / -inf
            when fewer than n items remain.

        Raises:
            AnalysisError: model not fitted, bad ``user_idx``, ``n`` or ``exclude``.
        """
        users = self._check_users(user_idx)
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
            raise AnalysisError(BAD_N.format(n=n))
        n = int(n)
        ex = self._check_exclude(exclude, users)
        step = int(batch_size) if batch_size else batch_size_for(self.n_items)
        step = max(1, step)
        items = np.full((len(users), n), -1, dtype=np.int32)
        scores = np.full((len(users), n), -np.inf, dtype=np.float32)
        for start in range(0, len(users), step):  # a few dense blocks, not one per user
            batch = users[start : start + step]
            block = np.ascontiguousarray(self._score_rows(batch), dtype=np.float32)
            if ex is not None:
                mask_rows(block, ex[batch])
            items[start : start + step], scores[start : start + step] = topk_rows(block, n)
        return items, scores

    def score(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        """Scores of candidate items: ``item_idx`` is (len(user_idx), c); -1 scores -inf.

        Returns:
            float32 array shaped like ``item_idx``; entries equal ``score_users`` gathered at
            the candidates (up to float32 rounding for the factor models).
        """
        users = self._check_users(user_idx)
        cand = self._check_items(item_idx, len(users))
        valid = cand >= 0
        safe = np.where(valid, cand, 0)
        out = np.empty(cand.shape, dtype=np.float32)
        if cand.size:
            step = max(1, batch_size_for(self._candidate_cells(cand.shape[1])))
            for start in range(0, len(users), step):
                sl = slice(start, start + step)
                out[sl] = self._score_candidates(users[sl], safe[sl])
        out[~valid] = -np.inf
        return out

    # --- hooks ----------------------------------------------------------------------------

    def _fit(self, train: sp.csr_matrix, progress: Progress | None) -> None:
        raise NotImplementedError

    def _fit_sequences(
        self, train: sp.csr_matrix, sequences: tuple[np.ndarray, np.ndarray],
        progress: Progress | None,
    ) -> None:
        """Fit given the users' time-ordered sequences too; default: ignore them."""
        self._fit(train, progress)

    def _resolve_device(self, use_gpu: Any) -> bool:
        """Whether to fit on the GPU (implicit's CUDA); raises for a bad or unmet request."""
        return resolve_device(use_gpu, self.name, self._has_gpu_version)

    def _score_rows(self, users: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _state(self) -> dict[str, np.ndarray]:
        """The fitted arrays that :meth:`_score_rows` needs (what ``save_model`` stores)."""
        raise NotImplementedError

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        """Set the fitted arrays from :meth:`_state`'s output (``_shape`` is already set)."""
        raise NotImplementedError

    def _candidate_cells(self, n_candidates: int) -> int:
        """Temporary cells per user when scoring ``n_candidates`` (sizes score batches)."""
        return self.n_items

    def _score_candidates(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Default: gather from the full score rows (kNN, popularity)."""
        return np.take_along_axis(self._score_rows(users), items, axis=1)

    # --- checks ---------------------------------------------------------------------------

    def _fitted_shape(self) -> tuple[int, int]:
        if self._shape is None:
            raise AnalysisError(NOT_FITTED.format(name=self.name))
        return self._shape

    def _check_users(self, user_idx: Any) -> np.ndarray:
        n_users = self._fitted_shape()[0]
        arr = np.asarray(user_idx)
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            detail = f"shape {arr.shape}, dtype {arr.dtype}"
            raise AnalysisError(BAD_USERS.format(n_users=n_users, detail=detail))
        if arr.size and (arr.min() < 0 or arr.max() >= n_users):
            detail = f"values from {arr.min()} to {arr.max()}"
            raise AnalysisError(BAD_USERS.format(n_users=n_users, detail=detail))
        return arr.astype(np.int64, copy=False)

    def _check_items(self, item_idx: Any, n_rows: int) -> np.ndarray:
        n_items = self.n_items
        arr = np.asarray(item_idx)
        fmt = {"n_rows": n_rows, "n_items": n_items}
        if arr.ndim != 2 or arr.shape[0] != n_rows or (arr.size and arr.dtype.kind not in "iu"):
            detail = f"shape {arr.shape}, dtype {arr.dtype}"
            raise AnalysisError(BAD_ITEMS.format(detail=detail, **fmt))
        if arr.size and (arr.min() < -1 or arr.max() >= n_items):
            detail = f"values from {arr.min()} to {arr.max()}"
            raise AnalysisError(BAD_ITEMS.format(detail=detail, **fmt))
        return arr.astype(np.int64, copy=False)

    def _check_exclude(self, exclude: Any, users: np.ndarray) -> sp.csr_matrix | None:
        if exclude is None:
            return None
        n_rows = int(users.max()) + 1 if users.size else 0
        fmt = {"n_items": self.n_items, "n_rows": n_rows}
        if not sp.issparse(exclude):
            raise AnalysisError(BAD_EXCLUDE.format(detail=type(exclude).__name__, **fmt))
        if exclude.shape[1] != self.n_items or exclude.shape[0] < n_rows:
            raise AnalysisError(BAD_EXCLUDE.format(detail=f"shape {exclude.shape}", **fmt))
        return sp.csr_matrix(exclude)
