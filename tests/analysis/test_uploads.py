"""Uploads staged on disk, previews of the first rows, synthetic datasets ingested."""

from __future__ import annotations

import io

import pytest

from analysis.errors import AnalysisError
from analysis.ingest import EMPTY_FILE, NOT_A_NUMBER, ingest
from analysis.uploads import (
    BAD_UPLOAD_NAME,
    ingest_synthetic,
    preview_input,
    stage_upload,
    upload_message,
)
from analysis.workspace import Workspace

CSV = b"user_id,item_id,rating\n1,10,5\n1,11,3\n2,10,4\n2,12,1\n"


def test_stage_upload_writes_once_under_the_original_name(tmp_path):
    path = stage_upload("dir/ratings.csv", io.BytesIO(CSV), tmp_path / "u1")
    assert path == tmp_path / "u1" / "ratings.csv"
    assert path.read_bytes() == CSV
    again = stage_upload("ratings.csv", io.BytesIO(b"other"), tmp_path / "u1")
    assert again == path and path.read_bytes() == CSV  # kept, not rewritten
    assert not list((tmp_path / "u1").glob("*.part"))


@pytest.mark.parametrize("name", ["", "..", " . "])
def test_stage_upload_refuses_unusable_names(tmp_path, name):
    with pytest.raises(AnalysisError) as exc:
        stage_upload(name, io.BytesIO(CSV), tmp_path)
    assert str(exc.value) == BAD_UPLOAD_NAME.format(name=name)


def test_preview_reads_only_the_first_rows(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(CSV)
    head = preview_input(path, n_rows=2)
    assert list(head.columns) == ["user_id", "item_id", "rating"]
    assert head["item_id"].tolist() == ["10", "11"]  # text, as ingest stages it
    tsv = tmp_path / "r.tsv"
    tsv.write_bytes(CSV.replace(b",", b"\t"))
    assert len(preview_input(tsv)) == 4


def test_preview_of_a_bad_file_is_the_ingest_message(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(AnalysisError) as exc:
        preview_input(path)
    assert str(exc.value) == EMPTY_FILE.format(file=str(path))


def test_upload_message_names_the_file_as_uploaded(tmp_path):
    path = stage_upload("bad.csv", io.BytesIO(b"user_id,item_id,rating\n1,2,x\n"), tmp_path / "f")
    with pytest.raises(AnalysisError) as exc:
        ingest(Workspace(":memory:"), "bad", path)
    msg = str(upload_message(exc.value, tmp_path / "other", tmp_path / "f"))
    assert msg == NOT_A_NUMBER.format(file="bad.csv", row=2, column="rating", value="'x'")


def test_ingest_synthetic():
    ws = Workspace(":memory:")
    report = ingest_synthetic(ws, "syn", n_users=50, n_items=30, mean_interactions=6, seed=3)
    assert report.n_users == 50 and report.has_users and report.has_items
    assert report.has_timestamps
    assert ws.list_datasets()["name"].tolist() == ["syn"]
    with pytest.raises(AnalysisError, match="already exists"):
        ingest_synthetic(ws, "syn", n_users=50, n_items=30, mean_interactions=6)
    with pytest.raises(AnalysisError):
        ingest_synthetic(ws, "tiny", n_users=50, n_items=3, mean_interactions=6)
    assert ws.list_datasets()["name"].tolist() == ["syn"]
