"""Batch mode of a rerank job: the job's side of Message Batches.

In batch mode :func:`~analysis.rerank.execute.execute_rerank` hands every uncached prompt
left to the backend in one wave, and the backend (:mod:`models.llm._anthropic_batch`) does
the rest through the :class:`WaveGate` this module gives it:

* **Split by both caps**: the backend cuts the wave greedily, in order, into as many Message
  Batches as the API's request-count cap and request-body byte cap both need.
* **Reserve each batch at its worst case**: just before a batch is created its requests'
  first attempts are reserved in one write (:meth:`WaveGate.reserve_batch`, through
  :class:`~analysis.rerank.budget.JobBudget`); the requests that do not fit in the job's
  cap are not submitted, and no later batch is.
* **Journal, then resume after a kill**: every created batch is recorded in the workspace
  (``llm_batches``, :mod:`analysis.rerank.ledger`) with its requests' keys and open
  attempts, durably before the next one is created (:meth:`WaveGate.batch_submitted`). A
  killed job's next run finds the recorded batches it never collected
  (:func:`resume_batches`), adopts their still-open reservations and collects them instead
  of submitting their requests again; each batch whose results are all stored is marked
  collected (:meth:`WaveGate.batch_ended`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from analysis.rerank.budget import JobBudget
from analysis.rerank.cache import CallCache
from analysis.rerank.plan import RerankPlan

__all__ = [
    "BatchCounts",
    "BatchJournal",
    "WaveGate",
    "resume_batches",
]


class BatchCounts(Protocol):
    """Where a job counts its batches for its progress line (guarded by ``lock``)."""

    lock: threading.Lock
    batches_submitted: int
    batches_ended: int


@dataclass
class BatchJournal:
    """A batch-mode job's journal: where batches are recorded, the batches a killed run
    left to collect (``(batch_id, {custom_id: plan index})``), and who hears of them."""

    plan: RerankPlan
    budget: JobBudget
    cache: CallCache
    ledger: BatchCounts
    report: Callable[[], None]
    resumed: list[tuple[str, dict[str, int]]]


class WaveGate:
    """The :class:`~models.llm.protocol.AttemptGate` of one wave: maps the backend's
    positions in the wave to the plan's request indices. In batch mode it is also the
    :class:`~models.llm.protocol.BatchGate` that journals the job's batches."""

    def __init__(self, budget: JobBudget, wave: list[int], batches: BatchJournal | None = None):
        self.budget, self.wave, self.batches = budget, wave, batches

    @property
    def stopping(self) -> bool:
        return self.budget.stopping

    def reserve(self, index: int) -> str | None:
        return self.budget.reserve(self.wave[index])

    def release(self, index: int) -> None:
        self.budget.release(self.wave[index])

    def failed(self, index: int, *, status: int | None, reason: str, unusable: bool) -> None:
        self.budget.failed(self.wave[index], status=status, reason=reason, unusable=unusable)

    # -- BatchGate (batch mode) ------------------------------------------------------------

    def reserve_batch(self, indices: list[int]) -> tuple[list[int], str | None]:
        rows = [self.wave[p] for p in indices]
        n = len(self.budget.admit(rows))  # one write for the whole batch
        for i in rows[:n]:
            self.budget.reserve(i)  # the admitted attempt is now the open one
        refused = self.budget.reserve(rows[n]) if n < len(rows) else None  # stops at the cap
        return list(indices[:n]), refused

    def submitted_batches(self) -> list[tuple[str, dict[str, int]]]:
        if self.batches is None:
            return []
        pos = {i: p for p, i in enumerate(self.wave)}
        return [
            (b, {c: pos[i] for c, i in ids.items() if i in pos}) for b, ids in self.batches.resumed
        ]

    def batch_submitted(self, batch_id: str, ids: dict[str, int]) -> None:
        if self.batches is None:
            return
        keys, budget = self.batches.plan.keys, self.budget
        rows = [(c, keys[self.wave[p]], budget.open_attempt(self.wave[p])) for c, p in ids.items()]
        budget.ledger.record_batch(budget.key, batch_id, rows)  # durable before the next one
        with self.batches.ledger.lock:
            self.batches.ledger.batches_submitted += 1
        self.batches.report()

    def batch_ended(self, batch_id: str) -> None:
        if self.batches is None:
            return
        self.batches.cache.flush()  # its answers are stored, and its charges, before
        self.budget.flush()  # the batch is marked collected
        self.budget.ledger.batch_collected(batch_id)
        with self.batches.ledger.lock:
            self.batches.ledger.batches_ended += 1
        self.batches.report()


def resume_batches(plan: RerankPlan, budget: JobBudget, todo: deque) -> list:
    """The batches a killed run of this job submitted and never collected, as ``(batch_id,
    {custom_id: plan index})`` over the requests still unanswered: those leave ``todo`` (they
    are collected, not sent again) and their open reservations are adopted, so their answers
    settle them. A pending batch whose answers are all stored is marked collected."""
    ledger = budget.ledger
    pending = ledger.pending_batches(budget.key)
    if not pending:
        return []
    free: dict[str, int] = {}
    for i in todo:
        free.setdefault(plan.keys[i], i)
    out, adopt = [], []
    for batch_id, rows in pending.items():
        ids = {}
        for cid, key, attempt_id in rows:
            i = free.pop(key, None)
            if i is not None:
                ids[cid] = i
                adopt.append((i, attempt_id))
        if ids:
            out.append((batch_id, ids))
        else:
            ledger.batch_collected(batch_id)
    still_open = ledger.open_reservations([a for _, a in adopt])
    for i, attempt_id in adopt:
        if attempt_id in still_open:
            budget.adopt(i, attempt_id, still_open[attempt_id])
    taken = {i for _, ids in out for i in ids.values()}
    remaining = [i for i in todo if i not in taken]
    todo.clear()
    todo.extend(remaining)
    return out
