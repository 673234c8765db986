"""Long work (training a baseline, an LLM rerank) runs outside the app's script runs.

A :class:`JobManager` runs each job in a background thread of the server process, so
switching pages, moving a widget or reloading the browser neither stops nor loses it; any
session can read its live progress and cancel it. The latest state of every job is also
written to the workspace's ``jobs`` table, so a restarted server still lists what ran (a job
that was running when the server stopped is shown as interrupted; a rerank resumed later
pays nothing twice thanks to the call cache).

There is one manager per workspace file per process (:func:`get_job_manager`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Callable

from analysis._files import jsonable
from analysis.errors import AnalysisError
from analysis.workspace import Workspace

__all__ = ["JobContext", "JobManager", "JobStatus", "get_job_manager"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id VARCHAR PRIMARY KEY,
    kind VARCHAR,
    title VARCHAR,
    state VARCHAR,
    progress DOUBLE,
    message VARCHAR,
    detail VARCHAR,
    run_id VARCHAR,
    error VARCHAR,
    started_at TIMESTAMP,
    finished_at TIMESTAMP
)
"""

RUNNING_STATES = ("queued", "running")


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of one job.

    Attributes:
        job_id: id.
        kind: ``baseline`` or ``rerank``.
        title: what it does, for a list.
        state: ``queued``, ``running``, ``done``, ``failed``, ``cancelled`` or
            ``interrupted`` (the server stopped while it ran).
        progress: fraction done in [0, 1].
        message: the latest progress line.
        detail: live figures (users done, fell back, tokens, dollars, elapsed, eta...).
        run_id: the run it saved, when done.
        error: one-line reason when failed.
    """

    job_id: str
    kind: str
    title: str
    state: str = "queued"
    progress: float = 0.0
    message: str = ""
    detail: dict = field(default_factory=dict)
    run_id: str | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.state in RUNNING_STATES


class JobContext:
    """What a job function receives: report progress, check for cancellation."""

    def __init__(self, manager: "JobManager", job_id: str) -> None:
        self._manager = manager
        self.job_id = job_id

    def progress(self, fraction: float, message: str = "", **detail) -> None:
        self._manager._update(self.job_id, progress=max(0.0, min(1.0, float(fraction))),
                              message=message, detail=jsonable(detail) if detail else None)

    @property
    def cancelled(self) -> bool:
        return self._manager._cancel_flags.get(self.job_id, threading.Event()).is_set()


class JobManager:
    """Runs jobs in daemon threads; keeps their status in memory and in the workspace."""

    #: seconds between writes of progress to the workspace (memory is always current)
    persist_every_s = 1.0

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._lock = threading.Lock()
        self._jobs: dict[str, JobStatus] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._cancel_flags: dict[str, threading.Event] = {}
        self._persisted_at: dict[str, float] = {}
        with workspace.connect() as con:
            con.execute(_SCHEMA)
            # jobs of an earlier server process cannot still be running
            con.execute("UPDATE jobs SET state = 'interrupted', finished_at = now() "
                        "WHERE state IN ('queued', 'running')")

    def submit(self, kind: str, title: str, fn: Callable[[JobContext], str | None]) -> str:
        """Start ``fn(ctx)`` in the background; it returns the id of the run it saved."""
        job_id = uuid.uuid4().hex[:12]
        status = JobStatus(job_id, kind, title, state="running",
                           started_at=datetime.now(UTC).replace(tzinfo=None))
        with self._lock:
            self._jobs[job_id] = status
            self._cancel_flags[job_id] = threading.Event()
        self._persist(status, force=True)
        thread = threading.Thread(target=self._run, args=(job_id, fn), daemon=True,
                                  name=f"weakspot-job-{job_id}")
        self._threads[job_id] = thread
        thread.start()
        return job_id

    def _run(self, job_id: str, fn: Callable[[JobContext], str | None]) -> None:
        ctx = JobContext(self, job_id)
        try:
            run_id = fn(ctx)
        except AnalysisError as err:
            self._finish(job_id, "failed", error=str(err))
        except Exception as exc:  # a bug: keep the server alive, show one line, log it all
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            self._finish(job_id, "failed", error=f"internal error: {type(exc).__name__}: {exc}")
        else:
            state = "cancelled" if ctx.cancelled else "done"
            self._finish(job_id, state, run_id=run_id, progress=1.0)

    def _finish(self, job_id: str, state: str, **changes) -> None:
        changes["finished_at"] = datetime.now(UTC).replace(tzinfo=None)
        self._update(job_id, state=state, **changes)
        self._persist(self.get(job_id), force=True)

    def _update(self, job_id: str, detail: dict | None = None, **changes) -> None:
        with self._lock:
            cur = self._jobs[job_id]
            if detail is not None:
                changes["detail"] = {**cur.detail, **detail}
            new = replace(cur, **changes)
            self._jobs[job_id] = new
        self._persist(new)

    def _persist(self, status: JobStatus, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._persisted_at.get(status.job_id, 0.0) < self.persist_every_s:
            return
        self._persisted_at[status.job_id] = now
        try:
            with self.workspace.connect() as con:
                con.execute(
                    "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [status.job_id, status.kind, status.title, status.state, status.progress,
                     status.message, json.dumps(jsonable(status.detail)), status.run_id,
                     status.error, status.started_at, status.finished_at],
                )
        except AnalysisError:  # the workspace is busy: memory stays current, retry later
            self._persisted_at[status.job_id] = 0.0

    def get(self, job_id: str) -> JobStatus:
        with self._lock:
            if job_id in self._jobs:
                return self._jobs[job_id]
        for status in self.jobs():
            if status.job_id == job_id:
                return status
        raise AnalysisError(f"No job {job_id!r} in this workspace.")

    def jobs(self, kind: str | None = None) -> list[JobStatus]:
        """This process's jobs and earlier ones from the workspace, newest first."""
        with self._lock:
            live = dict(self._jobs)
        with self.workspace.connect(read_only=True) as con:
            rows = con.execute("SELECT * FROM jobs ORDER BY started_at DESC").fetchall()
        out = dict(live)
        for r in rows:
            if r[0] not in out:
                out[r[0]] = JobStatus(r[0], r[1], r[2], r[3], r[4] or 0.0, r[5] or "",
                                      json.loads(r[6] or "{}"), r[7], r[8], r[9], r[10])
        items = [s for s in out.values() if kind is None or s.kind == kind]
        return sorted(items, key=lambda s: s.started_at or datetime.min, reverse=True)

    def active(self) -> list[JobStatus]:
        """Jobs of this process still running (memory only: cheap enough for every rerun)."""
        with self._lock:
            return [s for s in self._jobs.values() if s.active]

    def cancel(self, job_id: str) -> None:
        """Ask a running job to stop at its next checkpoint (calls already made are kept)."""
        flag = self._cancel_flags.get(job_id)
        if flag is not None:
            flag.set()
            self._update(job_id, message="cancelling...")

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        """Block until the job ends (tests, CLI)."""
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)
        return self.get(job_id)


_MANAGERS: dict[str, JobManager] = {}
_MANAGERS_LOCK = threading.Lock()


def get_job_manager(workspace: Workspace) -> JobManager:
    """The process-wide manager of this workspace file (created on first use)."""
    key = workspace.path if not workspace.in_memory else f"memory:{id(workspace)}"
    with _MANAGERS_LOCK:
        if key not in _MANAGERS:
            _MANAGERS[key] = JobManager(workspace)
        return _MANAGERS[key]
