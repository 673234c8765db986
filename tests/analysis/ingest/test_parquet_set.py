"""A folder of Parquet part files (a Spark/Hive export) or a glob ingests like one file."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from analysis.errors import AnalysisError
from analysis.ingest import ingest
from analysis.ingest._parquet_set import MIXED_PARTITIONS, NO_MATCH
from analysis.ingest._stage import NULL_ID
from analysis.workspace import Workspace

# 60 interactions of 12 users and 9 items; ratings 1..5, one duplicate (user 3, item i2)
_ROWS = """
SELECT (n % 12) + 1 AS user_id, 'i' || ((n * 7) % 9) AS item_id,
       CAST((n * 3) % 5 + 1 AS DOUBLE) AS rating, 1700000000 + n * 3600 AS ts,
       CASE WHEN n < 30 THEN DATE '2024-01-01' ELSE DATE '2024-01-02' END AS day,
       CASE WHEN n % 3 = 0 THEN 'FR' ELSE 'DE' END AS country
FROM range(60) t(n)
UNION ALL SELECT 3, 'i2', 2.0, 1800000000, DATE '2024-01-02', 'FR'
"""


def _export(root: Path) -> None:
    """The rows as a Spark export: ``day=/country=/`` folders, several part files per folder
    with different row-group sizes, plus the marker and temporary files Spark leaves."""
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE t AS {_ROWS}")
        parts = con.execute("SELECT DISTINCT day, country FROM t ORDER BY ALL").fetchall()
        for day, country in parts:
            folder = root / f"day={day}" / f"country={country}"
            folder.mkdir(parents=True)
            for j, rg in enumerate((2, 5, 1000)):  # three parts, three row-group sizes
                con.execute(
                    f"COPY (SELECT user_id, item_id, rating, ts FROM t WHERE day = ? AND "
                    f"country = ? AND hash(user_id, item_id, ts) % 3 = {j} ORDER BY ALL) "
                    f"TO '{folder}/part-{j:05d}-c000.snappy.parquet' "
                    f"(FORMAT parquet, ROW_GROUP_SIZE {rg})",
                    [day, country],
                )
        con.execute(f"COPY (SELECT * FROM t ORDER BY ts) TO '{root.parent / 'one.parquet'}'")
    (root / "_SUCCESS").write_bytes(b"")
    (root / ".part-00000.crc").write_bytes(b"crc")
    (root / "_temporary").mkdir()
    (root / "_temporary" / "junk").write_bytes(b"not parquet")


def _tables(ws: Workspace, name: str) -> dict:
    """Every table of dataset ``name`` (rows sorted) and its catalog stats, minus the path."""
    with ws.connect(read_only=True) as con:
        prefix = ws.catalog_row(con, name)["table_prefix"]
        out = {}
        for table in ws.dataset_tables(con, prefix):
            rel = con.table(table)
            out[table[len(prefix) :]] = (rel.columns, rel.types, rel.order("ALL").fetchall())
        stats = json.loads(ws.catalog_row(con, name)["stats"] or "{}")
    skip = ("name", "source", "seconds")  # differ by design
    kept = {k: v for k, v in stats.items() if k not in skip and "time" not in k}
    return {"tables": out, "stats": kept}


@pytest.fixture
def export(tmp_path) -> Path:
    root = tmp_path / "warehouse" / "snapshot=7" / "ratings"  # a key=value folder above
    _export(root)
    return root


def test_partitioned_folder_equals_one_file(tmp_path, export):
    ws = Workspace(tmp_path / "ws.duckdb")
    a = ingest(ws, "parts", export)
    b = ingest(ws, "one", export.parent / "one.parquet")
    assert a.n_interactions == b.n_interactions == 36  # 61 rows, 36 (user, item) pairs
    assert _tables(ws, "parts") == _tables(ws, "one")
    # the snapshot=7 folder above the export is not a column of it
    with ws.connect(read_only=True) as con:
        prefix = ws.catalog_row(con, "parts")["table_prefix"]
        assert "snapshot" not in con.table(f"{prefix}_interactions").columns


def test_glob_equals_folder(tmp_path, export):
    ws = Workspace(tmp_path / "ws.duckdb")
    ingest(ws, "parts", export)
    ingest(ws, "glob", str(export / "**" / "part-*.parquet"))
    assert _tables(ws, "glob") == _tables(ws, "parts")


def test_bad_row_named_with_its_part_file(tmp_path):
    root = tmp_path / "export"
    with duckdb.connect() as con:
        for day, users in (("1", "[1, 2]"), ("2", "[3, NULL, 5]")):
            (root / f"day={day}").mkdir(parents=True)
            con.execute(
                f"COPY (SELECT unnest({users}) AS user_id, 7 AS item_id) "
                f"TO '{root}/day={day}/part-0.parquet'"
            )
    ws = Workspace(tmp_path / "ws.duckdb")
    with pytest.raises(AnalysisError) as err:
        ingest(ws, "bad", root)
    row = f"2 of {Path('day=2') / 'part-0.parquet'}"
    assert err.value.message == NULL_ID.format(file=root, row=row, role="user", column="user_id")


def test_parts_under_different_partition_keys_refused(tmp_path):
    root = tmp_path / "export"
    with duckdb.connect() as con:
        for sub in ("day=1", "other"):
            (root / sub).mkdir(parents=True)
            con.execute(f"COPY (SELECT 1 AS user_id, 2 AS item_id) TO '{root}/{sub}/p.parquet'")
    with pytest.raises(AnalysisError) as err:
        ingest(Workspace(tmp_path / "ws.duckdb"), "bad", root)
    assert err.value.message == MIXED_PARTITIONS.format(
        file=root, left=["day"], a="p.parquet", right="none", b="p.parquet"
    )


def test_glob_matching_nothing_refused(tmp_path):
    pattern = str(tmp_path / "nothing" / "*.parquet")
    with pytest.raises(AnalysisError) as err:
        ingest(Workspace(tmp_path / "ws.duckdb"), "bad", pattern)
    assert err.value.message == NO_MATCH.format(file=pattern)
