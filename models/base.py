"""The one small interface every baseline recommender implements.

(Contract; implementations live in :mod:`models.baselines`.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

#: progress callback: (fraction done in [0, 1], short message)
Progress = Callable[[float, str], None]


@runtime_checkable
class Recommender(Protocol):
    """Fit on a train matrix, then score users against items.

    All indices are dense (``user_idx``, ``item_idx``). Scores are float32, higher is better.
    """

    name: str
    params: dict

    def fit(
        self, train: sp.csr_matrix, progress: Progress | None = None, *,
        sequences: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Recommender:
        """Fit on the n_users x n_items train matrix (values are confidences); ``sequences``
        (each user's training items in time order, ``(indptr, items)``) for sequential
        models, ignored by the others."""
        ...

    def score_users(self, user_idx: np.ndarray) -> np.ndarray:
        """Dense (len(user_idx), n_items) float32 scores for all items, nothing excluded."""
        ...

    def recommend(
        self, user_idx: np.ndarray, n: int, exclude: sp.csr_matrix | None = None,
        batch_size: int = 4096,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n per user, items in ``exclude`` (n_users x n_items, rows by user_idx) removed.

        Returns:
            (items, scores): int32 (len(user_idx), n), float32 same shape; ordered by score
            descending, ties broken by lower item_idx; padded with -1 / -inf when fewer
            than n items remain.
        """
        ...

    def score(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        """Scores of given candidates: ``item_idx`` is (len(user_idx), c); returns same shape."""
        ...

    @property
    def item_factors(self) -> np.ndarray | None:
        """(n_items, f) item embeddings when the model has them (ALS/BPR/LMF), else None."""
        ...
