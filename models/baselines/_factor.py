"""What every factor model shares once fitted: a user matrix and an item matrix, a score is
their dot product (``s_ui = <u_u, v_i>``), and the run stores the two matrices
(``model.npz``). Implicit's ALS, BPR and LMF and SASRec (its users' last hidden states against
its item embeddings) are factor models."""

from __future__ import annotations

import numpy as np

from ._base import BaselineRecommender

__all__ = ["FactorModel"]


class FactorModel(BaselineRecommender):
    """A baseline whose fit leaves float32 ``(n_users, f)`` and ``(n_items, f)`` factors."""

    _user_factors: np.ndarray | None = None
    _item_factors: np.ndarray | None = None

    @property
    def item_factors(self) -> np.ndarray | None:
        return self._item_factors

    @property
    def user_factors(self) -> np.ndarray | None:
        return self._user_factors

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self._user_factors, "item_factors": self._item_factors}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self._user_factors = np.ascontiguousarray(arrays["user_factors"], dtype=np.float32)
        self._item_factors = np.ascontiguousarray(arrays["item_factors"], dtype=np.float32)

    def _score_rows(self, users: np.ndarray) -> np.ndarray:
        return self._user_factors[users] @ self._item_factors.T

    def _candidate_cells(self, n_candidates: int) -> int:
        return n_candidates * self._item_factors.shape[1]  # gathered (b, c, f) item factors

    def _score_candidates(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.einsum("bf,bcf->bc", self._user_factors[users], self._item_factors[items])
