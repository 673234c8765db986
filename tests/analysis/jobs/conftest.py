"""A fresh workspace for each test of the jobs package."""

from __future__ import annotations

import pytest

from analysis.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    return Workspace(tmp_path / "ws.duckdb")
