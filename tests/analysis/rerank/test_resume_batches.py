"""``resume_batches`` directly: a killed batch-mode job's journal (``llm_batches``) holding a
batch that ended, one still running, one whose answers are all stored and one the server no
longer knows; what the next run takes over, what it reserves, and what the Batches API
(fake, 127.0.0.1) is then asked."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from analysis.gains.cost import PriceTable, call_cost
from analysis.rerank.batches import BatchJournal, WaveGate, resume_batches
from analysis.rerank.config import RerankConfig
from analysis.rerank.execute import open_budget
from analysis.rerank.plan import plan_rerank
from analysis.weak_users import WeakRule
from tests.models.llm.fake_servers import FakeAnthropicServer

pytest.importorskip("anthropic")

KEY = "sk-ant-test-resume-7c41a0"
MODEL = "claude-haiku-4-5"
#: the killed run's batches, by plan index: ended on the server, still running, answered
#: and stored before the kill, unknown to the server (expired from its listing, or another
#: account's)
DONE, RUNNING, ANSWERED, GONE = [0, 1], [2, 3], [4, 5], [6, 7]
REST = 8  # requests 8.. were never submitted
IDS = {"msgbatch_done": DONE, "msgbatch_running": RUNNING, "msgbatch_answered": ANSWERED,
       "msgbatch_gone": GONE}  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(small_run_dir):
    return small_run_dir


@dataclass
class _Counts:
    lock: threading.Lock = field(default_factory=threading.Lock)
    batches_submitted: int = 0
    batches_ended: int = 0


def _backend(server):
    from models.llm.anthropic import AnthropicBackend

    return AnthropicBackend(MODEL, api_key=KEY, base_url=server.url, batch=True,
                            poll_interval_s=0.001, backoff_base_s=0.001, backoff_max_s=0.002,
                            timeout_s=5.0)  # fmt: skip


def _cid(plan, i: int) -> str:
    from models.llm._anthropic_batch import custom_id

    return custom_id(i, plan.keys[i])


def _killed_run(plan, cache, backend) -> dict[str, float]:
    """What a run killed while its batches ran leaves: four journalled batches, their first
    attempts reserved at worst case, ``ANSWERED``'s answers charged. Returns those charges."""
    budget = open_budget(plan, cache, None, backend)
    gate = WaveGate(budget, list(range(len(plan.requests))),
                    BatchJournal(plan, budget, cache, _Counts(), lambda: None, []))  # fmt: skip
    for batch_id, rows in IDS.items():
        admitted, refused = gate.reserve_batch(rows)
        assert admitted == rows and refused is None
        gate.batch_submitted(batch_id, {_cid(plan, i): i for i in rows})
    charged = {plan.keys[i]: float(budget.worst_usd[i]) / 4 for i in ANSWERED}
    for i in ANSWERED:
        budget.answered(i, charged[plan.keys[i]])
    budget.flush()  # then the kill: the other reservations stay open in the ledger
    return charged


