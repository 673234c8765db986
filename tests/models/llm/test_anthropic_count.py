"""AnthropicBackend.count_tokens when the count endpoint is not there (a gateway or proxy in
front of Claude answers 404, or nothing answers): it is detected once, every request is
estimated offline once, and the reason is kept in one line."""

from __future__ import annotations

import pytest

from models.llm.anthropic import AnthropicBackend
from models.llm.protocol import LLMRequest
from models.llm.retry import estimate_tokens
from tests.models.llm._http_backend_contract import clear_env
from tests.models.llm.fake_servers import FakeAnthropicServer, word_count

KEY = "sk-ant-count-test"
COUNT_PATH = "/v1/messages/count_tokens"


class NoCountServer(FakeAnthropicServer):
    """The Messages API without its count endpoint, as many gateways serve it."""

    def __init__(self, status: int = 404, **kwargs):
        super().__init__(**kwargs)
        self.count_status = status

    def _route(self, handler, call):
        if call.method == "POST" and call.path == COUNT_PATH:
            self._send_error(handler, self.count_status, "not_found_error", "Not Found")
            return
        super()._route(handler, call)


_no_real_credentials = clear_env(
    "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"
)


def _requests(n: int) -> list[LLMRequest]:
    return [
        LLMRequest("Rank the candidates.", f"user {i}: " + "history item " * (i + 1), 64, 0.0)
        for i in range(n)
    ]


def _backend(url: str, **kw) -> AnthropicBackend:
    return AnthropicBackend("claude-haiku-4-5", api_key=KEY, base_url=url, concurrency=4,
                            backoff_base_s=0.001, backoff_max_s=0.002, timeout_s=5.0, **kw)


@pytest.mark.parametrize("status", [404, 405])
def test_missing_count_endpoint_is_asked_once_and_estimated_once(status):
    reqs = _requests(40)
    with NoCountServer(status=status, api_key=KEY) as server:
        backend = _backend(server.url)
        counts = backend.count_tokens(reqs)
        asked = len(server.calls(COUNT_PATH))
    assert asked == 1  # was one call per request (40)
    assert counts == [estimate_tokens(r.system + r.user) for r in reqs]
    assert backend.last_count_exact is False
    assert backend.last_count_note == f"the count endpoint was unavailable (HTTP {status})"


def test_unreachable_count_endpoint_is_tried_once():
    backend = _backend("http://127.0.0.1:9")  # discard port: nothing listens
    reqs = _requests(12)
    counts = backend.count_tokens(reqs)
    assert counts == [estimate_tokens(r.system + r.user) for r in reqs]
    assert backend.last_count_note == "the count endpoint was unavailable (connection failed)"


def test_a_working_count_endpoint_counts_every_request_and_leaves_no_note():
    reqs = _requests(9)
    with FakeAnthropicServer(api_key=KEY) as server:
        backend = _backend(server.url)
        backend.last_count_note = "stale"
        counts = backend.count_tokens(reqs)
        asked = len(server.calls(COUNT_PATH))
    assert asked == 9
    assert counts == [word_count(r.system) + word_count(r.user) for r in reqs]
    assert backend.last_count_exact is True and backend.last_count_note is None
