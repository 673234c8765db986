"""OpenAICompatBackend against the fake chat-completions server (127.0.0.1 only)."""

from __future__ import annotations

import math

import pytest

from analysis.errors import AnalysisError
from models.llm import make_backend
from models.llm.openai_compat import BAD_BASE_URL, OpenAICompatBackend, chat_usage
from models.llm.protocol import LLMRequest, Usage
from tests.models.llm._http_backend_contract import (
    KEY,
    SYSTEM,
    HTTPBackendContract,
    clear_env,
    request,
)
from tests.models.llm.fake_servers import FakeOpenAIServer, word_count

_no_real_credentials = clear_env(
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"
)


class TestOpenAICompatContract(HTTPBackendContract):
    stop_ok = "stop"
    stop_truncated = "length"

    def server_factory(self, **kwargs):
        return FakeOpenAIServer(**kwargs)

    def make(self, server, **kwargs):
        return OpenAICompatBackend("qwen-7b", base_url=server.url, **kwargs)


def test_no_key_sends_empty_placeholder():
    with FakeOpenAIServer() as server:
        backend = OpenAICompatBackend("m", base_url=server.url)
        assert backend.complete([request(1)])[0].ok
        assert server.calls()[0].headers["authorization"] == "Bearer EMPTY"


def test_key_from_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAIServer(api_key=KEY) as server:
        backend = OpenAICompatBackend("m", base_url=server.url)
        assert backend.complete([request(1)])[0].ok
        assert KEY not in repr(backend)


def test_sends_system_and_user_messages():
    with FakeOpenAIServer() as server:
        backend = OpenAICompatBackend("qwen", base_url=server.url)
        backend.complete([LLMRequest(system="sys", user="hi", max_tokens=9, temperature=0.5)])
        backend.complete([LLMRequest(system="", user="no system")])
        first, second = server.calls("/v1/chat/completions")
    assert first.body == {
        "model": "qwen",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        "max_tokens": 9,
        "temperature": 0.5,
    }
    assert second.body["messages"] == [{"role": "user", "content": "no system"}]


def test_cached_prompt_tokens_move_to_cache_reads():
    reqs = [request(n) for n in range(3)]
    with FakeOpenAIServer(auto_cache=True) as server:
        out = OpenAICompatBackend("m", base_url=server.url, concurrency=1).complete(reqs)
    s = word_count(SYSTEM)
    assert [c.usage.cache_read_tokens for c in out] == [0, s, s]
    # input_tokens = prompt_tokens - cached_tokens: full-price input, as at Anthropic
    assert [c.usage.input_tokens for c in out] == [
        s + word_count(reqs[0].user),
        word_count(reqs[1].user),
        word_count(reqs[2].user),
    ]


def test_usage_mapping_edge_cases():
    class Details:
        cached_tokens = None

    class Raw:
        prompt_tokens = 10
        completion_tokens = None
        prompt_tokens_details = Details()

    assert chat_usage(Raw()) == Usage(10, 0, 0, 0)
    assert chat_usage(None) == Usage()


def test_count_tokens_is_the_heuristic():
    backend = OpenAICompatBackend("m", base_url="http://127.0.0.1:9/v1")
    reqs = [LLMRequest(system="a" * 10, user="b" * 25), LLMRequest(system="", user="")]
    assert backend.count_tokens(reqs) == [math.ceil(35 / 3.5), 0] == [10, 0]
    assert backend.last_count_exact is False


@pytest.mark.parametrize("url", ["", "localhost:8000", "ftp://x/v1", None])
def test_bad_base_url(url):
    with pytest.raises(AnalysisError) as err:
        OpenAICompatBackend("m", base_url=url)
    assert str(err.value) == BAD_BASE_URL.format(url=url)


def test_repr_and_factory():
    backend = make_backend("openai", model="m", base_url="http://127.0.0.1:9/v1", api_key=KEY)
    assert isinstance(backend, OpenAICompatBackend) and backend.name == "openai"
    assert repr(backend) == (
        "OpenAICompatBackend(model='m', base_url='http://127.0.0.1:9/v1', concurrency=8)"
    )


@pytest.mark.parametrize("concurrency", [1, 8])
def test_requests_in_flight_rise_with_concurrency(concurrency):
    """Against a server with a fixed latency (50 ms a request, served concurrently), the
    client keeps ``concurrency`` requests in flight: 16 requests take 16 / concurrency
    latency rounds, so throughput rises with it. Counted by the server (its most requests
    held at once), never timed: the server gathers each round of ``concurrency`` requests
    before answering, so slow thread start-up cannot hide a client that does overlap."""
    reqs = [request(n) for n in range(16)]
    with FakeOpenAIServer(latency_s=0.05, gather=concurrency) as server:
        out = OpenAICompatBackend("m", base_url=server.url, concurrency=concurrency).complete(reqs)
        overlap = server.max_overlap()
        spans = list(server.spans)
    assert all(c.ok for c in out) and len(spans) == 16
    assert overlap == concurrency
    # every request overlapped concurrency - 1 others: 16 / concurrency rounds of latency
    others = [sum(a <= t < b for a, b in spans) - 1 for t, _ in spans]
    assert max(others) == concurrency - 1
