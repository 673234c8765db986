"""Ingest refuses what would silently corrupt or replace data, with one line (issue 7, 5-8).

Every refusal here leaves the workspace as it was: the fixture workspace already holds a
dataset, and its catalog and tables are compared before and after.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.errors import AnalysisError
from analysis.ingest import (
    ColumnMapping,
    _build,
    _formats,
    _library_errors,
    _movielens,
    _open,
    _sql,
    _stage,
    _text_rows,
    _timestamps,
    ingest,
    load_dataset,
)
from analysis.runs import files as _files
from analysis.workspace import Workspace
from tests.analysis._fixtures_ingest import snapshot, workspace_with_one_dataset, write

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return workspace_with_one_dataset(tmp_path)


def refused(ws: Workspace, spec, expected: str, **kwargs) -> None:
    """Ingest must raise exactly ``expected`` (one line) and leave ``ws`` unchanged."""
    before = snapshot(ws)
    with pytest.raises(AnalysisError) as err:
        ingest(ws, "new", spec, **kwargs)
    assert err.value.message == expected  # str() adds the app's hint, render("cli") the CLI's
    assert "\n" not in str(err.value)
    assert snapshot(ws) == before


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """A fresh temporary folder for this test, to see what ingest leaves in it."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# -- 5. a path is read as exactly that path ------------------------------------------------


@pytest.mark.parametrize("name", ["a[1].csv", "b*.csv", "c?.csv", "d[!x].csv", "e]f.csv"])
def test_glob_characters_in_a_file_name_read_exactly_that_file(tmp_path, name):
    target = write(tmp_path / name, "user,item\nu1,i1\nu1,i2\n")
    for decoy in ("a1.csv", "bx.csv", "b.csv", "cx.csv", "dy.csv", "d!.csv"):  # glob matches
        write(tmp_path / decoy, "user,item\nzz,zz\n")
    w = Workspace(":memory:")
    rep = ingest(w, "g", target)
    ds = load_dataset(w, "g")
    assert rep.n_rows_read == 2
    assert ds.user_ids.tolist() == ["u1"] and ds.item_ids.tolist() == ["i1", "i2"]


def test_glob_characters_in_folders_parquet_and_error_rows(tmp_path):
    folder, decoy = tmp_path / "runs[1]*", tmp_path / "runs1x"
    folder.mkdir()
    decoy.mkdir()
    pd.DataFrame({"user": [1, 2], "item": [3, 4]}).to_parquet(folder / "d?.parquet")
    pd.DataFrame({"user": [9], "item": [9]}).to_parquet(decoy / "dx.parquet")
    w = Workspace(":memory:")
    ingest(w, "p", folder / "d?.parquet")
    assert load_dataset(w, "p").user_ids.tolist() == [1, 2]
    # the error path re-reads the file to find the row: it must read the same file
    bad = folder / "bad[2].parquet"
    pd.DataFrame({"user": [1, 2, 3], "item": [1, 1, 1], "rating": [5.0, np.nan, 4.0]}).to_parquet(
        bad
    )
    with pytest.raises(AnalysisError) as err:
        ingest(w, "b", bad)
    assert err.value.message == _stage.NOT_A_NUMBER.format(
        file=bad, row=2, column="rating", value="an empty value"
    )


def test_glob_characters_in_a_movielens_folder(tmp_path):
    folder = tmp_path / "ml[100k]"
    write(folder / "u.data", "1\t10\t5\t881250949\n2\t10\t3\t881250950\n")
    write(tmp_path / "ml1" / "u.data", "7\t7\t1\t1\n")  # what the glob would match
    w = Workspace(":memory:")
    ingest(w, "ml", folder)
    assert load_dataset(w, "ml").user_ids.tolist() == [1, 2]


def test_duckdb_path_escapes_globs_and_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _sql.duckdb_path("a[1]*?.csv") == f"{tmp_path}/a[[]1][*][?].csv"
    assert _sql.duckdb_path("~x.csv") == f"{tmp_path}/~x.csv"  # never the home folder


# -- 6. silent corruption at ingest --------------------------------------------------------


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


# -- 7. one-line errors instead of tracebacks ----------------------------------------------


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


def test_unclosed_quote_with_a_huge_field(ws, tmp_path):
    huge = "x" * (_text_rows.FIELD_LIMIT + 1000)
    path = write(tmp_path / "q.csv", f'user,item,rating\n1,1,5\n1,2,"5\n{huge}\n2,3,4\n')
    what = f"the quoted field runs on for over {_text_rows.FIELD_LIMIT >> 20} MB"
    refused(ws, path, _text_rows.UNCLOSED_QUOTE.format(file=path, row=3, what=what))
    path = write(tmp_path / "q2.csv", 'user,item,rating\n1,1,5\n1,2,"5\n2,3,4\n')
    what = "the quoted field runs to the end of the file"
    refused(ws, path, _text_rows.UNCLOSED_QUOTE.format(file=path, row=3, what=what))


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("user,item\n1,2\n".encode("utf-16"), "UTF-16"),  # with its byte-order mark
        ("user,item\n1,2\n".encode("utf-16-le"), "UTF-16"),  # without
        ("user,item\n1,2\n".encode("utf-16-be"), "UTF-16"),
        ("user,item\n1,2\n".encode("utf-32"), "UTF-32"),
    ],
)
def test_utf16_text_is_not_called_binary(ws, tmp_path, data, encoding):
    path = write(tmp_path / "wide.csv", data)
    refused(ws, path, _formats.WIDE_TEXT.format(file=path, encoding=encoding))


def test_headerless_file_keeps_its_first_row(ws, tmp_path):
    path = write(tmp_path / "nohead.csv", "1,1,5\n1,2,3\n")
    report = ingest(ws, "nohead", path)
    assert report.n_rows_read == 2 and report.n_interactions == 2
    assert report.mapping == ColumnMapping("column0", "column1", "column2", None, "explicit")


