"""Long work (training a baseline, an LLM rerank) runs outside the app's script runs.

A :class:`JobManager` runs each job in a background thread of the server process, so
switching pages, moving a widget or reloading the browser neither stops nor loses it; any
session can read its live progress and cancel it. The latest state of every job is also
written to the workspace's ``jobs`` table, so a restarted server still lists what ran (a rerank
resumed later pays nothing twice thanks to the call cache).

Each row names the process that owns the job (PID, host, and the process's start time, so a
reused PID is not mistaken for it). Whoever reads the table reports a queued or running job
whose process is gone, or whose thread in this process has ended, as ``interrupted`` and
writes that back; a job of another live process (a second server, a CLI) is left alone. A
final state the workspace could not take at once (another process held it past the wait) is
kept in memory and written again, with backoff, until it lands; no row stays ``running``
after its job ended.

There is one manager per workspace file per process (:func:`get_job_manager`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import duckdb

from analysis.errors import AnalysisError
from analysis.jobs.status import (
    JOB_THREAD_ENDED,
    JobStatus,
    owner_alive,
    process_start,
)
from analysis.runs.files import jsonable
from analysis.workspace import Workspace, backoff_delays

__all__ = ["JobContext", "JobManager", "get_job_manager"]

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
);
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS pid BIGINT;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS host VARCHAR;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS proc_start VARCHAR;
"""
_COLUMNS = (
    "job_id, kind, title, state, progress, message, detail, run_id, error, started_at, "
    "finished_at, pid, host, proc_start"
)

#: every manager of this process, to tell this process's live jobs from dead ones
_LIVE_MANAGERS: weakref.WeakSet[JobManager] = weakref.WeakSet()


class JobContext:
    """What a job function receives: report progress, check for cancellation."""

    def __init__(self, manager: JobManager, job_id: str) -> None:
        self._manager = manager
        self.job_id = job_id

    def progress(self, fraction: float, message: str = "", **detail) -> None:
        """Report progress: the stored fraction never goes down (a lower ``fraction`` keeps
        the bar where it is and only updates the message), so a bar never runs backwards."""
        self._manager._update(self.job_id, progress=max(0.0, min(1.0, float(fraction))),
                              message=message, detail=jsonable(detail) if detail else None,
                              monotone=True)

    @property
    def cancelled(self) -> bool:
        return self._manager._cancel_flags.get(self.job_id, threading.Event()).is_set()


