"""Tests of analysis/rerank/explain.py: one stored call, one
user's candidates and rankings rebuilt, and the API-key status (never the key)."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from analysis.errors import AnalysisError
from analysis.rerank.explain import (
    call_details,
    explain_user,
    key_status,
    resolve_api_key,
)
from analysis.rerank.plan import plan_rerank
from analysis.rerank.tokens import ApproxTokenCounter
from analysis.runs.store import RunStore
from tests.analysis._fixtures_report import MODEL


@pytest.fixture(scope="module")
def baseline(runs):
    return RunStore(runs.workspace).load_baseline(runs.baseline.run_id)


def test_call_details_returns_the_stored_prompt_and_answer(runs, files):
    row = files.calls.iloc[0]
    d = call_details(runs.workspace, row["key"])
    assert d.key == row["key"] and d.model == MODEL and d.backend == "fake"
    # the fake answers the shown identifiers reversed: n, n-1, ..., 1
    n = len(re.findall(r"^\d+\. ", d.user_prompt, flags=re.MULTILINE))
    assert n == 20
    assert [int(x) for x in re.findall(r"\d+", d.response_text)] == list(range(n, 0, -1))
    assert d.input_tokens == row["input_tokens"] and d.output_tokens == row["output_tokens"]


def test_call_details_unknown_key(runs):
    with pytest.raises(AnalysisError) as err:
        call_details(runs.workspace, "nope")
    assert str(err.value) == (
        "No stored LLM call with key 'nope' in this workspace; the call failed (failed calls "
        "are not stored) or the workspace was replaced."
    )


def _ndcg(relevant_in_order: np.ndarray, n_relevant: int, k: int = 10) -> float:
    disc = 1 / np.log2(np.arange(2, k + 2))
    dcg = float((relevant_in_order[:k] * disc[: len(relevant_in_order[:k])]).sum())
    idcg = float(disc[: min(n_relevant, k)].sum())
    return dcg / idcg if idcg else 0.0


def test_explain_user_rebuilds_the_prompt_and_both_rankings(runs, files, baseline):
    pu = files.per_user
    # the user who gained most and one who lost most: both rankings must reproduce the metrics
    for uid in [pu.loc[pu["gain_ndcg@10"].idxmax(), "user_id"],
                pu.loc[pu["gain_ndcg@10"].idxmin(), "user_id"]]:
        key = files.calls.loc[files.calls["user_id"] == uid, "key"].iloc[0]
        call = call_details(runs.workspace, key)
        ex = explain_user(baseline, files.config, uid, call.response_text)
        c = ex.candidates
        assert ex.answer_used and ex.n_hallucinated == 0
        assert sorted(c["baseline_rank"]) == sorted(c["llm_rank"]) == list(range(1, 21))
        # the shown identifiers and texts are exactly the stored prompt's candidate lines
        lines = dict(re.findall(r"^(\d+)\. (.*)$", call.user_prompt, flags=re.MULTILINE))
        assert {int(i): t for i, t in lines.items()} == dict(zip(c["shown_id"], c["text"]))
        # reverse policy: identifier j ranked n - j + 1
        assert (c["llm_rank"] == 21 - c["shown_id"]).all()
        # NDCG recomputed from the two orders equals the run's before/after figures
        u = int(baseline.per_user.index[baseline.per_user["user_id"] == uid][0])
        n_rel = baseline.split.test[u].nnz
        rel_base = c.sort_values("baseline_rank")["relevant"].to_numpy(float)
        rel_llm = c.sort_values("llm_rank")["relevant"].to_numpy(float)
        row = pu[pu["user_id"] == uid].iloc[0]
        assert _ndcg(rel_base, n_rel) == pytest.approx(row["before_ndcg@10"])
        assert _ndcg(rel_llm, n_rel) == pytest.approx(row["after_ndcg@10"])
        # history: the prompt's history lines, most recent train items
        assert len(ex.history) >= 1
        for text in ex.history["text"]:
            assert text in call.user_prompt


def test_explain_user_without_an_answer_keeps_the_baseline(baseline, files):
    uid = files.per_user["user_id"].iloc[0]
    ex = explain_user(baseline, files.config, uid, None)
    assert not ex.answer_used and ex.answer == ""
    assert (ex.candidates["llm_rank"] == ex.candidates["baseline_rank"]).all()


def test_explain_user_shows_the_taste_line_the_prompt_carried(baseline, files, cache):
    haiku = "claude-haiku-4-5"
    cfg = replace(files.config, backend="anthropic", model=haiku, taste="beside",
                  taste_params={"n_categories": 3})
    plan = plan_rerank(baseline, cfg, ApproxTokenCounter("anthropic", haiku), cache,
                       pricing_only=True)
    pu = baseline.per_user
    for row in (0, len(plan.users) - 1):  # the dry run's / job's prompt of two users
        uid = pu.loc[int(plan.users[row]), "user_id"]
        ex = explain_user(baseline, cfg, uid, None)
        assert ex.taste == plan.prompts.taste[row]
        assert ex.taste.startswith("Preferred kinds of items: ")
        assert f"\n{ex.taste}\n\n" in plan.requests[row].user  # right after the history
    # off: no line, and the explanation says so with ""
    assert explain_user(baseline, files.config, uid, None).taste == ""


def test_explain_user_unknown_user(baseline, files):
    with pytest.raises(AnalysisError, match="is not in this run"):
        explain_user(baseline, files.config, "no-such-user", "")


KEY = "sk-ant-secret-123"


class _Broken(dict):
    def get(self, *a, **kw):
        raise RuntimeError("unreadable secrets file")


@pytest.mark.parametrize(
    ("backend", "env", "secrets", "found", "source", "message"),
    [
        ("anthropic", {"ANTHROPIC_API_KEY": KEY}, {}, True, "environment",
         "ANTHROPIC_API_KEY found in the environment."),
        ("anthropic", {}, {"ANTHROPIC_API_KEY": KEY}, True, "secrets",
         "ANTHROPIC_API_KEY found in the app's secrets."),
        ("anthropic", {"ANTHROPIC_API_KEY": "  "}, {}, False, None, "ANTHROPIC_API_KEY missing"),
        ("anthropic", {}, _Broken(), False, None, "ANTHROPIC_API_KEY missing"),
        ("openai", {}, {}, False, None, "OPENAI_API_KEY missing: fine for a local server"),
        ("transformers", {}, {}, True, None, "A local model needs no API key"),
    ],
)
def test_key_status_never_holds_the_key(backend, env, secrets, found, source, message):
    s = key_status(backend, env, secrets)
    assert (s.found, s.source) == (found, source)
    assert s.message.startswith(message)
    assert KEY not in repr(s)


def test_resolve_api_key_prefers_the_environment():
    assert resolve_api_key("anthropic", {"ANTHROPIC_API_KEY": f" {KEY} "},
                           {"ANTHROPIC_API_KEY": "other"}) == KEY
    assert resolve_api_key("anthropic", {}, {"ANTHROPIC_API_KEY": KEY}) == KEY
    assert resolve_api_key("anthropic", {}, None) is None
    assert resolve_api_key("transformers", {"ANTHROPIC_API_KEY": KEY}) is None
