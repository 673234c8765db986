"""Fixtures of the ingest tests: a workspace already holding a dataset, a private tempdir."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from analysis.workspace import Workspace
from tests.analysis._fixtures_ingest import workspace_with_one_dataset


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return workspace_with_one_dataset(tmp_path)


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """A fresh temporary folder for this test, to see what ingest leaves in it."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder
