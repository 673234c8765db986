"""The workspace's record of every LLM job's cap and every paid attempt.

Two tables (written only here): ``llm_jobs``, one row per job (:func:`analysis.rerank.budget.
job_key`) with its cap, and ``llm_spend``, one row per attempt: reserved at its worst case
before it is sent, then settled with what it was charged. What a job has spent is the sum of
its charges plus its reservations still open, counted at their worst case, so a job killed
mid-call still counts that call (see :mod:`analysis.rerank.budget`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from analysis.workspace import Workspace

__all__ = ["JobCap", "SpendLedger"]

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
        now = _now()
        self._write(
            "INSERT INTO llm_spend (attempt_id, job_key, request_key, state, reserved_usd, "
            "created_at) VALUES (?, ?, ?, 'reserved', ?, ?)",
            [(a, key, r, float(w), now) for a, r, w in rows],
        )

    def settle(self, rows: Sequence[tuple[str, str, float, int | None, str | None]]) -> None:
        """Record outcomes ``(attempt_id, state, charged_usd, status, reason)``."""
        now = _now()
        self._write(
            "UPDATE llm_spend SET state = ?, charged_usd = ?, status = ?, reason = ?, "
            "settled_at = ? WHERE attempt_id = ?",
            [(s, float(c), st, r, now, a) for a, s, c, st, r in rows],
        )

    def _write(self, sql: str, rows: list[tuple]) -> None:
        """One short transaction for all ``rows`` (nothing when there are none)."""
        if rows:
            with self.workspace.connect() as con:
                con.executemany(sql, rows)

    def attempts(self, key: str):
        """Every attempt of job ``key`` as a DataFrame (tests and audits)."""
        with self.workspace.connect(read_only=True) as con:
            return con.execute(
                "SELECT * FROM llm_spend WHERE job_key = ? ORDER BY created_at, attempt_id", [key]
            ).df()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
