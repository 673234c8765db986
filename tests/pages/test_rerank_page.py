"""The LLM rerank page driven through AppTest: a dry run without a key is approximate; a
rerank launched against the fake Anthropic server runs in the background, its results show
gains, costs and one user's prompt and rankings, and the key is never rendered."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.jobs.manager import get_job_manager
from analysis.jobs.tasks import ensure_demo_run
from analysis.rerank.launch import (
    MISSING_BASE_URL,
    MISSING_FOLDER,
    MISSING_GPU_PRICE,
    MISSING_KEY,
    MISSING_MODEL,
    MISSING_PRICE,
)
from analysis.runs.rerank import load_rerank_run
from analysis.runs.store import RunStore
from analysis.weak_users import WeakRule
from analysis.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "models" / "rerankers"))
from tests.models.llm.fake_servers import FakeAnthropicServer

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
        except Exception:  # noqa: BLE001, S110 - some nodes have no readable value
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
    n = int(m["Sent & evaluated"].replace(",", ""))
    assert 0 < n <= int(m["Weak users"].replace(",", "")) <= 3000
    low, high = (float(v) for v in m["Gain bracket"].split("–"))
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


def _tokens(at) -> int:
    return int(_metrics(at)["Input tokens"].replace(",", ""))


def test_the_taste_line_is_in_the_config_and_the_dry_runs_tokens(ws_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    at = _open(ws_path, monkeypatch)
    assert at.selectbox(key="rr_taste").value == "off"
    assert _by_key(at.number_input, "rr_taste_k").disabled  # nothing to set while off
    at.button(key="rr_dry_run").click().run()
    off = _tokens(at)
    at.selectbox(key="rr_taste").set_value("beside").run()
    stale = [w.value for w in at.warning if "Settings changed since this estimate" in w.value]
    assert stale and "taste" in stale[0]
    at.button(key="rr_dry_run").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    beside = _tokens(at)
    assert beside > off  # one more line per prompt, counted
    config = at.session_state["rr_estimate"].settings.config
    assert (config.taste, config.taste_params) == ("beside", {"n_categories": 8})
    _by_key(at.number_input, "rr_taste_k").set_value(3).run()
    assert any("taste params" in w.value for w in at.warning if "Settings changed" in w.value)
    at.button(key="rr_dry_run").click().run()
    assert at.session_state["rr_estimate"].settings.config.taste_params == {"n_categories": 3}
    at.selectbox(key="rr_taste").set_value("instead").run()
    at.button(key="rr_dry_run").click().run()
    assert _tokens(at) < beside  # half of every history gone, the line kept


def test_rerank_against_the_fake_server_shows_results_and_never_the_key(ws_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with FakeAnthropicServer(api_key=KEY) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        at = _open(ws_path, monkeypatch)
        assert any(s.value == "ANTHROPIC_API_KEY found in the environment." for s in at.success)
        _by_key(at.number_input, "rr_rule_percentile").set_value(3.0).run()
        at.selectbox(key="rr_taste").set_value("beside").run()
        _by_key(at.number_input, "rr_taste_k").set_value(4).run()
        at.button(key="rr_dry_run").click().run()
        assert not at.error, at.error
        n = int(_metrics(at)["Sent & evaluated"].replace(",", ""))
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
    files = load_rerank_run(info.path)
    assert at.session_state["rr_result_run"] == status.run_id
    m = _metrics(at)
    g = files.summary.gains
    assert m["NDCG@10 gain, weak users"] == f"{g['mean_gain_selected']['ndcg@10']:+.4f}"
    assert m["NDCG@10 gain, everyone"] == f"{g['mean_gain_all']['ndcg@10']:+.4f}"
    assert m["Reranked / sent"] == f"{n:,} / {n:,}"
    assert m["Weak users remaining"] == f"{g['weak_remaining']['selected_after']:,}"
    net = files.summary.net_gain
    assert m["Net NDCG@10 gain"] == f"{net['mean']:+.4f}"
    assert net["control"] in ("baseline", "shuffled", "popularity")
    users = files.summary.users
    assert m["Weak / sent"] == f"{users['weak_all']:,} / {n:,}"
    assert m["Users done"] == f"{n:,} / {n:,}"
    users = _frame(at, "fallback_reason")
    assert len(users) == n and users["gain_ndcg@10"].is_monotonic_decreasing
    # the first user (largest gain) is inspected: history, candidates, prompt and answer
    cands = _frame(at, "llm_rank")
    assert sorted(cands["llm_rank"]) == list(range(1, 21))
    assert len(_frame(at, "position")) >= 1
    assert any(" > " in c.value for c in at.code)  # the fake's answer "[20] > [19] > ..."
    # the job's prompts carried the taste line, and the user's panel shows it under the history
    assert files.config.taste == "beside" and files.config.taste_params == {"n_categories": 4}
    line = next(c.value for c in at.caption if c.value.startswith("Taste line after the history"))
    line = line.removeprefix("Taste line after the history: ").replace("\\", "")
    assert line.startswith("Preferred kinds of items: ")
    assert any(line in c.value for c in at.code)  # in the stored prompt
    # pick another user
    other = users["user_id"].iloc[-1]
    at.selectbox(key="rr_user").set_value(other).run()
    assert not at.exception
    assert any(c.value.startswith(f"User {other}:") for c in at.caption)


def _rule_caption(at) -> str:
    return next(c.value for c in at.caption if "Weak users page" in c.value
                or "own rule" in c.value)


def test_the_weak_users_pages_rule_is_the_one_shown_exactly(ws_path, monkeypatch):
    """Every field of the rule set on the Weak users page, the paper preset's included."""
    at = _open(ws_path, monkeypatch)
    at.switch_page("pages/4_weak_users.py").run()
    at.button(key="wu_paper").click().run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="rr_rule_metric").value == "auc"
    assert at.radio(key="rr_rule_kind").value == "threshold"
    assert _by_key(at.number_input, "rr_rule_threshold").value == 0.5
    assert at.checkbox(key="rr_rule_inactive").value is True
    assert at.session_state["rr_rule"] == WeakRule.paper()
    assert "Rule taken from the Weak users page: validation auc ≤ 0.5 and inactive" in (
        _rule_caption(at).replace("\\", ""))
    # a percentile of 0 and the held-out AUC are taken as they are (not 20, not "auc")
    at.switch_page("pages/4_weak_users.py").run()
    at.segmented_control(key="wu_mode").set_value("Percentile").run()
    at.slider(key="wu_percentile").set_value(0.0).run()
    at.segmented_control(key="wu_metric").set_value("auc@heldout").run()
    at.switch_page(PAGE).run()
    assert at.radio(key="rr_rule_kind").value == "percentile"
    assert _by_key(at.number_input, "rr_rule_percentile").value == 0.0
    assert at.session_state["rr_rule"] == WeakRule(metric="auc@heldout", percentile=0.0,
                                                   require_inactive=True)
    # a change made here is for this rerank only and says so; the cut not shown keeps its value
    at.radio(key="rr_rule_kind").set_value("threshold").run()
    assert _by_key(at.number_input, "rr_rule_threshold").value == 0.5
    at.radio(key="rr_rule_kind").set_value("percentile").run()
    assert _by_key(at.number_input, "rr_rule_percentile").value == 0.0
    at.checkbox(key="rr_rule_inactive").set_value(False).run()
    assert "Changed here for this rerank only" in _rule_caption(at)


