"""Step 2: split each user's interactions into train / validation / test.

(Contract only; the split functions are filled in by the split module's author.)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from analysis.dataset import Dataset

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

    def _matrix(self, mask: np.ndarray, values: np.ndarray) -> sp.csr_matrix:
        ds = self.dataset
        m = sp.csr_matrix(
            (values[mask], (ds.user_idx[mask], ds.item_idx[mask])),
            shape=(ds.n_users, ds.n_items),
            dtype=np.float32,
        )
        m.sort_indices()
        return m

    @cached_property
    def train(self) -> sp.csr_matrix:
        """n_users x n_items, 1.0 for every training interaction (relevant or not)."""
        mask = self.fold == TRAIN
        return self._matrix(mask, np.ones(len(self.fold), dtype=np.float32))

    @cached_property
    def validation(self) -> sp.csr_matrix:
        """Gains of the relevant (gain > 0) validation interactions."""
        ds = self.dataset
        return self._matrix((self.fold == VALIDATION) & (ds.gain > 0), ds.gain)

    @cached_property
    def test(self) -> sp.csr_matrix:
        """Gains of the relevant (gain > 0) test interactions."""
        ds = self.dataset
        return self._matrix((self.fold == TEST) & (ds.gain > 0), ds.gain)

    @cached_property
    def validation_seen(self) -> sp.csr_matrix:
        """1.0 for every validation interaction, relevant or not (excluded when ranking for test)."""
        mask = self.fold == VALIDATION
        return self._matrix(mask, np.ones(len(self.fold), dtype=np.float32))

    @cached_property
    def n_train(self) -> np.ndarray:
        """Training interactions per user (int64, length n_users)."""
        return np.bincount(
            self.dataset.user_idx[self.fold == TRAIN], minlength=self.dataset.n_users
        )
