"""Tests for analysis/ingest/_text_rows.py: the row scanner names an unclosed quote.

Every refusal leaves the workspace as it was (the ``ws`` fixture already holds a dataset).
"""

from __future__ import annotations

from analysis.ingest import (
    _text_rows,
)
from tests.analysis._fixtures_ingest import refused, write


def test_unclosed_quote_with_a_huge_field(ws, tmp_path):
    huge = "x" * (_text_rows.FIELD_LIMIT + 1000)
    path = write(tmp_path / "q.csv", f'user,item,rating\n1,1,5\n1,2,"5\n{huge}\n2,3,4\n')
    what = f"the quoted field runs on for over {_text_rows.FIELD_LIMIT >> 20} MB"
    refused(ws, path, _text_rows.UNCLOSED_QUOTE.format(file=path, row=3, what=what))
    path = write(tmp_path / "q2.csv", 'user,item,rating\n1,1,5\n1,2,"5\n2,3,4\n')
    what = "the quoted field runs to the end of the file"
    refused(ws, path, _text_rows.UNCLOSED_QUOTE.format(file=path, row=3, what=what))
