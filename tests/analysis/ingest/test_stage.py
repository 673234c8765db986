"""Tests for analysis/ingest/_stage.py: staged rows with a problem are refused with their row.

Every refusal leaves the workspace as it was (the ``ws`` fixture already holds a dataset).
"""

from __future__ import annotations

import pandas as pd

from analysis.ingest import (
    _stage,
)
from tests.analysis._fixtures_ingest import refused, write


def test_negative_explicit_ratings_are_refused(ws, tmp_path):
    path = write(tmp_path / "neg.csv", "user,item,rating\n1,1,5\n1,2,-1\n")
    refused(ws, path, _stage.NEGATIVE_RATING.format(file=path, row=3, column="rating", value="-1"))
    frame = pd.DataFrame({"user": [1, 2], "item": [1, 1], "rating": [-2.0, 1.0]})
    refused(
        ws,
        frame,
        _stage.NEGATIVE_RATING.format(
            file="DataFrame", row="0 (0-based position)", column="rating", value="-2.0"
        ),
    )
