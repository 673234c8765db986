"""The one interface every LLM backend implements.

Backends only move text: prompt building, output parsing and the fallback order live once
in the reranker (:mod:`analysis.rerank.prompts`, :mod:`analysis.rerank.parsing`,
:mod:`analysis.rerank`). Every backend reports usage in the same :class:`Usage` shape so the
cost model treats every provider alike. The backends are registered, and built by name,
in :mod:`models.llm.registry` (re-exported by the package: ``from models.llm import
make_backend``); this module knows no implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "AttemptGate",
    "BatchGate",
    "Completion",
    "LLMBackend",
    "LLMRequest",
    "ScoringBackend",
    "Usage",
]


@dataclass(frozen=True)
class LLMRequest:
    """One prompt.

    Attributes:
        system: the shared instruction prefix (identical for every user of a job, so a
            provider can cache it).
        user: the per-user part (history and candidates).
        max_tokens: upper bound on generated tokens.
        temperature: sampling temperature (0 = greedy / deterministic where supported).
        key: cache key of this call (set by the job; backends echo it, never interpret it).
    """

    system: str
    user: str
    max_tokens: int = 512
    temperature: float = 0.0
    key: str = ""


@dataclass(frozen=True)
class Usage:
    """Tokens of one call, as the provider billed them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_tokens + other.cache_creation_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
        )


@dataclass(frozen=True)
class Completion:
    """The answer to one :class:`LLMRequest`.

    Attributes:
        text: the generated text ("" when the call failed).
        usage: billed tokens (zero when nothing was billed).
        latency_s: wall time of the call, retries included.
        stop_reason: provider's reason (``"end_turn"``, ``"max_tokens"``, ``"stop"``,
            ``"length"``...), None if unknown.
        error: one-line reason when the call failed after its retries (never contains a key).
        batch: True when billed through a batch API (half price at Anthropic).
        meta: provider extras (request id, attempts), JSON-able.
        usage_reported: True when ``usage`` is what the server said it billed (zero for an
            answer the server refused outright, such as a batch request it expired); False
            when nothing proves what the call cost (no usage in the response, a connection
            lost mid-answer), so the job charges the request's worst case.
    """

    text: str
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    stop_reason: str | None = None
    error: str | None = None
    batch: bool = False
    meta: dict = field(default_factory=dict)
    usage_reported: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None


#: called once per finished request, as soon as it finishes: (index in the input, result)
OnResult = Callable[[int, Completion], None]


@runtime_checkable
class AttemptGate(Protocol):
    """The job's say over every paid attempt a backend makes (first tries and retries).

    A backend that sends requests over the network asks :meth:`reserve` before each attempt
    and reports each attempt that failed with :meth:`failed`; an attempt that returned an
    answer is settled by the job when the answer reaches ``on_result``. This is how the
    budget cap bounds real spend: every attempt is reserved at its worst case before it is
    sent, whatever happens to it afterwards.
    """

    def reserve(self, index: int) -> str | None:
        """Before an attempt of request ``index``: None to send it (its worst case is now
        reserved), else the one-line reason it must not be sent (cap reached, job stopped)."""
        ...

    def release(self, index: int) -> None:
        """Give back a reservation whose attempt was not sent after all."""
        ...

    def failed(self, index: int, *, status: int | None, reason: str, unusable: bool) -> None:
        """After an attempt of request ``index`` that raised: settle its reservation.

        Args:
            status: the HTTP status of the failure (None for a lost connection, a timeout,
                or an answer that could not be read).
            reason: one line, no key.
            unusable: the server answered (HTTP 200) but the body could not be read.
        """
        ...


@runtime_checkable
class BatchGate(AttemptGate, Protocol):
    """An :class:`AttemptGate` that also keeps a job's Message Batches: reserves a whole
    batch in one go, journals every submitted batch so a killed job's next run collects it
    instead of submitting it again, and hears when each batch ends (progress).

    Indices are positions in the ``requests`` the backend was given.
    """

    def reserve_batch(self, indices: list[int]) -> tuple[list[int], str | None]:
        """Reserve the first attempt of the longest prefix of ``indices`` that fits, in one
        write; returns that prefix and, when it is shorter, why the rest must not be sent."""
        ...

    def submitted_batches(self) -> list[tuple[str, dict[str, int]]]:
        """Batches an earlier run submitted and never collected: ``(batch_id, {custom_id:
        index})``. Their requests are collected from them, never submitted again."""
        ...

    def batch_submitted(self, batch_id: str, ids: dict[str, int]) -> None:
        """Batch ``batch_id`` (``{custom_id: index}``) was created: journal it durably."""
        ...

    def batch_ended(self, batch_id: str) -> None:
        """Every result of batch ``batch_id`` went to ``on_result``: it is collected."""
        ...


@runtime_checkable
class LLMBackend(Protocol):
    """A chat model that answers batches of prompts."""

    name: str  # "anthropic" | "transformers" | "openai" (| "fake" in tests)
    model: str

    def complete(
        self,
        requests: Sequence[LLMRequest],
        *,
        on_result: OnResult | None = None,
        gate: AttemptGate | None = None,
    ) -> list[Completion]:
        """Answer every request (concurrently or batched, as the backend can).

        Must return one Completion per request, in order; a request that fails after the
        backend's retries returns a Completion with ``error`` set instead of raising, so a
        job never loses the calls that did succeed. ``on_result`` is called for each one as
        soon as it is known (possibly from another thread), so the caller can persist it.
        A backend that pays per call asks ``gate`` before every attempt (see
        :class:`AttemptGate`); a local one may ignore it.
        """
        ...

    def count_tokens(self, requests: Sequence[LLMRequest]) -> list[int]:
        """Input tokens of each request as this model counts them (for estimates)."""
        ...


@runtime_checkable
class ScoringBackend(LLMBackend, Protocol):
    """A local model that can also score text (likelihood mode)."""

    def score(
        self, requests: Sequence[LLMRequest], candidates: Sequence[Sequence[str]]
    ) -> list[np.ndarray]:
        """Log-probability of each candidate text as the continuation of each prompt.

        Returns one float64 array per request, aligned with its candidates (sum of token
        log-probabilities of the candidate text after the prompt's assistant turn starts).
        """
        ...
