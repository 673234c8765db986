"""Fixtures of the analysis tests that read a finished baseline and rerank run back."""

from __future__ import annotations

import pytest

from analysis.runs.rerank import load_rerank_run
from tests.analysis._fixtures_report import build_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A baseline run and one fake-LLM rerank of it, listed in a workspace (per module)."""
    return build_runs(tmp_path_factory.mktemp("rr"))


@pytest.fixture(scope="module")
def files(runs):
    """The rerank run read back from its folder."""
    return load_rerank_run(runs.rerank.path)
