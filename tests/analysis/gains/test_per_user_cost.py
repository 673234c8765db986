"""Tests of analysis/gains/per_user_cost.py: per-user cost of a dry run, summed over any set."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from analysis.errors import AnalysisError
from analysis.gains.cost import ModelPrice, PriceTable, estimate_cost
from analysis.gains.per_user_cost import per_user_cost_estimate
from analysis.jobs.tasks import ensure_demo_run
from analysis.rerank.cache import CallCache
from analysis.rerank.config import RerankConfig
from analysis.rerank.plan import plan_rerank
from analysis.rerank.tokens import ApproxTokenCounter
from analysis.runs.store import RunStore
from analysis.weak_users import WeakRule
from analysis.workspace import Workspace

PRICE = ModelPrice(input=2.0, output=10.0, cache_write=2.5, cache_read=0.2, batch_discount=0.5)


def _plan(config: RerankConfig | None = None) -> SimpleNamespace:
    """Five users; users 1, 2 and 4 planned with 100, 200, 300 input tokens; user 2 cached."""
    config = config or RerankConfig(model="m", n_candidates=2)  # expected out 20, max 80
    tokens = np.array([100, 0, 300])  # the cached request counts 0, as plan_rerank sets it
    est = estimate_cost([100, 300], max_tokens=config.resolved_max_tokens,
                        expected_output_tokens=20, model="m",
                        prices=PriceTable({"m": PRICE}), n_cached=1)
    return SimpleNamespace(
        config=config,
        weak=SimpleNamespace(mask=np.array([False, True, True, False, True])),
        users=np.array([1, 2, 4]),
        keys=["a", "b", "c"],
        cached={"b": object()},
        cached_rows=np.array([False, True, False]),
        input_tokens=tokens,
        estimate=est,
    )


def test_per_user_cost_by_hand():
    c = per_user_cost_estimate(_plan(), PRICE)
    assert c.planned.tolist() == [False, True, True, False, True]
    assert c.cached.tolist() == [False, False, True, False, False]
    assert c.input_tokens.tolist() == [0, 100, 0, 0, 300]
    assert c.output_tokens.tolist() == [0, 20, 0, 0, 20]
    # (100 * 2 + 20 * 10) / 1e6 and (300 * 2 + 20 * 10) / 1e6; upper bound at 80 output tokens
    assert c.usd.tolist() == pytest.approx([0, 400e-6, 0, 0, 800e-6])
    assert c.upper_usd.tolist() == pytest.approx([0, 1000e-6, 0, 0, 1400e-6])


def test_project_sums_the_selected_users():
    c = per_user_cost_estimate(_plan(), PRICE)
    p = c.project(np.array([True, True, True, False, False]))
    assert (p.n_selected, p.n_sent, p.n_cached) == (3, 2, 1)
    assert (p.input_tokens, p.output_tokens) == (100, 20)
    assert p.expected_usd == pytest.approx(400e-6)
    assert p.upper_bound_usd == pytest.approx(1000e-6)
    everyone = c.project(np.ones(5, dtype=bool))
    assert everyone.expected_usd == pytest.approx(_plan().estimate.expected_usd)
    assert c.project(np.zeros(5, dtype=bool)).expected_usd == 0.0


def test_a_deployment_pays_for_selected_users_the_plan_could_not_send():
    c = per_user_cost_estimate(_plan(), PRICE)
    # users 0 and 3 are not planned (no test item): priced at the mean of the planned,
    # uncached users 1 and 4, (400e-6 + 800e-6) / 2
    p = c.project(np.array([True, True, True, True, False]))
    assert p.n_not_planned == 2 and p.n_sent == 2
    assert p.deployment_usd == pytest.approx(400e-6 + 2 * 600e-6)
    only_planned = c.project(np.array([False, True, False, False, True]))
    assert only_planned.n_not_planned == 0
    assert only_planned.deployment_usd == pytest.approx(only_planned.expected_usd)


def test_batch_halves_the_cost():
    c = per_user_cost_estimate(_plan(), PRICE, batch=True)
    assert c.usd.sum() == pytest.approx(600e-6)


def test_local_backend_is_priced_by_gpu_time():
    cfg = RerankConfig(backend="transformers", model="m", n_candidates=2,
                       gpu_usd_per_hour=3.6, expected_tokens_per_s=100.0)
    c = per_user_cost_estimate(_plan(cfg), None)
    # user 1: (100 + 20) tokens / 100 tok/s = 1.2 s at $0.001 per second
    assert c.usd[1] == pytest.approx(1.2e-3)


def test_bad_inputs():
    with pytest.raises(AnalysisError, match="needs a model price"):
        per_user_cost_estimate(_plan(), None)
    c = per_user_cost_estimate(_plan(), PRICE)
    with pytest.raises(AnalysisError, match="one entry per user"):
        c.project(np.ones(4, dtype=bool))
    with pytest.raises(AnalysisError, match="boolean mask"):
        c.project(np.ones(5))


def test_a_real_plan_prices_any_narrower_rule(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    run = RunStore(ws).load_baseline(ensure_demo_run(ws).run_id)
    prices = PriceTable()

    def plan(rule):
        cfg = RerankConfig(rule=rule)
        return plan_rerank(run, cfg, ApproxTokenCounter("anthropic", cfg.model), CallCache(ws),
                           prices)

    wide = plan(WeakRule(metric="auc", percentile=100.0))
    per_user = per_user_cost_estimate(wide, prices.price("claude-haiku-4-5"))
    assert per_user.usd.sum() == pytest.approx(wide.estimate.expected_usd)
    narrow = plan(WeakRule(metric="auc", threshold=0.6, require_inactive=True))
    proj = per_user.project(narrow.weak.mask)
    assert proj.n_sent == len(narrow.users)
    # the narrow plan counts a 200-prompt sample exactly and scales the rest by characters
    assert proj.expected_usd == pytest.approx(narrow.estimate.expected_usd, rel=0.02)
