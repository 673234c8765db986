"""Contract tests every HTTP LLM backend passes against its fake server.

Subclass :class:`HTTPBackendContract` per backend (as implicit's RecommenderBaseTestMixin)
and define ``server_factory``, ``make`` and the provider's stop reasons. It runs the
contract of every backend (:class:`~tests.models.llm._backend_contract.BackendContract`)
plus the HTTP-only promises: retries, statuses, keys, the concurrency bound. Every test talks
to a fake server on 127.0.0.1 only, with tiny backoffs and sub-second waits.
"""

from __future__ import annotations

import logging
import time

import pytest

from models.llm.protocol import LLMBackend, LLMRequest, Usage
from tests.models.llm._backend_contract import SYSTEM, BackendContract, RecordingGate, request
from tests.models.llm.fake_servers import Reply, default_answer, fail_first, fail_when, word_count

__all__ = [
    "KEY",
    "SYSTEM",
    "HTTPBackendContract",
    "clear_env",
    "expected_usage",
    "request",
]

KEY = "sk-test-SECRET-0123456789abcdef"


def clear_env(*names: str):
    """An autouse fixture that unsets the environment variables ``names`` for each test of
    the module that assigns it, so no real credential or endpoint reaches a test."""

    @pytest.fixture(autouse=True)
    def cleared(monkeypatch):
        for name in names:
            monkeypatch.delenv(name, raising=False)

    return cleared


def expected_usage(req: LLMRequest, answer: str) -> Usage:
    return Usage(word_count(req.system) + word_count(req.user), word_count(answer))


