"""Fixtures shared by the subgroup tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def table() -> pd.DataFrame:
    """Six users: ids, flags, a test and a validation metric, features and three dimensions
    (``gender`` with a missing value, ``inactive``, and ``zip`` with one group per user)."""
    return pd.DataFrame(
        {
            "user_id": np.arange(6) + 100,
            "evaluated": [True] * 5 + [False],
            "weak": [True, False, False, True, False, False],
            "ndcg@10": [0.0, 0.5, 0.5, 0.0, 1.0, np.nan],
            "auc": [0.2, 0.6, 0.7, 0.3, 0.9, np.nan],
            "val_auc": [0.1, 0.6, 0.8, 0.4, 0.9, np.nan],
            "n_train": [1, 5, 6, 2, 9, 3],
            "mainstreamness": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            "gender": pd.Categorical(["F", "M", "F", "M", None, "F"]),
            "inactive": [True, False, False, True, False, True],
            "zip": [f"z{i}" for i in range(6)],
        }
    )
