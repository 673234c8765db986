"""Shared fixtures: small deterministic datasets and the real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from analysis.dataset import Dataset, compute_gain


def datasets_root() -> Path | None:
    """The folder named by WEAKSPOT_DATASETS, or None when unset or missing."""
    root = os.environ.get("WEAKSPOT_DATASETS")
    if not root:
        return None
    path = Path(root).resolve()  # relative to where pytest started; tests may chdir
    return path if path.is_dir() else None


@pytest.fixture
def ml100k_dir() -> Path:
    """The real MovieLens 100K folder; skips when WEAKSPOT_DATASETS does not point at it."""
    root = datasets_root()
    if root is None or not (root / "ml-100k" / "u.data").exists():
        pytest.skip("WEAKSPOT_DATASETS is unset or holds no ml-100k/")
    return root / "ml-100k"


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


@pytest.fixture
def run(run_dir):
    """The module's evaluated run (each rerank test module defines ``run_dir``), loaded."""
    from analysis.run_files import load_run

    return load_run(run_dir)


@pytest.fixture
def cache(tmp_path):
    """An empty LLM call cache in its own workspace."""
    from analysis.rerank.cache import CallCache
    from analysis.workspace import Workspace

    return CallCache(Workspace(tmp_path / "calls.duckdb"))
