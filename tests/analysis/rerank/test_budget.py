"""Tests of analysis/rerank/budget.py: worst cases, reservations, charges, stops and the
job's cap in the workspace, on hand-computed figures."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.gains.cost import ModelPrice, worst_case_cost
from analysis.rerank.budget import (
    FAILURES_TO_STOP,
    FRAMING_TOKENS,
    REQUEST_ERRORS_TO_STOP,
    JobBudget,
    input_bounds,
    job_key,
    overbilled,
)
from analysis.rerank.ledger import SpendLedger
from analysis.workspace import Workspace

KEYS = ["k0", "k1", "k2", "k3"]


def _budget(tmp_path, cap, worst=(1.0, 2.0, 3.0, 4.0), name="ws.duckdb", key="job"):
    ledger = SpendLedger(Workspace(tmp_path / name))
    opened = ledger.open_job(key, cap, "anthropic", "m")
    return JobBudget(ledger, key, opened, np.array(worst), KEYS, key_source="the test's env")


def test_input_bound_is_utf8_bytes_plus_framing():
    assert input_bounds(["abc", "é", ""]).tolist() == [
        3 + FRAMING_TOKENS, 2 + FRAMING_TOKENS, FRAMING_TOKENS]


def test_worst_case_cost_by_hand():
    price = ModelPrice(input=1.0, output=5.0, cache_write=1.25, cache_read=0.1)
    # 1,000 input tokens at the dearest input price (cache write 1.25) + 200 output at 5
    expected = (1000 * 1.25 + 200 * 5.0) / 1e6
    assert worst_case_cost(np.array([1000]), 200, price)[0] == pytest.approx(expected)
    assert worst_case_cost(np.array([1000]), 200, price, batch=True)[0] == pytest.approx(
        expected * 0.5)


def test_overbilled_names_what_passed_the_maximum():
    assert overbilled(10, 100, input_bound=50, max_tokens=100) is None
    assert "1,000 output tokens" in overbilled(10, 1000, input_bound=50, max_tokens=100)
    assert "51 input tokens" in overbilled(51, 1, input_bound=50, max_tokens=100)


def test_job_key_ignores_order_and_duplicates_but_not_the_model():
    assert job_key("a", "m", "generate", ["x", "y"]) == job_key("a", "m", "generate",
                                                                 ["y", "x", "x"])
    assert job_key("a", "m", "generate", ["x"]) != job_key("a", "m2", "generate", ["x"])


def test_admission_takes_the_prefix_that_fits_and_writes_it_first(tmp_path):
    b = _budget(tmp_path, cap=4.0)
    assert b.admit([0, 1, 2]) == [0, 1]  # 1 + 2 fit in 4; + 3 would not
    assert b.committed_usd == pytest.approx(3.0)
    rows = b.ledger.attempts("job")
    assert sorted(rows["reserved_usd"]) == [1.0, 2.0] and set(rows["state"]) == {"reserved"}
    # a killed job: reservations never settled still count at their worst case
    again = _budget(tmp_path, cap=None)
    assert again.spent_before_usd == pytest.approx(3.0) and again.cap_usd == 4.0


def test_charges_by_outcome(tmp_path):
    b = _budget(tmp_path, cap=100.0)
    assert b.admit([0, 1, 2, 3]) == [0, 1, 2, 3]
    for i in range(4):
        assert b.reserve(i) is None  # the prepaid first attempts
    b.failed(0, status=429, reason="rate limited", unusable=False)  # refused: $0
    b.failed(1, status=500, reason="server error", unusable=False)  # may be billed: worst
    b.failed(2, status=None, reason="connection reset", unusable=False)  # worst
    assert b.answered(3, 0.25) == 0.25  # usage within the maximum
    assert b.charged_usd == pytest.approx(0 + 2.0 + 3.0 + 0.25)
    assert b.charged_by_request.tolist() == [0.0, 2.0, 3.0, 0.25]
    assert b.paid_attempts == 3 and b.committed_usd == pytest.approx(5.25)
    assert b.reserve(0) is None and b.answered(0, None) == 1.0  # no usage: worst case
    assert b.answered(0, 0.5) == 0.0  # nothing open any more: never charged twice
    b.close_wave()
    spent = b.ledger.open_job("job", None, "anthropic", "m").spent_before_usd
    assert spent == pytest.approx(6.25)


def test_a_retry_that_would_pass_the_cap_is_refused(tmp_path):
    b = _budget(tmp_path, cap=2.5, worst=(1.0, 2.0, 3.0, 4.0))
    assert b.admit([0]) == [0]
    assert b.reserve(0) is None
    b.failed(0, status=503, reason="unavailable", unusable=False)  # charged 1.0
    assert b.reserve(0) is None  # 1.0 + 1.0 <= 2.5
    b.failed(0, status=503, reason="unavailable", unusable=False)
    refused = b.reserve(0)  # 2.0 + 1.0 > 2.5
    assert refused.startswith("Stopped at the budget cap") and b.stop_kind == "budget"
    assert b.charged_usd == pytest.approx(2.0)
    assert not b.fatal


def test_a_refused_key_stops_at_once_and_names_where_it_came_from(tmp_path):
    b = _budget(tmp_path, cap=None)
    b.admit([0, 1, 2])
    assert b.reserve(0) is None
    b.failed(0, status=401, reason="HTTP 401: invalid x-api-key", unusable=False)
    assert b.fatal and "the key came from the test's env" in b.stop_reason
    assert b.charged_usd == 0.0
    assert b.reserve(1) == b.stop_reason  # nothing more is sent
    b.close_wave()  # the unsent first attempts are released, never charged
    assert b.committed_usd == 0.0


def test_repeated_invalid_requests_stop_after_a_few(tmp_path):
    b = _budget(tmp_path, cap=None, worst=(1.0,) * 4)
    b.admit([0, 1, 2, 3])
    for i in range(REQUEST_ERRORS_TO_STOP):
        assert not b.stopping
        b.reserve(i)
        b.failed(i, status=413, reason="HTTP 413: prompt is too long", unusable=False)
    assert b.fatal and "prompt is too long" in b.stop_reason and b.charged_usd == 0.0


def test_paid_failures_in_a_row_stop_the_job(tmp_path):
    b = _budget(tmp_path, cap=None, worst=(0.5,) * 4)
    b.admit([0])
    for _ in range(FAILURES_TO_STOP):
        assert b.reserve(0) is None
        b.failed(0, status=None, reason="connection reset", unusable=False)
    assert b.fatal and f"{FAILURES_TO_STOP} attempts in a row failed" in b.stop_reason
    assert b.charged_usd == pytest.approx(0.5 * FAILURES_TO_STOP)


def test_overbilling_is_charged_as_reported_and_stops(tmp_path):
    b = _budget(tmp_path, cap=10.0)
    b.admit([0])
    b.reserve(0)
    assert b.answered(0, 7.5, over="2,240 output tokens for max_tokens=224") == 7.5
    assert b.fatal and "charged as reported ($7.500000)" in b.stop_reason
