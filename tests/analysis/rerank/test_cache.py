"""Tests of analysis/rerank/cache.py: the workspace's store of paid answers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from analysis.rerank.cache import CallCache, call_key
from analysis.workspace import Workspace
from models.llm.protocol import Completion, LLMRequest, Usage

REQ = LLMRequest(system="Rank.", user="1. Amélie\n2. 🎬 Film", max_tokens=80, temperature=0.0)
ANSWER = Completion(text="2\n1", usage=Usage(30, 4, 2, 1), latency_s=0.25,
                    stop_reason="end_turn", batch=True)


def _put(cache: CallCache, key: str, request: LLMRequest = REQ,
         completion: Completion = ANSWER, model: str = "m") -> None:
    cache.put(key, backend="fake", model=model, mode="generate", request=request,
              completion=completion, cost_usd=0.0123, job_id="job-1")


def test_the_key_names_everything_that_decides_the_answer_and_nothing_else():
    key = call_key("fake", "m", REQ)
    assert key == call_key("fake", "m", replace(REQ, key="anything"))  # the key field is not
    assert len(key) == 64 and set(key) <= set("0123456789abcdef")  # SHA-256, hex
    others = [
        call_key("other", "m", REQ),
        call_key("fake", "m2", REQ),
        call_key("fake", "m", REQ, mode="likelihood"),
        call_key("fake", "m", replace(REQ, system="Rank!")),
        call_key("fake", "m", replace(REQ, user=REQ.user + " ")),
        call_key("fake", "m", replace(REQ, max_tokens=81)),
        call_key("fake", "m", replace(REQ, temperature=0.5)),
    ]
    assert len({key, *others}) == 1 + len(others)


def test_an_answer_comes_back_as_stored(cache):
    _put(cache, "k1")
    got = cache.get_many(["k1", "k1", "missing"])
    assert set(got) == {"k1"}
    hit = got["k1"]
    assert (hit.text, hit.usage, hit.cost_usd, hit.latency_s, hit.stop_reason, hit.batch) == (
        "2\n1", Usage(30, 4, 2, 1), pytest.approx(0.0123), pytest.approx(0.25), "end_turn", True)
    assert hit.completion().meta == {"cached": True} and hit.completion().ok
    assert cache.get_many([]) == {} and cache.count() == 1


def test_a_failed_call_is_never_stored(cache):
    _put(cache, "k2", completion=Completion(text="", usage=Usage(), latency_s=1.0,
                                            stop_reason=None, error="HTTP 500"))
    assert cache.get_many(["k2"]) == {} and cache.count() == 0


def test_answers_handed_to_the_writer_are_all_committed_when_the_block_ends(tmp_path):
    cache = CallCache(Workspace(tmp_path / "calls.duckdb"))
    with cache.writing():
        for i in range(50):
            _put(cache, f"w{i}", request=replace(REQ, user=f"prompt {i}"))
    again = CallCache(Workspace(tmp_path / "calls.duckdb"))  # what another process reads
    assert again.count() == 50
    assert len(again.get_many([f"w{i}" for i in range(50)])) == 50


def test_prompt_lengths_count_characters_of_matching_calls_only(cache):
    _put(cache, "a")
    _put(cache, "b", request=replace(REQ, user="short"))
    _put(cache, "c", model="other", request=replace(REQ, user="x" * 99))
    lengths = cache.prompt_lengths("fake", "m", "generate", "Rank.", 80, 0.0).tolist()
    assert lengths == sorted([len(REQ.user), 5])  # characters, not UTF-8 bytes
    assert cache.prompt_lengths("fake", "m", "generate", "Other.", 80, 0.0).size == 0
    assert cache.prompt_lengths("fake", "m", "generate", "Rank.", 81, 0.0).size == 0
    assert cache.prompt_lengths("fake", "m", "likelihood", "Rank.", 80, 0.0).size == 0
    assert cache.prompt_lengths("fake", "other", "generate", "Rank.", 80, 0.0).tolist() == [99]
