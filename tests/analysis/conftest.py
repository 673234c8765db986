"""Fixtures of the analysis tests that several modules share."""

from __future__ import annotations

import pytest

from analysis.rerank.cache import CallCache
from analysis.run_files import load_run
from analysis.workspace import Workspace


@pytest.fixture
def run(run_dir):
    """The module's evaluated run (each rerank test module defines ``run_dir``), loaded."""
    return load_run(run_dir)


@pytest.fixture
def cache(tmp_path):
    """An empty LLM call cache in its own workspace."""
    return CallCache(Workspace(tmp_path / "calls.duckdb"))
