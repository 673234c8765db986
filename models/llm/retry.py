"""Retries, backoff and bounded concurrency shared by the HTTP backends.

The provider SDKs' own retries are switched off (``max_retries=0`` on each client) so that
every backend follows one policy, written once here:

* retry on HTTP 408, 429, 529 and every 5xx, on timeouts / connection errors, and on an
  answer whose body cannot be read (a 200 with invalid JSON: ``json.JSONDecodeError``);
* never retry any other 4xx (400, 401, 403, 404, 413, 422...): the same request would fail
  the same way and, at a paid API, cost nothing but time;
* ask the job's :class:`~models.llm.protocol.AttemptGate` before every attempt, first
  tries and retries alike, and report every failed attempt to it: the gate reserves each
  attempt's worst case against the budget and can stop the job (a refused key, the cap);
* wait ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date) when the server sends
  one, else exponential backoff with full jitter: ``uniform(0, min(max, base * 2**n))``
  before retry ``n + 1`` (AWS "full jitter"), from a random generator seeded per request so
  a run's waits are reproducible whatever the thread schedule;
* after ``max_retries`` retries give up with a one-line reason; one failed request never
  raises, so a job keeps the calls that did succeed.

Nothing here imports a provider package: each backend passes its SDK's transient exception
types (timeouts, connection errors); HTTP errors are recognised by their ``status_code``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, TypeVar

from analysis.errors import AnalysisError

__all__ = [
    "CHARS_PER_TOKEN",
    "Outcome",
    "RetryPolicy",
    "call_with_retries",
    "estimate_tokens",
    "one_line",
    "redact",
    "retry_after_s",
    "run_bounded",
    "run_gated",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: characters per token of the offline estimate (English prose and ids average 3.5 to 4)
CHARS_PER_TOKEN = 3.5
#: the longest server-requested wait we honour before retrying (seconds)
MAX_RETRY_AFTER_S = 600.0
#: longest reason kept in Completion.error
MAX_REASON_CHARS = 300
#: HTTP statuses that are worth another try
RETRYABLE_STATUSES = frozenset({408, 429, 529})

BAD_SETTING = "Bad LLM backend setting {name}={value!r}: {rule}."


def check_setting(name: str, value: float, *, minimum: float, integer: bool = False) -> None:
    """Raise AnalysisError unless ``value`` is a number >= ``minimum`` (an int if asked)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer:
        ok = float(value).is_integer()
    if ok:
        ok = math.isfinite(float(value)) and value >= minimum
    if not ok:
        kind = "an integer" if integer else "a number"
        raise AnalysisError(
            BAD_SETTING.format(name=name, value=value, rule=f"use {kind} >= {minimum:g}")
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one request.

    Attributes:
        max_retries: retries after the first attempt (0 = a single attempt).
        backoff_base_s: the first backoff ceiling; it doubles with every retry.
        backoff_max_s: the ceiling no backoff exceeds (a server's retry-after may).
        seed: seeds the jitter; request ``i`` draws from its own generator.
    """

    max_retries: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    seed: int = 0

    def backoff_s(self, retry: int, rng: random.Random) -> float:
        """Full-jitter wait before retry number ``retry`` (0-based)."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2.0**retry))
        return rng.uniform(0.0, ceiling)

    def rng(self, index: int) -> random.Random:
        """The jitter generator of request ``index`` (independent of thread order)."""
        return random.Random(int(self.seed) * 1_000_003 + int(index))


@dataclass(frozen=True)
class Outcome:
    """What one request came to after its retries.

    Attributes:
        value: the SDK's response (None when the request failed).
        error: one-line reason of the failure (None on success).
        attempts: calls made (1 + retries).
        status: HTTP status of the last failed attempt, if any.
        sent: False when the gate refused the first attempt (nothing was sent).
    """

    value: Any
    error: str | None
    attempts: int
    status: int | None = None
    sent: bool = True


def one_line(text: object, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` on one line, whitespace collapsed, cut to ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (a key) replaced by ``***``."""
    if secret and len(secret) >= 4 and secret in text:
        return text.replace(secret, "***")
    return text


def retry_after_s(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, from ``retry-after-ms`` or ``retry-after``.

    ``retry-after-ms`` (milliseconds, sent by Anthropic and OpenAI) wins over
    ``retry-after``, which is either delta-seconds or an HTTP date. Negative, unparsable or
    absent values give None; values are capped at :data:`MAX_RETRY_AFTER_S`.
    """
    if not headers:
        return None
    getter = headers.get
    raw_ms = getter("retry-after-ms") or getter("Retry-After-Ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = None
        if value is not None and math.isfinite(value) and value >= 0:
            return min(value, MAX_RETRY_AFTER_S)
    raw = getter("retry-after") or getter("Retry-After")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        value = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(value) or value < 0:
        return None
    return min(value, MAX_RETRY_AFTER_S)


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _unreadable_answer(exc: BaseException) -> bool:
    """Whether ``exc`` says the server answered but its body could not be read: invalid JSON
    (the SDKs raise ``json.JSONDecodeError``) or an SDK's response-validation error."""
    return isinstance(exc, json.JSONDecodeError) or (
        type(exc).__name__ == "APIResponseValidationError"
    )


def _headers_of(exc: BaseException) -> Mapping[str, str] | None:
    response = getattr(exc, "response", None)
    return getattr(response, "headers", None)


def _describe(exc: BaseException, status: int | None) -> str:
    """A one-line reason: status and the API's own message, else the exception's name."""
    if status is not None:
        message = getattr(exc, "api_message", None) or getattr(exc, "message", None) or ""
        return one_line(f"HTTP {status}: {message}".rstrip(": "))
    text = str(exc)
    return one_line(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    index: int = 0,
    transient: tuple[type[BaseException], ...] = (),
    secret: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    what: str = "request",
    gate: Any = None,
) -> Outcome:
    """Call ``fn`` until it succeeds, fails for good, runs out of retries, or the gate says
    stop.

    Args:
        fn: one attempt (an SDK call); its return value becomes ``Outcome.value``.
        policy: retry count and backoff.
        index: the request's position, which picks its jitter generator.
        transient: exception types that are always retried (the SDK's timeout and
            connection errors). Exceptions carrying an int ``status_code`` are retried when
            the status is 408, 429, 529 or 5xx; anything else fails at once.
        secret: a key to scrub from the error text, should a server echo it.
        sleep: the wait function (tests may pass a fake clock).
        what: names the call in log lines.
        gate: the job's :class:`~models.llm.protocol.AttemptGate` (None: no budget).
            Asked before every attempt; told of every failed one. A successful attempt's
            reservation stays open: the caller's job settles it from the answer's usage.

    Returns:
        The :class:`Outcome`; never raises for an exception of ``fn``.
    """
    rng = policy.rng(index)
    attempts = 0
    last: tuple[str, int | None] | None = None  # the last failure: (reason, status)
    while True:
        if gate is not None:
            refused = gate.reserve(index)
            if refused is not None:
                if last is None:
                    return Outcome(None, refused, attempts, sent=False)
                error = one_line(f"{refused} (after {attempts} failed attempts: {last[0]})")
                return Outcome(None, error, attempts, status=last[1])
        attempts += 1
        try:
            return Outcome(value=fn(), error=None, attempts=attempts)
        except Exception as exc:  # noqa: BLE001 -- one failed request must not end the job
            status = _status_of(exc)
            unusable = status is None and _unreadable_answer(exc)
            reason = redact(_describe(exc, status), secret)
            if unusable:
                reason = one_line(f"unreadable answer: {reason}")
            if gate is not None:
                gate.failed(index, status=status, reason=reason, unusable=unusable)
            last = (reason, status)
            retryable = (
                isinstance(exc, transient)
                or unusable
                or (status is not None and (status in RETRYABLE_STATUSES or 500 <= status < 600))
            )
            if not retryable or attempts > policy.max_retries:
                if retryable:
                    reason = one_line(f"gave up after {attempts} attempts: {reason}")
                # info, not warning: the job reports failures once, in its summary
                log.info("%s %d failed (%d attempts): %s", what, index, attempts, reason)
                return Outcome(value=None, error=reason, attempts=attempts, status=status)
            if gate is not None and getattr(gate, "stopping", False):
                continue  # the job is stopping: the gate refuses the retry, no need to wait
            hinted = retry_after_s(_headers_of(exc)) if status is not None else None
            wait = hinted if hinted is not None else policy.backoff_s(attempts - 1, rng)
            log.info(
                "%s %d: %s; retry %d/%d in %.2f s",
                what,
                index,
                reason,
                attempts,
                policy.max_retries,
                wait,
            )
            sleep(wait)


def run_bounded(
    items: Sequence[T],
    worker: Callable[[int, T], R],
    *,
    concurrency: int,
    on_done: Callable[[int, R], None] | None = None,
) -> list[R]:
    """``[worker(i, item) for i, item in enumerate(items)]`` with at most ``concurrency``
    workers in flight; ``on_done(i, result)`` runs as each one finishes.

    ``worker`` must not raise (wrap failures in its result); ``on_done`` is serialised by a
    lock, so a caller's callback never runs twice at once.
    """
    results: list[Any] = [None] * len(items)
    if not items:
        return results
    lock = threading.Lock()

    def finish(i: int, result: R) -> None:
        results[i] = result
        if on_done is not None:
            with lock:
                on_done(i, result)

    if concurrency <= 1 or len(items) == 1:
        for i, item in enumerate(items):
            finish(i, worker(i, item))
        return results
    with ThreadPoolExecutor(max_workers=min(concurrency, len(items))) as pool:
        futures = {pool.submit(worker, i, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            finish(futures[future], future.result())
    return results


def run_gated(
    requests: Sequence[T],
    one: Callable[[int, T, Any], R],
    *,
    concurrency: int,
    on_result: Callable[[int, R], None] | None,
    gate: Any,
) -> list[R]:
    """:func:`run_bounded` over ``one(index, request, gate)``: how an HTTP backend answers
    a list of requests, each attempt asking the job's gate."""
    return run_bounded(
        requests,
        lambda index, request: one(index, request, gate),
        concurrency=concurrency,
        on_done=on_result,
    )


def estimate_tokens(text: str) -> int:
    """Offline token estimate: ``ceil(len(text) / 3.5)`` (0 for empty text).

    Real tokenizers give 3.5 to 4 characters per token on English prose and numeric ids, so
    this errs on the high side, which is the safe side for a cost estimate.
    """
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def call_timed(
    fn: Callable[[], T], policy: RetryPolicy, **kwargs: Any
) -> tuple[Outcome, float, dict[str, Any], Any]:
    """:func:`call_with_retries` plus what every backend records about a call.

    Returns:
        ``(outcome, latency_s, meta, failed)``: ``meta`` holds the attempts (and the HTTP
        status of a failure); ``failed`` is the error :class:`Completion` to return when
        ``outcome.error`` is set, else None.
    """
    from models.llm.protocol import Completion

    start = time.perf_counter()
    outcome = call_with_retries(fn, policy, **kwargs)
    latency = time.perf_counter() - start
    meta: dict[str, Any] = {"attempts": outcome.attempts}
    failed = None
    if outcome.error is not None:
        if outcome.status is not None:
            meta["status"] = outcome.status
        if not outcome.sent:
            meta["not_sent"] = True
        # every failed attempt was settled with the gate; nothing more is billed here
        failed = Completion(text="", latency_s=latency, error=outcome.error, meta=meta)
    return outcome, latency, meta, failed
