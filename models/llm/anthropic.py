"""Anthropic Messages API backend (live calls, or the half-price Message Batches API).

Only this module imports ``anthropic``. The SDK's own retries are off; retries, backoff and
the concurrency bound are :mod:`models.llm.retry`'s, shared with the other HTTP backend
through :mod:`models.llm._http`. The request and answer shapes are in
:mod:`models.llm._anthropic_messages`, the Message Batches half in
:mod:`models.llm._anthropic_batch`; token counting is here. The API key is handed to the SDK
client once and never kept on this object, printed, logged or put in an error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from analysis.errors import AnalysisError, surface_hints
from models.llm._anthropic_batch import (
    BATCH_MAX_BYTES,
    BATCH_MAX_REQUESTS,
    MessageBatches,
    custom_id,
)
from models.llm._anthropic_messages import message_completion, message_params, message_usage
from models.llm._http import HTTPBackend, http_retry_policy
from models.llm.protocol import AttemptGate, Completion, LLMRequest, OnResult
from models.llm.retry import (
    RetryPolicy,
    call_with_retries,
    check_setting,
    estimate_tokens,
    run_bounded,
)

__all__ = [
    "BATCH_MAX_BYTES",
    "BATCH_MAX_REQUESTS",
    "NO_ANTHROPIC_KEY",
    "NO_ANTHROPIC_PACKAGE",
    "AnthropicBackend",
    "custom_id",
    "message_usage",
]

log = logging.getLogger(__name__)

NO_ANTHROPIC_KEY = surface_hints(
    "No Anthropic API key.",
    app="Set ANTHROPIC_API_KEY in the app's environment or in its secrets "
    "(.streamlit/secrets.toml), then reload the LLM rerank page.",
    cli="Set ANTHROPIC_API_KEY in the environment.",
)
NO_ANTHROPIC_PACKAGE = (
    "The anthropic package is not installed: run `pip install anthropic==2.12.0`, "
    "or pick another LLM backend."
)
#: retries of token counting (it has an offline fallback, so it gives up sooner)
COUNT_MAX_RETRIES = 2
#: statuses of the count endpoint that mean it is not there (a gateway or proxy), not that
#: one request was bad: counting stops at the first of them
COUNT_UNAVAILABLE_STATUSES = frozenset({403, 404, 405, 501})
COUNT_UNAVAILABLE = "the count endpoint was unavailable ({how})"


def _import_anthropic() -> Any:
    try:
        import anthropic
    except ImportError as exc:  # pragma: no cover - the package is pinned in requirements
        raise AnalysisError(NO_ANTHROPIC_PACKAGE) from exc
    return anthropic


class AnthropicBackend(HTTPBackend, MessageBatches):
    """Claude through the Messages API.

    Args:
        model: model id, e.g. ``"claude-sonnet-4-5"``.
        api_key: the key (the app passes it from Streamlit secrets); defaults to
            ``ANTHROPIC_API_KEY``. Never stored on this object.
        base_url: API root; defaults to ``ANTHROPIC_BASE_URL``, else the SDK's default.
        concurrency: live requests in flight at most.
        max_retries: retries per request after the first attempt.
        timeout_s: per-attempt HTTP timeout.
        batch: send everything as Message Batches (half price, results within 24 h).
        prompt_cache: mark the shared system prompt ``cache_control: ephemeral`` so later
            requests read it from the cache (cache reads bill at a tenth of input).
        poll_interval_s: seconds between batch status polls.
        batch_max_requests: requests per Message Batch at most (the API's 100,000 by
            default; a job is split into as many batches as the caps need).
        batch_max_bytes: request-body bytes per Message Batch at most (the API's 256 MB
            by default); see :mod:`models.llm._anthropic_batch` for how a request is sized.
        backoff_base_s: first backoff ceiling (doubles per retry, full jitter).
        backoff_max_s: largest backoff ceiling.
        seed: seeds the jitter.
        key_source: where the key came from, in words (``"the app's secrets"``), for the
            message that stops a job whose key is refused; defaults to the environment
            variable or ``the api_key setting``. Never the key.

    Raises:
        AnalysisError: no key, package missing, or a bad setting.
    """

    name = "anthropic"

    def __init__(
        self,
        model: str = "claude-sonnet-4-5",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        concurrency: int = 8,
        max_retries: int = 6,
        timeout_s: float = 60.0,
        batch: bool = False,
        prompt_cache: bool = False,
        poll_interval_s: float = 10.0,
        batch_max_requests: int = BATCH_MAX_REQUESTS,
        batch_max_bytes: int = BATCH_MAX_BYTES,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        seed: int = 0,
        key_source: str | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise AnalysisError("Bad LLM backend setting model: name an Anthropic model id.")
        policy = http_retry_policy(
            concurrency=concurrency,
            max_retries=max_retries,
            timeout_s=timeout_s,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            seed=seed,
        )
        check_setting("poll_interval_s", poll_interval_s, minimum=0)
        check_setting("batch_max_requests", batch_max_requests, minimum=1, integer=True)
        check_setting("batch_max_bytes", batch_max_bytes, minimum=1, integer=True)
        if batch_max_requests > BATCH_MAX_REQUESTS or batch_max_bytes > BATCH_MAX_BYTES:
            raise AnalysisError(
                f"Bad LLM backend setting: a message batch holds at most "
                f"{BATCH_MAX_REQUESTS:,} requests and {BATCH_MAX_BYTES:,} bytes."
            )
        key = api_key if api_key else os.environ.get("ANTHROPIC_API_KEY")
        if not key or not key.strip():
            raise AnalysisError(NO_ANTHROPIC_KEY)
        #: where the key came from, in words (never the key)
        self.key_source = key_source or (
            "the api_key setting" if api_key else "the environment variable ANTHROPIC_API_KEY"
        )
        sdk = _import_anthropic()
        self.model = model
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        self.concurrency = int(concurrency)
        self.timeout_s = float(timeout_s)
        self.batch = bool(batch)
        self.prompt_cache = bool(prompt_cache)
        self.poll_interval_s = float(poll_interval_s)
        self.batch_max_requests = int(batch_max_requests)
        self.batch_max_bytes = int(batch_max_bytes)
        self.policy = policy
        #: True when the last count_tokens answered every request from the API
        self.last_count_exact = False
        #: why the last count_tokens estimated offline, in one line (None: it did not)
        self.last_count_note: str | None = None
        self._transient = (sdk.APIConnectionError,)  # includes APITimeoutError
        self._client = sdk.Anthropic(
            api_key=key.strip(),
            base_url=self.base_url,
            max_retries=0,
            timeout=self.timeout_s,
        )

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        return message_params(self.model, request, prompt_cache=self.prompt_cache)

    # -- answers -------------------------------------------------------------------------

    def _complete_all(
        self, requests: list[LLMRequest], on_result: OnResult | None, gate: AttemptGate | None
    ) -> list[Completion]:
        """Live mode sends at most ``concurrency`` Messages calls at once; batch mode submits
        as many Message Batches as the caps need and polls them (each batch submission
        counts as one attempt of each request in it); see :mod:`models.llm._anthropic_batch`
        for the caps, the budget and how a killed job's batches are resumed."""
        if self.batch:
            return self._complete_batch(requests, on_result, gate)
        return super()._complete_all(requests, on_result, gate)

    def _complete_one(
        self, index: int, request: LLMRequest, gate: AttemptGate | None = None
    ) -> Completion:
        params = self._params(request)
        outcome, latency, meta, failed = self._call(
            lambda: self._client.messages.create(**params),
            index=index,
            what="anthropic message",
            gate=gate,
        )
        if failed is not None:
            return failed
        message = outcome.value
        meta["request_id"] = getattr(message, "_request_id", None)
        return message_completion(message, latency, meta)

    # -- token counting ------------------------------------------------------------------

    def count_tokens(self, requests: Sequence[LLMRequest]) -> list[int]:
        """Input tokens of each request from ``messages.count_tokens``.

        The first request is counted alone. When the endpoint itself is unavailable (HTTP
        403, 404, 405 or 501, a connection that fails after :data:`COUNT_MAX_RETRIES`
        retries, or an unreadable answer: a gateway or proxy in front of Claude often has no
        count endpoint), counting stops for the whole call and every request is estimated
        offline by :func:`models.llm.retry.estimate_tokens` (``ceil(chars / 3.5)`` of
        system + user text); :attr:`last_count_note` says why, in one line, e.g. "the count
        endpoint was unavailable (HTTP 404)". Otherwise the rest are counted concurrently,
        and counting stops as soon as one of them finds the endpoint unavailable; a request
        whose own count fails falls back alone. :attr:`last_count_exact` is True only when
        every count came from the API.
        """
        requests = list(requests)
        policy = RetryPolicy(
            min(self.policy.max_retries, COUNT_MAX_RETRIES),
            self.policy.backoff_base_s,
            self.policy.backoff_max_s,
            self.policy.seed,
        )
        unavailable: list[str] = []  # the first endpoint-wide failure, in words

        def count(index: int, request: LLMRequest) -> int | None:
            if unavailable:
                return None
            params = self._params(request)
            params.pop("max_tokens")
            outcome = call_with_retries(
                lambda: self._client.messages.count_tokens(**params),
                policy,
                index=index,
                transient=self._transient,
                secret=self._secret(),
                what="anthropic count_tokens",
            )
            if outcome.error is None:
                return int(outcome.value.input_tokens)
            if outcome.status is None or outcome.status in COUNT_UNAVAILABLE_STATUSES:
                how = "connection failed" if outcome.status is None else f"HTTP {outcome.status}"
                unavailable.append(COUNT_UNAVAILABLE.format(how=how))
            return None

        counts: list[int | None] = [count(0, requests[0])] if requests else []
        if len(requests) > 1:
            counts += run_bounded(
                requests[1:], lambda i, r: count(i + 1, r), concurrency=self.concurrency
            )
        self.last_count_exact = all(c is not None for c in counts)
        self.last_count_note = unavailable[0] if unavailable else None
        if unavailable:
            log.info("anthropic count_tokens: %s; estimating offline", unavailable[0])
        return [
            c if c is not None else estimate_tokens(r.system + r.user)
            for c, r in zip(counts, requests)
        ]
