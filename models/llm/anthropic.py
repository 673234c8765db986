"""Anthropic Messages API backend (live calls, or the half-price Message Batches API).

Only this module imports ``anthropic``. The SDK's own retries are off; retries, backoff and
the concurrency bound are :mod:`models.llm.retry`'s. The API key is handed to the SDK
client once and never kept on this object, printed, logged or put in an error.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from typing import Any

from analysis.errors import AnalysisError, surface_hints
from models.llm.protocol import AttemptGate, Completion, LLMRequest, OnResult, Usage
from models.llm.retry import (
    RetryPolicy,
    call_timed,
    call_with_retries,
    check_setting,
    estimate_tokens,
    one_line,
    redact,
    run_bounded,
    run_gated,
)

__all__ = [
    "BATCH_MAX_REQUESTS",
    "NO_ANTHROPIC_KEY",
    "NO_ANTHROPIC_PACKAGE",
    "AnthropicBackend",
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
BATCH_CREATE_FAILED = "Could not create the message batch: {reason}"
BATCH_POLL_FAILED = "Lost track of message batch {batch_id}: {reason}"
BATCH_RESULT_MISSING = "Message batch {batch_id} returned no result for this request."
BATCH_RESULT_FAILED = "Message batch request {outcome}: {reason}"

#: requests per Message Batch (the API allows 100,000 or 256 MB; prompts here are small)
BATCH_MAX_REQUESTS = 10_000
#: retries of token counting (it has an offline fallback, so it gives up sooner)
COUNT_MAX_RETRIES = 2
#: statuses of the count endpoint that mean it is not there (a gateway or proxy), not that
#: one request was bad: counting stops at the first of them
COUNT_UNAVAILABLE_STATUSES = frozenset({403, 404, 405, 501})
COUNT_UNAVAILABLE = "the count endpoint was unavailable ({how})"
_CUSTOM_ID = re.compile(r"[^A-Za-z0-9_-]")


def _import_anthropic() -> Any:
    try:
        import anthropic
    except ImportError as exc:  # pragma: no cover - the package is pinned in requirements
        raise AnalysisError(NO_ANTHROPIC_PACKAGE) from exc
    return anthropic


def custom_id(index: int, key: str = "") -> str:
    """The batch ``custom_id`` of request ``index``: ``r<index>`` plus the sanitised key.

    The API allows 1-64 characters from ``[A-Za-z0-9_-]``; the index keeps ids unique even
    when keys repeat or sanitise to the same text.
    """
    head = f"r{index}"
    tail = _CUSTOM_ID.sub("_", key)[: 63 - len(head)] if key else ""
    return f"{head}-{tail}" if tail else head


def _completion(message: Any, latency: float, meta: dict, *, batch: bool = False) -> Completion:
    """A Messages API answer (direct or from a batch) as a :class:`Completion`."""
    meta["message_id"] = getattr(message, "id", None)
    raw = getattr(message, "usage", None)
    return Completion(
        text=_text(message),
        usage=_usage(raw),
        latency_s=latency,
        stop_reason=getattr(message, "stop_reason", None),
        batch=batch,
        meta=meta,
        usage_reported=_usage_reported(raw),
    )


def _usage_reported(raw: Any) -> bool:
    """Whether the answer says what it billed: a usage object with both token counts."""
    return raw is not None and all(
        isinstance(getattr(raw, name, None), int) for name in ("input_tokens", "output_tokens")
    )


def _usage(raw: Any) -> Usage:
    """Our Usage from the SDK's (missing or None counts read as 0; see
    :func:`_usage_reported` for whether the job may trust it)."""
    if raw is None:
        return Usage()
    return Usage(
        input_tokens=int(getattr(raw, "input_tokens", 0) or 0),
        output_tokens=int(getattr(raw, "output_tokens", 0) or 0),
        cache_creation_tokens=int(getattr(raw, "cache_creation_input_tokens", 0) or 0),
        cache_read_tokens=int(getattr(raw, "cache_read_input_tokens", 0) or 0),
    )


def _text(message: Any) -> str:
    """Concatenation of the message's text blocks (tool or thinking blocks are skipped)."""
    return "".join(
        getattr(block, "text", "") or ""
        for block in (getattr(message, "content", None) or [])
        if getattr(block, "type", None) == "text"
    )


