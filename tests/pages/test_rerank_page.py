"""The LLM rerank page driven through AppTest: a dry run without a key is approximate; a
rerank launched against the fake Anthropic server runs in the background, its results show
gains, costs and one user's prompt and rankings, and the key is never rendered."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.jobs import get_job_manager
from analysis.rerank_results import load_rerank_files
from analysis.runs import RunStore
from analysis.tasks import ensure_demo_run
from analysis.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "models" / "rerankers"))
from fake_servers import FakeAnthropicServer  # noqa: E402

APP = str(REPO / "app.py")
PAGE = "pages/5_llm_rerank.py"
KEY = "sk-ant-page-test-7f3a9c"


@pytest.fixture(scope="module")
def ws_path(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("rerank_page") / "ws.duckdb")
    ensure_demo_run(Workspace(path))  # built once for the module
    return path


def _open(ws_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("WEAKSPOT_WORKSPACE", ws_path)
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _by_key(elements, key):
    return next(e for e in elements if e.key == key)


def _frame(at, column: str):
    """The dataframe showing ``column`` (read-only dataframes expose no key in AppTest)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _rendered(at) -> str:
    """Every element of the page as text (protos and values)."""
    parts = []
    for node in at._tree:
        parts.append(str(getattr(node, "proto", "")))
        try:
            parts.append(str(getattr(node, "value", "")))
        except Exception:  # some nodes have no readable value
            pass
    return "\n".join(parts)


def test_dry_run_without_a_key_is_an_approximate_estimate(ws_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    at = _open(ws_path, monkeypatch)
    assert any(w.value.startswith("ANTHROPIC_API_KEY missing") for w in at.warning)
    assert _by_key(at.button, "rr_launch").disabled
    assert any("No rerank of this run yet" in i.value for i in at.info)
    at.button(key="rr_dry_run").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    m = _metrics(at)
    n = int(m["Sent and evaluated here"].replace(",", ""))
    assert 0 < n <= int(m["Weak users (a deployment pays for all)"].replace(",", "")) <= 3000
    low, high = (float(v) for v in m["Gain bracket (NDCG, free)"].split(" to "))
    assert 0 <= low <= high <= 1  # the best free control below, the ceiling above
    assert m["Answers already cached"] == "0"
    assert m["Expected cost"].startswith("$") and m["Upper bound"].startswith("$")
    assert any("Approximate token counts" in c.value for c in at.caption)
    hist = _frame(at, "prompt_tokens")
    assert set(hist["strategy"]) == {"recent", "paper", "long-short"}
    assert hist.loc[hist["chosen"], "strategy"].tolist() == ["recent"]
    # the Batch API halves the estimate (same prompts, batch price)
    full = float(m["Expected cost"].lstrip("$").replace(",", ""))
    at.toggle(key="rr_batch").set_value(True).run()
    at.button(key="rr_dry_run").click().run()
    half = float(_metrics(at)["Expected cost"].lstrip("$").replace(",", ""))
    assert half == pytest.approx(full / 2, rel=2e-3)  # shown rounded to 4 decimals


def test_rerank_against_the_fake_server_shows_results_and_never_the_key(ws_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with FakeAnthropicServer(api_key=KEY) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        at = _open(ws_path, monkeypatch)
        assert any(s.value == "ANTHROPIC_API_KEY found in the environment." for s in at.success)
        _by_key(at.number_input, "rr_rule_percentile").set_value(3.0).run()
        at.button(key="rr_dry_run").click().run()
        assert not at.error, at.error
        n = int(_metrics(at)["Sent and evaluated here"].replace(",", ""))
        assert 10 <= n <= 150  # a small weak set
        assert not any("Approximate token counts" in c.value for c in at.caption)
        at.button(key="rr_launch").click().run()
        job_id = at.session_state["rr_job_id"]
        status = get_job_manager(Workspace(ws_path)).wait(job_id, timeout=120)
        assert status.state == "done", status.error
        at.run()
        assert not at.exception, at.exception
        assert len(server.calls("/v1/messages")) == n
        rendered = _rendered(at)
    assert KEY not in rendered

    info = RunStore(Workspace(ws_path)).get(status.run_id)
    files = load_rerank_files(info.path)
    assert at.session_state["rr_result_run"] == status.run_id
    m = _metrics(at)
    g = files.summary["gains"]
    assert m["NDCG@10 gain, weak users"] == f"{g['mean_gain_selected']['ndcg@10']:+.4f}"
    assert m["NDCG@10 gain, everyone"] == f"{g['mean_gain_all']['ndcg@10']:+.4f}"
    assert m["Reranked / sent"] == f"{n:,} / {n:,}"
    assert m["Weak users remaining"] == f"{g['weak_remaining']['selected_after']:,}"
    net = files.summary["net_gain"]
    assert m["NDCG@10 gain net of the best control"] == f"{net['mean']:+.4f}"
    assert net["control"] in ("baseline", "shuffled", "popularity")
    users = files.summary["users"]
    assert m["Weak users: all / sent and evaluated"] == f"{users['weak_all']:,} / {n:,}"
    assert m["Users done"] == f"{n:,} / {n:,}"
    users = _frame(at, "fallback_reason")
    assert len(users) == n and users["gain_ndcg@10"].is_monotonic_decreasing
    # the first user (largest gain) is inspected: history, candidates, prompt and answer
    cands = _frame(at, "llm_rank")
    assert sorted(cands["llm_rank"]) == list(range(1, 21))
    assert len(_frame(at, "position")) >= 1
    assert any(" > " in c.value for c in at.code)  # the fake's answer "[20] > [19] > ..."
    # pick another user
    other = users["user_id"].iloc[-1]
    at.selectbox(key="rr_user").set_value(other).run()
    assert not at.exception
    assert any(c.value.startswith(f"User {other}:") for c in at.caption)
