"""Uploads staged on disk, previews of the first rows, synthetic datasets ingested."""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import time

import pytest

from analysis.errors import AnalysisError
from analysis.ingest import EMPTY_FILE, NOT_A_NUMBER, ingest
from analysis.ingest._formats import WIDE_TEXT
from analysis.ingest.uploads import (
    BAD_UPLOAD_NAME,
    MAX_NAME_BYTES,
    STAGE_FAILED,
    STALE_UPLOAD_SECONDS,
    clean_stale_uploads,
    discard_upload,
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
    assert msg == NOT_A_NUMBER.format(file="bad.csv", row=2, column="rating", value="'x'") + (
        " Fix or drop that row, or pick another column under Rating / count on the Data page."
    )  # the app's hint, once
    assert upload_message(exc.value, tmp_path / "f").render("cli").endswith(
        "must be numeric. Fix or drop that row, or map another column with --rating-col NAME.")


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


# -- issue 7: names, permissions, clean-up, messages -----------------------------------------


def test_stage_upload_cuts_a_name_over_255_bytes_keeping_the_extension(tmp_path):
    name = "é" * 200 + ".csv.gz"  # 407 bytes in UTF-8
    path = stage_upload(name, io.BytesIO(gzip.compress(CSV)), tmp_path / "u")
    assert len(path.name.encode("utf-8")) <= MAX_NAME_BYTES and path.name.endswith(".csv.gz")
    assert path.name == "é" * ((MAX_NAME_BYTES - 7) // 2) + ".csv.gz"
    report = ingest(Workspace(":memory:"), "long", path)
    assert report.n_interactions == 4


@pytest.mark.parametrize(
    ("name", "staged"),
    [("a\x00b.csv", "a_b.csv"), ("r\nx.csv", "r_x.csv"), ("tab\there.csv", "tab_here.csv")],
)
def test_stage_upload_makes_control_characters_safe(tmp_path, name, staged):
    path = stage_upload(name, io.BytesIO(CSV), tmp_path / "u")
    assert path.name == staged and path.read_bytes() == CSV


@pytest.mark.parametrize("name", ["\x00", "\x00\x01"])
def test_stage_upload_refuses_a_name_of_control_characters_only(tmp_path, name):
    with pytest.raises(AnalysisError) as exc:
        stage_upload(name, io.BytesIO(CSV), tmp_path / "u")
    assert str(exc.value) == BAD_UPLOAD_NAME.format(name=name)


def test_stage_upload_failure_is_one_line(tmp_path):
    (tmp_path / "taken").write_text("a file where the folder should go")
    with pytest.raises(AnalysisError) as exc:
        stage_upload("r.csv", io.BytesIO(CSV), tmp_path / "taken" / "u")
    assert str(exc.value) == STAGE_FAILED.format(name="r.csv", detail="File exists")
    assert not (tmp_path / "taken").is_dir()


def test_staged_uploads_are_owner_only(tmp_path):
    root = tmp_path / "uploads"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    path = stage_upload("r.csv", io.BytesIO(CSV), root / "id1")
    assert path.stat().st_mode & 0o777 == 0o600
    assert (root / "id1").stat().st_mode & 0o777 == 0o700
    assert root.stat().st_mode & 0o777 == 0o700


def test_discard_and_clean_stale_uploads(tmp_path):
    root = tmp_path / "uploads"
    fresh = stage_upload("a.csv", io.BytesIO(CSV), root / "fresh").parent
    stale = stage_upload("b.csv", io.BytesIO(CSV), root / "stale").parent
    reused = stage_upload("c.csv", io.BytesIO(CSV), root / "reused").parent
    long_ago = time.time() - STALE_UPLOAD_SECONDS - 60
    for folder in (stale, reused):
        os.utime(folder, (long_ago, long_ago))
    stage_upload("c.csv", io.BytesIO(CSV), reused)  # staged again: in use, not stale
    assert clean_stale_uploads(root) == 1
    assert sorted(p.name for p in root.iterdir()) == ["fresh", "reused"]
    discard_upload(fresh, reused, tmp_path / "never-there")
    assert list(root.iterdir()) == []
    assert clean_stale_uploads(tmp_path / "no-root") == 0


def test_preview_reads_exactly_a_file_with_glob_characters(tmp_path):
    target = tmp_path / "r[1].csv"
    target.write_bytes(CSV)
    (tmp_path / "r1.csv").write_bytes(b"user_id,item_id,rating\n9,9,9\n")
    assert preview_input(target)["user_id"].tolist() == ["1", "1", "2", "2"]


def test_upload_message_hides_every_temporary_path(tmp_path):
    tmp = tempfile.gettempdir()
    err = AnalysisError(
        f"{tmp}/weakspot-uploads/ab12/ml.zip:ml-100k/u.data: could not be read (IOException: "
        f'IO Error: Cannot open file "{tmp}/weakspot_ml_x1y2/u.data"); check the file.'
    )
    assert str(upload_message(err, f"{tmp}/weakspot-uploads/ab12")) == (
        "ml.zip:ml-100k/u.data: could not be read (IOException: IO Error: Cannot open file "
        '"u.data"); check the file.'
    )


def test_preview_of_a_utf16_upload_is_one_line(tmp_path):
    path = stage_upload("w.csv", io.BytesIO(CSV.decode().encode("utf-16")), tmp_path / "u")
    with pytest.raises(AnalysisError) as exc:
        preview_input(path)
    assert str(upload_message(exc.value, tmp_path / "u")) == WIDE_TEXT.format(
        file="w.csv", encoding="UTF-16"
    )
