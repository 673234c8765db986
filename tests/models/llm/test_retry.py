"""The shared retry/backoff/concurrency plumbing of the HTTP backends."""

from __future__ import annotations

import email.utils
import random
import threading
import time

import pytest

from analysis.errors import AnalysisError
from models.llm.retry import (
    MAX_RETRY_AFTER_S,
    RetryPolicy,
    call_with_retries,
    check_setting,
    estimate_tokens,
    one_line,
    redact,
    retry_after_s,
    run_bounded,
)


class Status(Exception):
    """An SDK-like HTTP error: status_code and response.headers."""

    def __init__(self, status, headers=None):
        super().__init__(f"status {status}")
        self.status_code = status
        self.api_message = f"message for {status}"
        self.response = type("R", (), {"headers": headers or {}})()


class Flaky:
    """Raises the given exceptions in turn, then returns 'ok'."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def run(fn, **kwargs):
    waits = []
    policy = kwargs.pop("policy", RetryPolicy(max_retries=3, backoff_base_s=1.0, backoff_max_s=4.0))
    out = call_with_retries(fn, policy, sleep=waits.append, **kwargs)
    return out, waits


def test_retry_after_headers():
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after": "0.5", "retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after-ms": "junk", "retry-after": "3"}) == 3.0
    assert retry_after_s({"retry-after": "-1"}) is None
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({}) is None and retry_after_s(None) is None
    assert retry_after_s({"retry-after": "1e9"}) == MAX_RETRY_AFTER_S
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_s({"retry-after": date}, now=now) == pytest.approx(30.0)


def test_full_jitter_is_bounded_and_seeded():
    policy = RetryPolicy(max_retries=6, backoff_base_s=1.0, backoff_max_s=5.0, seed=3)
    rng = policy.rng(7)
    waits = [policy.backoff_s(n, rng) for n in range(6)]
    ceilings = [1, 2, 4, 5, 5, 5]
    assert all(0 <= w <= c for w, c in zip(waits, ceilings))
    rng2 = random.Random(3 * 1_000_003 + 7)  # the documented per-request generator
    assert waits == [rng2.uniform(0, c) for c in ceilings]
    assert policy.rng(7).random() != policy.rng(8).random()


def test_retryable_statuses_then_success():
    fn = Flaky(Status(429), Status(529), Status(502))
    out, waits = run(fn, index=1)
    assert out.value == "ok" and out.error is None and out.attempts == 4 and fn.calls == 4
    assert len(waits) == 3 and all(0 <= w <= c for w, c in zip(waits, [1, 2, 4]))


def test_server_wait_hint_wins_over_backoff():
    out, waits = run(Flaky(Status(429, {"retry-after": "7"})))
    assert out.value == "ok" and waits == [7.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_fail_at_once(status):
    fn = Flaky(Status(status))
    out, waits = run(fn)
    assert out.value is None and fn.calls == 1 and waits == []
    assert out.error == f"HTTP {status}: message for {status}" and out.status == status


def test_transient_types_retried_until_exhausted():
    class Timeout(Exception):
        pass

    fn = Flaky(*[Timeout("Request timed out.")] * 5)
    out, waits = run(fn, transient=(Timeout,))
    assert out.error == "gave up after 4 attempts: Timeout: Request timed out."
    assert fn.calls == 4 and len(waits) == 3


def test_other_exceptions_fail_without_raising():
    out, _ = run(Flaky(RuntimeError("bad\nthing")))
    assert out.error == "RuntimeError: bad thing" and out.attempts == 1


def test_secret_is_redacted():
    out, _ = run(Flaky(ValueError("key sk-abcdef leaked")), secret="sk-abcdef")
    assert out.error == "ValueError: key *** leaked"
    assert redact("abc", None) == "abc" and redact("abc", "") == "abc"


def test_run_bounded_orders_results_and_bounds_workers():
    lock = threading.Lock()
    state = {"now": 0, "max": 0}
    done = []

    def work(i, x):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return x * 10

    out = run_bounded(list(range(8)), work, concurrency=3, on_done=lambda i, r: done.append(i))
    assert out == [x * 10 for x in range(8)]
    assert sorted(done) == list(range(8)) and state["max"] <= 3
    assert run_bounded([], work, concurrency=3) == []
    assert run_bounded([5], work, concurrency=1) == [50]


def test_estimate_tokens_and_one_line():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("a" * 7) == 2 and estimate_tokens("a" * 8) == 3
    assert one_line("a\n b\tc") == "a b c"
    assert one_line("x" * 500, limit=10) == "xxxxxxx..."


def test_check_setting():
    check_setting("n", 3, minimum=1, integer=True)
    check_setting("t", 0.5, minimum=0)
    for bad in (0, 1.5, True, "3", float("inf")):
        with pytest.raises(AnalysisError, match=r"Bad LLM backend setting n="):
            check_setting("n", bad, minimum=1, integer=True)


class Gate:
    """Records what the retry loop asks and tells; refuses after ``allow`` attempts."""

    def __init__(self, allow=100):
        self.allow, self.reserved, self.failures = allow, 0, []

    def reserve(self, index):
        if self.reserved >= self.allow:
            return "cap reached"
        self.reserved += 1
        return None

    def release(self, index):
        self.reserved -= 1

    def failed(self, index, *, status, reason, unusable):
        self.failures.append((status, unusable))


def test_an_unreadable_answer_is_retried_and_reported_as_unusable():
    import json

    gate = Gate()
    bad = json.JSONDecodeError("Expecting value", '{"content": [', 13)
    out, waits = run(Flaky(bad, Status(500)), gate=gate)
    assert out.value == "ok" and out.attempts == 3 and len(waits) == 2
    assert gate.reserved == 3  # every attempt asked first
    assert gate.failures == [(None, True), (500, False)]


def test_the_gate_is_asked_before_every_attempt_and_can_stop_retries():
    gate = Gate(allow=2)
    fn = Flaky(*[Status(503)] * 5)
    out, _ = run(fn, gate=gate)
    assert fn.calls == 2 and gate.reserved == 2
    assert out.error.startswith("cap reached (after 2 failed attempts: HTTP 503")
    assert out.sent  # something was sent before the gate said stop
    out, _ = run(Flaky(), gate=Gate(allow=0))
    assert out.error == "cap reached" and not out.sent and out.attempts == 0


def test_a_refused_key_is_reported_once_and_not_retried():
    gate = Gate()
    fn = Flaky(Status(401), Status(401))
    _, waits = run(fn, gate=gate)
    assert fn.calls == 1 and waits == [] and gate.failures == [(401, False)]
