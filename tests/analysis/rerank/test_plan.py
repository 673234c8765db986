"""The dry run prices prompts from their lengths and builds only what it must
(analysis/rerank/plan.py ``plan_rerank``), with the same figures as building every prompt.

The reference is the algorithm the dry run had before: render every prompt, count a seeded
sample of them exactly and scale the rest by their characters."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from analysis.rerank.cache import call_key
from analysis.rerank.config import RerankConfig
from analysis.rerank.plan import plan_rerank
from analysis.rerank.prompts import approx_tokens
from analysis.rerank.tokens import ApproxTokenCounter
from analysis.weak_users import WeakRule
from models.llm.fake import FakeBackend
from models.llm.protocol import Completion, Usage
from tests.analysis._fixtures_rerank import build_run

MODEL = "claude-haiku-4-5"
EVERYONE = WeakRule(metric="auc", percentile=100.0)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("plan"), users=400, items=250, seed=11,
                     with_users=False)


def _reference_counts(backend, requests, max_exact=200):
    """The dry run's token counts as they were computed from every rendered prompt."""
    chars = np.array([len(r.system) + len(r.user) for r in requests], dtype=np.float64)
    if len(requests) <= max_exact:
        return np.asarray(backend.count_tokens(requests), dtype=np.int64)
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(len(requests), size=max_exact, replace=False))
    counted = np.asarray(backend.count_tokens([requests[i] for i in sample]), dtype=np.float64)
    ratio = counted.sum() / max(chars[sample].sum(), 1.0)
    counts = np.ceil(chars * ratio).astype(np.int64)
    counts[sample] = counted.astype(np.int64)
    return counts


@pytest.mark.parametrize(
    ("template", "history", "protocol"),
    [("paper", "recent", "realistic"), ("rankgpt", "paper", "realistic"),
     ("llmrank", "long-short", "realistic"), ("paper", "long-short", "paper")],
)
def test_sizes_and_tokens_equal_those_of_the_built_prompts(run, cache, template, history,
                                                           protocol):
    cfg = RerankConfig(backend="fake", model=MODEL, rule=EVERYONE, template=template,
                       history=history, protocol=protocol)
    backend = FakeBackend(MODEL)
    plan = plan_rerank(run, cfg, backend, cache)
    assert len(plan.users) > 200  # the sampled path
    assert len(plan.rendered) == 200 and "requests" not in plan.__dict__  # built: the sample
    sample = sorted(plan.rendered)
    reqs = plan.requests
    np.testing.assert_array_equal(plan.prompts.sizes.chars,
                                  [len(r.system) + len(r.user) for r in reqs])
    ref = _reference_counts(backend, reqs)
    np.testing.assert_array_equal(plan.input_tokens, ref)
    assert plan.estimate.input_tokens == int(ref.sum())
    assert plan.keys == [call_key("fake", MODEL, replace(r, key=""), "generate") for r in reqs]
    assert plan.shown_texts[0] == [plan.prompts.texts[i]
                                   for i in plan.candidates.shown_items[0] if i >= 0]
    # the fake backend counts exactly: the scaling is calibrated, its error stated
    cal = plan.calibration
    assert cal is not None and cal.n_exact == 200
    counted = backend.count_tokens([reqs[i] for i in sample])
    assert cal.tokens_per_char == sum(counted) / plan.prompts.sizes.chars[sample].sum()
    assert 0 <= cal.total_error < 0.05


def test_every_strategy_token_figure_equals_its_built_prompts(run, cache):
    plan = plan_rerank(run, RerankConfig(backend="fake", model=MODEL, history="paper"),
                       ApproxTokenCounter("fake", MODEL), cache)
    table = plan.history_tokens.set_index("strategy")
    assert set(table.index) == {"recent", "paper", "long-short"}
    for strategy in table.index:
        other = plan_rerank(run, RerankConfig(backend="fake", model=MODEL, history=strategy),
                            ApproxTokenCounter("fake", MODEL), cache)
        per_prompt = [approx_tokens(r.system) + approx_tokens(r.user) for r in other.requests]
        assert table.loc[strategy, "total_tokens"] == sum(per_prompt), strategy
        assert table.loc[strategy, "prompt_tokens"] == pytest.approx(np.mean(per_prompt))