def test_bad_paths_are_one_line(ws, tmp_path):
    long = tmp_path / ("a" * 300 + ".csv")
    refused(ws, long, _formats.BAD_PATH.format(file=long, detail="File name too long"))
    refused(
        ws,
        str(tmp_path / "a\x00b.csv"),
        _formats.BAD_PATH.format(
            file=f"{tmp_path}/a\\x00b.csv", detail="control characters in the name"
        ),
    )
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    refused(ws, fifo, _formats.NOT_A_FILE.format(file=fifo))


def test_damaged_gzip_is_one_line(ws, tmp_path):
    data = gzip.compress(b"user,item\n" + b"1,2\n" * 50_000)
    path = write(tmp_path / "cut.csv.gz", data[: len(data) // 2])
    before = snapshot(ws)
    with pytest.raises(AnalysisError) as err:
        ingest(ws, "new", path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)
    assert snapshot(ws) == before


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


# -- 8. resource exhaustion: zips, temporary files -----------------------------------------

U_DATA = "1\t10\t5\t881250949\n2\t10\t3\t881250950\n2\t11\t4\t881250951\n"


def ml_zip(path: Path, u_data: bytes, **extra: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-100k/u.data", u_data)
        for name, data in extra.items():
            zf.writestr(f"ml-100k/{name.replace('_', '.')}", data)
    return path


def test_zip_bomb_is_refused_by_ratio_and_cleaned_up(ws, tmp_path, private_tmp):
    line = b"1\t10\t5\t881250949\n"
    path = ml_zip(tmp_path / "bomb.zip", line * ((12 << 20) // len(line)))  # 12 MiB, 1000x
    packed = zipfile.ZipFile(path).getinfo("ml-100k/u.data").compress_size
    refused(
        ws,
        path,
        _movielens.ZIP_RATIO.format(
            file=path, member="ml-100k/u.data", ratio=_movielens.MAX_RATIO, packed=packed
        ),
    )
    assert list(private_tmp.iterdir()) == []


def test_zip_expanding_past_the_size_limit_is_refused(ws, tmp_path, private_tmp, monkeypatch):
    path = ml_zip(tmp_path / "big.zip", U_DATA.encode(), u_item=b"x" * 5000)
    monkeypatch.setattr(_movielens, "MAX_EXPANDED_BYTES", 1000)
    refused(
        ws,
        path,
        _movielens.ZIP_TOO_LARGE.format(file=path, member="ml-100k/u.item", limit="1000 bytes"),
    )
    assert list(private_tmp.iterdir()) == []


def test_zip_extraction_is_private_streamed_and_always_removed(tmp_path, private_tmp, monkeypatch):
    path = ml_zip(tmp_path / "ml.zip", U_DATA.encode())
    seen = {}
    real = _open.movielens_sources

    def spy(folder, variant, prefix):
        seen["folder"] = folder.stat().st_mode & 0o777
        seen["file"] = (folder / "u.data").stat().st_mode & 0o777
        return real(folder, variant, prefix)

    monkeypatch.setattr(_open, "movielens_sources", spy)
    w = Workspace(":memory:")
    assert ingest(w, "ml", path).n_interactions == 3
    assert seen == {"folder": 0o700, "file": 0o600}
    assert list(private_tmp.iterdir()) == []

    def interrupted(folder, variant, prefix):
        raise KeyboardInterrupt

    monkeypatch.setattr(_open, "movielens_sources", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ingest(w, "ml2", path)
    assert list(private_tmp.iterdir()) == []
    assert w.list_datasets()["name"].tolist() == ["ml"]


def test_damaged_zip_member_is_one_line(ws, tmp_path, private_tmp):
    path = ml_zip(tmp_path / "crc.zip", U_DATA.encode() * 50)
    data = bytearray(path.read_bytes())
    start = data.index(b"u.data") + len(b"u.data") + 10  # inside the compressed data
    data[start] ^= 0xFF
    path.write_bytes(bytes(data))
    before = snapshot(ws)
    with pytest.raises(AnalysisError) as err:
        ingest(ws, "new", path)
    assert str(err.value).startswith(f"{path}:ml-100k/u.data: could not be read as zip (")
    assert snapshot(ws) == before
    assert list(private_tmp.iterdir()) == []


# -- 8. a killed writer leaves no partial folder behind ------------------------------------

KILLED_WRITER = """
import os, signal, sys
from analysis.runs.files import atomic_folder
with atomic_folder(sys.argv[1]) as tmp:
    (tmp / "per_user.parquet").write_bytes(b"half")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_partial_folders_of_a_killed_writer_are_removed_on_the_next_start(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(out)], env=env)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(f".run.partial-{proc.pid}-")
    live = tmp_path / f".run.partial-{os.getpid()}-abcdefgh"  # a concurrent write: kept
    live.mkdir()
    with _files.atomic_folder(out) as tmp:
        (tmp / "summary.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "run"]
    assert [p.name for p in out.iterdir()] == ["summary.json"]


def test_a_writer_killed_between_the_renames_gets_its_previous_output_back(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])  # a pid now gone
    dead.wait()
    old = tmp_path / f".run.old-{dead.pid}-abcdefgh"
    write(old / "run" / "summary.json", "{}")
    partial = tmp_path / f".run.partial-{dead.pid}-ijklmnop"
    write(partial / "summary.json", '{"half": true}')
    removed = _files.clean_stale_partials(tmp_path / "run")
    assert sorted(p.name for p in removed) == sorted([old.name, partial.name])
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    assert (tmp_path / "run" / "summary.json").read_text() == "{}"
