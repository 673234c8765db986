"""The Baseline page's "Import rankings" runs as a background job: an uploaded TREC run is
imported and becomes the active run with the import's notes, a bad file fails the job with
its one line on the page, the same import is never submitted twice, Cancel stops it between
stages, and the uploads' folder is removed whatever the end."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.external import AUC_NOTE
from analysis.jobs.manager import get_job_manager
from analysis.runs.store import RunStore
from analysis.workspace import Workspace
from pages._shared import md_escape
from tests.analysis.external._fixtures import C, build_external
from tests.pages._app import JOB_WAIT_S, wait_adopted

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/2_baseline.py"


@pytest.fixture(scope="module")
def ext(tmp_path_factory):
    """A small workspace dataset and a known recommender's TREC runs of it (built once)."""
    ext = build_external(tmp_path_factory.mktemp("import_job"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WEAKSPOT_WORKSPACE", str(ext.ws_path))
        yield ext


@pytest.fixture
def uploads_dir(tmp_path, monkeypatch) -> Path:
    """Where the page makes the uploads' folders (tempfile's directory, for this test)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["run_id"] = "none"  # no demo run needed on this page
    at.session_state["dataset"] = "syn"
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    # the fixture's runs list C items per user
    at.number_input(key="baseline_candidates").set_value(C)
    return at


def _upload(at, key: str, path: Path, name: str | None = None) -> None:
    next(u for u in at.file_uploader if u.key == key).set_value(
        (name or path.name, path.read_bytes(), "text/plain"))


def _click(at, key):
    next(b for b in at.button if b.key == key).click()
    at.run()
    assert not at.exception, at.exception


def _submitted(at, ws_path) -> str:
    """The import job the click just submitted (the page may have adopted it already)."""
    manager = get_job_manager(Workspace(ws_path))
    before = {j.job_id for j in manager.jobs(kind="import")}
    _click(at, "import_run")
    if "baseline_job" in at.session_state:
        return at.session_state["baseline_job"]
    return next(j.job_id for j in manager.jobs(kind="import") if j.job_id not in before)


def _wait(at, ws_path, job_id):
    """Wait for the job to end (no fixed sleep), then let the page adopt it."""
    return wait_adopted(at, get_job_manager(Workspace(ws_path)), job_id)


def test_an_uploaded_trec_run_is_imported_in_the_background_and_becomes_active(ext, uploads_dir):
    at = _page()
    at.text_input(key="import_name").input("prod-ranker-v7")
    _upload(at, "import_test_upload", ext.trec)
    _upload(at, "import_validation_upload", ext.val_trec)
    at.run()
    job_id = _submitted(at, ext.ws_path)
    status = _wait(at, ext.ws_path, job_id)
    assert (status.kind, status.state) == ("import", "done"), status.error
    assert status.title == "syn: import prod-ranker-v7 from test.run, k=10"
    info = RunStore(Workspace(ext.ws_path)).get(status.run_id)
    assert info.label.startswith("prod-ranker-v7")
    assert at.session_state["run_id"] == status.run_id  # the active run now
    assert not at.error, [e.value for e in at.error]
    flash = at.success[0].value
    assert flash.startswith(f"Imported `{status.run_id}`; it is now the active run.")
    assert flash.endswith(md_escape(AUC_NOTE))  # the import's notes, the AUC statement last
    assert not list(uploads_dir.glob("weakspot-import-*"))  # the job removed its uploads


def test_a_test_run_on_this_server_with_the_random_half_is_imported(ext, uploads_dir):
    at = _page()
    at.text_input(key="import_test").input(str(ext.trec))
    at.text_input(key="import_name").input("prod-ranker-v8")
    at.checkbox(key="import_half").check().run()
    status = _wait(at, ext.ws_path, _submitted(at, ext.ws_path))
    assert status.state == "done", status.error
    assert RunStore(Workspace(ext.ws_path)).get(status.run_id).label.startswith("prod-ranker-v8")
    assert "random half" in at.success[0].value
    assert not list(uploads_dir.glob("weakspot-import-*"))  # nothing uploaded, no folder


def test_a_bad_file_fails_the_job_with_its_one_line_on_the_page(ext, uploads_dir, tmp_path):
    bad = tmp_path / "bad.run"
    bad.write_text("not a run\n")
    at = _page()
    at.checkbox(key="import_half").check()
    _upload(at, "import_test_upload", bad)
    at.run()
    status = _wait(at, ext.ws_path, _submitted(at, ext.ws_path))
    line = ("bad.run: 1 lines are not TREC run lines (user Q0 item rank score tag), e.g. "
            "'not a run'; give a TREC run or pick the csv/parquet format.")
    assert (status.state, status.error) == ("failed", line)
    assert [e.value for e in at.error] == [line]  # shown once, literally
    assert not at.exception
    assert not list(uploads_dir.glob("weakspot-import-*"))


def test_the_same_import_is_followed_not_submitted_twice_and_cancel_stops_it(
    ext, uploads_dir, monkeypatch
):
    """While the first session's import reads the dataset (held here until released), a second
    session submitting the same import follows that job; Cancel ends it before judging, saves
    nothing, and the uploads' folder is removed."""
    from analysis.external import _save as saving

    release, entered = threading.Event(), threading.Event()
    real = saving.load_dataset

    def held(*args, **kwargs):
        entered.set()
        release.wait(JOB_WAIT_S)
        return real(*args, **kwargs)

    monkeypatch.setattr(saving, "load_dataset", held)
    manager = get_job_manager(Workspace(ext.ws_path))
    n_runs = len(RunStore(Workspace(ext.ws_path)).list_runs("syn", kind="baseline"))
    try:
        first = _page()
        _upload(first, "import_test_upload", ext.trec)
        _upload(first, "import_validation_upload", ext.val_trec)
        first.run()
        job_id = _submitted(first, ext.ws_path)
        assert entered.wait(JOB_WAIT_S)
        assert next(b for b in first.button if b.key == "import_run").disabled

        second = _page()  # another session: it knows nothing of the first job
        _upload(second, "import_test_upload", ext.trec)
        _upload(second, "import_validation_upload", ext.val_trec)
        second.run()
        _click(second, "import_run")
        assert second.session_state["baseline_job"] == job_id
        assert [j.job_id for j in manager.active() if j.kind == "import"] == [job_id]

        _click(first, "baseline_cancel")
    finally:
        release.set()
    status = _wait(first, ext.ws_path, job_id)
    assert status.state == "cancelled"
    assert any("cancelled" in i.value for i in first.info)
    assert len(RunStore(Workspace(ext.ws_path)).list_runs("syn", kind="baseline")) == n_runs
    assert not list(uploads_dir.glob("weakspot-import-*"))