class JobManager:
    """Runs jobs in daemon threads; keeps their status in memory and in the workspace.

    Args:
        workspace: where the ``jobs`` table lives.

    Raises:
        AnalysisError: the workspace stayed locked by another process past its wait.
    """

    #: seconds between writes of progress to the workspace (memory is always current)
    persist_every_s = 1.0
    #: the longest pause between two attempts to write a final state the workspace refused
    flush_cap_s = 5.0

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._lock = threading.Lock()
        self._db_lock = threading.Lock()
        self._jobs: dict[str, JobStatus] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._cancel_flags: dict[str, threading.Event] = {}
        self._persisted_at: dict[str, float] = {}
        self._unsaved: set[str] = set()  # final states the workspace has not taken yet
        self._flusher: threading.Thread | None = None
        self._pid = os.getpid()
        self._host = socket.gethostname()
        self._proc_start = process_start(self._pid)
        _LIVE_MANAGERS.add(self)
        with workspace.connect() as con:
            con.execute(_SCHEMA)
            # jobs of a process that is gone (an earlier server) cannot still be running
            self._read_rows(con)

    def submit(self, kind: str, title: str, fn: Callable[[JobContext], str | None]) -> str:
        """Start ``fn(ctx)`` in the background; it returns the id of the run it saved."""
        job_id = uuid.uuid4().hex[:12]
        status = JobStatus(job_id, kind, title, state="running",
                           started_at=datetime.now(UTC).replace(tzinfo=None))
        thread = threading.Thread(target=self._run, args=(job_id, fn), daemon=True,
                                  name=f"weakspot-job-{job_id}")
        with self._lock:
            self._jobs[job_id] = status
            self._cancel_flags[job_id] = threading.Event()
            self._threads[job_id] = thread
        self._persist(status, force=True, wait=False)  # never keep the page waiting
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
        except BaseException:  # the thread is being torn down: leave no row "running"
            self._finish(job_id, "interrupted", error=JOB_THREAD_ENDED)
            raise
        else:
            state = "cancelled" if ctx.cancelled else "done"
            self._finish(job_id, state, run_id=run_id, progress=1.0)

    def _finish(self, job_id: str, state: str, **changes) -> None:
        changes["finished_at"] = datetime.now(UTC).replace(tzinfo=None)
        self._update(job_id, state=state, persist=False, **changes)
        self._persist(self.get(job_id), force=True)

    def _update(
        self, job_id: str, detail: dict | None = None, persist: bool = True,
        monotone: bool = False, **changes
    ) -> None:
        with self._lock:
            cur = self._jobs[job_id]
            if monotone and "progress" in changes:
                changes["progress"] = max(cur.progress, changes["progress"])
            if detail is not None:
                changes["detail"] = {**cur.detail, **detail}
            new = replace(cur, **changes)
            self._jobs[job_id] = new
        if persist:
            self._persist(new)

    # -- the jobs table ----------------------------------------------------------------

    def _persist(self, status: JobStatus, force: bool = False, wait: bool = True) -> None:
        """Write a job's state. Progress is written at most every ``persist_every_s`` and
        only when the workspace is free at once; a forced (first or final) write waits for
        the workspace if ``wait``, and if it still cannot be written it is retried in the
        background until it lands."""
        now = time.monotonic()
        if not force and now - self._persisted_at.get(status.job_id, 0.0) < self.persist_every_s:
            return
        self._persisted_at[status.job_id] = now
        with self._lock:
            self._unsaved.add(status.job_id)
        try:
            # one writer of the jobs table at a time in this process: two connections writing
            # one row at once fail with DuckDB's "Conflict on update"
            with self._db_lock, self.workspace.connect(
                wait_s=None if force and wait else 0.0
            ) as con:
                self._write_unsaved(con)
        except AnalysisError as err:  # the workspace is busy: memory stays current
            self._persisted_at[status.job_id] = 0.0
            if force:
                log.warning("job %s: state not saved yet, retrying: %s", status.job_id, err)
                self._start_flusher()

    def _write_unsaved(self, con: duckdb.DuckDBPyConnection) -> None:
        """Write the current state of every job whose latest state is not in the table."""
        with self._lock:
            pending = [self._jobs[j] for j in sorted(self._unsaved)]
        for st in pending:
            con.execute(
                f"INSERT OR REPLACE INTO jobs ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [st.job_id, st.kind, st.title, st.state, st.progress, st.message,
                 json.dumps(jsonable(st.detail)), st.run_id, st.error, st.started_at,
                 st.finished_at, self._pid, self._host, self._proc_start],
            )
        with self._lock:
            for st in pending:
                if self._jobs[st.job_id] is st:  # not changed meanwhile
                    self._unsaved.discard(st.job_id)

    def _start_flusher(self) -> None:
        with self._lock:
            if self._flusher is not None and self._flusher.is_alive():
                return
            self._flusher = threading.Thread(target=self._flush_until_saved, daemon=True,
                                             name="weakspot-jobs-flush")
            self._flusher.start()

    def _flush_until_saved(self) -> None:
        delays = backoff_delays(first_s=0.2, cap_s=self.flush_cap_s)
        while True:
            with self._lock:
                if not self._unsaved:
                    return
            try:
                with self._db_lock, self.workspace.connect() as con:
                    self._write_unsaved(con)
            except AnalysisError:
                time.sleep(next(delays))

    def flush(self, wait_s: float | None = None) -> bool:
        """Write now every state the workspace has not taken yet.

        Args:
            wait_s: how long to wait for the workspace (``None``: its ``lock_wait_s``).

        Returns:
            Whether every state is now in the table.
        """
        try:
            with self.workspace.connect(wait_s=wait_s) as con:
                self._write_unsaved(con)
        except AnalysisError:
            pass
        with self._lock:
            return not self._unsaved

    def _read_rows(self, con: duckdb.DuckDBPyConnection) -> list[JobStatus]:
        """Every row of the table, newest first, with dead owners' jobs marked interrupted
        (and written back)."""
        self._write_unsaved(con)
        rows = con.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY started_at DESC").fetchall()
        out: list[JobStatus] = []
        dead: list[str] = []
        for r in rows:
            st = JobStatus(r[0], r[1], r[2], r[3], r[4] or 0.0, r[5] or "",
                           json.loads(r[6] or "{}"), r[7], r[8], r[9], r[10])
            if st.active:
                mine = r[11] == self._pid and r[12] == self._host and (
                    r[13] is None or r[13] == self._proc_start)
                here = _known_in_this_process(st.job_id) if mine else None
                if here is not None:
                    st = here
                elif mine or not owner_alive(r[11], r[12], r[13]):
                    st = replace(st, state="interrupted", finished_at=datetime.now(UTC)
                                 .replace(tzinfo=None))
                    dead.append(st.job_id)
            out.append(st)
        if dead:
            con.execute(
                "UPDATE jobs SET state = 'interrupted', finished_at = now() "
                "WHERE job_id IN (SELECT unnest(?)) AND state IN ('queued', 'running')",
                [dead],
            )
        return out

    def _memory_status(self, job_id: str) -> JobStatus | None:
        """This manager's live status of a job; a job whose thread ended without finishing
        is marked interrupted."""
        with self._lock:
            st = self._jobs.get(job_id)
            thread = self._threads.get(job_id)
        if st is None:
            return None
        ended = thread is not None and thread.ident is not None and not thread.is_alive()
        if st.active and ended:
            self._update(job_id, persist=False, state="interrupted", error=JOB_THREAD_ENDED,
                         finished_at=datetime.now(UTC).replace(tzinfo=None))
            self._persist(self._jobs[job_id], force=True)
            with self._lock:
                st = self._jobs[job_id]
        return st

    def get(self, job_id: str) -> JobStatus:
        """One job's latest status.

        Raises:
            AnalysisError: no such job in this process or the workspace.
        """
        st = self._memory_status(job_id)
        if st is not None:
            return st
        for status in self.jobs():
            if status.job_id == job_id:
                return status
        raise AnalysisError(f"No job {job_id!r} in this workspace.")

    def jobs(self, kind: str | None = None) -> list[JobStatus]:
        """This process's jobs and earlier ones from the workspace, newest first.

        A queued or running job whose process or thread is gone is reported (and written
        back) as ``interrupted``.
        """
        with self._lock:
            ids = list(self._jobs)
        live = {j: self._memory_status(j) for j in ids}
        with self.workspace.connect(read_only=True) as con:
            rows = self._read_rows(con)
        out = dict(live)
        for st in rows:
            out.setdefault(st.job_id, st)
        items = [s for s in out.values() if kind is None or s.kind == kind]
        return sorted(items, key=lambda s: s.started_at or datetime.min, reverse=True)

    def active(self) -> list[JobStatus]:
        """Jobs of this process still running (memory only: cheap enough for every rerun)."""
        with self._lock:
            ids = list(self._jobs)
        return [s for s in (self._memory_status(j) for j in ids) if s is not None and s.active]

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


def _known_in_this_process(job_id: str) -> JobStatus | None:
    """The live status of a job some manager of this process runs or ran, else None."""
    for manager in list(_LIVE_MANAGERS):
        st = manager._memory_status(job_id)
        if st is not None:
            return st
    return None


_MANAGERS: dict[str, JobManager] = {}
_MANAGERS_LOCK = threading.Lock()


def get_job_manager(workspace: Workspace) -> JobManager:
    """The process-wide manager of this workspace file (created on first use)."""
    key = workspace.path if not workspace.in_memory else f"memory:{id(workspace)}"
    with _MANAGERS_LOCK:
        if key not in _MANAGERS:
            _MANAGERS[key] = JobManager(workspace)
        return _MANAGERS[key]
