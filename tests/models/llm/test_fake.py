"""FakeBackend, the deterministic stand-in LLM of the tests: the contract of every backend,
and its own answers, token counts, failures and settings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.errors import AnalysisError
from models.llm import make_backend
from models.llm.fake import BAD_FAKE_SETTING, FakeBackend, candidate_ids
from models.llm.protocol import LLMRequest, Usage
from tests.models.llm._backend_contract import BackendContract, request


class TestFakeContract(BackendContract):
    scores = True

    @pytest.fixture
    def llm(self):
        return FakeBackend("fake-1")

    @pytest.fixture
    def failing(self):
        return FakeBackend("fake-1", fail=lambda call: call == 2), self.requests(3), {1}

    @pytest.fixture
    def build_bad(self):
        return lambda: FakeBackend("fake-1", style="json")


def test_candidate_ids_in_both_list_styles():
    assert candidate_ids("History\n[3] A\n[12] B\n7. C\nnot 8. D") == [3, 12, 7]


@pytest.mark.parametrize(
    "policy, style, text",
    [
        ("reverse", "lines", "13\n12\n11"),
        ("identity", "lines", "11\n12\n13"),
        ("reverse", "bracket", "[13] > [12] > [11]"),
        ("garbage", "lines", "I cannot help with that."),
        (lambda ids, req: f"{len(ids)} ids for {req.key}", "lines", "3 ids for u1"),
    ],
)
def test_answers_from_the_prompt(policy, style, text):
    req = request(1)
    (c,) = FakeBackend(policy=policy, style=style).complete([req])
    assert c.ok and c.text == text and c.stop_reason == "end_turn"
    quarter = math.ceil(len(req.system) / 4) + math.ceil(len(req.user) / 4)
    assert c.usage == Usage(quarter, math.ceil(len(text) / 4))


def test_counts_calls_prompts_and_tokens():
    backend = FakeBackend()
    reqs = [request(1), request(2)]
    backend.complete(reqs)
    assert backend.calls == 2 and backend.prompts == reqs
    assert backend.count_tokens([LLMRequest("abcde", "")]) == [2]
    assert backend.last_count_exact is True


def test_crash_after_raises_keyboard_interrupt():
    backend = FakeBackend(crash_after=1)
    with pytest.raises(KeyboardInterrupt):
        backend.complete([request(1), request(2)])
    assert backend.calls == 1


def test_score_keeps_the_shown_order():
    (s,) = FakeBackend().score([request(1)], [["a", "b", "c"]])
    np.testing.assert_array_equal(s, [0.0, -1.0, -2.0])


@pytest.mark.parametrize("name, value", [("policy", "random"), ("style", "json")])
def test_bad_settings(name, value):
    with pytest.raises(AnalysisError) as err:
        FakeBackend(**{name: value})
    assert str(err.value).startswith(BAD_FAKE_SETTING.format(name=name, value=value, rule="")[:-1])


def test_make_backend_builds_it():
    backend = make_backend("fake", model="claude-haiku-4-5")
    assert isinstance(backend, FakeBackend) and backend.model == "claude-haiku-4-5"
