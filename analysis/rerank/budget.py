"""The money of a rerank job: its cap, and every paid attempt reserved before it is sent.

The budget cap bounds what a job can be billed, whatever goes wrong (definitions also in
``docs/metrics.md``, "Spend and the budget cap"):

* **Worst case of an attempt**: ``input_bound * max(input, cache-write, cache-read price)
  + max_tokens * output price`` (times the batch discount in batch mode), where
  ``input_bound`` is the prompt's UTF-8 byte count plus :data:`FRAMING_TOKENS`: no
  byte-level tokenizer makes more tokens than bytes, so the bound holds whether the token
  count was exact or estimated.
* **Reserve before sending**: an attempt (a first try or a retry) is sent only if what this
  job has been charged, plus every reservation still open, plus its own worst case, fits
  in the cap. Reservations are written to the workspace (``llm_spend``,
  :mod:`~analysis.rerank.ledger`) before the attempt
  is sent, so a job killed mid-call still counts that call at its worst case.
* **Charge after**: an answer with usage within the request's own maximum is charged its
  usage; an answer without usage, a lost connection, a timeout, a 5xx or an unreadable
  answer is charged the worst case (nothing proves it cost less); a refusal with a 4xx
  status or 529 (overloaded), which bill nothing, is charged $0; usage beyond the request's
  maximum (more output than ``max_tokens``, more input than the bound) is charged as
  reported and stops the job at once.
* **The cap belongs to the job**: a job is its backend, model, mode and prompts
  (:func:`job_key`); running it again continues the same cap and the same spend; a
  different cap must be given explicitly.
* **Failures that will repeat stop the job**: a refused key (401, 403) at the first answer;
  requests the server calls invalid (400, 404, 413, 422) after
  :data:`REQUEST_ERRORS_TO_STOP`; :data:`FAILURES_TO_STOP` paid attempts in a row that
  failed.
* **Batches resumed, not paid twice**: a Message Batch submitted by a run that was then
  killed keeps its reservations open (at worst case) in the workspace; the next run
  adopts them (:meth:`JobBudget.adopt`), collects the batch and settles them with what the answers
  cost, instead of submitting the requests again.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from analysis.rerank.ledger import JobCap, SpendLedger

__all__ = [
    "FAILURES_TO_STOP",
    "FRAMING_TOKENS",
    "REQUEST_ERRORS_TO_STOP",
    "JobBudget",
    "JobCap",
    "SpendLedger",
    "input_bounds",
    "job_key",
    "overbilled",
]

#: tokens a provider may add around a prompt (roles, message framing), on top of its bytes
FRAMING_TOKENS = 64
#: requests refused as invalid (400, 404, 413, 422) before the job stops
REQUEST_ERRORS_TO_STOP = 3
#: paid attempts in a row that failed (lost connections, 5xx, unreadable answers) before
#: the job stops: each may have been billed at its worst case
FAILURES_TO_STOP = 8
#: HTTP statuses that prove the server billed nothing: it refused before doing any work
_UNBILLED = frozenset({400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 529})
_AUTH = frozenset({401, 403})
_REQUEST = frozenset({400, 404, 413, 422})

AUTH_REFUSED = (
    "The server refused the API key ({reason}); the key came from {source}. Fix or replace "
    "it and run again: nothing more was sent."
)
REQUESTS_REFUSED = (
    "The server refused {n} requests as invalid ({reason}); every user's request would fail "
    "the same way, so the job stopped."
)
OVERBILLED = (
    "The server billed {what}: charged as reported (${usd:.6f}) and the job stopped, since a "
    "server that bills past a request's own maximum is not one to keep paying."
)
SERVER_FAILING = (
    "{n} attempts in a row failed ({reason}); each may have been billed at its worst case, so "
    "the job stopped. Check the server and run again: answers already paid for are kept."
)
CAP_REACHED = (
    "Stopped at the budget cap: ${spent:.6f} of ${cap:.6f} charged or reserved, and the next "
    "attempt could cost up to ${next:.6f}. Raise the budget to go further: answers already "
    "paid for are reused."
)
CANCELLED = "Cancelled: nothing more was sent."

def job_key(backend: str, model: str, mode: str, request_keys: Iterable[str]) -> str:
    """SHA-256 naming a job: its backend, model, mode and the set of its prompts' keys."""
    digest = hashlib.sha256(f"{backend}\0{model}\0{mode}".encode())
    for key in sorted(set(request_keys)):
        digest.update(b"\0" + key.encode())
    return digest.hexdigest()


def input_bounds(texts: Sequence[str]) -> np.ndarray:
    """Upper bound on the input tokens of each prompt: UTF-8 bytes plus
    :data:`FRAMING_TOKENS` (a byte-level tokenizer never makes more tokens than bytes)."""
    return np.fromiter(
        (len(t.encode("utf-8")) + FRAMING_TOKENS for t in texts), dtype=np.int64, count=len(texts)
    )


