"""AnthropicBackend against the fake Messages + Message Batches server (127.0.0.1 only)."""

from __future__ import annotations

import math
import time

import pytest

from analysis.errors import AnalysisError
from models.llm import make_backend
from models.llm.anthropic import (
    BATCH_MAX_REQUESTS,
    NO_ANTHROPIC_KEY,
    AnthropicBackend,
    custom_id,
)
from models.llm.protocol import LLMRequest, Usage
from tests.models.llm._http_backend_contract import (
    KEY,
    SYSTEM,
    HTTPBackendContract,
    clear_env,
    expected_usage,
    request,
)
from tests.models.llm.fake_servers import (
    FakeAnthropicServer,
    Reply,
    default_answer,
    fail_first,
    word_count,
)

_no_real_credentials = clear_env(
    "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"
)


class TestAnthropicContract(HTTPBackendContract):
    stop_ok = "end_turn"
    stop_truncated = "max_tokens"

    def server_factory(self, **kwargs):
        return FakeAnthropicServer(**kwargs)

    def make(self, server, **kwargs):
        return AnthropicBackend("claude-sonnet-4-5", base_url=server.url, **kwargs)


# -- keys and settings -----------------------------------------------------------------


def test_missing_key_is_an_analysis_error():
    with pytest.raises(AnalysisError) as err:
        AnthropicBackend(base_url="http://127.0.0.1:9")
    assert err.value.message == NO_ANTHROPIC_KEY
    assert str(err.value) == (
        "No Anthropic API key. Set ANTHROPIC_API_KEY in the app's environment or in its "
        "secrets (.streamlit/secrets.toml), then reload the LLM rerank page."
    )
    assert err.value.render("cli") == (
        "No Anthropic API key. Set ANTHROPIC_API_KEY in the environment."
    )


def test_key_from_environment_and_x_api_key_accepted(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with FakeAnthropicServer(api_key=KEY) as server:
        backend = AnthropicBackend(base_url=server.url)
        assert backend.complete([request(1)])[0].ok
        assert server.calls()[0].headers["authorization"] == f"Bearer {KEY}"
        # a client sending x-api-key (the older SDK header) is accepted too
        import httpx

        r = httpx.post(
            f"{server.url}/v1/messages/count_tokens",
            headers={"x-api-key": KEY},
            json={"model": "m", "messages": [{"role": "user", "content": "a b"}]},
        )
        assert r.status_code == 200 and r.json() == {"input_tokens": 2}
        r = httpx.post(
            f"{server.url}/v1/messages/count_tokens",
            headers={"x-api-key": "no"},
            json={"model": "m", "messages": []},
        )
        assert r.status_code == 401


def test_base_url_from_environment(monkeypatch):
    with FakeAnthropicServer(api_key=KEY) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        backend = AnthropicBackend(api_key=KEY)
        assert backend.base_url == server.url
        assert backend.complete([request(1)])[0].ok


def test_repr_shows_model_url_concurrency_only():
    backend = AnthropicBackend(
        "claude-x", api_key=KEY, base_url="http://127.0.0.1:9", concurrency=4
    )
    assert repr(backend) == (
        "AnthropicBackend(model='claude-x', base_url='http://127.0.0.1:9', concurrency=4)"
    )
    assert backend.name == "anthropic"


def test_make_backend_builds_it():
    backend = make_backend(
        "anthropic", model="claude-x", api_key=KEY, base_url="http://127.0.0.1:9"
    )
    assert isinstance(backend, AnthropicBackend) and backend.model == "claude-x"


# -- request shape ---------------------------------------------------------------------


def test_sends_messages_params():
    with FakeAnthropicServer(api_key=KEY) as server:
        backend = AnthropicBackend("claude-x", api_key=KEY, base_url=server.url)
        backend.complete([LLMRequest(system="sys", user="hi", max_tokens=7, temperature=0.3)])
        (call,) = server.calls("/v1/messages")
    assert call.body == {
        "model": "claude-x",
        "max_tokens": 7,
        "system": "sys",
        "messages": [{"role": "user", "content": "hi"}],
    }  # anthropic 2.x has no temperature parameter: it is not sent
    assert call.headers["anthropic-version"]


def test_empty_system_is_not_sent():
    with FakeAnthropicServer(api_key=KEY) as server:
        AnthropicBackend(api_key=KEY, base_url=server.url).complete([LLMRequest("", "hi")])
        assert "system" not in server.calls("/v1/messages")[0].body


def test_usage_none_counts_read_as_zero():
    from models.llm.anthropic import message_usage

    class Raw:
        input_tokens = 5
        output_tokens = 2
        cache_creation_input_tokens = None
        cache_read_input_tokens = None

    assert message_usage(Raw()) == Usage(5, 2, 0, 0)
    assert message_usage(None) == Usage()


# -- prompt caching --------------------------------------------------------------------


def test_prompt_cache_marks_system_and_reports_cache_tokens():
    reqs = [request(n) for n in range(3)]
    with FakeAnthropicServer(api_key=KEY) as server:
        backend = AnthropicBackend(
            api_key=KEY, base_url=server.url, prompt_cache=True, concurrency=1
        )
        out = backend.complete(reqs)
        calls = server.calls("/v1/messages")
    assert calls[0].body["system"] == [
        {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}
    ]
    s = word_count(SYSTEM)
    assert [c.usage.cache_creation_tokens for c in out] == [s, 0, 0]
    assert [c.usage.cache_read_tokens for c in out] == [0, s, s]
    assert [c.usage.input_tokens for c in out] == [word_count(r.user) for r in reqs]
    total = sum((c.usage for c in out), Usage())
    assert total.cache_read_tokens == 2 * s and total.cache_creation_tokens == s


# -- batches ---------------------------------------------------------------------------


def test_batch_end_to_end_with_polling():
    reqs = [request(n) for n in range(4)]
    seen = {}
    with FakeAnthropicServer(api_key=KEY, batch_polls=3) as server:
        backend = AnthropicBackend(
            api_key=KEY, base_url=server.url, batch=True, poll_interval_s=0.02
        )
        out = backend.complete(reqs, on_result=lambda i, c: seen.setdefault(i, c))
        creates = server.calls("/v1/messages/batches", "POST")
        polls = [c for c in server.calls(method="GET") if not c.path.endswith("/results")]
        assert server.calls("/v1/messages", "POST") == []  # nothing went live
    assert len(creates) == 1
    sent = creates[0].body["requests"]
    assert [r["custom_id"] for r in sent] == ["r0-u0", "r1-u1", "r2-u2", "r3-u3"]
    assert sent[0]["params"] == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": reqs[0].user}],
    }
    assert len(polls) >= 3  # in_progress, in_progress, ended (+ the SDK's own look-up)
    assert sorted(seen) == [0, 1, 2, 3] and [seen[i] for i in range(4)] == out
    for req, c in zip(reqs, out):
        answer = default_answer(req.system, req.user)
        assert c.ok and c.batch and c.text == answer and c.stop_reason == "end_turn"
        assert c.usage == expected_usage(req, answer)
        assert c.meta["batch_id"].startswith("msgbatch_")


