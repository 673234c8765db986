"""Helpers of the ingest tests: files written on the fly, a workspace that already holds a
dataset (so "unchanged" is a real check), and its snapshot."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.ingest import ingest
from analysis.workspace import Workspace


def write(path: Path, text: str | bytes) -> Path:
    """``text`` (UTF-8 when a str) written to ``path``, folders created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def snapshot(ws: Workspace):
    """The catalog and the table names: equal before and after a refused ingest."""
    return ws.list_datasets().to_dict("records"), ws.table_names()


def workspace_with_one_dataset(tmp_path: Path) -> Workspace:
    """A file workspace already holding the dataset ``existing``."""
    w = Workspace(tmp_path / "ws.duckdb")
    ingest(w, "existing", pd.DataFrame({"user": [1, 1, 2], "item": [1, 2, 1]}))
    return w


def pattern(template: str) -> str:
    """A regex matching any message built from ``template``."""
    parts = re.split(r"\{[^{}]*\}", template)
    return ".+?".join(re.escape(p) for p in parts)


def refused(ws: Workspace, spec, expected: str, **kwargs) -> None:
    """Ingest must raise exactly ``expected`` (one line) and leave ``ws`` unchanged."""
    before = snapshot(ws)
    with pytest.raises(AnalysisError) as err:
        ingest(ws, "new", spec, **kwargs)
    assert err.value.message == expected  # str() adds the app's hint, render("cli") the CLI's
    assert "\n" not in str(err.value)
    assert snapshot(ws) == before
