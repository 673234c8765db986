"""The workspace's record of every LLM job's cap, every paid attempt and every batch.

Three tables (written only here): ``llm_jobs``, one row per job (:func:`analysis.rerank.budget.
job_key`) with its cap; ``llm_spend``, one row per attempt: reserved at its worst case
before it is sent, then settled with what it was charged; and ``llm_batches``, one row per
request of every Message Batch a job submitted (the batch id, the request's ``custom_id`` and
cache key, and the attempt that paid for it), written the moment the API returns the batch id
and marked collected once the batch's answers are stored. What a job has spent is the sum of
its charges plus its reservations still open, counted at their worst case, so a job killed
mid-call still counts that call (see :mod:`analysis.rerank.budget`); a job killed while its
batches run leaves them pending here, and its next run collects them instead of submitting
them again, settling their open reservations with what the answers cost.

Rows are written in bulk from a DataFrame (DuckDB's ``executemany`` takes ~1 ms a row, far
too slow for a batch of 100,000 requests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from analysis.workspace import Workspace

__all__ = ["BatchRow", "JobCap", "SpendLedger"]

#: one request of a submitted batch: (custom_id, request_key, attempt_id)
BatchRow = tuple[str, str, str | None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_jobs (
    job_key VARCHAR PRIMARY KEY,
    backend VARCHAR,
    model VARCHAR,
    cap_usd DOUBLE,
    created_at TIMESTAMP,
    updated_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS llm_spend (
    attempt_id VARCHAR PRIMARY KEY,
    job_key VARCHAR NOT NULL,
    request_key VARCHAR,
    state VARCHAR NOT NULL,
    reserved_usd DOUBLE NOT NULL,
    charged_usd DOUBLE,
    status INTEGER,
    reason VARCHAR,
    created_at TIMESTAMP,
    settled_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS llm_batches (
    batch_id VARCHAR NOT NULL,
    job_key VARCHAR NOT NULL,
    custom_id VARCHAR NOT NULL,
    request_key VARCHAR NOT NULL,
    attempt_id VARCHAR,
    submitted_at TIMESTAMP,
    collected_at TIMESTAMP
);
"""


#: what a job has been charged, counting open reservations at their worst case
_SPENT_SQL = (
    "SELECT coalesce(sum(CASE WHEN state = 'reserved' THEN reserved_usd ELSE charged_usd END), "
    "0) FROM llm_spend WHERE job_key = ?"
)


@dataclass(frozen=True)
class JobCap:
    """A job's cap as the workspace holds it.

    Attributes:
        cap_usd: the cap in force (None: no cap).
        spent_before_usd: what earlier runs of this job were charged or still hold reserved.
        note: one line when the cap was changed explicitly this time, else "".
    """

    cap_usd: float | None
    spent_before_usd: float
    note: str = ""