def test_batch_failed_items_become_errors():
    def script(call):
        if "User 1" in call.user:
            return Reply(status=400, message="prompt too long")
        if "User 2" in call.user:
            return Reply(batch_result="expired")
        return None

    with FakeAnthropicServer(api_key=KEY, script=script) as server:
        backend = AnthropicBackend(
            api_key=KEY, base_url=server.url, batch=True, poll_interval_s=0.01
        )
        out = backend.complete([request(n) for n in range(3)])
    assert out[0].ok and out[0].batch
    assert out[1].error == "Message batch request errored: invalid_request_error: prompt too long"
    assert out[2].error.startswith("Message batch request expired")
    assert all(c.batch for c in out)


def test_batch_create_failure_fails_every_request():
    with FakeAnthropicServer(api_key=KEY) as server:
        backend = AnthropicBackend(
            api_key="sk-wrong", base_url=server.url, batch=True, poll_interval_s=0.01
        )
        out = backend.complete([request(0), request(1)])
    assert [c.ok for c in out] == [False, False]
    assert out[0].error.startswith("Could not create the message batch: HTTP 401")


def test_batch_with_prompt_cache_sends_cache_control():
    with FakeAnthropicServer(api_key=KEY) as server:
        backend = AnthropicBackend(
            api_key=KEY, base_url=server.url, batch=True, prompt_cache=True, poll_interval_s=0.01
        )
        out = backend.complete([request(0), request(1)])
        params = server.calls("/v1/messages/batches", "POST")[0].body["requests"][0]["params"]
    assert params["system"][0]["cache_control"] == {"type": "ephemeral"}
    total = sum((c.usage for c in out), Usage())
    assert total.cache_creation_tokens == word_count(SYSTEM) == total.cache_read_tokens


def test_custom_id_is_sanitised_and_unique():
    assert custom_id(0) == "r0"
    assert custom_id(12, "user 42/é") == "r12-user_42__"
    long = custom_id(7, "x" * 200)
    assert len(long) == 64 and long.startswith("r7-")
    assert custom_id(1, "k") != custom_id(2, "k")
    assert BATCH_MAX_REQUESTS <= 100_000


# -- token counting --------------------------------------------------------------------


def test_count_tokens_from_the_api():
    reqs = [request(n) for n in range(3)]
    with FakeAnthropicServer(api_key=KEY) as server:
        backend = AnthropicBackend(api_key=KEY, base_url=server.url)
        counts = backend.count_tokens(reqs)
        calls = server.calls("/v1/messages/count_tokens")
    assert counts == [word_count(r.system) + word_count(r.user) for r in reqs]
    assert backend.last_count_exact is True
    assert len(calls) == 3 and "max_tokens" not in calls[0].body
    assert server.paid_calls == 0


def test_count_tokens_falls_back_to_the_heuristic():
    with FakeAnthropicServer(api_key=KEY) as server:
        url = server.url
    backend = AnthropicBackend(api_key=KEY, base_url=url, backoff_base_s=0.001)
    reqs = [LLMRequest(system="abc", user="defg"), LLMRequest(system="", user="")]
    t0 = time.perf_counter()
    assert backend.count_tokens(reqs) == [math.ceil(7 / 3.5), 0]
    assert backend.last_count_exact is False
    assert time.perf_counter() - t0 < 5


def test_retry_then_success_counts_paid_calls():
    with FakeAnthropicServer(api_key=KEY, script=fail_first(1, Reply.overloaded())) as server:
        backend = AnthropicBackend(api_key=KEY, base_url=server.url, backoff_base_s=0.001)
        (c,) = backend.complete([request(1)])
        assert c.ok and server.paid_calls == 2
        assert [call.headers.get("x-stainless-retry-count") for call in server.calls()] == [
            "0",
            "0",
        ]  # our loop retried, not the SDK's
