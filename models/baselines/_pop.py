"""Most-popular baseline: the same list for everyone."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from models.base import Progress

from ._base import BaselineRecommender, report

__all__ = ["MostPopular"]


class MostPopular(BaselineRecommender):
    """``score(u, i) = |{v : train[v, i] != 0}|``, the number of training users of item i.

    Every user (cold users included) gets the same scores; ties are broken by lower item
    index in :meth:`recommend`. Items never seen score 0. No hyperparameters; deterministic.
    """

    name = "pop"

    _counts: np.ndarray | None = None

    @property
    def item_counts(self) -> np.ndarray | None:
        """(n_items,) float32 training users per item after fit."""
        return self._counts

    def _fit(self, train: sp.csr_matrix, progress: Progress | None) -> None:
        report(progress, 0.0, f"{self.name}: counting users per item")
        counts = np.bincount(train.indices, minlength=train.shape[1])
        self._counts = counts.astype(np.float32)
        self.device = "cpu"
        report(progress, 1.0, f"{self.name}: done")

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_counts": self._counts}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self._counts = np.asarray(arrays["item_counts"], dtype=np.float32)

    def _score_rows(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self._counts, (len(users), len(self._counts))).copy()

    def _score_candidates(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self._counts[items]