class HTTPBackendContract(BackendContract):
    """Shared tests. Subclasses set the attributes below."""

    pays_per_call = True

    #: stop reason of a normal answer, and of one cut by max_tokens
    stop_ok = "end_turn"
    stop_truncated = "max_tokens"

    def server_factory(self, **kwargs):  # -> a started-able fake server
        raise NotImplementedError

    def make(self, server, **kwargs) -> LLMBackend:
        raise NotImplementedError

    @pytest.fixture
    def server(self):
        with self.server_factory(api_key=KEY) as srv:
            yield srv

    def backend(self, server, **kwargs) -> LLMBackend:
        settings = {"api_key": KEY, "backoff_base_s": 0.01, "backoff_max_s": 0.05}
        settings.update(kwargs)
        return self.make(server, **settings)

    # -- the fixtures of the contract of every backend -----------------------------------

    @pytest.fixture
    def llm(self, server):
        return self.backend(server)

    @pytest.fixture
    def failing(self, server):
        server.script = fail_when("User 1 again", Reply(status=400, message="bad request"))
        return self.backend(server), self.requests(3), {1}

    @pytest.fixture
    def build_bad(self, server):
        return lambda: self.backend(server, concurrency=0)

    # -- the happy path ------------------------------------------------------------------

    def test_is_an_llm_backend(self, server):
        assert isinstance(self.backend(server), LLMBackend)

    def test_answers_in_order_with_exact_usage(self, server):
        reqs = [request(n) for n in range(5)]
        out = self.backend(server).complete(reqs)
        assert len(out) == 5
        for req, c in zip(reqs, out):
            answer = default_answer(req.system, req.user)
            assert c.ok and c.text == answer
            assert c.usage == expected_usage(req, answer)
            assert c.stop_reason == self.stop_ok
            assert c.meta["attempts"] == 1 and c.meta["request_id"].startswith("req_")
            assert not c.batch and c.latency_s > 0
        # request n ranks [n*10+3] > [n*10+2] > [n*10+1]: order preserved
        assert out[3].text == "[33] > [32] > [31]"
        total = sum((c.usage for c in out), Usage())
        # each answer is 5 words: "[n3] > [n2] > [n1]"
        assert total == Usage(sum(word_count(r.system + " " + r.user) for r in reqs), 25)
        assert server.paid_calls == 5

    def test_empty_input(self, server):
        assert self.backend(server).complete([]) == []
        assert server.paid_calls == 0

    def test_a_refused_attempt_costs_nothing(self, server):
        gate = RecordingGate(refuse="budget cap reached")
        out = self.backend(server).complete([request(1), request(2)], gate=gate)
        assert not any(c.ok for c in out) and sorted(gate.reserved) == [0, 1]
        assert server.calls(method="POST") == [] and server.paid_calls == 0

    def test_answer_text_passes_through_untouched(self, server):
        odd = "[31]\n[31]\n[999]\nI also recommend Titanic."  # duplicate + hallucinated
        server.script = lambda call: Reply.answer(odd)
        (c,) = self.backend(server).complete([request(3)])
        assert c.ok and c.text == odd

    def test_truncated_answer_reports_stop_reason(self, server):
        server.script = lambda call: Reply.truncated()
        (c,) = self.backend(server).complete([request(1)])
        assert c.ok and c.stop_reason == self.stop_truncated and c.text == "[1]\n[2"

    def test_max_tokens_cuts_the_answer(self, server):
        (c,) = self.backend(server).complete([request(2, max_tokens=3)])
        assert c.text == "[23] > [22]" and c.stop_reason == self.stop_truncated
        assert c.usage.output_tokens == 3

    # -- retries -------------------------------------------------------------------------

    def test_retry_after_seconds_is_honoured(self, server):
        server.script = fail_first(1, Reply.rate_limited(0.6))
        t0 = time.perf_counter()
        (c,) = self.backend(server, backoff_base_s=0.0).complete([request(1)])
        assert time.perf_counter() - t0 >= 0.6
        assert c.ok and c.meta["attempts"] == 2 and c.latency_s >= 0.6
        calls = server.calls(method="POST")
        assert calls[1].at - calls[0].at >= 0.6

    def test_retry_after_ms_is_honoured(self, server):
        server.script = fail_first(1, Reply.rate_limited(0.35, ms=True))
        t0 = time.perf_counter()
        (c,) = self.backend(server, backoff_base_s=0.0).complete([request(1)])
        assert time.perf_counter() - t0 >= 0.35
        assert c.ok and c.meta["attempts"] == 2

    @pytest.mark.parametrize(
        "failure", [Reply.overloaded(), Reply.server_error(500), Reply.server_error(503)]
    )
    def test_overloaded_and_server_errors_are_retried(self, server, failure):
        server.script = fail_first(2, failure)
        (c,) = self.backend(server).complete([request(4)])
        assert c.ok and c.text == "[43] > [42] > [41]" and c.meta["attempts"] == 3
        assert server.paid_calls == 3

    @pytest.mark.parametrize("status", [400, 403, 404])
    def test_client_errors_are_not_retried(self, server, status):
        server.script = lambda call: Reply(status=status, message="no such thing")
        (c,) = self.backend(server).complete([request(1)])
        assert not c.ok and c.text == "" and c.usage == Usage()
        assert c.error.startswith(f"HTTP {status}") and "\n" not in c.error
        assert c.meta == {"attempts": 1, "status": status}
        assert server.paid_calls == 1

    def test_exhausted_retries_fail_one_request_only(self, server):
        server.script = fail_when("User 2poison", Reply.server_error())
        reqs = [request(1), request(2, tag="poison"), request(3)]
        out = self.backend(server, max_retries=2, concurrency=2).complete(reqs)
        assert out[0].ok and out[2].ok and out[2].text == "[33] > [32] > [31]"
        assert not out[1].ok and out[1].text == ""
        assert out[1].error.startswith("gave up after 3 attempts: HTTP 500")
        assert out[1].meta["attempts"] == 3
        assert len([c for c in server.calls() if "poison" in c.user]) == 3

    def test_backoff_waits_are_bounded_by_their_ceiling(self, server):
        server.script = fail_first(3, Reply.server_error())
        t0 = time.perf_counter()
        (c,) = self.backend(server, backoff_base_s=0.05, backoff_max_s=0.08).complete([request(1)])
        # three waits, each uniform(0, min(0.08, 0.05 * 2**n)) <= 0.21 s in all
        assert c.ok and time.perf_counter() - t0 < 1.0

    def test_timeout_is_retried(self, server):
        server.script = fail_first(1, Reply.hang(3.0))
        t0 = time.perf_counter()
        (c,) = self.backend(server, timeout_s=0.4).complete([request(5)])
        assert c.ok and c.meta["attempts"] == 2 and c.text == "[53] > [52] > [51]"
        assert 0.4 <= time.perf_counter() - t0 < 2.5

    def test_timeout_exhausted_becomes_an_error(self, server):
        server.script = lambda call: Reply.hang(3.0)
        (c,) = self.backend(server, timeout_s=0.3, max_retries=1).complete([request(5)])
        assert not c.ok and c.error.startswith("gave up after 2 attempts")
        assert "timed out" in c.error.lower()

    def test_malformed_response_is_an_error_not_a_crash(self, server):
        server.script = fail_when("User 1", Reply.malformed())
        out = self.backend(server).complete([request(1), request(2)])
        assert not out[0].ok and out[0].text == "" and out[1].ok

    def test_unreachable_server_is_an_error(self):
        with self.server_factory() as srv:
            backend = self.backend(srv, max_retries=1)
        (c,) = backend.complete([request(1)])  # the server is gone: connection refused
        assert not c.ok and c.error.startswith("gave up after 2 attempts")

    def test_concurrency_bound_is_respected(self, server):
        server.script = lambda call: Reply(delay_s=0.15)
        out = self.backend(server, concurrency=3).complete([request(n) for n in range(9)])
        assert all(c.ok for c in out)
        assert server.max_in_flight == 3

    # -- keys ----------------------------------------------------------------------------

    def test_key_sent_as_bearer(self, server):
        self.backend(server).complete([request(1)])
        (call,) = server.calls(method="POST")
        assert call.headers["authorization"] == f"Bearer {KEY}"

    def test_wrong_key_is_401_not_retried(self, server):
        (c,) = self.backend(server, api_key="sk-wrong-key-42").complete([request(1)])
        assert not c.ok and c.error.startswith("HTTP 401") and c.meta["attempts"] == 1

    def test_key_never_leaks(self, server, caplog):
        caplog.set_level(logging.DEBUG)
        backend = self.backend(server, max_retries=1)
        server.script = fail_when("User 2", Reply(status=500, message=f"bad key {KEY}"))
        out = backend.complete([request(1), request(2)])
        out += backend.complete([request(3)])
        assert not out[1].ok and "***" in out[1].error
        texts = [repr(backend), str(backend)] + [repr(c) for c in out]
        texts += [r.getMessage() for r in caplog.records]
        assert caplog.records  # the SDK and the retry loop did log
        assert not any(KEY in t for t in texts)
        assert KEY not in repr(vars(backend).get("policy"))

    def test_bad_settings(self, server):
        from analysis.errors import AnalysisError

        for bad in (
            {"concurrency": 0},
            {"max_retries": -1},
            {"timeout_s": 0},
            {"concurrency": 1.5},
            {"backoff_max_s": float("nan")},
        ):
            with pytest.raises(AnalysisError, match="Bad LLM backend setting"):
                self.backend(server, **bad)
