"""The ingest's private database is held to a memory limit (``$WEAKSPOT_DUCKDB_MEMORY``)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.ingest import _ingest, ingest, load_dataset
from analysis.ingest._ingest import BAD_MEMORY, MEMORY_CAP, MEMORY_ENV, staging_memory_limit
from analysis.workspace import Workspace


def _export(root: Path) -> None:
    """3,000 interactions (most of them repeated pairs) of 40 users and 30 items as 3 ``day=``
    folders of two part files each."""
    with duckdb.connect() as con:
        for day in range(3):
            folder = root / f"day={day}"
            folder.mkdir(parents=True)
            for part in range(2):
                con.execute(
                    f"COPY (SELECT n % 40 AS user_id, (n * 7 + {day}) % 30 AS item_id, "
                    f"CAST(1 + (n * 13 + {part}) % 5 AS DOUBLE) AS rating, "
                    f"1700000000 + n * 60 + {day} AS ts FROM range({part} * 500, {part} * 500 "
                    f"+ 500) t(n)) TO '{folder}/part-{part}.parquet' "
                    f"(FORMAT parquet, ROW_GROUP_SIZE 100)"
                )


def _arrays(tmp_path: Path, src: Path, name: str) -> dict[str, np.ndarray]:
    ws = Workspace(tmp_path / f"{name}.duckdb")
    ingest(ws, "d", src)
    ds = load_dataset(ws, "d")
    return {
        "user_idx": ds.user_idx, "item_idx": ds.item_idx, "value": ds.value,
        "timestamp": ds.timestamp, "gain": ds.gain, "user_ids": ds.user_ids,
        "item_ids": ds.item_ids,
    }  # fmt: skip


def test_tiny_memory_limit_gives_the_same_dataset(tmp_path, monkeypatch):
    src = tmp_path / "export"
    _export(src)
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    free = _arrays(tmp_path, src, "free")
    monkeypatch.setenv(MEMORY_ENV, "64MB")
    capped = _arrays(tmp_path, src, "capped")
    with duckdb.connect() as con:  # one row per distinct (user, item) of the 3,000
        (n_pairs,) = con.execute(
            f"SELECT count(*) FROM (SELECT DISTINCT user_id, item_id FROM "
            f"read_parquet('{src}/**/*.parquet'))"
        ).fetchall()[0]
    assert 0 < n_pairs < 3000 and len(free["user_idx"]) == n_pairs
    for key, values in free.items():
        assert capped[key].dtype == values.dtype, key
        np.testing.assert_array_equal(capped[key], values, err_msg=key)


def test_the_limit_reaches_the_private_database(tmp_path, monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "64MB")
    frame = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [5, 6, 5], "rating": [5.0, 4, 3]})
    ws = Workspace(tmp_path / "ws.duckdb")
    settings = []  # read while the ingest runs: the connection is closed when it returns
    real_build = _ingest.build_tables

    def build(con, *args):
        settings.append(
            con.execute(
                "SELECT current_setting('memory_limit'), current_setting('temp_directory'), "
                "current_setting('preserve_insertion_order')"
            ).fetchall()[0]
        )
        return real_build(con, *args)

    monkeypatch.setattr(_ingest, "build_tables", build)
    ingest(ws, "d", frame)
    (limit, temp, order) = settings[0]
    assert limit == "61.0 MiB"  # 64 MB = 61.04 MiB as DuckDB shows it
    assert Path(temp).name == "spill" and Path(temp).parent.name.startswith("weakspot-ingest-")
    assert order is False
    assert ws.has_dataset("d")


def test_default_limit_is_the_cap_or_half_the_ram(monkeypatch):
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert staging_memory_limit() == f"{min(MEMORY_CAP, ram // 2) // 2**20}MiB"
    monkeypatch.setenv(MEMORY_ENV, "  ")
    assert staging_memory_limit().endswith("MiB")
    monkeypatch.setenv(MEMORY_ENV, " 512MB ")
    assert staging_memory_limit() == "512MB"


def test_a_bad_limit_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "lots")
    ws = Workspace(tmp_path / "ws.duckdb")
    with pytest.raises(AnalysisError) as err:
        ingest(ws, "d", pd.DataFrame({"user_id": [1], "item_id": [2]}))
    assert str(err.value) == BAD_MEMORY.format(env=MEMORY_ENV, value="lots")
    assert "\n" not in str(err.value)
    assert not ws.has_dataset("d")