def test_cached_prompts_are_found_without_building_the_others(run, cache):
    cfg = RerankConfig(backend="fake", model=MODEL, rule=EVERYONE)
    backend = FakeBackend(MODEL)
    first = plan_rerank(run, cfg, backend, cache)
    answer = Completion(text="1", usage=Usage(10, 2), latency_s=0.1, stop_reason="end_turn")
    stored = [3, 50, 51, 150]
    for i in stored:
        cache.put(first.keys[i], backend="fake", model=MODEL, mode="generate",
                  request=first.requests[i], completion=answer, cost_usd=0.001, job_id="t")
    # a decoy: the same length as prompt 7, another text; and one under another model
    decoy = replace(first.requests[7], user=first.requests[7].user[::-1], key="")
    cache.put(call_key("fake", MODEL, decoy), backend="fake", model=MODEL, mode="generate",
              request=decoy, completion=answer, cost_usd=0.001, job_id="t")
    cache.put(call_key("fake", "other", first.requests[9]), backend="fake", model="other",
              mode="generate", request=first.requests[9], completion=answer, cost_usd=0.001,
              job_id="t")

    plan = plan_rerank(run, cfg, backend, cache)
    assert np.flatnonzero(plan.cached_rows).tolist() == stored
    assert sorted(plan.cached) == sorted(first.keys[i] for i in stored)
    assert plan.estimate.n_cached == len(stored)
    assert plan.input_tokens[stored].tolist() == [0] * len(stored)
    same_length = np.isin(plan.prompts.sizes.user_chars,
                          plan.prompts.sizes.user_chars[stored + [7]])
    assert len(plan.rendered) < len(plan.users)  # the others were never built
    assert set(np.flatnonzero(same_length)) <= set(plan.rendered)
    # the uncached prompts are counted as if the cached ones were not there
    todo = [r for i, r in enumerate(first.requests) if i not in stored]
    np.testing.assert_array_equal(plan.input_tokens[~plan.cached_rows],
                                  _reference_counts(backend, todo))


def test_a_repriced_plan_equals_a_plan_built_for_that_model(run, cache):
    from analysis.errors import AnalysisError
    from analysis.rerank.plan import reprice_plan

    cfg = RerankConfig(backend="fake", model=MODEL, rule=EVERYONE)
    plan = plan_rerank(run, cfg, FakeBackend(MODEL), cache)
    answer = Completion(text="1", usage=Usage(10, 2), latency_s=0.1, stop_reason="end_turn")
    other = "claude-sonnet-4-5"
    other_plan = plan_rerank(run, replace(cfg, model=other), FakeBackend(other), cache)
    cache.put(other_plan.keys[5], backend="fake", model=other, mode="generate",
              request=other_plan.requests[5], completion=answer, cost_usd=0.01, job_id="t")
    fresh = plan_rerank(run, replace(cfg, model=other, batch=True), FakeBackend(other), cache)
    again = reprice_plan(plan, replace(cfg, model=other, batch=True), FakeBackend(other), cache)
    assert np.flatnonzero(again.cached_rows).tolist() == [5]
    np.testing.assert_array_equal(again.input_tokens, fresh.input_tokens)
    assert again.estimate == fresh.estimate and again.keys == fresh.keys
    with pytest.raises(AnalysisError, match="n_candidates changed"):
        reprice_plan(plan, replace(cfg, n_candidates=10), FakeBackend(MODEL), cache)


def test_a_pricing_only_plan_prices_exactly_like_the_full_plan(run, cache):
    cfg = RerankConfig(backend="fake", model=MODEL, rule=EVERYONE, history="paper")
    full = plan_rerank(run, cfg, FakeBackend(MODEL), cache)
    light = plan_rerank(run, cfg, FakeBackend(MODEL), cache, pricing_only=True)
    np.testing.assert_array_equal(light.users, full.users)
    np.testing.assert_array_equal(light.input_tokens, full.input_tokens)
    np.testing.assert_array_equal(light.cached_rows, full.cached_rows)
    assert light.estimate == full.estimate
    assert light.controls is None and full.controls is not None
    assert light.history_tokens["strategy"].tolist() == ["paper"]
    assert light.history_tokens.iloc[0].to_dict() == (
        full.history_tokens.set_index("strategy").loc["paper"].to_dict() | {"strategy": "paper"})


def test_offline_counts_are_every_prompt_s_own_whichever_plan_holds_it(run, cache):
    """Without a key the count is the ~3.5 characters/token heuristic of each prompt, read
    from its exact length: no sample, nothing rendered, and a user gets the same count in a
    plan of everyone (the Weak users page's projection) as in a plan of a few (the dry run)."""
    counter = ApproxTokenCounter("anthropic", MODEL)
    wide = plan_rerank(run, RerankConfig(backend="anthropic", model=MODEL, rule=EVERYONE),
                       counter, cache, pricing_only=True)
    narrow = plan_rerank(run, RerankConfig(backend="anthropic", model=MODEL), counter, cache)
    assert len(wide.users) > 200 > len(narrow.users) > 0 and not wide.rendered
    reqs = wide.requests
    np.testing.assert_array_equal(
        wide.input_tokens, [approx_tokens(r.system) + approx_tokens(r.user) for r in reqs])
    position = {int(u): i for i, u in enumerate(wide.users)}
    np.testing.assert_array_equal(
        narrow.input_tokens, wide.input_tokens[[position[int(u)] for u in narrow.users]])
    assert wide.calibration is None and wide.token_count_note == ""
