"""The Message Batches half of :class:`~models.llm.anthropic.AnthropicBackend`: requests
submitted in batches (half price, results within 24 h), polled until they end, their results
read back in input order."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from models.llm._anthropic_messages import message_completion
from models.llm.protocol import AttemptGate, Completion, LLMRequest, OnResult
from models.llm.retry import RetryPolicy, call_with_retries, one_line, redact

__all__ = [
    "BATCH_CREATE_FAILED",
    "BATCH_MAX_REQUESTS",
    "BATCH_POLL_FAILED",
    "BATCH_RESULT_FAILED",
    "BATCH_RESULT_MISSING",
    "ChunkGate",
    "MessageBatches",
    "custom_id",
]

log = logging.getLogger(__name__)

BATCH_CREATE_FAILED = "Could not create the message batch: {reason}"
BATCH_POLL_FAILED = "Lost track of message batch {batch_id}: {reason}"
BATCH_RESULT_MISSING = "Message batch {batch_id} returned no result for this request."
BATCH_RESULT_FAILED = "Message batch request {outcome}: {reason}"

#: requests per Message Batch (the API allows 100,000 or 256 MB; prompts here are small)
BATCH_MAX_REQUESTS = 10_000
_CUSTOM_ID = re.compile(r"[^A-Za-z0-9_-]")


def custom_id(index: int, key: str = "") -> str:
    """The batch ``custom_id`` of request ``index``: ``r<index>`` plus the sanitised key.

    The API allows 1-64 characters from ``[A-Za-z0-9_-]``; the index keeps ids unique even
    when keys repeat or sanitise to the same text.
    """
    head = f"r{index}"
    tail = _CUSTOM_ID.sub("_", key)[: 63 - len(head)] if key else ""
    return f"{head}-{tail}" if tail else head


class ChunkGate:
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


class MessageBatches:
    """Mixed into the Anthropic backend, which provides the SDK client, the retry policy,
    the transient errors, the poll interval, ``_params(request)`` (the Messages parameters
    of one request) and ``_secret()`` (the key to scrub from error text)."""

    policy: RetryPolicy
    poll_interval_s: float
    _client: Any
    _transient: tuple[type[BaseException], ...]

    def _complete_batch(
        self,
        requests: list[LLMRequest],
        on_result: OnResult | None,
        gate: AttemptGate | None = None,
    ) -> list[Completion]:
        """Submit ``requests`` in batches of :data:`BATCH_MAX_REQUESTS`, then collect each
        batch; every request gets one Completion (``batch=True``), in input order."""
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
                gate=ChunkGate(gate, chunk) if gate is not None else None,
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
            return message_completion(result.message, latency, meta, batch=True)
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
