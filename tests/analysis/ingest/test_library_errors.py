"""Tests for analysis/ingest/_library_errors.py: any library error at the boundary is one line.

Every refusal leaves the workspace as it was (the ``ws`` fixture already holds a dataset).
"""

from __future__ import annotations

import zipfile

import duckdb
import pyarrow as pa
import pytest

from analysis.errors import AnalysisError
from analysis.ingest import (
    _library_errors,
    ingest,
)
from analysis.workspace import Workspace
from tests.analysis._fixtures_ingest import snapshot, write


@pytest.mark.parametrize(
    "exc",
    [
        duckdb.IOException("IO Error: No space left on device"),
        OSError(28, "No space left on device"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        pa.ArrowInvalid("Parquet magic bytes not found"),
        zipfile.BadZipFile("Bad CRC-32"),
    ],
)
def test_any_library_error_at_the_boundary_is_one_line(ws, tmp_path, monkeypatch, exc):
    path = write(tmp_path / "ok.csv", "user,item\n1,2\n")

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr("analysis.ingest._build.decide_id_type", fail)  # not caught inside
    before = snapshot(ws)
    with pytest.raises(AnalysisError) as err:
        ingest(ws, "new", path)
    detail = _library_errors.first_line(exc)
    assert str(err.value) == _library_errors.INGEST_FAILED.format(file=path, detail=detail)
    assert snapshot(ws) == before


def test_a_duckdb_interrupt_stays_an_interrupt(tmp_path, monkeypatch):
    path = write(tmp_path / "ok.csv", "user,item\n1,2\n")

    def interrupted(*args, **kwargs):
        raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")

    monkeypatch.setattr("analysis.ingest._build.staged_select", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ingest(Workspace(":memory:"), "x", path)
