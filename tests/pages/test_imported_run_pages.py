"""Every page opens on an imported run (an external recommender's rankings: no scorer, no AUC
over all items) without an exception, and shows "n/a" where a figure cannot exist."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from analysis.external import ImportConfig, import_and_save
from analysis.workspace import Workspace
from tests.analysis.external._fixtures import C, build_external
from tests.e2e._e2e_harness import PAGES

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    ext = build_external(tmp_path_factory.mktemp("imported"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WEAKSPOT_WORKSPACE", str(ext.ws_path))
        info, _ = import_and_save(Workspace(ext.ws_path), "syn", str(ext.trec),
                                  str(ext.val_trec),
                                  ImportConfig(name="prod-ranker-v7", n_candidates=C))
        yield info


@pytest.mark.parametrize("page", [p for _, p in PAGES if not p.endswith("1_data.py")])
def test_every_page_opens_on_an_imported_run(imported, page):
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["run_id"] = imported.run_id
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert not [e.value for e in at.error], [e.value for e in at.error]
    auc = [m.value for m in at.metric if m.label == "AUC"]
    assert all(v == "n/a" for v in auc), auc
    assert np.isfinite(len(at.main.children))  # rendered
