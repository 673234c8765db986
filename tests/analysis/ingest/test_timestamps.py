"""Tests for analysis/ingest/_timestamps.py: timestamp units and ranges.

Every refusal leaves the workspace as it was (the ``ws`` fixture already holds a dataset).
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.ingest import ColumnMapping, _timestamps, ingest, load_dataset
from analysis.workspace import Workspace
from tests.analysis._fixtures_ingest import refused, write


def test_seconds_mixed_with_milliseconds_are_refused(ws, tmp_path):
    path = write(tmp_path / "mix.csv", "user,item,ts\n1,1,1700000000000\n1,2,1700000500\n")
    refused(
        ws,
        path,
        _timestamps.MIXED_TIMESTAMP_UNITS.format(
            file=path, column="ts", row=3, value=1700000500, unit="seconds", row2=2,
            value2=1700000000000, unit2="milliseconds",
        ),
    )  # fmt: skip
    frame = pd.DataFrame({"u": [1, 2], "i": [1, 1], "time": [1_700_000_000, 1_700_000_000_000]})
    refused(
        ws,
        frame,
        _timestamps.MIXED_TIMESTAMP_UNITS.format(
            file="DataFrame", column="time", row="0 (0-based position)", value=1700000000,
            unit="seconds", row2="1 (0-based position)", value2=1700000000000,
            unit2="milliseconds",
        ),
        mapping=ColumnMapping("u", "i", timestamp="time"),
    )  # fmt: skip


def test_one_unit_of_timestamps_still_reads(tmp_path):
    w = Workspace(":memory:")
    ms = pd.DataFrame({"u": [1, 2], "i": [1, 1], "ts": [1_700_000_000_000, 1_700_000_500_000]})
    assert dataset_ts(w, "ms", ms) == [1_700_000_000, 1_700_000_500]
    us = pd.DataFrame({"u": [1, 2], "i": [1, 1], "ts": [1_700_000_000_000_000, 5]})
    assert dataset_ts(w, "us", us) == [1_700_000_000, 0]  # 5 us: too small to be a date


def dataset_ts(w: Workspace, name: str, frame: pd.DataFrame) -> list[int]:
    ingest(w, name, frame)
    return load_dataset(w, name).timestamp.tolist()


@pytest.mark.parametrize(
    ("value", "how"),
    [
        ("1e300", "in any unit"),
        ("-1e11", "read as seconds"),  # about the year -1200
        ("12000-01-01", "as a date"),
    ],
)
def test_timestamps_out_of_range_name_row_and_column(ws, tmp_path, value, how):
    path = write(tmp_path / "ts.csv", f"user,item,ts\n1,1,1700000000\n1,2,{value}\n")
    refused(
        ws,
        path,
        _timestamps.TIMESTAMP_RANGE.format(file=path, row=3, column="ts", value=repr(value), how=how),
    )