class _ChunkGate:
    """The gate of one batch submission: its first attempt was reserved request by request
    before the chunk was built; a retried submission reserves every request again."""

    def __init__(self, gate: AttemptGate, indices: list[int]) -> None:
        self.gate, self.indices, self.attempts = gate, indices, 0

    @property
    def stopping(self) -> bool:
        return bool(getattr(self.gate, "stopping", False))

    def reserve(self, index: int) -> str | None:
        self.attempts += 1
        if self.attempts == 1:
            return None  # reserved while the chunk was built
        for n, i in enumerate(self.indices):
            refused = self.gate.reserve(i)
            if refused is not None:
                for j in self.indices[:n]:  # release what this retry reserved: not sent
                    self.gate.release(j)
                return refused
        return None

    def failed(self, index: int, *, status: int | None, reason: str, unusable: bool) -> None:
        for i in self.indices:
            self.gate.failed(i, status=status, reason=reason, unusable=unusable)


class AnthropicBackend:
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
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        seed: int = 0,
        key_source: str | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise AnalysisError("Bad LLM backend setting model: name an Anthropic model id.")
        check_setting("concurrency", concurrency, minimum=1, integer=True)
        check_setting("max_retries", max_retries, minimum=0, integer=True)
        check_setting("timeout_s", timeout_s, minimum=0.001)
        check_setting("poll_interval_s", poll_interval_s, minimum=0)
        check_setting("backoff_base_s", backoff_base_s, minimum=0)
        check_setting("backoff_max_s", backoff_max_s, minimum=0)
        check_setting("seed", seed, minimum=0, integer=True)
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
        self.policy = RetryPolicy(
            int(max_retries), float(backoff_base_s), float(backoff_max_s), int(seed)
        )
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

    def __repr__(self) -> str:
        return (
            f"AnthropicBackend(model={self.model!r}, base_url={self.base_url!r}, "
            f"concurrency={self.concurrency})"
        )

    # -- request building -------------------------------------------------------------

    def _system(self, request: LLMRequest) -> Any:
        if not request.system:
            return None
        if self.prompt_cache:
            return [
                {"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}
            ]
        return request.system

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        """Messages parameters of one request.

        ``request.temperature`` is not sent: the Messages API of anthropic 2.x takes no
        sampling parameters (the SDK dropped ``temperature``), so answers are the model's.
        """
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": int(request.max_tokens),
            "messages": [{"role": "user", "content": request.user}],
        }
        system = self._system(request)
        if system is not None:
            params["system"] = system
        return params

    def _secret(self) -> str | None:
        return getattr(self._client, "api_key", None)

    # -- live calls ----------------------------------------------------------------------

    def complete(
        self,
        requests: Sequence[LLMRequest],
        *,
        on_result: OnResult | None = None,
        gate: AttemptGate | None = None,
    ) -> list[Completion]:
        """Answer every request; see :meth:`models.llm.protocol.LLMBackend.complete`.

        Live mode sends at most ``concurrency`` Messages calls at once; batch mode submits
        Message Batches and polls them. Either way a failed request comes back as a
        Completion with ``error`` set, in input order, and ``on_result`` sees each one as
        soon as it is known. ``gate`` is asked before every attempt (each batch submission
        counts as one attempt of each request in it).
        """
        requests = list(requests)
        if self.batch:
            return self._complete_batch(requests, on_result, gate)
        return run_gated(
            requests,
            self._complete_one,
            concurrency=self.concurrency,
            on_result=on_result,
            gate=gate,
        )

    def _complete_one(
        self, index: int, request: LLMRequest, gate: AttemptGate | None = None
    ) -> Completion:
        params = self._params(request)
        outcome, latency, meta, failed = call_timed(
            lambda: self._client.messages.create(**params),
            self.policy,
            index=index,
            transient=self._transient,
            secret=self._secret(),
            what="anthropic message",
            gate=gate,
        )
        if failed is not None:
            return failed
        message = outcome.value
        meta["request_id"] = getattr(message, "_request_id", None)
        return _completion(message, latency, meta)

    # -- batches -------------------------------------------------------------------------

    def _complete_batch(
        self,
        requests: list[LLMRequest],
        on_result: OnResult | None,
        gate: AttemptGate | None = None,
    ) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)
        start = time.perf_counter()

        def finish(i: int, completion: Completion) -> None:
            results[i] = completion
            if on_result is not None:
                on_result(i, completion)

        pending: list[tuple[str, dict[str, int]]] = []  # (batch id, custom_id -> index)
        for lo in range(0, len(requests), BATCH_MAX_REQUESTS):
            chunk = []
            for i in range(lo, min(lo + BATCH_MAX_REQUESTS, len(requests))):
                refused = gate.reserve(i) if gate is not None else None
                if refused is None:
                    chunk.append(i)
                else:  # not sent: nothing reserved, nothing billed
                    finish(i, Completion(text="", error=refused, batch=True,
                                         meta={"not_sent": True}))  # fmt: skip
            if not chunk:
                continue
            ids = {custom_id(i, requests[i].key): i for i in chunk}
            body = [
                {"custom_id": cid, "params": self._params(requests[i])} for cid, i in ids.items()
            ]
            outcome = call_with_retries(
                lambda body=body: self._client.messages.batches.create(requests=body),
                self.policy,
                index=lo,
                transient=self._transient,
                secret=self._secret(),
                what="anthropic batch create",
                gate=_ChunkGate(gate, chunk) if gate is not None else None,
            )
            if outcome.error is not None:
                error = one_line(BATCH_CREATE_FAILED.format(reason=outcome.error))
                for i in chunk:
                    meta = {"attempts": outcome.attempts}
                    finish(i, Completion(text="", error=error, batch=True, meta=meta))
                continue
            pending.append((outcome.value.id, ids))
            log.info("anthropic batch %s: %d requests submitted", outcome.value.id, len(ids))

        for batch_id, ids in pending:
            self._collect_batch(batch_id, ids, start, finish)
        return [
            r if r is not None else Completion(text="", error="no result", batch=True)
            for r in results
        ]

    def _collect_batch(
        self, batch_id: str, ids: dict[str, int], start: float, finish: OnResult
    ) -> None:
        """Poll one batch every ``poll_interval_s`` until it ends (the API ends every batch
        within 24 h, expiring what it did not process), then read its results into
        ``finish``; requests without a result get an error."""
        batches = self._client.messages.batches
        secret = self._secret()
        polls = 0
        while True:
            polls += 1
            outcome = call_with_retries(
                lambda: batches.retrieve(batch_id),
                self.policy,
                index=polls,
                transient=self._transient,
                secret=secret,
                what=f"anthropic batch {batch_id} poll",
            )
            if outcome.error is not None:
                error = one_line(BATCH_POLL_FAILED.format(batch_id=batch_id, reason=outcome.error))
                for i in ids.values():
                    finish(
                        i, Completion(text="", error=error, batch=True, meta={"batch_id": batch_id})
                    )
                return
            if outcome.value.processing_status == "ended":
                break
            time.sleep(self.poll_interval_s)

        seen: set[str] = set()
        outcome = call_with_retries(
            lambda: list(batches.results(batch_id)),
            self.policy,
            index=0,
            transient=self._transient,
            secret=secret,
            what=f"anthropic batch {batch_id} results",
        )
        rows = outcome.value if outcome.error is None else []
        for row in rows:
            index = ids.get(row.custom_id)
            if index is None or row.custom_id in seen:
                continue
            seen.add(row.custom_id)
            finish(index, self._batch_completion(row, batch_id, polls, start))
        missing_error = (
            one_line(BATCH_POLL_FAILED.format(batch_id=batch_id, reason=outcome.error))
            if outcome.error is not None
            else BATCH_RESULT_MISSING.format(batch_id=batch_id)
        )
        latency = time.perf_counter() - start
        for cid, index in ids.items():
            if cid not in seen:
                finish(
                    index,
                    Completion(
                        text="",
                        latency_s=latency,
                        error=missing_error,
                        batch=True,
                        meta={"batch_id": batch_id},
                    ),
                )

    def _batch_completion(self, row: Any, batch_id: str, polls: int, start: float) -> Completion:
        result = row.result
        kind = getattr(result, "type", "unknown")
        meta = {"batch_id": batch_id, "custom_id": row.custom_id, "polls": polls}
        latency = time.perf_counter() - start
        if kind == "succeeded":
            return _completion(result.message, latency, meta, batch=True)
        reason = kind
        if kind == "errored":
            error = getattr(getattr(result, "error", None), "error", None)
            reason = f"{getattr(error, 'type', 'error')}: {getattr(error, 'message', '')}"
        reason = redact(one_line(reason), self._secret())
        return Completion(
            text="",
            latency_s=latency,
            error=one_line(BATCH_RESULT_FAILED.format(outcome=kind, reason=reason)),
            batch=True,
            meta=meta,
            # the API bills no errored, expired or canceled batch request
            usage_reported=kind in ("errored", "expired", "canceled"),
        )

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
