"""The Data page's Scenario column select: detected from the header, stored, shown in the
summary, and (none) ingests without scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.ingest import load_dataset
from analysis.workspace import Workspace

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/1_data.py"
CSV = (
    b"user_id,item_id,rating,timestamp,surface\n1,10,5,100,home\n1,11,3,101,search\n"
    b"2,10,4,102,home\n2,12,1,103,\n"
)


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("WEAKSPOT_WORKSPACE", str(tmp_path / "ws.duckdb"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["run_id"] = "none"
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at, Workspace(tmp_path / "ws.duckdb")


def _ingest(at, name):
    at.text_input(key="data_name").set_value(name)
    next(b for b in at.button if b.key == "data_ingest").click()
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_scenario_select_detects_stores_and_can_be_switched_off(app):
    at, ws = app
    next(u for u in at.file_uploader if u.key == "data_upload_interactions").set_value(
        ("log.csv", CSV, "text/csv")
    )
    at.run()
    select = at.selectbox(key="data_map_scenario")
    assert select.value == "surface"
    assert select.options[0] == "(none)"
    _ingest(at, "scen")
    ds = load_dataset(ws, "scen")
    assert ds.scenario_names == ("home", "search", "unknown")  # the blank row -> unknown
    assert ds.scenario.tolist() == [0, 1, 0, 2]  # (1,10) (1,11) (2,10) (2,12)
    assert any("scenarios: 3" in c.value for c in at.caption)
    at.selectbox(key="data_map_scenario").set_value("(none)")
    _ingest(at, "plain")
    assert load_dataset(ws, "plain").scenario is None


def test_synthetic_dataset_with_scenarios(app):
    at, ws = app
    at.text_input(key="data_synth_name").set_value("multi")
    at.number_input(key="data_synth_users").set_value(60)
    at.number_input(key="data_synth_items").set_value(40)
    at.number_input(key="data_synth_mean").set_value(8.0)
    at.number_input(key="data_synth_scenarios").set_value(3)
    next(b for b in at.button if b.key == "data_synth_create").click()
    at.run()
    assert not at.exception, at.exception
    ds = load_dataset(ws, "multi")
    assert ds.scenario_names == ("email", "home", "search") and ds.has_scenarios
