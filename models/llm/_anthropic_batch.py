"""The Message Batches half of :class:`~models.llm.anthropic.AnthropicBackend`: requests
submitted in batches (half price, results within 24 h), polled until they end, their results
read back in input order.

**Caps.** The API takes at most 100,000 requests or 256 MB of request body per batch
(:data:`BATCH_MAX_REQUESTS`, :data:`BATCH_MAX_BYTES`; the backend's ``batch_max_requests``
and ``batch_max_bytes`` lower them, for tests). A job is split greedily, in input order, into
as many batches as both caps need (:func:`split_batches`); each request's size is the length
of ``json.dumps`` of its ``{"custom_id", "params"}`` item with ASCII escapes and spaced
separators (:func:`request_bytes`), never less than the bytes an SDK sends. A request that
alone passes the byte cap is not sent (an error for that request only).

**Money.** A batch's requests are reserved at their worst case, in one write, just before
the batch is created (``BatchGate.reserve_batch``); the requests that do not fit in the
job's cap are not submitted, and no later batch is. A retried creation reserves again.

**Resume.** Every created batch is journalled with its requests (``BatchGate.
batch_submitted``, the workspace's ``llm_batches``) before the next one is created; a job
killed while its batches run is resumed by polling and collecting those batches
(``BatchGate.submitted_batches``), never by submitting them again. The one window left: a
kill between the API creating a batch and its id reaching the journal (milliseconds) leaves
a batch the next run does not know, whose requests it submits again; their first
reservations stay open at worst case, so the cap still holds.

**Progress.** All batches are created first, then polled together every
``poll_interval_s``; the gate hears of each one created and each one ended.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

from models.llm._anthropic_messages import message_completion
from models.llm.protocol import AttemptGate, BatchGate, Completion, LLMRequest, OnResult
from models.llm.retry import RetryPolicy, call_with_retries, one_line, redact

__all__ = [
    "BATCH_CREATE_FAILED",
    "BATCH_MAX_BYTES",
    "BATCH_MAX_REQUESTS",
    "BATCH_POLL_FAILED",
    "BATCH_REQUEST_TOO_LARGE",
    "BATCH_RESULT_FAILED",
    "BATCH_RESULT_MISSING",
    "ChunkGate",
    "MessageBatches",
    "custom_id",
    "request_bytes",
    "split_batches",
]

log = logging.getLogger(__name__)

BATCH_CREATE_FAILED = "Could not create the message batch: {reason}"
BATCH_POLL_FAILED = "Lost track of message batch {batch_id}: {reason}"
BATCH_RESULT_MISSING = "Message batch {batch_id} returned no result for this request."
BATCH_RESULT_FAILED = "Message batch request {outcome}: {reason}"
BATCH_REQUEST_TOO_LARGE = (
    "This request is {size:,} bytes, over the {cap:,}-byte limit of one message batch: "
    "not sent (shorten the history or the candidates)."
)

#: requests per Message Batch at most (the API's limit)
BATCH_MAX_REQUESTS = 100_000
#: bytes of one batch's request body at most (the API's 256 MB, counted as 256 * 10**6)
BATCH_MAX_BYTES = 256_000_000
#: bytes of the body around its items: ``{"requests": [...]}``, with room to spare
ENVELOPE_BYTES = 64
_CUSTOM_ID = re.compile(r"[^A-Za-z0-9_-]")


def custom_id(index: int, key: str = "") -> str:
    """The batch ``custom_id`` of request ``index``: ``r<index>`` plus the sanitised key.

    The API allows 1-64 characters from ``[A-Za-z0-9_-]``; the index keeps ids unique even
    when keys repeat or sanitise to the same text.
    """
    head = f"r{index}"
    tail = _CUSTOM_ID.sub("_", key)[: 63 - len(head)] if key else ""
    return f"{head}-{tail}" if tail else head


def request_bytes(item: dict[str, Any]) -> int:
    """Bytes one batch item adds to the request body, at most: ``json.dumps(item)`` (ASCII
    escapes, so characters are bytes; spaced separators) plus 2 for the ``", "`` between
    items. Compact or UTF-8 encodings, as SDKs send, are never longer."""
    return len(json.dumps(item)) + 2


def split_batches(sizes: Sequence[int], *, max_requests: int, max_bytes: int) -> list[range]:
    """Positions ``0..len(sizes)-1`` cut greedily, in order, into consecutive batches of at
    most ``max_requests`` items whose sizes sum (plus :data:`ENVELOPE_BYTES`) to at most
    ``max_bytes``. An item over the byte cap alone gets a batch of its own (the caller
    refuses it). E.g. sizes ``[4, 4, 4]``, ``max_bytes = 8 + ENVELOPE_BYTES``: ``[0:2], [2:3]``.
    """
    out: list[range] = []
    lo, used = 0, ENVELOPE_BYTES
    for i, size in enumerate(sizes):
        if i > lo and (i - lo >= max_requests or used + size > max_bytes):
            out.append(range(lo, i))
            lo, used = i, ENVELOPE_BYTES
        used += size
    if lo < len(sizes):
        out.append(range(lo, len(sizes)))
    return out


def _batch_gate(gate: AttemptGate | None) -> BatchGate | None:
    return gate if gate is not None and isinstance(gate, BatchGate) else None


class ChunkGate:
    """The gate of one batch submission: its first attempt was reserved before the chunk
    was built; a retried submission reserves every request again (all or none)."""

    def __init__(self, gate: AttemptGate, indices: list[int]) -> None:
        self.gate, self.indices, self.attempts = gate, indices, 0

    @property
    def stopping(self) -> bool:
        return bool(getattr(self.gate, "stopping", False))

    def reserve(self, index: int) -> str | None:
        self.attempts += 1
        if self.attempts == 1:
            return None  # reserved while the chunk was built
        batch = _batch_gate(self.gate)
        if batch is not None:
            admitted, refused = batch.reserve_batch(self.indices)
            if len(admitted) == len(self.indices):
                return None
            for i in admitted:
                self.gate.release(i)
            return refused or "not reserved"
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
    the transient errors, the poll interval, the batch caps, ``_params(request)`` (the
    Messages parameters of one request) and ``_secret()`` (the key to scrub from errors)."""

    policy: RetryPolicy
    poll_interval_s: float
    batch_max_requests: int
    batch_max_bytes: int
    _client: Any
    _transient: tuple[type[BaseException], ...]

    def _complete_batch(
        self,
        requests: list[LLMRequest],
        on_result: OnResult | None,
        gate: AttemptGate | None = None,
    ) -> list[Completion]:
        """Collect the batches an earlier run submitted, submit the other requests in as many
        batches as the caps need, then poll them all until they end; every request gets one
        Completion (``batch=True``), in input order."""
        results: list[Completion | None] = [None] * len(requests)
        start = time.perf_counter()

        def finish(i: int, completion: Completion) -> None:
            results[i] = completion
            if on_result is not None:
                on_result(i, completion)

        journal = _batch_gate(gate)
        pending = list(journal.submitted_batches()) if journal is not None else []
        taken = {i for _, ids in pending for i in ids.values()}
        todo = [i for i in range(len(requests)) if i not in taken]
        items = [
            {"custom_id": custom_id(i, requests[i].key), "params": self._params(requests[i])}
            for i in todo
        ]
        sizes = [request_bytes(item) for item in items]
        cuts = split_batches(
            sizes, max_requests=self.batch_max_requests, max_bytes=self.batch_max_bytes
        )
        for cut in cuts:
            chunk = []
            for p in cut:
                if sizes[p] + ENVELOPE_BYTES > self.batch_max_bytes:
                    error = BATCH_REQUEST_TOO_LARGE.format(size=sizes[p], cap=self.batch_max_bytes)
                    finish(todo[p], Completion(text="", error=error, batch=True))
                else:
                    chunk.append(p)
            submitted = self._submit(
                [todo[p] for p in chunk], [items[p] for p in chunk], gate, finish
            )
            if submitted is not None:
                pending.append(submitted)
        self._collect_all(pending, start, finish, journal)
        return [
            r if r is not None else Completion(text="", error="no result", batch=True)
            for r in results
        ]

    def _submit(
        self, chunk: list[int], items: list[dict], gate: AttemptGate | None, finish: OnResult
    ) -> tuple[str, dict[str, int]] | None:
        """Reserve and create one batch; None when nothing of it was submitted."""
        if not chunk:
            return None
        journal = _batch_gate(gate)
        refused: str | None = None
        if journal is not None:
            admitted, refused = journal.reserve_batch(chunk)
        elif gate is not None:
            admitted = []
            for i in chunk:
                refused = gate.reserve(i)
                if refused is not None:
                    break
                admitted.append(i)
        else:
            admitted = chunk
        for i in chunk[len(admitted) :]:  # not sent: nothing reserved, nothing billed
            error = refused or "not sent"
            finish(i, Completion(text="", error=error, batch=True, meta={"not_sent": True}))
        if not admitted:
            return None
        body = items[: len(admitted)]
        ids = {item["custom_id"]: i for item, i in zip(body, admitted)}
        outcome = call_with_retries(
            lambda: self._client.messages.batches.create(requests=body),
            self.policy,
            index=admitted[0],
            transient=self._transient,
            secret=self._secret(),
            what="anthropic batch create",
            gate=ChunkGate(gate, admitted) if gate is not None else None,
        )
        if outcome.error is not None:
            error = one_line(BATCH_CREATE_FAILED.format(reason=outcome.error))
            for i in admitted:
                meta = {"attempts": outcome.attempts}
                finish(i, Completion(text="", error=error, batch=True, meta=meta))
            return None
        batch_id = outcome.value.id
        if journal is not None:
            journal.batch_submitted(batch_id, ids)
        log.info("anthropic batch %s: %d requests submitted", batch_id, len(ids))
        return batch_id, ids

    def _collect_all(
        self,
        pending: list[tuple[str, dict[str, int]]],
        start: float,
        finish: OnResult,
        journal: BatchGate | None,
    ) -> None:
        """Poll every pending batch each ``poll_interval_s`` until it ends (the API ends
        every batch within 24 h, expiring what it did not process), reading each one's
        results as soon as it ends. A batch that cannot be polled or read fails its requests
        at their worst case (it may have been billed). It stays pending in the journal, so
        a later run collects it, unless the API answered 404: a batch it does not know will
        never end, so it is marked collected and a later run sends its requests again (under
        the cap: their worst case is already charged)."""
        batches = self._client.messages.batches
        secret = self._secret()
        polls = {batch_id: 0 for batch_id, _ in pending}
        waiting = list(pending)
        while waiting:
            still = []
            for batch_id, ids in waiting:
                polls[batch_id] += 1
                outcome = call_with_retries(
                    lambda batch_id=batch_id: batches.retrieve(batch_id),
                    self.policy,
                    index=polls[batch_id],
                    transient=self._transient,
                    secret=secret,
                    what=f"anthropic batch {batch_id} poll",
                )
                if outcome.error is not None:
                    self._lost(batch_id, ids, outcome.error, start, finish)
                    if outcome.status == 404 and journal is not None:
                        journal.batch_ended(batch_id)
                elif outcome.value.processing_status == "ended":
                    self._read_results(batch_id, ids, polls[batch_id], start, finish, journal)
                else:
                    still.append((batch_id, ids))
            waiting = still
            if waiting:
                time.sleep(self.poll_interval_s)

    def _lost(
        self, batch_id: str, ids: dict[str, int], reason: str, start: float, finish: OnResult
    ) -> None:
        error = one_line(BATCH_POLL_FAILED.format(batch_id=batch_id, reason=reason))
        latency = time.perf_counter() - start
        for i in ids.values():
            meta = {"batch_id": batch_id}
            finish(i, Completion(text="", latency_s=latency, error=error, batch=True, meta=meta,
                                 usage_reported=False))  # fmt: skip

    def _read_results(
        self,
        batch_id: str,
        ids: dict[str, int],
        polls: int,
        start: float,
        finish: OnResult,
        journal: BatchGate | None,
    ) -> None:
        """Read an ended batch's results into ``finish``; requests without a result get an
        error; the journal hears the batch is collected."""
        outcome = call_with_retries(
            lambda: list(self._client.messages.batches.results(batch_id)),
            self.policy,
            index=0,
            transient=self._transient,
            secret=self._secret(),
            what=f"anthropic batch {batch_id} results",
        )
        if outcome.error is not None:
            self._lost(batch_id, ids, outcome.error, start, finish)
            return
        seen: set[str] = set()
        for row in outcome.value:
            index = ids.get(row.custom_id)
            if index is None or row.custom_id in seen:
                continue
            seen.add(row.custom_id)
            finish(index, self._batch_completion(row, batch_id, polls, start))
        latency = time.perf_counter() - start
        missing = BATCH_RESULT_MISSING.format(batch_id=batch_id)
        for cid, index in ids.items():
            if cid not in seen:
                meta = {"batch_id": batch_id}
                finish(index, Completion(text="", latency_s=latency, error=missing, batch=True,
                                         meta=meta))  # fmt: skip
        if journal is not None:
            journal.batch_ended(batch_id)
        log.info("anthropic batch %s: ended, %d results read", batch_id, len(seen))

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
