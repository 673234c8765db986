"""The Remedies page driven through AppTest: a content blend run as a job from the page shows
up in the comparison beside the run's LLM rerank, with the verdict; a job that fails shows its
one line."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from analysis.jobs.manager import get_job_manager
from tests.analysis._fixtures_report import build_runs
from tests.pages._app import open_page

PAGE = "pages/6_remedies.py"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return build_runs(tmp_path_factory.mktemp("remedies_page"))


def _open(runs, monkeypatch) -> AppTest:
    return open_page(runs.workspace.path, PAGE, monkeypatch)


def _finish(at: AppTest, runs) -> AppTest:
    """Wait for the page's job (no fixed short deadline: a busy machine is slow), then rerun."""
    job_id = at.session_state["remedy_job"]
    status = get_job_manager(runs.workspace).wait(job_id, timeout=600)
    assert status.state in ("done", "failed"), status
    time.sleep(0.05)
    return at.run()


def test_a_blend_run_from_the_page_joins_the_comparison(runs, monkeypatch):
    at = _open(runs, monkeypatch)
    table = at.dataframe[0].value
    assert table.columns.tolist()[0] == "baseline (no remedy)"  # one column per remedy
    assert any(name.startswith("LLM rerank: fake") for name in table.columns)  # the rerank
    assert table.index.tolist()[:3] == ["uses LLM", "users served",
                                        "NDCG@10 gain, served (95% CI)"]
    at.number_input(key="rm_dim").set_value(16)
    at.button(key="rm_run").click().run()
    assert not at.exception, at.exception
    at = _finish(at, runs)
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert "content blend (tfidf, weak users)" in table.columns
    [saved] = [s.value for s in at.success]
    assert saved.startswith("Saved: content blend (tfidf, weak users) (run ")
    verdict = at.info[0].value
    assert verdict.startswith(("No remedy reaches a net gain of +0.0100. ",
                               "No remedy gains on the users it serves"))
    assert "the first month at 100,000 users a month, lists refreshed 4 times" in verdict


def test_a_failing_remedy_shows_its_one_line(runs, monkeypatch):
    at = _open(runs, monkeypatch)
    at.selectbox(key="rm_encoder").set_value("transformers").run()
    assert at.button(key="rm_run").disabled  # no model folder yet
    at.text_input(key="rm_folder").set_value("no-such-model").run()
    at.button(key="rm_run").click().run()
    at = _finish(at, runs)
    assert not at.exception, at.exception
    [error] = [e.value for e in at.error]
    assert error.startswith("Cannot load the encoder model from folder 'no-such-model'")
