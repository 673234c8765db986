"""The rerank job end to end with the real ``anthropic`` client against a fake Messages API
on 127.0.0.1: injected failures, exact token and dollar totals, the budget cap, a killed and
resumed CLI job, and the API key in no file the job wrote."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.gains.cost import PriceTable, call_cost, worst_case_cost
from analysis.rerank.budget import input_bounds
from analysis.rerank.cache import CallCache
from analysis.rerank.config import RerankConfig
from analysis.rerank.execute import execute_rerank
from analysis.rerank.plan import plan_rerank
from analysis.runs.baseline import load_run
from analysis.workspace import Workspace
from models.llm.protocol import Usage
from tests.models.llm.fake_servers import FakeAnthropicServer, Reply, word_count

pytest.importorskip("anthropic")

REPO = Path(__file__).resolve().parents[3]
KEY = "sk-ant-test-DO-NOT-LEAK-4f9c2e7a1b"
MODEL = "claude-haiku-4-5"


@pytest.fixture(scope="module")
def run_dir(small_run_dir):
    return small_run_dir


def _backend(server, **kw):
    from models.llm.anthropic import AnthropicBackend

    return AnthropicBackend(MODEL, api_key=KEY, base_url=server.url, concurrency=4,
                            backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=5.0, **kw)


def _script(call):
    """Failures on the first calls; odd answers for some users (by call number)."""
    return {
        0: Reply.rate_limited(0.2),
        1: Reply.overloaded(),
        2: Reply.server_error(),
        3: Reply.malformed(),
        4: Reply.answer("[99] > [1] > [1] > [2]"),  # hallucinated and duplicate
        5: Reply.truncated("[3] > [2"),
        6: Reply.answer("I would rather not rank these."),
    }.get(call.n)


def test_job_survives_failures_and_counts_every_token(run_dir, tmp_path):
    run = load_run(run_dir)
    cache = CallCache(Workspace(tmp_path / "calls.duckdb"))
    with FakeAnthropicServer(api_key=KEY, script=_script) as server:
        backend = _backend(server)
        plan = plan_rerank(run, RerankConfig(backend="anthropic", model=MODEL), backend, cache)
        res = execute_rerank(plan, run, backend, cache)
        answered = [c for c in server.calls("/v1/messages") if c.method == "POST"]
    per = res.per_user
    # every weak user ends reranked or explicitly fallen back
    assert (per["reranked"] | per["fallback_reason"].notna()).all()
    # the malformed body is an unusable answer: retried like the 429, 529 and 500
    assert (per["fallback_reason"] == "error").sum() == 0
    assert (per["fallback_reason"] == "unparsable").sum() == 1  # the refusal
    assert per["n_hallucinated"].sum() >= 1 and per["n_duplicate"].sum() >= 1
    # the server received each retried request again: 4 retries + one per user
    assert len(answered) == len(plan.users) + 4
    # exact usage: the fake counts words of system + user, and of its answer
    by_user = {c.user: c for c in answered}
    price = PriceTable().price(MODEL)
    ok = per[per["error"].isna()]
    for row in ok.itertuples():
        i = int((plan.users == row.user_idx).nonzero()[0][0])
        req = plan.requests[i]
        assert row.input_tokens == word_count(req.system) + word_count(req.user)
        assert by_user[req.user] is not None
    # answers at their usage; the 500 and the unreadable body at their worst case (nothing
    # proves they cost less); the 429 and the 529 at $0 (refused before any work)
    index = {r.user: i for i, r in enumerate(plan.requests)}
    worst = worst_case_cost(input_bounds([r.system + r.user for r in plan.requests]),
                            plan.config.resolved_max_tokens, price)
    lost = sum(worst[index[c.user]] for c in answered if c.n in (2, 3))
    expected_usd = sum(call_cost(Usage(r.input_tokens, r.output_tokens), price)
                       for r in ok.itertuples()) + lost
    assert res.summary.usd_spent_this_job == pytest.approx(expected_usd, rel=1e-12)
    assert res.summary.spend["paid_attempts"] == len(plan.users) + 2
    assert res.summary.status == "complete"
    assert res.summary.tokens_spent["input_tokens"] == ok["input_tokens"].sum()


def test_budget_cap_with_the_real_client(run_dir, tmp_path):
    run = load_run(run_dir)
    cache = CallCache(Workspace(tmp_path / "calls.duckdb"))
    with FakeAnthropicServer(api_key=KEY) as server:
        backend = _backend(server)
        est = plan_rerank(run, RerankConfig(backend="anthropic", model=MODEL), backend,
                          cache).estimate
        budget = est.expected_usd / 2
        cfg = RerankConfig(backend="anthropic", model=MODEL, budget_usd=budget)
        plan = plan_rerank(run, cfg, backend, cache)
        res = execute_rerank(plan, run, backend, cache, wave_size=4)
        paid = server.paid_calls
    assert res.summary.usd_spent_this_job <= budget
    assert paid == int(res.per_user["reranked"].sum()) < len(plan.users)
    assert set(res.per_user.loc[~res.per_user["reranked"], "fallback_reason"]) == {"budget"}


def _cli(args, env, **kw):
    return subprocess.Popen([sys.executable, "-m", "analysis", "--quiet", *args], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kw)


def _files_under(*roots: Path):
    for root in roots:
        for p in Path(root).rglob("*"):
            if p.is_file():
                yield p


def test_cli_dry_run_needs_no_key_and_spends_nothing(run_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env["PYTHONPATH"] = str(REPO)
    proc = _cli(["rerank", "--run", str(run_dir), "--backend", "anthropic", "--model", MODEL,
                 "--dry-run", "--workspace", str(tmp_path / "ws.duckdb")], env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "estimated cost: $" in out and "approximate" in out


def test_cli_budget_too_small_is_one_line(run_dir, tmp_path):
    env = dict(os.environ, ANTHROPIC_API_KEY=KEY, PYTHONPATH=str(REPO))
    with FakeAnthropicServer(api_key=KEY) as server:
        proc = _cli(["rerank", "--run", str(run_dir), "--backend", "anthropic", "--model", MODEL,
                     "--base-url", server.url, "--budget-usd", "0.0000001",
                     "--workspace", str(tmp_path / "ws.duckdb"), "--out", str(tmp_path / "o")],
                    env)
        out, err = proc.communicate(timeout=120)
        assert server.paid_calls == 0
    assert proc.returncode == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot cover even one user" in lines[0]


def test_cli_killed_and_resumed_job_pays_once_and_leaks_no_key(run_dir, tmp_path):
    ws = tmp_path / "ws.duckdb"
    out = tmp_path / "rerank"
    env = dict(os.environ, ANTHROPIC_API_KEY=KEY, PYTHONPATH=str(REPO))
    args = ["rerank", "--run", str(run_dir), "--backend", "anthropic", "--model", MODEL,
            "--concurrency", "2", "--workspace", str(ws), "--out", str(out)]
    answered_first = 6
    hang = Reply.hang(10.0)
    with FakeAnthropicServer(api_key=KEY,
                             script=lambda c: hang if c.n >= answered_first else None) as s1:
        proc = _cli([*args[:-4], "--base-url", s1.url, *args[-4:]], env)
        deadline = time.monotonic() + 90
        while s1.paid_calls < answered_first + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # let the answered calls be stored
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        first_prompts = {c.user for c in s1.calls("/v1/messages") if c.n < answered_first}
    assert not out.exists()  # nothing half-written
    stored = CallCache(Workspace(ws)).count()
    assert stored == answered_first
    with FakeAnthropicServer(api_key=KEY) as s2:
        proc = _cli([*args[:-4], "--base-url", s2.url, *args[-4:]], env)
        stdout, stderr = proc.communicate(timeout=180)
        second_prompts = [c.user for c in s2.calls("/v1/messages") if c.method == "POST"]
    assert proc.returncode == 0, stderr
    n_users = len(__import__("pandas").read_parquet(out / "rerank_per_user.parquet"))
    assert len(second_prompts) == n_users - answered_first  # no duplicate paid call
    assert not first_prompts & set(second_prompts)
    # the key is in no file the job wrote (outputs and workspace), nor in its output
    assert KEY not in stdout + stderr
    for path in _files_under(out, tmp_path):
        assert KEY.encode() not in path.read_bytes(), path
