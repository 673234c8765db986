"""Tests for analysis/ingest/_formats.py: inputs recognised by content, bad paths refused in one line.

Every refusal leaves the workspace as it was (the ``ws`` fixture already holds a dataset).
"""

from __future__ import annotations

import gzip
import os

import pytest

from analysis.errors import AnalysisError
from analysis.ingest import (
    _formats,
    ingest,
)
from tests.analysis._fixtures_ingest import refused, snapshot, write


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