def overbilled(
    input_tokens: int, output_tokens: int, *, input_bound: int, max_tokens: int
) -> str | None:
    """What a reported usage bills beyond the request's own maximum, in words; None if
    nothing. ``input_tokens`` counts every input token (uncached, cache write, cache read)."""
    if output_tokens > max_tokens:
        return f"{output_tokens:,} output tokens for a request capped at max_tokens={max_tokens:,}"
    if input_tokens > input_bound:
        return f"{input_tokens:,} input tokens for a prompt of at most {input_bound:,}"
    return None


@dataclass
class _Attempt:
    attempt_id: str
    index: int
    reserved_usd: float


class JobBudget:
    """The in-memory side of a job's money: admission, the gate backends ask before every
    attempt, charges, and the decision to stop. Thread-safe.

    Args:
        ledger: where reservations and charges are written (None: memory only).
        key: the job's key (:func:`job_key`).
        cap: the job's cap and earlier spend (:meth:`SpendLedger.open_job`).
        worst_usd: worst case of one attempt of each request (plan order).
        request_keys: the cache key of each request (plan order), recorded per attempt.
        key_source: where the API key came from, in words, for the refused-key message.
    """

    def __init__(
        self,
        ledger: SpendLedger | None,
        key: str,
        cap: JobCap,
        worst_usd: np.ndarray,
        request_keys: Sequence[str],
        *,
        key_source: str = "the backend's settings",
    ) -> None:
        self.ledger = ledger
        self.key = key
        self.cap_usd = cap.cap_usd
        self.spent_before_usd = cap.spent_before_usd
        self.worst_usd = np.asarray(worst_usd, dtype=np.float64)
        self.request_keys = list(request_keys)
        self.key_source = key_source
        self.charged_usd = 0.0
        self.charged_by_request = np.zeros(len(self.worst_usd))
        self.attempts = 0
        self.paid_attempts = 0
        self.stop_reason: str | None = None
        #: "budget", "cancelled" or "fatal" (a failure that would repeat)
        self.stop_kind: str | None = None
        self._open: dict[int, _Attempt] = {}
        self._prepaid: dict[int, _Attempt] = {}
        self._reserved = 0.0
        self._request_errors = 0
        self._failures_in_a_row = 0
        self._pending: list[tuple[str, str, float, int | None, str | None]] = []
        self._lock = threading.RLock()

    # -- what the job reads ----------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.stop_reason is not None

    @property
    def fatal(self) -> bool:
        return self.stop_kind == "fatal"

    @property
    def committed_usd(self) -> float:
        """Earlier runs' spend + this run's charges + reservations still open."""
        with self._lock:
            return self.spent_before_usd + self.charged_usd + self._reserved

    def cheapest_blocked(self, indices: Sequence[int]) -> float | None:
        """The cheapest worst case among ``indices`` when even it does not fit, else None."""
        if self.cap_usd is None or not len(indices):
            return None
        cheapest = float(self.worst_usd[list(indices)].min())
        return cheapest if self.committed_usd + cheapest > self.cap_usd + 1e-15 else None

    # -- admission -------------------------------------------------------------------------

    def admit(self, indices: Sequence[int]) -> list[int]:
        """Reserve the first attempt of the longest prefix of ``indices`` that fits.

        The reservations are written in one transaction before the call. Returns the
        admitted prefix; when not even the first fits, the job stops at the cap.
        """
        with self._lock:
            if self.stopping:
                return []
            admitted: list[_Attempt] = []
            for i in indices:
                worst = float(self.worst_usd[i])
                if not self._fits(worst):
                    if not admitted:
                        self._stop_at_cap(worst)
                    break
                attempt = _Attempt(uuid.uuid4().hex, int(i), worst)
                self._reserved += worst
                admitted.append(attempt)
            self._write_reservations(admitted)
            for attempt in admitted:
                self._prepaid[attempt.index] = attempt
            return [a.index for a in admitted]

    def _fits(self, worst: float) -> bool:
        if self.cap_usd is None:
            return True
        return self.spent_before_usd + self.charged_usd + self._reserved + worst <= (
            self.cap_usd + 1e-15
        )

    def _stop_at_cap(self, worst: float) -> None:
        spent = self.spent_before_usd + self.charged_usd + self._reserved
        self._stop(
            "budget", CAP_REACHED.format(spent=spent, cap=self.cap_usd or 0.0, next=worst)
        )

    def _write_reservations(self, attempts: Sequence[_Attempt]) -> None:
        self.attempts += len(attempts)
        if self.ledger is not None and attempts:
            self.ledger.reserve(
                self.key,
                [(a.attempt_id, self.request_keys[a.index], a.reserved_usd) for a in attempts],
            )

    # -- the gate (called by backends, from their threads) ---------------------------------

    def reserve(self, index: int) -> str | None:
        """Before an attempt of request ``index``: None to send it, else why not."""
        with self._lock:
            if self.stopping:
                self._release_prepaid(index)
                return self.stop_reason
            prepaid = self._prepaid.pop(index, None)
            if prepaid is not None:
                self._open[index] = prepaid
                return None
            worst = float(self.worst_usd[index])
            if not self._fits(worst):
                self._stop_at_cap(worst)
                return self.stop_reason
            attempt = _Attempt(uuid.uuid4().hex, int(index), worst)
            self._reserved += worst
            self._write_reservations([attempt])  # durable before the attempt is sent
            self._open[index] = attempt
            return None

    def release(self, index: int) -> None:
        """A reserved attempt of request ``index`` was not sent: nothing is charged."""
        with self._lock:
            attempt = self._open.pop(index, None) or self._prepaid.pop(index, None)
            if attempt is not None:
                self._settle(attempt, 0.0, "released", None, "not sent")
                self.attempts -= 1

    def _release_prepaid(self, index: int) -> None:
        attempt = self._prepaid.pop(index, None)
        if attempt is not None:
            self._settle(attempt, 0.0, "released", None, "not sent")
            self.attempts -= 1

    def failed(self, index: int, *, status: int | None, reason: str, unusable: bool) -> None:
        """An attempt of request ``index`` raised: charge its worst case unless the status
        proves the server billed nothing, and stop the job on a failure that would repeat."""
        with self._lock:
            attempt = self._open.pop(index, None)
            if attempt is None:
                return
            unbilled = status in _UNBILLED
            charge = 0.0 if unbilled else attempt.reserved_usd
            self._settle(attempt, charge, "failed", status, reason)
            if status in _AUTH:
                self._stop("fatal", AUTH_REFUSED.format(reason=reason, source=self.key_source))
            elif status in _REQUEST:
                self._request_errors += 1
                if self._request_errors >= REQUEST_ERRORS_TO_STOP:
                    self._stop(
                        "fatal", REQUESTS_REFUSED.format(n=self._request_errors, reason=reason)
                    )
            elif not unbilled:
                self._failures_in_a_row += 1
                if self._failures_in_a_row >= FAILURES_TO_STOP:
                    self._stop("fatal", SERVER_FAILING.format(n=self._failures_in_a_row,
                                                              reason=reason))  # fmt: skip

    # -- answers (called by the job) -------------------------------------------------------

    def answered(self, index: int, usd: float | None, over: str | None = None) -> float:
        """Settle the open attempt of request ``index`` from its answer.

        Args:
            usd: the answer's cost from its reported usage; None when the answer does not
                say (the worst case is charged).
            over: what the usage bills beyond the request's maximum (:func:`overbilled`):
                charged as reported, and the job stops.

        Returns:
            The dollars charged (0 when no attempt was open: not sent, or already settled).
        """
        with self._lock:
            attempt = self._open.pop(index, None) or self._prepaid.pop(index, None)
            if attempt is None:
                return 0.0
            charge = attempt.reserved_usd if usd is None else float(usd)
            self._settle(attempt, charge, "answered", 200, over)
            self._failures_in_a_row = 0
            if over is not None:
                self._stop("fatal", OVERBILLED.format(what=over, usd=charge))
            return charge

    def adopt(self, index: int, attempt_id: str, reserved_usd: float) -> None:
        """Take over an earlier run's open reservation ``attempt_id`` of request ``index``
        (its batch was submitted, then the run was killed): it moves from the earlier spend
        to this run's open reservations, and the answer settles it (:meth:`answered`)."""
        with self._lock:
            attempt = _Attempt(attempt_id, int(index), float(reserved_usd))
            self.spent_before_usd -= attempt.reserved_usd
            self._reserved += attempt.reserved_usd
            self._open[attempt.index] = attempt

    def open_attempt(self, index: int) -> str | None:
        """The id of request ``index``'s open attempt (None: none open)."""
        with self._lock:
            attempt = self._open.get(index)
            return None if attempt is None else attempt.attempt_id

    def cancel(self) -> None:
        with self._lock:
            self._stop("cancelled", CANCELLED)

    def close_wave(self) -> None:
        """After a wave: release first attempts that were never sent, write the charges."""
        with self._lock:
            for index in list(self._prepaid):
                self._release_prepaid(index)
        self.flush()

    def flush(self) -> None:
        """Write the charges settled so far (one transaction)."""
        with self._lock:
            pending, self._pending = self._pending, []
        if self.ledger is not None and pending:
            self.ledger.settle(pending)

    # -- internals -------------------------------------------------------------------------

    def _settle(
        self, attempt: _Attempt, charge: float, state: str, status: int | None, reason: str | None
    ) -> None:
        self._reserved -= attempt.reserved_usd
        if abs(self._reserved) < 1e-12:
            self._reserved = 0.0
        self.charged_usd += charge
        self.charged_by_request[attempt.index] += charge
        if charge > 0:
            self.paid_attempts += 1
        self._pending.append((attempt.attempt_id, state, charge, status, reason))

    def _stop(self, kind: str, reason: str) -> None:
        if self.stop_reason is None or (kind == "fatal" and self.stop_kind != "fatal"):
            self.stop_reason, self.stop_kind = reason, kind