def test_resume_takes_over_the_journal_without_resubmitting(run, cache):
    with FakeAnthropicServer(api_key=KEY, batch_polls=3) as server:
        backend = _backend(server)
        config = RerankConfig(backend="anthropic", model=MODEL, batch=True, budget_usd=1.0,
                              rule=WeakRule(metric="auc", percentile=5.0))  # fmt: skip
        plan = plan_rerank(run, config, backend, cache)
        n = len(plan.requests)
        assert n > REST
        charged = _killed_run(plan, cache, backend)
        worst = open_budget(plan, cache, None, backend).worst_usd
        taken = DONE + RUNNING + GONE
        reserved = sum(float(worst[i]) for i in taken)

        # the next run: its earlier spend is the open reservations plus the charges
        budget = open_budget(plan, cache, None, backend)
        ledger = budget.ledger
        assert budget.spent_before_usd == pytest.approx(reserved + sum(charged.values()), 1e-12)
        committed = budget.committed_usd
        journal = ledger.pending_batches(plan.job_key)
        attempt = {key: a for rows in journal.values() for _, key, a in rows}
        todo = deque(i for i in range(n) if i not in ANSWERED)  # ANSWERED's are in the cache

        resumed = resume_batches(plan, budget, todo)

        assert dict(resumed) == {
            b: {_cid(plan, i): i for i in rows} for b, rows in IDS.items() if rows != ANSWERED
        }
        assert list(todo) == list(range(REST, n))  # taken requests are collected, not sent
        # their reservations moved from the earlier spend to this run's open ones, exactly
        assert budget._reserved == pytest.approx(reserved, rel=1e-12)
        assert budget.spent_before_usd == pytest.approx(sum(charged.values()), rel=1e-9)
        assert budget.committed_usd == pytest.approx(committed, rel=1e-12)
        assert budget.charged_usd == 0.0
        assert all(budget.open_attempt(i) == attempt[plan.keys[i]] for i in taken)
        assert all(budget.open_attempt(i) is None for i in ANSWERED + [REST])
        # the batch whose answers were all stored is marked collected, the others are not
        assert set(ledger.pending_batches(plan.job_key)) == set(IDS) - {"msgbatch_answered"}

        # the server: "done" has ended, "running" answers in_progress twice, "gone" is unknown
        for batch_id, rows in (("msgbatch_done", DONE), ("msgbatch_running", RUNNING)):
            items = [{"custom_id": _cid(plan, i), "params": backend._params(plan.requests[i])}
                     for i in rows]  # fmt: skip
            polls = 3 if batch_id == "msgbatch_done" else 0
            server.batches[batch_id] = {"requests": items, "polls": polls,
                                        "created": datetime.now(UTC)}  # fmt: skip
        wave = [i for _, ids in resumed for i in ids.values()]  # as execute_rerank builds it
        counts = _Counts()
        gate = WaveGate(budget, wave,
                        BatchJournal(plan, budget, cache, counts, lambda: None, resumed))  # fmt: skip
        price = PriceTable().price(MODEL)
        got = {}

        def settle(j, comp):
            usd = call_cost(comp.usage, price, batch=True) if comp.usage_reported else None
            got[wave[j]] = (comp, budget.answered(wave[j], usd))

        backend.complete([plan.requests[i] for i in wave], on_result=settle, gate=gate)
        budget.flush()

    assert server.creates == 0  # nothing submitted again
    assert server.result_reads == {"msgbatch_done": 1, "msgbatch_running": 1}
    # GETs of each batch (the backend's polls, and the SDK's before reading results): the
    # running one (2 in_progress answers left) took exactly 2 more than the ended one
    done_gets = server.batches["msgbatch_done"]["polls"] - 3
    assert server.batches["msgbatch_running"]["polls"] == done_gets + 2
    assert sorted(got) == sorted(taken)
    assert all(got[i][0].ok for i in DONE + RUNNING)
    answered_usd = sum(call_cost(got[i][0].usage, price, batch=True) for i in DONE + RUNNING)
    assert sum(got[i][1] for i in DONE + RUNNING) == pytest.approx(answered_usd, rel=1e-12)
    # the unknown batch: a one-line error per request, charged at its worst case (it may
    # have been billed); the API said 404, so it will never end: marked collected
    for i in GONE:
        comp, usd = got[i]
        assert comp.error.startswith("Lost track of message batch msgbatch_gone: ")
        assert "\n" not in comp.error and usd == float(worst[i])
    gone_usd = sum(float(worst[i]) for i in GONE)
    assert budget.charged_usd == pytest.approx(answered_usd + gone_usd, rel=1e-12)
    assert budget._reserved == 0.0
    assert counts.batches_ended == 3
    assert set(ledger.pending_batches(plan.job_key)) == set()

    # a run after that takes no batch over: the unknown batch's requests stay to be sent
    # again, under the cap (their worst case is already charged, nothing is adopted)
    again = open_budget(plan, cache, None, backend)
    spent = again.spent_before_usd
    todo = deque(GONE + list(range(REST, n)))
    assert resume_batches(plan, again, todo) == []
    assert list(todo) == GONE + list(range(REST, n))
    assert again._reserved == 0.0 and again.spent_before_usd == spent
    assert spent == pytest.approx(sum(charged.values()) + answered_usd + gone_usd, rel=1e-9)
