"""Shared fixtures: small deterministic datasets and the real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# a bug on a page must fail its test: the app's page guard shows one line instead (its own
# test switches this off)
os.environ.setdefault("WEAKSPOT_RAISE_PAGE_ERRORS", "1")


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


@pytest.fixture
def run(run_dir):
    """The module's evaluated run (each rerank test module defines ``run_dir``), loaded."""
    from analysis.runs.baseline import load_run

    return load_run(run_dir)


@pytest.fixture
def cache(tmp_path):
    """An empty LLM call cache in its own workspace."""
    from analysis.rerank.cache import CallCache
    from analysis.workspace import Workspace

    return CallCache(Workspace(tmp_path / "calls.duckdb"))
