"""Fixtures shared by the rerank tests."""

from __future__ import annotations

import pytest

from tests.analysis._fixtures_rerank import build_run


@pytest.fixture(scope="session")
def small_run_dir(tmp_path_factory):
    """One small evaluated run (300 users, 200 items, no user table) that the rerank tests
    against fake provider servers only read."""
    return build_run(tmp_path_factory.mktemp("small_run"), users=300, items=200, seed=5,
                     with_users=False)
