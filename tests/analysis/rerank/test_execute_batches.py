"""The rerank job in batch mode with the real ``anthropic`` client against a fake Batches
server that caps batch size (127.0.0.1 only): a job cut into many batches within the budget
cap, progress per batch, and a job killed (SIGKILL) after its first batch was submitted
that resumes by collecting that batch, with no second submission of it, paying once."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import numpy as np
import pytest

from analysis.gains.cost import PriceTable, call_cost
from analysis.rerank.budget import SpendLedger, input_bounds
from analysis.rerank.cache import CallCache
from analysis.rerank.config import RerankConfig
from analysis.rerank.execute import execute_rerank
from analysis.rerank.plan import plan_rerank
from analysis.weak_users import WeakRule
from tests.models.llm.fake_servers import FakeAnthropicServer

pytest.importorskip("anthropic")

KEY = "sk-ant-test-batches-5b2d9e"
MODEL = "claude-haiku-4-5"
FEW = WeakRule(metric="auc", percentile=5.0)  # a dozen weak users
PER_BATCH = 4


@pytest.fixture(scope="module")
def run_dir(small_run_dir):
    return small_run_dir


def _anthropic(server):
    from models.llm.anthropic import AnthropicBackend

    return AnthropicBackend(MODEL, api_key=KEY, base_url=server.url, batch=True,
                            batch_max_requests=PER_BATCH, poll_interval_s=0.01,
                            backoff_base_s=0.001, backoff_max_s=0.002, timeout_s=5.0)


def _plan(run, cache, server, cap):
    config = RerankConfig(backend="anthropic", model=MODEL, batch=True, budget_usd=cap, rule=FEW)
    return plan_rerank(run, config, _anthropic(server), cache)


def _worst(plan) -> np.ndarray:
    from analysis.gains.cost import worst_case_cost

    bounds = input_bounds([r.system + r.user for r in plan.requests])
    price = PriceTable().price(MODEL)
    return worst_case_cost(bounds, plan.config.resolved_max_tokens, price, batch=True)


def _batched_users(server) -> list[list[str]]:
    """The user prompts of every batch the server created, in creation order."""
    out = []
    for b in sorted(server.batches.values(), key=lambda b: b["created"]):
        out.append([r["params"]["messages"][-1]["content"] for r in b["requests"]])
    return out


def test_batches_within_the_cap_with_progress_per_batch(run, cache):
    with FakeAnthropicServer(api_key=KEY, max_batch_requests=PER_BATCH) as server:
        plan = _plan(run, cache, server, None)
        worst = _worst(plan)
        cap = float(worst[:6].sum() + 0.5 * worst.min())  # six requests fit, not seven
        plan = _plan(run, cache, server, cap)
        seen = []
        res = execute_rerank(plan, run, _anthropic(server), cache, progress=seen.append)
        batches = _batched_users(server)
    assert server.creates == len(batches) == 2  # a full batch, then one cut at the cap
    assert [len(b) for b in batches] == [4, 2]
    assert [u for b in batches for u in b] == [r.user for r in plan.requests[:6]]
    spend = res.summary.spend
    assert spend["job_total_usd"] <= cap and spend["stop_kind"] == "budget"
    per = res.per_user
    assert int(per["reranked"].sum()) == 6
    assert set(per.loc[~per["reranked"], "fallback_reason"]) == {"budget"}
    # progress per batch: each batch submitted, then each one ended
    steps = [(p.batches_submitted, p.batches_ended) for p in seen]
    assert (1, 0) in steps and (2, 0) in steps and (2, 1) in steps and steps[-1] == (2, 2)
    assert seen[-1].done == seen[-1].total == len(plan.requests)
    assert seen[-1].batches_note == "2 of 2 batches ended"


def test_a_killed_job_resumes_without_a_second_submission_of_its_batch(run, cache):
    with FakeAnthropicServer(api_key=KEY, max_batch_requests=PER_BATCH,
                             hold_creates_from=1) as server:
        plan = _plan(run, cache, server, 1.0)
        n = len(plan.requests)
        assert n > 2 * PER_BATCH
        pid = os.fork()
        if pid == 0:  # the job, killed while creating its second batch
            try:
                execute_rerank(plan, run, _anthropic(server), CallCache(cache.workspace))
            finally:
                os._exit(0)
        deadline = time.monotonic() + 60
        while server.creates < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        server.hold_creates_from = None
        server.release_creates()  # the held create is refused: no batch was made of it
        (first,) = _batched_users(server)
        assert first == [r.user for r in plan.requests[:PER_BATCH]]
        assert cache.count() == 0 and server.result_reads == {}
        seen = []
        res = execute_rerank(plan, run, _anthropic(server), cache, progress=seen.append)
        batches = _batched_users(server)
        reads = dict(server.result_reads)
        paid = server.paid_calls
    # the first batch was collected, not submitted again: every prompt in exactly one batch
    assert batches[0] == first and len(batches) == -(-n // PER_BATCH)
    assert Counter(u for b in batches for u in b) == Counter(r.user for r in plan.requests)
    assert set(reads.values()) == {1} and len(reads) == len(batches) and paid == n
    assert res.summary.status == "complete" and bool(res.per_user["reranked"].all())
    assert (seen[-1].batches_submitted, seen[-1].batches_ended) == (len(batches),) * 2
    # paid once: the first batch's answers settled the killed run's reservations
    ledger = SpendLedger(cache.workspace)
    attempts = ledger.attempts(plan.job_key)
    price = PriceTable().price(MODEL)
    answered = attempts[attempts["state"] == "answered"]
    assert len(answered) == n and answered["request_key"].is_unique
    expected = sum(call_cost(u, price, batch=True) for u in _usages(cache, plan))
    assert answered["charged_usd"].sum() == pytest.approx(expected, rel=1e-12)
    assert res.summary.spend["charged_usd"] == pytest.approx(expected, rel=1e-12)
    # the held batch's reservations stay open at their worst case (it may have been made)
    held = attempts[attempts["state"] == "reserved"]
    worst = dict(zip(plan.keys, _worst(plan), strict=True))
    assert sorted(held["request_key"]) == sorted(plan.keys[PER_BATCH:2 * PER_BATCH])
    assert held["reserved_usd"].sum() == pytest.approx(sum(worst[k] for k in held["request_key"]))
    assert res.summary.spend["job_total_usd"] == pytest.approx(expected + held["reserved_usd"].sum())
    assert ledger.pending_batches(plan.job_key) == {}


def _usages(cache, plan):
    return [hit.usage for hit in cache.get_many(plan.keys).values()]
