"""The Report page driven through AppTest: a summary preview and three downloads (the
self-contained HTML report, the per-user results as CSV and as Parquet)."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from tests.analysis._fixtures_report import build_runs, save_blend_remedy
from tests.pages._app import open_page

PAGE = "pages/7_report.py"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return build_runs(tmp_path_factory.mktemp("report_page"))


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes]:
    """Files the page hands to download buttons, by file name."""
    seen: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self, path_or_data, mimetype, kind, filename=None):
        if filename:
            seen[filename] = path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    return seen


def _open(runs, monkeypatch) -> AppTest:
    return open_page(runs.workspace.path, PAGE, monkeypatch)


def test_report_page_previews_and_exports(runs, monkeypatch, downloads):
    at = _open(runs, monkeypatch)
    assert at.selectbox(key="report_rerank").value == runs.rerank.run_id  # newest rerank
    m = {x.label: x.value for x in at.metric}
    assert {"NDCG", "AUC", "Weak users", "NDCG gain, weak users", "Spent"} <= set(m)
    keys = {b.key for b in at.get("download_button")}
    assert keys == {"report_html", "report_csv", "report_parquet"}

    html = downloads[f"weakspot-report-{runs.rerank.run_id}.html"].decode("utf-8")
    assert runs.baseline.run_id in html and runs.rerank.run_id in html
    assert "&quot;n_candidates&quot;: 20" in html  # settings
    assert 'class="plotly-graph-div"' in html
    assert not re.search(r"<script[^>]*\bsrc=", html)  # self-contained: no external script
    stem = f"weakspot-per-user-{runs.rerank.run_id}"
    csv = pd.read_csv(io.BytesIO(downloads[f"{stem}.csv"]))
    parquet = pd.read_parquet(io.BytesIO(downloads[f"{stem}.parquet"]))
    assert len(csv) == len(parquet) == 3000
    assert int(parquet["sent_to_llm"].sum()) == runs.rerank.headline["n_requests"]


def test_baseline_only_report(runs, monkeypatch, downloads):
    at = _open(runs, monkeypatch)
    at.selectbox(key="report_rerank").set_value("(baseline only)").run()
    assert not at.exception, at.exception
    assert "NDCG gain, weak users" not in {x.label for x in at.metric}
    html = downloads[f"weakspot-report-{runs.baseline.run_id}.html"].decode("utf-8")
    assert runs.rerank.run_id not in html
    assert "sent_to_llm" not in pd.read_parquet(
        io.BytesIO(downloads[f"weakspot-per-user-{runs.baseline.run_id}.parquet"])).columns


def test_report_is_previewed_before_its_download(runs, monkeypatch, downloads):
    """Issue 9, point 16: the page shows the very HTML it offers, above the download buttons,
    with the verdict sentence; the preview frame sits in the ``report_preview`` container."""
    at = _open(runs, monkeypatch)
    frames = at.get("iframe")
    assert len(frames) == 1
    html = downloads[f"weakspot-report-{runs.rerank.run_id}.html"].decode("utf-8")
    assert frames[0].proto.srcdoc == html
    order = [type(n).__name__ if type(n).__name__ != "UnknownElement" else n.type
             for n in _walk(at.main)]
    assert order.index("iframe") < order.index("DownloadButton")
    verdict = [m.value for m in at.markdown if m.value.startswith("**Verdict.**")]
    assert len(verdict) == 1 and "net of the best free reordering" in verdict[0]


def _walk(node):
    for child in getattr(node, "children", {}).values():
        yield child
        yield from _walk(child)


def test_switching_back_to_the_report_reads_no_run_record(runs, monkeypatch, downloads):
    """Issue 9, point 17: the page's run records, rerank list and report are cached loaders;
    a rerun (a page switch back, a widget) opens the workspace for none of them."""
    from analysis.runs.store import RunStore

    at = _open(runs, monkeypatch)
    at.switch_page("pages/0_overview.py").run()
    calls: list[str] = []
    for name in ("get", "list_runs"):
        original = getattr(RunStore, name)

        def counted(self, *a, _name=name, _original=original, **kw):
            calls.append(_name)
            return _original(self, *a, **kw)

        monkeypatch.setattr(RunStore, name, counted)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert at.get("iframe")  # the report is there...
    assert calls == [], calls  # ...from the caches


def test_a_run_with_remedies_reports_them_compared(runs, monkeypatch, downloads):
    save_blend_remedy(runs, seed=2)
    at = _open(runs, monkeypatch)
    assert at.toggle(key="report_remedies").value  # on by default once a remedy exists
    html = downloads[f"weakspot-report-{runs.rerank.run_id}.html"].decode("utf-8")
    assert '<section id="remedies">' in html and "content blend (tfidf, weak users)" in html
    at.toggle(key="report_remedies").set_value(False).run()
    assert not at.exception, at.exception
    html = downloads[f"weakspot-report-{runs.rerank.run_id}.html"].decode("utf-8")
    assert '<section id="remedies">' not in html