class SpendLedger:
    """The ``llm_jobs`` and ``llm_spend`` tables of a workspace: every job's cap and every
    attempt's reservation and charge. Each write is one short transaction."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        with workspace.connect() as con:
            con.execute(_SCHEMA)

    def has_jobs(self, backend: str, model: str) -> bool:
        """Whether any job of this backend and model ever ran here (reads only): a dry run
        asks before naming its own job, which means building every prompt."""
        with self.workspace.connect(read_only=True) as con:
            row = con.execute("SELECT count(*) FROM llm_jobs WHERE backend = ? AND model = ?",
                              [backend, model]).fetchall()
        return bool(row[0][0])

    def job(self, key: str) -> JobCap | None:
        """Job ``key``'s cap and spend so far, or None if it never ran (reads only)."""
        with self.workspace.connect(read_only=True) as con:
            row = con.execute("SELECT cap_usd FROM llm_jobs WHERE job_key = ?", [key]).fetchall()
            if not row:
                return None
            spent = con.execute(_SPENT_SQL, [key]).fetchall()[0][0]
        cap = row[0][0]
        return JobCap(None if cap is None else float(cap), float(spent))

    def open_job(self, key: str, cap_usd: float | None, backend: str, model: str) -> JobCap:
        """The cap of job ``key``: the one given, else the one stored by an earlier run."""
        now = _now()
        with self.workspace.connect() as con:
            row = con.execute("SELECT cap_usd FROM llm_jobs WHERE job_key = ?", [key]).fetchall()
            note = ""
            if not row:
                con.execute(
                    "INSERT INTO llm_jobs VALUES (?, ?, ?, ?, ?, ?)",
                    [key, backend, model, cap_usd, now, now],
                )
                cap = cap_usd
            elif cap_usd is None:
                cap = row[0][0]
            else:
                cap = cap_usd
                old = row[0][0]
                if old != cap_usd:
                    con.execute(
                        "UPDATE llm_jobs SET cap_usd = ?, updated_at = ? WHERE job_key = ?",
                        [cap_usd, now, key],
                    )
                    was = "no cap" if old is None else f"${old:.6f}"
                    note = f"budget cap changed from {was} to ${cap_usd:.6f} for this job"
            spent = con.execute(_SPENT_SQL, [key]).fetchall()[0][0]
        return JobCap(None if cap is None else float(cap), float(spent), note)

    def reserve(self, key: str, rows: Sequence[tuple[str, str, float]]) -> None:
        """Record reservations ``(attempt_id, request_key, worst_usd)`` before sending."""
        if not rows:
            return
        now = _now()
        df = pd.DataFrame(
            {
                "attempt_id": [a for a, _, _ in rows],
                "request_key": [r for _, r, _ in rows],
                "reserved_usd": [float(w) for _, _, w in rows],
            }
        )
        self._write_frame(
            df,
            "INSERT INTO llm_spend (attempt_id, job_key, request_key, state, reserved_usd, "
            "created_at) SELECT attempt_id, ?, request_key, 'reserved', reserved_usd, ? FROM df",
            [key, now],
        )

    def _write_frame(self, df: pd.DataFrame, sql: str, params: list) -> None:
        """Run one statement over the rows of ``df`` (registered as ``df``), in one
        transaction: a row at a time, DuckDB took 17 s for 20,000 rows."""
        with self.workspace.connect() as con:
            con.register("df", df)
            con.execute(sql, params)

    def settle(self, rows: Sequence[tuple[str, str, float, int | None, str | None]]) -> None:
        """Record outcomes ``(attempt_id, state, charged_usd, status, reason)``."""
        if not rows:
            return
        now = _now()
        df = pd.DataFrame(
            {
                "attempt_id": [r[0] for r in rows],
                "state": [r[1] for r in rows],
                "charged_usd": [float(r[2]) for r in rows],
                "status": pd.array([r[3] for r in rows], dtype="Int32"),
                "reason": pd.array([r[4] for r in rows], dtype="string"),
            }
        )
        self._write_frame(
            df,
            "UPDATE llm_spend SET state = df.state, charged_usd = df.charged_usd, "
            "status = df.status, reason = df.reason, settled_at = ? FROM df "
            "WHERE llm_spend.attempt_id = df.attempt_id",
            [now],
        )

    # -- Message Batches -------------------------------------------------------------------

    def record_batch(self, key: str, batch_id: str, rows: Sequence[BatchRow]) -> None:
        """Record that job ``key`` submitted batch ``batch_id`` holding ``rows``
        ``(custom_id, request_key, attempt_id)``, in one transaction."""
        if not rows:
            return
        df = pd.DataFrame(
            {
                "custom_id": [r[0] for r in rows],
                "request_key": [r[1] for r in rows],
                "attempt_id": pd.array([r[2] for r in rows], dtype="string"),
            }
        )
        self._write_frame(
            df,
            "INSERT INTO llm_batches SELECT ?, ?, custom_id, request_key, attempt_id, ?, "
            "NULL FROM df",
            [batch_id, key, _now()],
        )

    def batch_collected(self, batch_id: str) -> None:
        """Mark batch ``batch_id`` collected: its answers are stored, no run reads it again."""
        with self.workspace.connect() as con:
            con.execute(
                "UPDATE llm_batches SET collected_at = ? WHERE batch_id = ?", [_now(), batch_id]
            )

    def pending_batches(self, key: str) -> dict[str, list[BatchRow]]:
        """The batches job ``key`` submitted and never collected (a killed run's), each as
        its rows ``(custom_id, request_key, attempt_id)``, in submission order."""
        with self.workspace.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT batch_id, custom_id, request_key, attempt_id FROM llm_batches "
                "WHERE job_key = ? AND collected_at IS NULL ORDER BY submitted_at, batch_id",
                [key],
            ).fetchall()
        out: dict[str, list[BatchRow]] = {}
        for batch_id, cid, request_key, attempt_id in rows:
            out.setdefault(batch_id, []).append((cid, request_key, attempt_id))
        return out

    def open_reservations(self, attempt_ids: Sequence[str]) -> dict[str, float]:
        """The worst case of each attempt among ``attempt_ids`` still reserved (unsettled)."""
        ids = [a for a in attempt_ids if a]
        if not ids:
            return {}
        with self.workspace.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT attempt_id, reserved_usd FROM llm_spend WHERE state = 'reserved' AND "
                "attempt_id IN (SELECT unnest(?))",
                [ids],
            ).fetchall()
        return {a: float(w) for a, w in rows}

    def attempts(self, key: str):
        """Every attempt of job ``key`` as a DataFrame (tests and audits)."""
        with self.workspace.connect(read_only=True) as con:
            return con.execute(
                "SELECT * FROM llm_spend WHERE job_key = ? ORDER BY created_at, attempt_id", [key]
            ).df()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
