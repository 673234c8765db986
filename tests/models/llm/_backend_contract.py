"""Contract tests every LLM backend passes: what :mod:`models.llm.protocol` promises to all.

Subclass :class:`BackendContract` per backend (as implicit's RecommenderBaseTestMixin and
lkpy's ScorerTests do) and provide three fixtures:

* ``llm``: a working backend (reuse one per module where building it is slow);
* ``failing``: ``(backend, requests, bad)``: a backend and requests of which those at the
  indices ``bad`` fail (and only those);
* ``build_bad``: a callable that builds the backend with one bad setting.

Set ``pays_per_call`` on a backend billed per attempt (it must ask the job's gate before
every attempt) and ``scores`` on one that also scores candidate texts. HTTP-only promises
(retries, statuses, keys) are in :mod:`tests.models.llm._http_backend_contract`.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from analysis.errors import AnalysisError
from models.llm import BACKEND_NAMES
from models.llm.protocol import Completion, LLMBackend, LLMRequest, ScoringBackend, Usage

SYSTEM = "You rank movies for one user. Answer with ids from the candidate list only."


def request(n: int, *, tag: str = "", max_tokens: int = 64) -> LLMRequest:
    """A request with candidates [n*10+1] .. [n*10+3] and a user text of known length."""
    ids = [f"[{n * 10 + j}]" for j in (1, 2, 3)]
    user = f"User {n}{tag} liked [7] and [8].\nCandidates:\n" + "\n".join(f"{i} Movie" for i in ids)
    return LLMRequest(system=SYSTEM, user=user, max_tokens=max_tokens, key=f"u{n}")


class RecordingGate:
    """An :class:`~models.llm.protocol.AttemptGate` that records what it is asked; it
    refuses every attempt with ``refuse`` (a reason) when given one."""

    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.reserved: list[int] = []
        self.released: list[int] = []
        self.failures: list[int] = []
        self._lock = threading.Lock()

    def reserve(self, index: int) -> str | None:
        with self._lock:
            self.reserved.append(index)
        return self.refuse

    def release(self, index: int) -> None:
        with self._lock:
            self.released.append(index)

    def failed(self, index: int, *, status: int | None, reason: str, unusable: bool) -> None:
        with self._lock:
            self.failures.append(index)


class BackendContract:
    """Shared tests. Subclasses provide the fixtures named in the module docstring."""

    #: the backend is billed per attempt, so it asks the gate before each one
    pays_per_call = False
    #: the backend also scores candidate texts (a :class:`ScoringBackend`)
    scores = False
    #: max_tokens of the contract's requests (small, so a local model answers fast)
    max_tokens = 16

    def requests(self, n: int = 4) -> list[LLMRequest]:
        """``n`` requests, each longer than the one before (so their order shows in usage)."""
        return [request(k, tag=" again" * k, max_tokens=self.max_tokens) for k in range(n)]

    def test_is_an_llm_backend(self, llm):
        assert isinstance(llm, LLMBackend)
        assert llm.name in (*BACKEND_NAMES, "fake")
        assert isinstance(llm.model, str) and llm.model

    def test_one_completion_per_request_in_order(self, llm):
        reqs = self.requests()
        out = llm.complete(reqs)
        assert len(out) == len(reqs) and all(isinstance(c, Completion) for c in out)
        assert all(c.ok and c.error is None for c in out)
        alone = [llm.complete([r])[0] for r in reqs]
        assert [c.text for c in out] == [c.text for c in alone]
        assert [c.usage.input_tokens for c in out] == [c.usage.input_tokens for c in alone]
        inputs = [c.usage.input_tokens for c in out]
        assert inputs == sorted(inputs) and len(set(inputs)) == len(inputs)  # input order kept

    def test_usage_shape(self, llm):
        out = llm.complete(self.requests(3))
        for c in out:
            assert isinstance(c.usage, Usage) and c.usage_reported
            fields = vars(c.usage).values()
            assert all(isinstance(v, int) and v >= 0 for v in fields)
            assert c.usage.input_tokens > 0
            assert c.latency_s >= 0 and (c.stop_reason is None or isinstance(c.stop_reason, str))
            assert isinstance(c.meta, dict) and isinstance(c.batch, bool)
        total = sum((c.usage for c in out), Usage())
        assert total.input_tokens == sum(c.usage.input_tokens for c in out)
        assert total.output_tokens == sum(c.usage.output_tokens for c in out)

    def test_on_result_sees_each_request_once(self, llm):
        reqs = self.requests(6)
        seen: dict[int, Completion] = {}
        lock = threading.Lock()

        def record(i, completion):
            with lock:
                assert i not in seen
                seen[i] = completion

        out = llm.complete(reqs, on_result=record)
        assert sorted(seen) == list(range(6))
        assert [seen[i] for i in range(6)] == out

    def test_empty_request_list(self, llm):
        gate = RecordingGate()
        called = []
        assert llm.complete([], on_result=lambda i, c: called.append(i), gate=gate) == []
        assert called == [] and gate.reserved == [] and gate.failures == []
        assert llm.count_tokens([]) == []

    def test_failed_request_is_an_error_field_not_an_exception(self, failing):
        backend, reqs, bad = failing
        out = backend.complete(reqs)
        assert len(out) == len(reqs)
        for i, c in enumerate(out):
            if i in bad:
                assert not c.ok and c.text == ""
                assert isinstance(c.error, str) and c.error and "\n" not in c.error
            else:
                assert c.ok and c.error is None

    def test_the_gate_is_asked_before_every_paid_attempt(self, llm):
        reqs = self.requests(3)
        gate = RecordingGate()
        out = llm.complete(reqs, gate=gate)
        assert all(c.ok for c in out) and gate.failures == []
        if self.pays_per_call:
            assert sorted(gate.reserved) == [0, 1, 2] and gate.released == []
        else:  # a local model may ignore the gate: the answers are the same either way
            assert [c.text for c in out] == [c.text for c in llm.complete(reqs)]

    def test_a_refused_attempt_is_not_sent(self, llm):
        if not self.pays_per_call:
            pytest.skip("a local backend may ignore the gate")
        gate = RecordingGate(refuse="budget cap reached")
        out = llm.complete(self.requests(2), gate=gate)
        assert [c.error for c in out] == ["budget cap reached"] * 2
        assert all(c.text == "" and c.usage == Usage() and c.meta["not_sent"] for c in out)
        assert gate.failures == []

    def test_a_bad_setting_is_an_analysis_error(self, build_bad):
        with pytest.raises(AnalysisError):
            build_bad()

    def test_count_tokens_one_count_per_request(self, llm):
        reqs = self.requests(3)
        counts = llm.count_tokens(reqs)
        assert len(counts) == 3 and all(isinstance(n, int) and n > 0 for n in counts)
        assert counts == sorted(counts)  # each request is longer than the one before

    def test_scores_one_array_per_request(self, llm):
        assert isinstance(llm, ScoringBackend) is self.scores
        if not self.scores:
            return
        scores = llm.score(self.requests(2), [["[1] Movie", "[2] Movie"], []])
        assert [s.dtype for s in scores] == [np.float64] * 2
        assert [len(s) for s in scores] == [2, 0]
        assert np.all(np.isfinite(scores[0]))
        assert llm.score([], []) == []
