"""Tests for analysis/ingest/_open.py: mapped columns of the wrong kind are refused when inputs open.

Every refusal leaves the workspace as it was (the ``ws`` fixture already holds a dataset).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.ingest import ColumnMapping, _open, ingest, load_dataset
from tests.analysis._fixtures_ingest import refused


def test_nested_id_columns_are_refused(ws, tmp_path):
    path = tmp_path / "struct.parquet"
    pq.write_table(
        pa.table({"user_id": [{"id": i, "site": "a"} for i in range(30)], "item_id": range(30)}),
        path,
    )
    refused(
        ws,
        path,
        _open.NON_SCALAR_COLUMN.format(file=path, role="user id", column="user_id", type="STRUCT"),
    )
    path = tmp_path / "list.parquet"
    pq.write_table(pa.table({"user_id": range(3), "item_id": [[1], [2, 3], [4]]}), path)
    refused(
        ws,
        path,
        _open.NON_SCALAR_COLUMN.format(
            file=path, role="item id", column="item_id", type="list (BIGINT[])"
        ),
    )
    path = tmp_path / "map.parquet"
    pq.write_table(
        pa.table(
            {
                "user_id": [1, 2],
                "item_id": [1, 2],
                "ts": pa.array([[("a", 1)], [("b", 2)]], type=pa.map_(pa.string(), pa.int64())),
            }
        ),
        path,
    )
    refused(
        ws,
        path,
        _open.NON_SCALAR_COLUMN.format(file=path, role="timestamp", column="ts", type="MAP"),
    )


def test_boolean_explicit_ratings_are_refused_and_read_as_counts(ws, tmp_path):
    path = tmp_path / "liked.parquet"
    pd.DataFrame(
        {"user_id": [1, 1, 2], "item_id": [1, 2, 1], "rating": [True, False, True]}
    ).to_parquet(path)
    refused(ws, path, _open.BOOLEAN_RATING.format(file=path, column="rating"))
    rep = ingest(ws, "liked", path, mapping=ColumnMapping(value_kind="count"))
    assert rep.kind == "count" and rep.n_relevant == 2
    np.testing.assert_array_equal(load_dataset(ws, "liked").gain, [1.0, 0.0, 1.0])
