"""Tests for analysis/ingest/_text.py: a headerless text file keeps its first row.

Every refusal leaves the workspace as it was (the ``ws`` fixture already holds a dataset).
"""

from __future__ import annotations

from analysis.ingest import (
    ColumnMapping,
    ingest,
)
from tests.analysis._fixtures_ingest import write


def test_headerless_file_keeps_its_first_row(ws, tmp_path):
    path = write(tmp_path / "nohead.csv", "1,1,5\n1,2,3\n")
    report = ingest(ws, "nohead", path)
    assert report.n_rows_read == 2 and report.n_interactions == 2
    assert report.mapping == ColumnMapping("column0", "column1", "column2", None, "explicit")
