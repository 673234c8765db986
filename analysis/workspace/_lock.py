"""Waiting for the workspace file: lock errors, who holds the file, backoff and the wait.

Private module of :mod:`analysis.workspace`. DuckDB lets one process open a database file
for writing at a time; a process that finds the file held retries with exponential backoff
and jitter for at most its wait, then raises :data:`WORKSPACE_LOCKED`, naming the holder's
PID and what it runs (program and subcommand only, never its arguments).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from analysis.errors import AnalysisError, surface_hints

#: serialises opening and closing DuckDB files in this process: two threads opening the same
#: file at once can race in DuckDB's database cache ("Unique file handle conflict")
OPEN_CLOSE = threading.Lock()
LOCK_WAIT_ENV = "WEAKSPOT_LOCK_WAIT_S"
DEFAULT_LOCK_WAIT_S = 30.0

WORKSPACE_LOCKED = surface_hints(
    "The workspace {file} is in use by {holder} (DuckDB lets one process write at a time); "
    "waited {waited:.0f} s. Let it finish or stop it, then retry.",
    cli="Or use another workspace (--workspace / WEAKSPOT_WORKSPACE), or wait longer "
    "(WEAKSPOT_LOCK_WAIT_S, seconds).",
)
BAD_LOCK_WAIT = "{env} must be a number of seconds >= 0, got {value!r}."

_PID_RE = re.compile(r"PID (\d+)")
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}")


def is_lock_error(err: BaseException) -> bool:
    """Whether ``err`` says that another process (or connection) holds the workspace.

    True for the :class:`AnalysisError` that :meth:`Workspace.connect` raises when it gave
    up waiting, and for the raw DuckDB errors behind it.
    """
    if isinstance(err, AnalysisError):
        return err.__cause__ is not None and is_lock_error(err.__cause__)
    if isinstance(err, duckdb.ConnectionException):
        return True  # this process has the file open with other settings
    return isinstance(err, duckdb.IOException) and "lock" in str(err).lower()


def describe_process(pid: int) -> str:
    """``process <pid> (<program> <subcommand>)``, as much as can be read safely.

    Reads ``/proc/<pid>/cmdline`` where there is one, and shows only the program (the
    script or ``python -m`` module) and a subcommand word after it, never other arguments:
    they may hold paths, keys or prompts.

    Args:
        pid: a process id.

    Returns:
        e.g. ``"process 1234 (python -m analysis ingest)"``, or ``"process 1234"``.
    """
    try:
        raw = Path(f"/proc/{int(pid)}/cmdline").read_bytes()
    except (OSError, ValueError):
        return f"process {pid}"
    argv = [a for a in raw.decode("utf-8", "replace").split("\0") if a]
    if not argv:
        return f"process {pid}"
    words = [Path(argv[0]).name]
    rest = argv[1:]
    if words[0].startswith("python"):
        words = ["python"]
        if rest[:1] == ["-m"] and len(rest) > 1:
            words += ["-m", rest[1]]
            rest = rest[2:]
        elif rest[:1] == ["-c"]:
            words.append("-c")
            rest = []
        elif rest and not rest[0].startswith("-"):
            words = [Path(rest[0]).name]  # a script: its name says more than "python"
            rest = rest[1:]
    if rest and _WORD_RE.fullmatch(rest[0]):
        words.append(rest[0])
    shown = " ".join(w for w in words if _WORD_RE.fullmatch(w) or w in ("-m", "-c"))
    return f"process {pid} ({shown})" if shown else f"process {pid}"


def _holder(exc: BaseException) -> str:
    if isinstance(exc, duckdb.ConnectionException):
        return "another connection of this process opened with other settings"
    found = _PID_RE.search(str(exc))
    return describe_process(int(found.group(1))) if found else "another process"


def backoff_delays(
    first_s: float = 0.05, cap_s: float = 2.0, rng: random.Random | None = None
) -> Iterator[float]:
    """Endless waits between attempts: doubling from ``first_s`` up to ``cap_s``, each drawn
    uniformly from the upper half of its step (jitter keeps waiting processes apart).

    Args:
        first_s: the first step, seconds.
        cap_s: the largest step, seconds.
        rng: random source (tests pass a seeded one).

    Yields:
        Seconds to sleep before the next attempt.
    """
    rng = rng or random.Random()
    step = first_s
    while True:
        yield step * rng.uniform(0.5, 1.0)
        step = min(step * 2.0, cap_s)


def lock_wait_from_env() -> float:
    """Seconds to wait for the file: ``WEAKSPOT_LOCK_WAIT_S``, else :data:`DEFAULT_LOCK_WAIT_S`.

    Raises:
        AnalysisError: the variable is not a number >= 0 (:data:`BAD_LOCK_WAIT`).
    """
    raw = os.environ.get(LOCK_WAIT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_LOCK_WAIT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise AnalysisError(BAD_LOCK_WAIT.format(env=LOCK_WAIT_ENV, value=raw))
    return value


def open_waiting(path: str, wait_s: float) -> duckdb.DuckDBPyConnection:
    """A read-write connection to the DuckDB file ``path``, waiting up to ``wait_s`` seconds
    (backoff with jitter) while another process holds it.

    Raises:
        AnalysisError: still held after the wait (:data:`WORKSPACE_LOCKED`).
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    delays = backoff_delays()
    while True:
        try:
            with OPEN_CLOSE:
                return duckdb.connect(path)  # read-write: see Workspace.connect()
        except (duckdb.ConnectionException, duckdb.IOException) as exc:
            if not is_lock_error(exc):
                raise
            waited = time.monotonic() - start
            if waited >= wait_s:
                raise AnalysisError(
                    WORKSPACE_LOCKED.format(
                        file=Path(path).name, holder=_holder(exc), waited=waited
                    )
                ) from exc
            time.sleep(min(next(delays), wait_s - waited))
