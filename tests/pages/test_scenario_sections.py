"""The Scenarios sections of the Subgroups and Weak users pages: shown on a run whose
dataset has scenarios, absent (and no error) on one without."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.analysis.scenarios.scenario_workspace import build
from tests.pages._app import APP


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    path = tmp_path_factory.mktemp("ws") / "ws.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WEAKSPOT_WORKSPACE", str(path))
        yield build(path, mp)


def _open(run_id: str, page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["run_id"] = run_id
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert not [e.value for e in at.error], [e.value for e in at.error]
    return at


def _table(at: AppTest, column: str):
    """The page's dataframe holding ``column`` (dataframes are not found by key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _subheaders(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader]


def test_subgroups_page_scenarios(runs):
    scen, plain = runs
    at = _open(scen.run_id, "pages/3_subgroups.py")
    assert "Scenarios" in _subheaders(at)
    groups = [list(d.value["group"]) for d in at.dataframe if "group" in d.value.columns]
    assert ["feed", "search"] in groups
    assert ["single-scenario", "cross-scenario"] in groups
    assert at.selectbox(key="sg_scen_by").value == "activity"
    at.segmented_control(key="sg_scen_mode").set_value("scenario").run()
    assert not at.exception
    assert "Scenarios" not in _subheaders(_open(plain.run_id, "pages/3_subgroups.py"))


def test_weak_users_page_pairs(runs):
    scen, plain = runs
    at = _open(scen.run_id, "pages/4_weak_users.py")
    assert "Weak (user, scenario) pairs" in _subheaders(at)
    before = len(_table(at, "n_validation"))
    at.slider(key="wu_scen_threshold").set_value(0.5).run()
    assert not at.exception
    assert len(_table(at, "n_validation")) >= before
    assert "Weak (user, scenario) pairs" not in _subheaders(
        _open(plain.run_id, "pages/4_weak_users.py"))
