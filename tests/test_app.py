"""Smoke test of app.py with Streamlit's AppTest: it opens on the demo's overview."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def test_app_opens_on_the_demo_overview(tmp_path, monkeypatch):
    monkeypatch.setenv("WEAKSPOT_WORKSPACE", str(tmp_path / "ws.duckdb"))
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert labels == ["NDCG@10", "Recall@10", "AUC", "Weak users"]
    assert 0.0 < float(at.metric[0].value) < 1.0
    assert "demo: 3,000 users" in at.subheader[0].value
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) >= 2


def test_a_bug_on_any_page_is_one_line_not_a_traceback(monkeypatch):
    """Every page runs under the app's page guard: an unexpected exception (a bug) shows one
    line pointing at the server log, never a traceback. (AppTest's ``switch_page`` runs a
    page file directly, so the guard is checked as app.py uses it, around the page it runs.)"""
    import ast

    from pages._shared import UNEXPECTED_ERROR

    tree = ast.parse(Path(APP).read_text())
    guarded = [
        node for node in ast.walk(tree) if isinstance(node, ast.With)
        and any(getattr(item.context_expr.func, "id", "") == "page_guard" for item in node.items)
        and "navigation" in ast.unparse(node.body[0])
    ]
    assert len(guarded) == 1, "app.py must run the page under page_guard()"

    def app():
        import streamlit as st

        from pages._shared import page_guard

        with page_guard():
            st.write("before the bug")
            raise ZeroDivisionError("a bug\nwith a traceback")

    monkeypatch.delenv("WEAKSPOT_RAISE_PAGE_ERRORS", raising=False)  # as users run the app
    at = AppTest.from_function(app, default_timeout=60).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [UNEXPECTED_ERROR.format(kind="ZeroDivisionError")]
    monkeypatch.setenv("WEAKSPOT_RAISE_PAGE_ERRORS", "1")  # the suite: the bug fails its test
    assert AppTest.from_function(app, default_timeout=60).run().exception
