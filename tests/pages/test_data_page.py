"""The Data page driven through AppTest: uploads (good, bad, MovieLens zip, users file,
MovieLens's own u.data/u.user/u.item by name, headerless files, bare quotes), mapping
override and the header choice, synthetic dataset, rename and delete with confirmation,
double submits, and an unexpected exception shown as one line."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.ingest import NOT_A_NUMBER, uploads
from analysis.workspace import Workspace
from pages._shared import UNEXPECTED_ERROR

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/1_data.py"

GOOD_CSV = b"user_id,item_id,rating,timestamp\n1,10,5,100\n1,11,3,101\n2,10,4,102\n2,12,1,103\n"
BAD_CSV = b"user_id,item_id,rating,timestamp\n1,10,5,100\n1,11,four,101\n"
USERS_CSV = b"user_id,age,gender\n1,25,F\n2,40,M\n"


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("WEAKSPOT_WORKSPACE", str(tmp_path / "ws.duckdb"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["run_id"] = "none"  # the sidebar needs no demo run on this page
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at, Workspace(tmp_path / "ws.duckdb")


def _by_key(elements, key):
    return next(e for e in elements if e.key == key)


def _upload(at, key, name, content, mime="text/csv"):
    _by_key(at.file_uploader, key).set_value((name, content, mime))
    at.run()
    assert not at.exception, at.exception


def _ingest(at, name):
    at.text_input(key="data_name").set_value(name)
    _by_key(at.button, "data_ingest").click()
    at.run()
    assert not at.exception, at.exception


def _ingested_with_side_tables(at, ws, name, shape: tuple[int, int, int]) -> None:
    """Ingest as ``name``: no error, ``shape`` = (users, items, interactions), and its users
    and items tables kept."""
    _ingest(at, name)
    assert not at.error, [e.value for e in at.error]
    info = ws.dataset_info(name)
    assert (info["n_users"], info["n_items"], info["n_interactions"]) == shape
    assert info["has_users"] and info["has_items"]


def test_empty_workspace_says_what_to_do(app):
    at, _ = app
    assert any("No dataset yet" in i.value for i in at.info)


def test_good_csv_preview_mapping_and_ingest(app):
    at, ws = app
    _upload(at, "data_upload_interactions", "ratings.csv", GOOD_CSV)
    preview = at.dataframe[-1].value
    assert list(preview.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert len(preview) == 4
    assert at.selectbox(key="data_map_user").value == "user_id"
    assert at.selectbox(key="data_map_rating").value == "rating"
    assert at.selectbox(key="data_map_timestamp").value == "timestamp"
    _ingest(at, "small")
    assert ws.list_datasets()["name"].tolist() == ["small"]
    assert any("Ingested 'small': 2 users, 3 items, 4 interactions" in s.value
               for s in at.success)
    assert at.session_state["dataset"] == "small"
    values = {m.label: m.value for m in at.metric}
    assert values["Users"] == "2" and values["Interactions"] == "4"
    assert values["Sparsity"] == "33.33%"  # 1 - 4 / (2 * 3)
    assert values["Relevant share"] == "50.0%"  # ratings 5 and 4 of 5, 3, 4, 1
    assert len(at.get("plotly_chart")) == 2


def test_bad_csv_shows_one_line_error_and_adds_nothing(app):
    at, ws = app
    _upload(at, "data_upload_interactions", "bad.csv", BAD_CSV)
    _ingest(at, "bad")
    expected = NOT_A_NUMBER.format(file="bad.csv", row=3, column="rating", value="'four'") + (
        " Fix or drop that row, or pick another column under Rating / count on the Data page.")
    errors = [e.value for e in at.error]
    assert errors == [expected], errors
    assert "\n" not in errors[0]
    assert ws.list_datasets().empty


def test_mapping_override_swapped_ids_and_implicit(app):
    at, ws = app
    _upload(at, "data_upload_interactions", "ratings.csv", GOOD_CSV)
    at.selectbox(key="data_map_user").set_value("item_id")
    at.selectbox(key="data_map_item").set_value("user_id")
    at.selectbox(key="data_map_kind").set_value("implicit")
    _ingest(at, "swapped")
    assert not at.error, [e.value for e in at.error]
    info = ws.dataset_info("swapped")
    assert (info["n_users"], info["n_items"]) == (3, 2)
    assert info["kind"] == "implicit"
    assert info["stats"]["n_relevant"] == 4


def test_mapping_without_timestamp_column_offers_none(app):
    at, ws = app
    _upload(at, "data_upload_interactions", "r.csv", b"user,item,stars\na,x,5\nb,y,2\n")
    assert at.selectbox(key="data_map_timestamp").value == "(none)"
    assert at.selectbox(key="data_map_rating").value == "stars"
    _ingest(at, "nots")
    assert ws.dataset_info("nots")["stats"]["has_timestamps"] is False


def test_users_file_is_stored(app):
    at, ws = app
    _upload(at, "data_upload_interactions", "ratings.csv", GOOD_CSV)
    _upload(at, "data_upload_users", "people.csv", USERS_CSV)
    _ingest(at, "with-users")
    assert ws.dataset_info("with-users")["has_users"]
    assert any("user attributes: yes" in c.value for c in at.caption)


def test_movielens_zip_built_in_the_test(app):
    at, ws = app
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("ml-100k/u.data", "1\t10\t5\t881250949\n1\t20\t3\t881250950\n"
                                     "2\t10\t4\t881250951\n")
        z.writestr("ml-100k/u.item", "10|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0"
                                     "|0|0|0|0|0|0|0|0|0|0|0\n20|GoldenEye (1995)|01-Jan-1995||"
                                     "http://x|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n")
        z.writestr("ml-100k/u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n")
    _upload(at, "data_upload_interactions", "ml-100k.zip", buf.getvalue(), "application/zip")
    assert len(at.dataframe[-1].value) == 3
    _ingested_with_side_tables(at, ws, "ml-tiny", (2, 2, 3))


def test_synthetic_rename_and_delete(app):
    at, ws = app
    at.text_input(key="data_synth_name").set_value("syn")
    at.number_input(key="data_synth_users").set_value(60)
    at.number_input(key="data_synth_items").set_value(40)
    at.number_input(key="data_synth_mean").set_value(8.0)
    _by_key(at.button, "data_synth_create").click()
    at.run()
    assert not at.exception, at.exception
    info = ws.dataset_info("syn")
    assert info["n_users"] == 60 and info["has_users"] and info["has_items"]
    assert at.selectbox(key="data_active").value == "syn"

    at.text_input(key="data_rename_to").set_value("syn2")
    _by_key(at.button, "data_rename").click()
    at.run()
    assert ws.list_datasets()["name"].tolist() == ["syn2"]
    assert at.session_state["dataset"] == "syn2"

    at.text_input(key="data_rename_to").set_value("bad/name")
    _by_key(at.button, "data_rename").click()
    at.run()
    assert len(at.error) == 1 and "is not allowed" in at.error[0].value

    _by_key(at.button, "data_delete").click()
    at.run()
    assert any("Delete dataset **syn2**" in w.value for w in at.warning)
    _by_key(at.button, "data_delete_cancel").click()
    at.run()
    assert ws.has_dataset("syn2") and not at.warning
    _by_key(at.button, "data_delete").click()
    at.run()
    _by_key(at.button, "data_delete_confirm").click()
    at.run()
    assert not at.exception, at.exception
    assert ws.list_datasets().empty
    assert any("No dataset yet" in i.value for i in at.info)


def test_synthetic_bad_size_shows_error(app):
    at, ws = app
    at.number_input(key="data_synth_mean").set_value(3.0)
    at.number_input(key="data_synth_items").set_value(10)
    at.text_input(key="data_synth_name").set_value(" ")
    _by_key(at.button, "data_synth_create").click()
    at.run()
    assert len(at.error) == 1 and "is not allowed" in at.error[0].value
    assert ws.list_datasets().empty


# -- MovieLens's own files, headerless files, quotes -----------------------------------------

U_DATA = b"196\t242\t3\t881250949\n186\t302\t5\t891717742\n22\t377\t1\t878887116\n"
U_USER = b"196|49|M|writer|55105\n186|39|F|executive|00000\n22|25|M|writer|40206\n"
_FLAGS = "|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0"
U_ITEM = "".join(
    f"{i}|Title {i} (199{k})|01-Jan-1995||http://x{_FLAGS}\n"
    for k, i in enumerate((242, 302, 377))
).encode("latin-1")
BINARY = "application/octet-stream"


def test_movielens_files_by_name_every_row_arrives(app):
    at, ws = app
    _upload(at, "data_upload_interactions", "u.data", U_DATA, BINARY)
    assert at.checkbox(key="data_header").value is False  # detected: no header line
    preview = at.dataframe[-1].value
    assert list(preview.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert preview["user_id"].tolist() == ["196", "186", "22"]  # the first row too
    assert at.selectbox(key="data_map_user").value == "user_id"
    assert at.selectbox(key="data_map_item").value == "item_id"
    _upload(at, "data_upload_users", "u.user", U_USER, BINARY)
    _upload(at, "data_upload_items", "u.item", U_ITEM, BINARY)
    _ingest(at, "ml")
    assert not at.error, [e.value for e in at.error]
    info = ws.dataset_info("ml")
    assert (info["n_users"], info["n_items"], info["n_interactions"]) == (3, 3, 3)
    assert info["stats"]["n_rows_read"] == 3
    assert info["has_users"] and info["has_items"]


def test_headerless_csv_gets_distinct_columns_and_the_header_choice(app):
    at, ws = app
    _upload(at, "data_upload_interactions", "plays.txt", b"7,a,3\n8,b,1\n7,b,2\n")
    assert at.checkbox(key="data_header").value is False
    assert list(at.dataframe[-1].value.columns) == ["column0", "column1", "column2"]
    assert at.selectbox(key="data_map_user").value == "column0"
    assert at.selectbox(key="data_map_item").value == "column1"
    at.checkbox(key="data_header").check().run()  # the user says the first row names them
    assert list(at.dataframe[-1].value.columns) == ["7", "a", "3"]
    assert len(at.dataframe[-1].value) == 2
    at.checkbox(key="data_header").uncheck().run()
    at.selectbox(key="data_map_kind").set_value("implicit")
    _ingest(at, "plays")
    assert not at.error, [e.value for e in at.error]
    assert ws.dataset_info("plays")["n_interactions"] == 3


def test_tab_file_with_bare_quotes(app):
    at, ws = app
    data = b'user\tartist\tplays\n1\t5\'9" Band\t3\n2\t"Weird Al Yankovic\t4\n'
    _upload(at, "data_upload_interactions", "artists.tsv", data)
    assert at.dataframe[-1].value["artist"].tolist() == ["5'9\" Band", '"Weird Al Yankovic']
    at.selectbox(key="data_map_item").set_value("artist")
    _ingest(at, "artists")
    assert not at.error, [e.value for e in at.error]
    assert ws.dataset_info("artists")["n_interactions"] == 2


_ML = Path(os.environ.get("WEAKSPOT_DATASETS", "/nonexistent")) / "ml-100k"


@pytest.mark.skipif(not (_ML / "u.data").is_file(), reason="WEAKSPOT_DATASETS has no ml-100k/")
def test_real_movielens_files_uploaded_one_by_one(app):
    at, ws = app
    for key, name in (("data_upload_interactions", "u.data"), ("data_upload_users", "u.user"),
                      ("data_upload_items", "u.item")):  # fmt: skip
        _upload(at, key, name, (_ML / name).read_bytes(), BINARY)
    _ingested_with_side_tables(at, ws, "ml-100k", (943, 1682, 100_000))


# -- double submits and unexpected errors -----------------------------------------------------


def test_double_submit_of_ingest_is_idempotent(app):
    at, ws = app
    _upload(at, "data_upload_interactions", "ratings.csv", GOOD_CSV)
    _ingest(at, "once")  # Enter in the name field submits the form ...
    _by_key(at.button, "data_ingest").click()  # ... and the Ingest button submits it again
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert ws.list_datasets()["name"].tolist() == ["once"]
    assert any("Ingested 'once': 2 users" in s.value for s in at.success)


def test_double_clicks_of_synthetic_and_rename_are_idempotent(app):
    at, ws = app
    at.text_input(key="data_synth_name").set_value("syn")
    at.number_input(key="data_synth_users").set_value(30)
    at.number_input(key="data_synth_items").set_value(20)
    for _ in range(2):
        _by_key(at.button, "data_synth_create").click()
        at.run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        assert any("Created 'syn'" in s.value for s in at.success)
    assert ws.list_datasets()["name"].tolist() == ["syn"]
    at.text_input(key="data_rename_to").set_value("syn2")
    _by_key(at.button, "data_rename").click()
    at.run()
    _by_key(at.button, "data_rename").click()  # the field shows 'syn2' now: nothing to do
    at.run()
    assert not at.error, [e.value for e in at.error]
    assert ws.list_datasets()["name"].tolist() == ["syn2"]


def test_unexpected_exception_is_one_line_not_a_traceback(app, monkeypatch):
    at, _ = app

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nwith a second line")

    monkeypatch.setattr(uploads, "describe_input", broken)
    monkeypatch.delenv("WEAKSPOT_RAISE_PAGE_ERRORS", raising=False)  # the app as users run it
    _upload(at, "data_upload_interactions", "ratings.csv", GOOD_CSV)
    assert not at.exception
    assert [e.value for e in at.error] == [UNEXPECTED_ERROR.format(kind="RuntimeError")]
    assert at.button(key="data_synth_create")  # the rest of the page is still there


def test_the_rename_field_follows_the_active_dataset(app):
    """The New name field always holds the active dataset's name, never one left over from
    the dataset that was active before (a stale value renames the wrong thing)."""
    at, ws = app
    for name in ("first", "second"):
        at.text_input(key="data_synth_name").set_value(name)
        at.number_input(key="data_synth_users").set_value(30)
        at.number_input(key="data_synth_items").set_value(20)
        _by_key(at.button, "data_synth_create").click()
        at.run()
        assert not at.exception, at.exception
        assert at.selectbox(key="data_active").value == name
        assert at.text_input(key="data_rename_to").value == name
    at.selectbox(key="data_active").set_value("first").run()
    assert at.selectbox(key="data_active").value == "first"  # the choice sticks
    assert at.session_state["dataset"] == "first"
    assert at.text_input(key="data_rename_to").value == "first"


def test_a_double_submit_that_stops_the_first_run_after_its_write(app, monkeypatch):
    """In the browser, the second submit stops the first script run at its next Streamlit call:
    the write may be done but not yet remembered. The second run must then say the dataset
    is in, not that its name is taken."""
    from streamlit.runtime.scriptrunner_utils.exceptions import StopException

    import analysis.ingest as ingest_module

    at, ws = app
    real = ingest_module.ingest

    def written_then_stopped(*args, **kwargs):
        real(*args, **kwargs)
        raise StopException()  # what Streamlit raises in a run stopped by a new event

    monkeypatch.setattr(ingest_module, "ingest", written_then_stopped)
    _upload(at, "data_upload_interactions", "ratings.csv", GOOD_CSV)
    _ingest(at, "stopped")
    assert ws.list_datasets()["name"].tolist() == ["stopped"]
    monkeypatch.setattr(ingest_module, "ingest", real)
    _by_key(at.button, "data_ingest").click()  # the second submit, same request
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert ws.list_datasets()["name"].tolist() == ["stopped"]
    assert any("Ingested 'stopped': 2 users" in s.value for s in at.success)
