"""Small deterministic datasets for the tests, importable from any test module as
``tests.datasets`` (a ``from conftest import ...`` resolves to whichever conftest.py was
imported first, which depends on the order pytest collects the folders in)."""

from __future__ import annotations

import numpy as np

from analysis.dataset import Dataset, compute_gain


def make_dataset(
    user_idx,
    item_idx,
    rating=None,
    timestamp=None,
    *,
    n_users=None,
    n_items=None,
    threshold: float = 4.0,
    name: str = "toy",
) -> Dataset:
    """A Dataset from plain lists (raw ids = 100 + idx for users, 1000 + idx for items)."""
    u = np.asarray(user_idx, dtype=np.int32)
    i = np.asarray(item_idx, dtype=np.int32)
    n_users = int(u.max()) + 1 if n_users is None else n_users
    n_items = int(i.max()) + 1 if n_items is None else n_items
    value = None if rating is None else np.asarray(rating, dtype=np.float32)
    kind = "implicit" if value is None else "explicit"
    return Dataset(
        name=name,
        user_idx=u,
        item_idx=i,
        value=value,
        timestamp=None if timestamp is None else np.asarray(timestamp, dtype=np.int64),
        gain=compute_gain(value if value is not None else np.ones(len(u)), kind, threshold),
        user_ids=np.arange(n_users, dtype=np.int64) + 100,
        item_ids=np.arange(n_items, dtype=np.int64) + 1000,
        kind=kind,
        relevance_threshold=threshold,
    )