def test_a_dry_run_goes_stale_when_the_model_changes(ws_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    at = _open(ws_path, monkeypatch)
    _by_key(at.number_input, "rr_candidates").set_value(15).run()  # prompts no run has cached
    at.button(key="rr_dry_run").click().run()
    assert _metrics(at)["Answers already cached"] == "0"
    haiku = float(_metrics(at)["Expected cost"].lstrip("$").replace(",", ""))
    assert not any("Settings changed" in w.value for w in at.warning)
    at.selectbox(key="rr_model_choice").set_value("claude-opus-4-6").run()
    assert not at.exception, at.exception
    stale = [w.value for w in at.warning if "Settings changed since this estimate" in w.value]
    assert stale and "model" in stale[0]
    m = _metrics(at)
    assert "Expected cost" not in m and "Input tokens" not in m  # no haiku figure as current
    at.button(key="rr_dry_run").click().run()
    opus = float(_metrics(at)["Expected cost"].lstrip("$").replace(",", ""))
    assert opus == pytest.approx(5 * haiku, rel=2e-3)  # $5/$25 against $1/$5 per million
    assert not any("Settings changed" in w.value for w in at.warning)
    # any other setting makes it stale too: the rule, the candidates
    _by_key(at.number_input, "rr_candidates").set_value(10).run()
    assert any("candidates" in w.value for w in at.warning if "Settings changed" in w.value)


class _Launch:
    """The Launch button, its help as plain text (Markdown escapes and word joiners off)."""

    def __init__(self, button):
        self.disabled = button.disabled
        self.help = (button.help or "").replace("\\", "").replace("\u2060", "")


def _launch(at):
    return _Launch(_by_key(at.button, "rr_launch"))


def test_launch_needs_every_setting_and_says_which_is_missing(ws_path, monkeypatch, tmp_path):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    at = _open(ws_path, monkeypatch)
    assert _launch(at).disabled
    assert MISSING_KEY.format(env_var="ANTHROPIC_API_KEY") in _launch(at).help
    # an OpenAI-compatible model has no list price: enter one
    at.selectbox(key="rr_backend").set_value("openai").run()
    model = at.text_input(key="rr_model_openai").value
    assert _launch(at).disabled
    help_text = _launch(at).help
    assert MISSING_PRICE.format(model=model) in help_text
    assert any("Launch needs" in i.value for i in at.info)
    _by_key(at.number_input, "rr_price_in").set_value(0.2).run()
    _by_key(at.number_input, "rr_price_out").set_value(0.6).run()
    assert not _launch(at).disabled  # a local server needs no key
    at.button(key="rr_dry_run").click().run()  # the entered price prices the estimate
    assert not at.error, at.error
    assert _metrics(at)["Expected cost"].startswith("$")
    at.text_input(key="rr_base_url").set_value("").run()
    assert _launch(at).disabled and MISSING_BASE_URL in _launch(at).help
    # the transformers backend: a model folder and a GPU price
    at.selectbox(key="rr_backend").set_value("transformers").run()
    help_text = _launch(at).help
    assert _launch(at).disabled and MISSING_MODEL in help_text and MISSING_GPU_PRICE in help_text
    at.text_input(key="rr_model_path").set_value(str(tmp_path / "nowhere")).run()
    assert MISSING_FOLDER.format(path=tmp_path / "nowhere") in _launch(at).help
    at.text_input(key="rr_model_path").set_value(str(tmp_path)).run()
    _by_key(at.number_input, "rr_gpu_usd").set_value(2.0).run()
    assert not _launch(at).disabled
    # an Anthropic model id the table lacks, with a key: the price is all that is missing
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    at.selectbox(key="rr_backend").set_value("anthropic").run()
    at.selectbox(key="rr_model_choice").set_value("other (type a model id)").run()
    at.text_input(key="rr_model_other").set_value("claude-next-9").run()
    assert _launch(at).help == (
        "Missing: " + MISSING_PRICE.format(model="claude-next-9") + ".")
    _by_key(at.number_input, "rr_price_in").set_value(2.0).run()
    _by_key(at.number_input, "rr_price_out").set_value(10.0).run()
    assert not _launch(at).disabled
    assert KEY not in _rendered(at)


def test_the_sidebar_and_the_page_show_one_stage(ws_path, monkeypatch):
    ws = Workspace(ws_path)
    run_id = ensure_demo_run(ws).run_id
    jm = get_job_manager(ws)
    release, reported = threading.Event(), threading.Event()

    def job(ctx):
        ctx.progress(0.5, "5/10 users, 0 fell back", done=5, total=10)
        reported.set()
        release.wait(300)

    job_id = jm.submit("rerank", f"Rerank {run_id}: fake claude-haiku-4-5", job)
    try:
        assert reported.wait(300)
        at = _open(ws_path, monkeypatch)
        side = [p.text for p in at.sidebar.get("progress")]
        main = [p.text for p in at.main.get("progress")]
        assert side == main == [(f"Rerank {run_id}: fake claude-haiku-4-5: 5/10 users, "
                                 f"0 fell back (50%)")]
    finally:
        release.set()
        jm.wait(job_id, timeout=300)
