"""Tests for analysis/ingest/_movielens.py: MovieLens zips are extracted privately, bounded and removed.

Every refusal leaves the workspace as it was (the ``ws`` fixture already holds a dataset).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from analysis.errors import AnalysisError
from analysis.ingest import (
    _movielens,
    _open,
    ingest,
)
from analysis.workspace import Workspace
from tests.analysis._fixtures_ingest import refused, snapshot

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
