"""Tests of analysis/gains/controls.py: the no-LLM reorderings of the same candidates, the
oracle ceiling, exact AUC of a merged ranking, and the LLM's gain net of the best control."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from analysis.gains.controls import (
    auc_offsets,
    control_orderings,
    mean_ci,
    measure_controls,
    measure_orderings,
)
from analysis.rerank.candidates import CandidateSet
from analysis.rerank.config import RerankConfig
from analysis.rerank.execute import execute_rerank
from analysis.rerank.plan import plan_rerank
from models.llm.fake import FakeBackend
from tests.analysis._fixtures_rerank import build_run

N_ITEMS = 20
POP = np.zeros(N_ITEMS)
POP[[10, 11, 12, 13]] = [1, 5, 9, 5]


def _cands(rows, shown):
    rows = np.asarray(rows, np.int32)
    return CandidateSet(
        user_idx=np.arange(len(rows)),
        items=rows,
        shown=np.asarray(shown, np.int16),
        protocol="realistic",
        seed=0,
        candidate_recall=np.ones(len(rows)),
    )


def _truth(rel_rows):
    r = [i for i, row in enumerate(rel_rows) for _ in row]
    c = [j for row in rel_rows for j in row]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rel_rows), N_ITEMS))


def test_orderings_by_hand():
    cands = _cands([[10, 11, 12, 13]], [[3, 2, 1, 0]])
    got = control_orderings(cands, POP, _truth([[12]]))
    assert got["baseline"].tolist() == [[10, 11, 12, 13]]
    assert got["shuffled"].tolist() == [[13, 12, 11, 10]]
    assert got["popularity"].tolist() == [[12, 11, 13, 10]]  # 11 and 13 tie: baseline order
    assert got["oracle"].tolist() == [[12, 10, 11, 13]]


def test_padding_stays_last():
    cands = _cands([[12, 10, -1]], [[1, 0, -1]])
    got = control_orderings(cands, POP, _truth([[10]]))
    assert got["popularity"].tolist() == [[12, 10, -1]]
    assert got["oracle"].tolist() == [[10, 12, -1]]


def test_metrics_and_exact_auc_of_each_ordering_by_hand():
    cands = _cands([[10, 11, 12, 13]], [[3, 2, 1, 0]])
    truth = _truth([[12]])
    n_neg = np.array([10.0])
    # the baseline's AUC is 0.8: W_in = 1 (12 above 13), so the ordering-free part is 7
    offset = auc_offsets(cands.items, np.array([0.8]), truth, n_neg)
    assert offset.tolist() == [7.0]
    table = measure_orderings(control_orderings(cands, POP, truth), truth, 4, offset, n_neg)
    assert table["baseline_ndcg@4"][0] == pytest.approx(1 / math.log2(4))
    assert table["shuffled_ndcg@4"][0] == pytest.approx(1 / math.log2(3))
    assert table["popularity_ndcg@4"][0] == pytest.approx(1.0)
    assert table["oracle_ndcg@4"][0] == pytest.approx(1.0)
    assert table["baseline_auc"][0] == pytest.approx(0.8)
    assert table["shuffled_auc"][0] == pytest.approx(0.9)  # (2 + 7) / 10
    assert table["popularity_auc"][0] == pytest.approx(1.0)  # (3 + 7) / 10


def test_net_gain_is_against_the_best_control_with_its_interval_and_test():
    rows = [[10, 11, 12, 13]] * 3
    cands = _cands(rows, [[3, 2, 1, 0]] * 3)
    truth = _truth([[12], [11], [13]])
    n_neg = np.full(3, 10.0)
    offset = auc_offsets(cands.items, np.full(3, 0.8), truth, n_neg)
    llm = np.array([[12, 10, 11, 13], [10, 11, 12, 13], [13, 10, 11, 12]], np.int32)
    report = measure_controls(cands, truth, popularity=POP, k=4, auc_offset=offset,
                              n_negatives=n_neg, llm_rows=llm)
    t = report.per_user
    best = max(("baseline", "shuffled", "popularity"), key=lambda c: t[f"{c}_ndcg@4"].mean())
    assert report.net.control == best
    diff = (t["llm_ndcg@4"] - t[f"{best}_ndcg@4"]).to_numpy()
    assert report.net.mean == pytest.approx(diff.mean())
    half = stats.t.ppf(0.975, 2) * diff.std(ddof=1) / math.sqrt(3)
    assert report.net.ci_low == pytest.approx(diff.mean() - half)
    assert report.net.ci_high == pytest.approx(diff.mean() + half)
    assert report.net.wilcoxon_p == pytest.approx(stats.wilcoxon(diff).pvalue)
    assert report.summary()["net_gain"]["control"] == best


def test_mean_ci_edges():
    assert math.isnan(mean_ci(np.array([]))[0])
    mean, low, high = mean_ci(np.array([0.5]))
    assert mean == 0.5 and math.isnan(low) and math.isnan(high)


def test_an_llm_equal_to_a_control_has_no_net_gain():
    cands = _cands([[10, 11, 12, 13]] * 2, [[3, 2, 1, 0]] * 2)
    truth = _truth([[12], [10]])
    n_neg = np.full(2, 10.0)
    offset = auc_offsets(cands.items, np.full(2, 0.8), truth, n_neg)
    pop_rows = control_orderings(cands, POP)["popularity"]
    report = measure_controls(cands, truth, popularity=POP, k=4, auc_offset=offset,
                              n_negatives=n_neg, llm_rows=pop_rows)
    assert report.net.mean <= 0.0


# -- through the job: an oracle "LLM" reaches the ceiling; a popularity "LLM" gains nothing --


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("controls"), users=300, items=200, seed=5,
                     with_users=False)


def _policy_by_item(plan, run, key):
    """A fake LLM answering each prompt with its candidates sorted by ``key(user, items)``."""
    by_user = {r.user: i for i, r in enumerate(plan.requests)}

    def answer(ids, request):
        i = by_user[request.user]
        shown = plan.candidates.shown_items[i]
        order = key(int(plan.candidates.user_idx[i]), shown)
        return "\n".join(str(j + 1) for j in order)

    return answer


def test_an_oracle_llm_reaches_exactly_the_ceiling(run, cache):
    config = RerankConfig(backend="fake", model="claude-haiku-4-5")
    probe = FakeBackend("claude-haiku-4-5")
    plan = plan_rerank(run, config, probe, cache)
    test = run.split.test.tocsr()

    def oracle(u, shown):
        rel = np.isin(shown, test[u].indices) & (shown >= 0)
        base = plan.candidates.shown[list(plan.candidates.user_idx).index(u)]
        return [j for j in np.lexsort((base, ~rel)) if shown[j] >= 0]

    backend = FakeBackend("claude-haiku-4-5", policy=_policy_by_item(plan, run, oracle))
    res = execute_rerank(plan, run, backend, cache)
    means = res.summary.net_gain["means"]
    assert means["llm"] == pytest.approx(means["oracle"], abs=1e-12)
    per = res.per_user
    assert np.allclose(per["after_ndcg@10"], per["oracle_ndcg@10"])


@pytest.mark.parametrize("protocol", ["realistic", "paper"])
def test_a_popularity_llm_shows_no_net_gain(run, cache, protocol):
    config = RerankConfig(backend="fake", model="claude-haiku-4-5", protocol=protocol)
    plan = plan_rerank(run, config, FakeBackend("claude-haiku-4-5"), cache)
    pop = np.diff(run.split.train.tocsc().indptr)

    def by_pop(u, shown):
        base = plan.candidates.shown[list(plan.candidates.user_idx).index(u)]
        key = np.where(shown >= 0, pop[np.maximum(shown, 0)], -1)
        return [j for j in np.lexsort((base, -key)) if shown[j] >= 0]

    backend = FakeBackend("claude-haiku-4-5", policy=_policy_by_item(plan, run, by_pop))
    res = execute_rerank(plan, run, backend, cache)
    net = res.summary.net_gain
    assert net["means"]["llm"] == pytest.approx(net["means"]["popularity"], abs=1e-12)
    assert net["mean"] <= 1e-12  # no better than the best control
    if protocol == "paper":
        # everyone keeps their real baseline ranking: the "all users" mean before is the run's
        g = res.summary.gains
        assert g["mean_before"]["ndcg@10"] == pytest.approx(run.summary.overall["ndcg@10"])
        assert res.summary.config.negatives == "popularity"


# -- the pilot: a sample's net gain, its interval, projected to every weak user -------------


def test_a_pilot_interval_contains_the_true_mean_net_gain(run, tmp_path):
    from analysis.rerank.cache import CallCache
    from analysis.workspace import Workspace
    from models.llm.anthropic import AnthropicBackend
    from tests.models.llm.fake_servers import FakeAnthropicServer, Reply

    key = "sk-pilot-test"
    rule = __import__("analysis.weak_users", fromlist=["WeakRule"]).WeakRule(
        metric="auc", percentile=60.0)  # enough weak users for a 50-user pilot to be a sample
    cache = CallCache(Workspace(tmp_path / "calls.duckdb"))
    full_cfg = RerankConfig(backend="anthropic", model="claude-haiku-4-5", rule=rule)
    probe = FakeBackend("claude-haiku-4-5")
    full_plan = plan_rerank(run, full_cfg, probe, cache)
    test = run.split.test.tocsr()
    answers = {}  # prompt -> answer: the oracle's for even users, a seeded shuffle for odd
    for i, req in enumerate(full_plan.requests):
        u = int(full_plan.candidates.user_idx[i])
        shown = full_plan.candidates.shown_items[i]
        valid = np.flatnonzero(shown >= 0)
        if u % 2 == 0:
            rel = np.isin(shown[valid], test[u].indices)
            order = valid[np.lexsort((full_plan.candidates.shown[i][valid], ~rel))]
        else:
            order = np.random.default_rng(u).permutation(valid)
        answers[req.user] = "\n".join(str(j + 1) for j in order)

    def script(call):
        return Reply.answer(answers[call.user])

    with FakeAnthropicServer(api_key=key, script=script) as server:
        def backend():
            return AnthropicBackend("claude-haiku-4-5", api_key=key, base_url=server.url,
                                    concurrency=4, timeout_s=5.0)
        pilot_cfg = RerankConfig(backend="anthropic", model="claude-haiku-4-5", rule=rule,
                                 pilot_users=50)
        pilot_plan = plan_rerank(run, pilot_cfg, backend(), cache)
        assert len(pilot_plan.users) == 50 and pilot_plan.n_population == len(full_plan.users)
        pilot = execute_rerank(pilot_plan, run, backend(), cache)
        full_plan = plan_rerank(run, full_cfg, backend(), cache)
        assert full_plan.estimate.n_cached == 50  # the full pass reuses the pilot's answers
        full = execute_rerank(full_plan, run, backend(), cache)
        assert server.paid_calls == len(full_plan.users)  # nobody was paid for twice
    truth = full.summary.net_gain
    p = pilot.summary.pilot
    assert p["n_sample"] == 50 and p["n_population"] == len(full_plan.users)
    assert truth["control"] == pilot.summary.net_gain["control"]
    low, high = p["net_gain_ci95"]
    assert low <= truth["mean"] <= high
    assert full.summary.pilot is None
    share = p["n_population"] / pilot.summary.gains["n_evaluated"]
    assert p["projected"]["net_gain_over_all_users"] == pytest.approx(p["net_gain_per_user"]
                                                                      * share)
