"""A job's state (:class:`JobStatus`), and whether the process that owns a job row still
runs it (:func:`owner_alive`): the PID, host and the process's start time, so a reused PID
is not mistaken for the job's process."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

__all__ = ["JOB_THREAD_ENDED", "RUNNING_STATES", "JobStatus", "owner_alive", "process_start"]

RUNNING_STATES = ("queued", "running")
JOB_THREAD_ENDED = "the job's thread ended without a result (the server may be shutting down)"


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, or None (no /proc)."""
    try:
        text = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    return text.rsplit(")", 1)[-1].split()


def process_start(pid: int) -> str | None:
    """When the process started (clock ticks since boot), to tell it from a reused PID."""
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError, ValueError):
        return False
    fields = _proc_stat(pid)
    return not (fields and fields[0] == "Z")  # a zombie has ended


def owner_alive(pid: int | None, host: str | None, proc_start: str | None) -> bool:
    """Whether the process that wrote a job row may still be running it.

    Args:
        pid, host, proc_start: the row's owner columns (``None`` in rows written before
            owners were recorded: their server is long gone).

    Returns:
        False when the process is gone (or its PID now belongs to another process); True
        when it lives, or runs on another host, where it cannot be checked.
    """
    if pid is None:
        return False
    if host and host != socket.gethostname():
        return True
    if not _pid_alive(int(pid)):
        return False
    now_start = process_start(int(pid))
    return proc_start is None or now_start is None or now_start == proc_start


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of one job.

    Attributes:
        job_id: id.
        kind: ``baseline`` or ``rerank``.
        title: what it does, for a list.
        state: ``queued``, ``running``, ``done``, ``failed``, ``cancelled`` or
            ``interrupted`` (its process or thread ended while it ran).
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

    @property
    def stage(self) -> str:
        """The job's stage in words, one text for every place that shows it (the sidebar, the
        page that launched it): the latest progress line while it runs, then its end state
        (with the note a finished job left, such as a run not listed yet)."""
        if self.active:
            return self.message or "starting"
        note = self.detail.get("note") if self.state == "done" else self.error
        return f"{self.state}: {note}" if note else self.state
