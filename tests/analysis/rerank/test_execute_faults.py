"""Fault injection: the budget cap bounds real spend, a bad key or bad requests stop the job,
and unusable answers are retried within the cap, never cached; with the real ``anthropic``
and ``openai`` clients against fake servers on 127.0.0.1 (bounded in count and time).

For each fault: what the job charged never passes the cap under the worst-case accounting
(:mod:`analysis.rerank.budget`), the server's count of paid attempts equals the job's, and
the job's end (result, incomplete, or a one-line error and no result) is the one promised.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.errors import AnalysisError
from analysis.gains.cost import PriceTable, call_cost, worst_case_cost
from analysis.rerank.budget import FAILURES_TO_STOP, REQUEST_ERRORS_TO_STOP, SpendLedger
from analysis.rerank.cache import CallCache
from analysis.rerank.config import RerankConfig
from analysis.rerank.execute import execute_rerank
from analysis.rerank.plan import plan_rerank
from analysis.weak_users import WeakRule
from analysis.workspace import Workspace
from models.llm.protocol import Usage
from tests.models.llm.fake_servers import FakeAnthropicServer, FakeOpenAIServer, Reply

pytest.importorskip("anthropic")

REPO = Path(__file__).resolve().parents[3]
KEY = "sk-ant-test-faults-7d1e0c"
FEW = WeakRule(metric="auc", percentile=5.0)  # a dozen weak users
MODEL = "claude-haiku-4-5"


@pytest.fixture(scope="module")
def run_dir(small_run_dir):
    return small_run_dir


def _anthropic(server, **kw):
    from models.llm.anthropic import AnthropicBackend

    kw.setdefault("concurrency", 1)
    return AnthropicBackend(MODEL, api_key=KEY, base_url=server.url, backoff_base_s=0.001,
                            backoff_max_s=0.002, timeout_s=5.0, **kw)


def _worst(plan):
    """Worst case of one attempt, by user prompt text."""
    price = PriceTable().price(plan.config.model)
    bounds = [len((r.system + r.user).encode()) + 64 for r in plan.requests]
    worst = worst_case_cost(bounds, plan.config.resolved_max_tokens, price,
                            batch=plan.config.batch)
    return {r.user: float(w) for r, w in zip(plan.requests, worst, strict=True)}


def _go(run, cache, backend, cap, **cfg):
    config = RerankConfig(backend=backend.name, model=backend.model, budget_usd=cap, **cfg)
    plan = plan_rerank(run, config, backend, cache)
    return plan, execute_rerank(plan, run, backend, cache, wave_size=8)


def _received(server, path="/v1/messages"):
    return [c for c in server.calls(path) if c.method in ("POST", "BATCH")]


# -- point 1: the cap bounds real spend ---------------------------------------------------


def test_connection_resets_are_charged_their_worst_case_and_stop_the_job(run, cache):
    cap = 1.0  # room for far more than FAILURES_TO_STOP worst cases
    with FakeAnthropicServer(api_key=KEY, script=lambda c: Reply.connection_reset()) as server:
        backend = _anthropic(server)
        config = RerankConfig(backend="anthropic", model=MODEL, budget_usd=cap)
        plan = plan_rerank(run, config, backend, cache)
        with pytest.raises(AnalysisError, match=f"{FAILURES_TO_STOP} attempts in a row failed"):
            execute_rerank(plan, run, backend, cache, wave_size=8)
        received = _received(server)
    worst = _worst(plan)
    attempts = SpendLedger(cache.workspace).attempts(plan.job_key)
    charged = attempts["charged_usd"].fillna(attempts["reserved_usd"]).sum()
    # every attempt the server received was paid for at its worst case, and no more
    assert len(received) == FAILURES_TO_STOP == int((attempts["charged_usd"] > 0).sum())
    assert charged == pytest.approx(sum(worst[c.user] for c in received), rel=1e-12)
    assert charged <= cap
    assert cache.count() == 0


def test_the_cap_holds_against_resets_when_it_bites_first(run, cache):
    cap = 0.01  # about three worst cases: the cap stops the job before the failure count
    with FakeAnthropicServer(api_key=KEY, script=lambda c: Reply.connection_reset()) as server:
        plan, res = _go(run, cache, _anthropic(server), cap)
        received = _received(server)
    worst = _worst(plan)
    spend = res.summary.spend
    assert 1 <= len(received) < FAILURES_TO_STOP
    assert spend["paid_attempts"] == len(received)
    assert spend["charged_usd"] == pytest.approx(sum(worst[c.user] for c in received))
    assert spend["charged_usd"] <= cap
    assert res.summary.status == "incomplete" and spend["stop_kind"] == "budget"
    assert not res.per_user["reranked"].any()


def test_usage_beyond_max_tokens_is_charged_as_reported_and_stops_at_once(run, cache):
    big = Reply(usage={"output_tokens": 10 * (8 * 20 + 64)})
    with FakeAnthropicServer(api_key=KEY, script=lambda c: big) as server:
        backend = _anthropic(server)
        config = RerankConfig(backend="anthropic", model=MODEL, budget_usd=0.05)
        plan = plan_rerank(run, config, backend, cache)
        with pytest.raises(AnalysisError, match="2,240 output tokens for a request capped at "
                                                "max_tokens=224.*job stopped"):
            execute_rerank(plan, run, backend, cache)
        received = _received(server)
    assert len(received) == 1  # nothing was sent after the first such answer
    attempts = SpendLedger(cache.workspace).attempts(plan.job_key)
    price = PriceTable().price(MODEL)
    settled = attempts[attempts["state"] == "answered"]
    assert len(settled) == 1
    assert settled["charged_usd"].iloc[0] > settled["reserved_usd"].iloc[0]  # as reported
    assert settled["charged_usd"].iloc[0] >= call_cost(Usage(0, 2240), price)


def test_answers_without_usage_are_charged_their_worst_case_within_the_cap(run, cache):
    cap = 0.004
    with FakeAnthropicServer(api_key=KEY, script=lambda c: Reply.no_usage()) as server:
        plan, res = _go(run, cache, _anthropic(server), cap)
        received = _received(server)
    worst = _worst(plan)
    spend = res.summary.spend
    assert 0 < len(received) < len(plan.users)
    assert spend["paid_attempts"] == len(received) == int(res.per_user["reranked"].sum())
    assert spend["charged_usd"] == pytest.approx(sum(worst[c.user] for c in received))
    assert spend["charged_usd"] <= cap
    assert res.summary.status == "incomplete"
    assert "Stopped at the budget cap" in spend["stopped"]


def test_a_resumed_job_continues_the_same_cap(run, tmp_path):
    cap = 0.004
    cache = CallCache(Workspace(tmp_path / "calls.duckdb"))
    with FakeAnthropicServer(api_key=KEY, script=lambda c: Reply.no_usage()) as server:
        backend = _anthropic(server)
        plan, first = _go(run, cache, backend, cap)
        n_first = len(_received(server))
        # the same job with the same cap, or with none given: the cap is spent
        for again in (cap, None):
            with pytest.raises(AnalysisError, match="This job's budget of \\$0.0040 is spent"):
                _go(run, cache, backend, again)
        assert len(_received(server)) == n_first  # nothing more was sent
        # a larger cap, given explicitly, goes further; the total stays under it
        _, second = _go(run, cache, backend, 2 * cap)
        n_second = len(_received(server)) - n_first
    spend = second.summary.spend
    assert spend["spent_before_usd"] == pytest.approx(first.summary.spend["charged_usd"])
    assert spend["job_total_usd"] <= 2 * cap
    assert n_second > 0 and second.summary.n_cached == n_first  # paid answers reused


# -- point 2: a bad key or a bad request stops the job ------------------------------------


def test_a_refused_key_stops_at_the_first_answer(run, cache):
    with FakeAnthropicServer(api_key="sk-the-right-one") as server:
        backend = _anthropic(server, concurrency=4)
        config = RerankConfig(backend="anthropic", model=MODEL)
        plan = plan_rerank(run, config, backend, cache)
        with pytest.raises(AnalysisError) as err:
            execute_rerank(plan, run, backend, cache)
        received = _received(server)
    message = str(err.value)
    assert "refused the API key" in message and "the api_key setting" in message
    assert KEY not in message and "\n" not in message
    assert 1 <= len(received) <= 4  # at most what was already in flight
    spend = SpendLedger(cache.workspace).attempts(plan.job_key)
    assert spend["charged_usd"].fillna(0).sum() == 0.0


@pytest.mark.parametrize("status", [400, 413])
def test_requests_the_server_refuses_stop_after_a_few(run, cache, status):
    refuse = Reply(status=status, message="prompt is too long: 250000 tokens > 200000 maximum")
    with FakeAnthropicServer(api_key=KEY, script=lambda c: refuse) as server:
        backend = _anthropic(server)
        config = RerankConfig(backend="anthropic", model=MODEL)
        plan = plan_rerank(run, config, backend, cache)
        with pytest.raises(AnalysisError, match="refused 3 requests as invalid .*prompt is too"):
            execute_rerank(plan, run, backend, cache)
        assert len(_received(server)) == REQUEST_ERRORS_TO_STOP


# -- point 3: unusable answers are retried within the cap, never cached -------------------


def test_an_unreadable_answer_is_charged_retried_and_not_cached(run, cache):
    script = lambda c: Reply.malformed() if c.n == 0 else None
    with FakeAnthropicServer(api_key=KEY, script=script) as server:
        plan, res = _go(run, cache, _anthropic(server), None)
        received = _received(server)
    worst = _worst(plan)
    assert len(received) == len(plan.users) + 1 and res.per_user["reranked"].all()
    assert res.summary.status == "complete"
    per = res.per_user.set_index("user_idx")
    first = plan.users[[r.user for r in plan.requests].index(received[0].user)]
    ok_cost = call_cost(Usage(int(per.loc[first, "input_tokens"]),
                              int(per.loc[first, "output_tokens"])), PriceTable().price(MODEL))
    assert per.loc[first, "cost_usd"] == pytest.approx(worst[received[0].user] + ok_cost)
    assert cache.count() == len(plan.users)  # only the good answers


def test_an_answer_without_text_is_retried_and_never_cached_as_final(run, cache, tmp_path):
    with FakeAnthropicServer(api_key=KEY, script=lambda c: Reply.tool_use_only()) as server:
        plan, res = _go(run, cache, _anthropic(server), None, rule=FEW)
        received = _received(server)
    n = len(plan.users)
    assert len(received) == 3 * n  # asked, then asked twice again
    assert res.summary.status == "incomplete" and cache.count() == 0
    assert set(res.per_user["fallback_reason"]) == {"error"}
    assert res.per_user["error"].str.contains("held no text").all()
    assert res.summary.spend["paid_attempts"] == 3 * n  # each billed its (tiny) usage
    # run again: nothing was cached, so every user is asked again
    with FakeAnthropicServer(api_key=KEY) as server:
        _, res2 = _go(run, cache, _anthropic(server), None, rule=FEW)
        assert len(_received(server)) == n and res2.summary.status == "complete"


# -- the same accounting through the OpenAI-compatible backend and batches ----------------


def _openai(server, **kw):
    from models.llm.openai_compat import OpenAICompatBackend

    return OpenAICompatBackend(MODEL, base_url=server.url, api_key=KEY, concurrency=1,
                               backoff_base_s=0.001, backoff_max_s=0.002, timeout_s=5.0, **kw)


def test_openai_compatible_resets_and_missing_usage(run, cache):
    script = lambda c: Reply.connection_reset() if c.n % 2 == 0 else Reply.no_usage()
    with FakeOpenAIServer(api_key=KEY, script=script) as server:
        plan, res = _go(run, cache, _openai(server), 0.003, rule=FEW)
        received = _received(server, "/v1/chat/completions")
    worst = _worst(plan)
    spend = res.summary.spend
    # every attempt, reset or answered without usage, is charged its worst case
    assert spend["paid_attempts"] == len(received) > 0
    assert spend["charged_usd"] == pytest.approx(sum(worst[c.user] for c in received))
    assert spend["charged_usd"] <= 0.003


def test_batch_submission_with_a_refused_key(run, cache):
    with FakeAnthropicServer(api_key="sk-other", batch_polls=0) as server:
        backend = _anthropic(server, batch=True, poll_interval_s=0.0)
        config = RerankConfig(backend="anthropic", model=MODEL, batch=True, budget_usd=1.0)
        plan = plan_rerank(run, config, backend, cache)
        with pytest.raises(AnalysisError, match="refused the API key"):
            execute_rerank(plan, run, backend, cache)
        assert len(server.calls("/v1/messages/batches", "POST")) == 1
    attempts = SpendLedger(cache.workspace).attempts(plan.job_key)
    assert attempts["charged_usd"].fillna(0).sum() == 0.0
    assert set(attempts["state"]) <= {"failed", "released"}


# -- the CLI: exit codes, one line, nothing that looks complete ---------------------------


def _cli(args, env):
    return subprocess.run([sys.executable, "-m", "analysis", "--quiet", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=240)


def test_cli_bad_key_exits_2_with_one_line_and_writes_no_result(run_dir, tmp_path):
    env = dict(os.environ, ANTHROPIC_API_KEY="sk-wrong-key-123456", PYTHONPATH=str(REPO))
    out = tmp_path / "rerank"
    with FakeAnthropicServer(api_key=KEY) as server:
        proc = _cli(["rerank", "--run", str(run_dir), "--backend", "anthropic", "--model", MODEL,
                     "--base-url", server.url, "--workspace", str(tmp_path / "ws.duckdb"),
                     "--out", str(out)], env)
        assert len(_received(server)) <= 8
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "environment variable ANTHROPIC_API_KEY" in lines[0]
    assert "sk-wrong-key" not in proc.stdout + proc.stderr
    assert not out.exists()


def test_cli_stopped_at_the_cap_exits_3_and_says_why_last(run_dir, tmp_path):
    env = dict(os.environ, ANTHROPIC_API_KEY=KEY, PYTHONPATH=str(REPO))
    out = tmp_path / "rerank"
    with FakeAnthropicServer(api_key=KEY, script=lambda c: Reply.no_usage()) as server:
        proc = _cli(["rerank", "--run", str(run_dir), "--backend", "anthropic", "--model", MODEL,
                     "--base-url", server.url, "--concurrency", "1", "--budget-usd", "0.004",
                     "--workspace", str(tmp_path / "ws.duckdb"), "--out", str(out)], env)
    assert proc.returncode == 3, proc.stderr
    last = [ln for ln in proc.stderr.splitlines() if ln.strip()][-1]
    assert last.startswith("incomplete:") and "--budget-usd" in last
    assert (out / "rerank_summary.json").exists()  # the partial result, marked incomplete
    import json

    summary = json.loads((out / "rerank_summary.json").read_text())
    assert summary["status"] == "incomplete"
    assert summary["spend"]["charged_usd"] <= 0.004
