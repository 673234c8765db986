"""Tests for analysis/ingest/_build.py: a dataset with no relevant interaction is refused.

Every refusal leaves the workspace as it was (the ``ws`` fixture already holds a dataset).
"""

from __future__ import annotations

import pandas as pd

from analysis.ingest import _build, ingest
from tests.analysis._fixtures_ingest import refused, write


def test_no_relevant_interaction_is_refused_with_the_range_found(ws, tmp_path):
    path = write(tmp_path / "low.csv", "user,item,rating\n1,1,1\n1,2,3.5\n2,1,2\n")
    refused(
        ws,
        path,
        _build.NO_RELEVANT_RATING.format(file=path, column="rating", low=1, high=3.5, threshold=4),
    )
    rep = ingest(ws, "low", path, relevance_threshold=3)
    assert rep.n_relevant == 1
    counts = pd.DataFrame({"user": [1, 2], "item": [1, 1], "plays": [0, 0]})
    refused(ws, counts, _build.NO_RELEVANT_COUNT.format(file="DataFrame", column="plays"))
