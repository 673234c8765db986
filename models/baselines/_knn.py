"""Item-item nearest neighbours on implicit 0.7.3 (cosine or BM25 similarity)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
from implicit.utils import ParameterWarning

from models.base import Progress

from ._base import BaselineRecommender, report

__all__ = ["ItemKNN"]


class ItemKNN(BaselineRecommender):
    """Item-based kNN: ``score(u, j) = sum_i train[u, i] * S[i, j]``, i.e. ``train[u] @ S``.

    ``S`` (n_items x n_items, sparse) keeps the ``K`` most similar items of each item:
    cosine between item columns (``similarity="cosine"``) or the dot product of BM25-weighted
    columns (``"bm25"``, with ``K1``/``B``). This equals the scores of implicit's own
    ``recommend``. Users without train interactions score 0 for every item (so their list
    is the lowest item indices); items never seen have no neighbours and score 0.
    CPU only (``use_gpu`` is accepted for a uniform interface) and deterministic.
    """

    name = "itemknn"

    _train: sp.csr_matrix | None = None
    _similarity: sp.csr_matrix | None = None

    @property
    def similarity(self) -> sp.csr_matrix | None:
        """(n_items, n_items) CSR item-item similarity after fit."""
        return self._similarity

    def _fit(self, train: sp.csr_matrix, progress: Progress | None) -> None:
        p = self.params
        report(progress, 0.0, f"{self.name}: computing {p['similarity']} similarities")
        if p["similarity"] == "bm25":
            model: Any = BM25Recommender(
                K=p["K"], K1=p["K1"], B=p["B"], num_threads=p["num_threads"]
            )
        else:
            model = CosineRecommender(K=p["K"], num_threads=p["num_threads"])
        with warnings.catch_warnings():  # implicit converts its own COO weights to CSR
            warnings.simplefilter("ignore", ParameterWarning)
            model.fit(train, show_progress=False)
        self._similarity = sp.csr_matrix(model.similarity, dtype=np.float64)
        self._train = train
        self.device = "cpu"
        report(progress, 1.0, f"{self.name}: done")

    def _state(self) -> dict[str, np.ndarray]:
        return {
            **_csr_arrays("similarity", self._similarity),
            **_csr_arrays("train", self._train),
        }

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        n_users, n_items = self._fitted_shape()
        self._similarity = _csr_from("similarity", arrays, (n_items, n_items), np.float64)
        self._train = _csr_from("train", arrays, (n_users, n_items), np.float32)

    def _score_rows(self, users: np.ndarray) -> np.ndarray:
        rows = self._train[users] @ self._similarity
        return rows.toarray().astype(np.float32)


def _csr_arrays(prefix: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    return {f"{prefix}_data": m.data, f"{prefix}_indices": m.indices, f"{prefix}_indptr": m.indptr}


def _csr_from(
    prefix: str, arrays: dict[str, np.ndarray], shape: tuple[int, int], dtype: type
) -> sp.csr_matrix:
    parts = (arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"])
    return sp.csr_matrix(parts, shape=shape, dtype=dtype)
