"""Any OpenAI-compatible chat-completions server (vllm serve, TGI, Ollama, OpenAI itself).

Only this module imports ``openai``. Retries, backoff and the concurrency bound are
:mod:`models.llm.retry`'s (the SDK's own retries are off), shared with the Anthropic backend
through :mod:`models.llm._http`. Local servers need no key,
so the key defaults to ``"EMPTY"``; a real one is handed to the SDK client once and never
kept on this object, printed, logged or put in an error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from analysis.errors import AnalysisError
from models.llm._http import HTTPBackend, http_retry_policy, usage_is_reported
from models.llm.protocol import AttemptGate, Completion, LLMRequest, Usage
from models.llm.retry import estimate_tokens

__all__ = ["BAD_BASE_URL", "NO_OPENAI_PACKAGE", "OpenAICompatBackend", "chat_usage"]

NO_OPENAI_PACKAGE = (
    "The openai package is not installed: run `pip install openai==3.54.0`, "
    "or pick another LLM backend."
)
BAD_BASE_URL = (
    "Bad base_url {url!r} for the OpenAI-compatible backend: give the server's http(s) API "
    "root, e.g. http://localhost:8000/v1 for `vllm serve`."
)


def _import_openai() -> Any:
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - the package is pinned in requirements
        raise AnalysisError(NO_OPENAI_PACKAGE) from exc
    return openai


#: the usage fields that say what a response billed (see :func:`usage_is_reported`)
_BILLED = ("prompt_tokens", "completion_tokens")


def chat_usage(raw: Any) -> Usage:
    """Our Usage from chat-completions usage.

    ``prompt_tokens`` counts cached tokens too; they are moved to ``cache_read_tokens`` so
    that ``input_tokens`` means uncached (full-price) input, as at Anthropic. Missing or None
    counts read as 0.
    """
    if raw is None:
        return Usage()
    prompt = int(getattr(raw, "prompt_tokens", 0) or 0)
    details = getattr(raw, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    cached = min(cached, prompt)
    return Usage(
        input_tokens=prompt - cached,
        output_tokens=int(getattr(raw, "completion_tokens", 0) or 0),
        cache_read_tokens=cached,
    )


class OpenAICompatBackend(HTTPBackend):
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: the served model's name (as the server lists it under ``/models``).
        base_url: the API root, e.g. ``http://localhost:8000/v1``.
        api_key: the key; defaults to ``OPENAI_API_KEY``, else ``"EMPTY"``. Never stored on
            this object.
        concurrency: requests in flight at most (a vLLM server batches them).
        max_retries: retries per request after the first attempt.
        timeout_s: per-attempt HTTP timeout.
        backoff_base_s: first backoff ceiling (doubles per retry, full jitter).
        backoff_max_s: largest backoff ceiling.
        seed: seeds the jitter.
        key_source: where the key came from, in words, for the message that stops a job
            whose key is refused. Never the key.

    Raises:
        AnalysisError: bad base_url, package missing, or a bad setting.
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        concurrency: int = 8,
        max_retries: int = 6,
        timeout_s: float = 120.0,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        seed: int = 0,
        key_source: str | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise AnalysisError("Bad LLM backend setting model: name the served model.")
        parsed = urlparse(base_url) if isinstance(base_url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise AnalysisError(BAD_BASE_URL.format(url=base_url))
        policy = http_retry_policy(
            concurrency=concurrency,
            max_retries=max_retries,
            timeout_s=timeout_s,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            seed=seed,
        )
        sdk = _import_openai()
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        #: where the key came from, in words (never the key)
        self.key_source = key_source or (
            "the api_key setting"
            if api_key
            else "the environment variable OPENAI_API_KEY"
            if os.environ.get("OPENAI_API_KEY")
            else "no key (none was set)"
        )
        self.model = model
        self.base_url = base_url
        self.concurrency = int(concurrency)
        self.timeout_s = float(timeout_s)
        self.policy = policy
        #: always False: counts are the offline estimate
        self.last_count_exact = False
        self._transient = (sdk.APIConnectionError,)  # includes APITimeoutError
        self._client = sdk.OpenAI(
            api_key=key.strip(), base_url=base_url, max_retries=0, timeout=self.timeout_s
        )

    def _secret(self) -> str | None:
        key = super()._secret()
        return key if isinstance(key, str) and key != "EMPTY" else None

    def _complete_one(
        self, index: int, request: LLMRequest, gate: AttemptGate | None = None
    ) -> Completion:
        messages = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": request.user})
        params = {
            "model": self.model,
            "messages": messages,
            "max_tokens": int(request.max_tokens),
            "temperature": float(request.temperature),
        }
        outcome, latency, meta, failed = self._call(
            lambda: self._client.chat.completions.create(**params),
            index=index,
            what="openai chat completion",
            gate=gate,
        )
        if failed is not None:
            return failed
        response = outcome.value
        meta["request_id"] = getattr(response, "_request_id", None)
        meta["response_id"] = getattr(response, "id", None)
        raw_usage = getattr(response, "usage", None)
        choices = getattr(response, "choices", None) or []
        if not choices:
            return Completion(
                text="",
                usage=chat_usage(raw_usage),
                latency_s=latency,
                error="the server returned no choices",
                meta=meta,
                usage_reported=usage_is_reported(raw_usage, _BILLED),
            )
        choice = choices[0]
        return Completion(
            text=getattr(getattr(choice, "message", None), "content", None) or "",
            usage=chat_usage(raw_usage),
            latency_s=latency,
            stop_reason=getattr(choice, "finish_reason", None),
            meta=meta,
            usage_reported=usage_is_reported(raw_usage, _BILLED),
        )

    def count_tokens(self, requests: Sequence[LLMRequest]) -> list[int]:
        """Offline estimate ``ceil(chars / 3.5)`` of system + user text per request.

        OpenAI-compatible servers offer no standard token-counting endpoint, so
        :attr:`last_count_exact` is always False.
        """
        self.last_count_exact = False
        return [estimate_tokens(r.system + r.user) for r in requests]
