"""The DuckDB workspace: one file holding every ingested dataset (and, later, runs and caches).

Layout of the file:

* ``schema_version(version INTEGER)``: one row, :data:`SCHEMA_VERSION`; later issues bump it
  and migrate (run tables, the LLM call cache) without touching the dataset tables.
* ``datasets``: the catalog, one row per dataset: ``name`` (unique, user-facing), ``id``
  (internal, never reused), ``table_prefix`` (``ds_000001``), ``created_at``, ``source``,
  ``kind``, ``relevance_threshold``, ``n_users``, ``n_items``, ``n_interactions``, ``stats``
  (JSON: ingest report, resolved column mapping, warnings).
* per dataset, tables named by the internal id, so renaming is one catalog ``UPDATE``:
  ``<prefix>_interactions(user_id, item_id, rating DOUBLE, ts BIGINT)`` with raw ids in their
  native type (``BIGINT`` or ``VARCHAR``), ``<prefix>_users(user_id, ...)`` and
  ``<prefix>_items(item_id, title, genres, ...)`` when given. Later per-dataset tables (runs)
  should reuse the prefix: :meth:`Workspace.delete_dataset` drops every ``<prefix>_*`` table.

Concurrency: DuckDB lets one process open a database file for writing at a time (the
threads of that process share one database instance); another process cannot open the file
at all while it is held, and the lock lasts as long as any connection of the holder is open.
So nothing keeps the workspace open longer than one short operation:

* :meth:`Workspace.connect` opens a connection per operation and closes it at once. Every
  connection is read-write (DuckDB refuses, within one process, connections of mixed modes).
* Long work never holds a connection while it computes or waits on a model, a network or a
  user: ingest stages and builds its tables in a private temporary database and copies them
  in with one short transaction; a job trains first and writes its run afterwards.
* A process that finds the file held waits, retrying with exponential backoff and jitter,
  for at most ``lock_wait_s`` seconds (env ``WEAKSPOT_LOCK_WAIT_S``, default 30), then raises
  :data:`WORKSPACE_LOCKED`, naming the holder's PID and what it runs (program and
  subcommand only, never its arguments). :func:`is_lock_error` tells that error apart.
* What must not be lost does not depend on the lock: a finished run is written to its folder
  first and listed once the workspace is free (:mod:`analysis.runs.store`), and a job's final state
  is written again until it lands (:mod:`analysis.jobs.manager`).
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from analysis.errors import AnalysisError, surface_hints

__all__ = [
    "DEFAULT_LOCK_WAIT_S",
    "DEFAULT_WORKSPACE",
    "LOCK_WAIT_ENV",
    "SCHEMA_VERSION",
    "WORKSPACE_ENV",
    "Workspace",
    "backoff_delays",
    "describe_process",
    "is_lock_error",
    "validate_dataset_name",
]

SCHEMA_VERSION = 1
#: serialises opening and closing DuckDB files in this process: two threads opening the same
#: file at once can race in DuckDB's database cache ("Unique file handle conflict")
_OPEN_CLOSE = threading.Lock()
#: serialises creating the schema of a new workspace file in this process
_SCHEMA_LOCK = threading.Lock()
WORKSPACE_ENV = "WEAKSPOT_WORKSPACE"
LOCK_WAIT_ENV = "WEAKSPOT_LOCK_WAIT_S"
DEFAULT_LOCK_WAIT_S = 30.0
DEFAULT_WORKSPACE = Path(__file__).resolve().parent.parent / "data" / "workspace.duckdb"

_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_. -]{0,62}[A-Za-z0-9_.-])?")

BAD_NAME = (
    "Dataset name {name!r} is not allowed: use 1-64 letters, digits, '-', '_', '.' or spaces "
    "(not starting or ending with a space)."
)
# Messages name no server path (the workspace by its file name at most) and no argument or
# flag: what to do on each surface is a hint registered with surface_hints.
NAME_TAKEN = surface_hints(
    "A dataset named {name!r} already exists in this workspace.",
    app="Choose another name, or rename or delete the existing one on the Data page.",
    cli="Pass --replace to replace it, or --name to pick another name.",
)
NO_SUCH_DATASET = (
    "No dataset named {name!r} in this workspace; known datasets: {known}. "
    "Ingest it first or check the spelling."
)
WORKSPACE_LOCKED = surface_hints(
    "The workspace {file} is in use by {holder} (DuckDB lets one process write at a time); "
    "waited {waited:.0f} s. Let it finish or stop it, then retry.",
    cli="Or use another workspace (--workspace / WEAKSPOT_WORKSPACE), or wait longer "
    "(WEAKSPOT_LOCK_WAIT_S, seconds).",
)
BAD_LOCK_WAIT = "{env} must be a number of seconds >= 0, got {value!r}."
NEWER_SCHEMA = (
    "The workspace {file} was written by a newer Weakspot (schema {found} > {supported}); "
    "upgrade Weakspot or use another workspace."
)

LIST_COLUMNS = [
    "name",
    "n_users",
    "n_items",
    "n_interactions",
    "kind",
    "created_at",
    "source",
    "relevance_threshold",
]

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE SEQUENCE IF NOT EXISTS dataset_id_seq START 1;
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL UNIQUE,
    table_prefix VARCHAR NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    source VARCHAR,
    kind VARCHAR NOT NULL,
    relevance_threshold DOUBLE NOT NULL,
    n_users BIGINT NOT NULL,
    n_items BIGINT NOT NULL,
    n_interactions BIGINT NOT NULL,
    has_users BOOLEAN NOT NULL,
    has_items BOOLEAN NOT NULL,
    stats JSON
);
"""


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


def _lock_wait_from_env() -> float:
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


def validate_dataset_name(name: str) -> str:
    """Check a dataset name and return it unchanged.

    Args:
        name: letters, digits, ``-``, ``_``, ``.`` and inner spaces; 1-64 characters.

    Returns:
        The name.

    Raises:
        AnalysisError: the name is empty, too long or holds other characters.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise AnalysisError(BAD_NAME.format(name=name))
    return name


class Workspace:
    """A DuckDB file holding datasets side by side under user-chosen names.

    Args:
        path: the DuckDB file, or ``":memory:"`` (one private in-memory database, kept alive
            by this object; for tests and :func:`analysis.ingest.dataset_from_frames`).
            ``None``: the env var ``WEAKSPOT_WORKSPACE``, else ``<repo>/data/workspace.duckdb``.
        lock_wait_s: how long :meth:`connect` waits for another process to release the
            file before giving up. ``None``: the env var ``WEAKSPOT_LOCK_WAIT_S``, else
            :data:`DEFAULT_LOCK_WAIT_S`.

    Raises:
        AnalysisError: ``WEAKSPOT_LOCK_WAIT_S`` is not a number >= 0.
    """

    def __init__(
        self, path: str | os.PathLike | None = None, *, lock_wait_s: float | None = None
    ) -> None:
        if path is None:
            path = os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE
        self.lock_wait_s = _lock_wait_from_env() if lock_wait_s is None else float(lock_wait_s)
        self.in_memory = str(path) == ":memory:"
        self.path: str = ":memory:" if self.in_memory else str(Path(path).expanduser())
        self._memory_con: duckdb.DuckDBPyConnection | None = None
        self._schema_ready = False
        if self.in_memory:
            self._memory_con = duckdb.connect(":memory:")

    def __repr__(self) -> str:
        return f"Workspace({self.path!r})"

    # -- connections -------------------------------------------------------------------

    @contextmanager
    def connect(
        self, read_only: bool = False, *, wait_s: float | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection, closed when the ``with`` block ends.

        Keep the block short: while it is open no other process can open the workspace.

        Args:
            read_only: the caller only reads. Connections are always opened read-write:
                DuckDB refuses, within one process, a connection whose mode differs from
                one already open to the same file, so mixing modes across the app's threads
                (a page reading while a background job writes) would fail. The flag is kept
                as documentation of intent.
            wait_s: how long to wait for another process holding the file; ``None``: this
                workspace's ``lock_wait_s``; 0: one attempt.

        Yields:
            A DuckDB connection with the workspace schema in place.

        Raises:
            AnalysisError: another process still held the file after the wait
                (:data:`WORKSPACE_LOCKED`, :func:`is_lock_error` is true), or the file was
                written by a newer schema.
        """
        con = self._open(self.lock_wait_s if wait_s is None else wait_s)
        try:
            if not self._schema_ready:
                with _SCHEMA_LOCK:  # threads opening a new workspace at once would conflict
                    self._ensure_schema(con)
            yield con
        finally:
            with _OPEN_CLOSE:
                con.close()

    def _open(self, wait_s: float) -> duckdb.DuckDBPyConnection:
        if self._memory_con is not None:
            return self._memory_con.cursor()
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        delays = backoff_delays()
        while True:
            try:
                with _OPEN_CLOSE:
                    return duckdb.connect(self.path)  # read-write: see connect()
            except (duckdb.ConnectionException, duckdb.IOException) as exc:
                if not is_lock_error(exc):
                    raise
                waited = time.monotonic() - start
                if waited >= wait_s:
                    raise AnalysisError(
                        WORKSPACE_LOCKED.format(
                            file=Path(self.path).name, holder=_holder(exc), waited=waited
                        )
                    ) from exc
                time.sleep(min(next(delays), wait_s - waited))

    def _ensure_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        has_version = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = 'schema_version'"
        ).fetchall()[0][0]
        if has_version:
            row = con.execute("SELECT max(version) FROM schema_version").fetchall()[0]
            found = row[0] if row[0] is not None else 0
            if found > SCHEMA_VERSION:
                raise AnalysisError(
                    NEWER_SCHEMA.format(
                        file=Path(self.path).name, found=found, supported=SCHEMA_VERSION
                    )
                )
            if found == SCHEMA_VERSION:
                self._schema_ready = True
                return
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(_SCHEMA_SQL)
            con.execute("DELETE FROM schema_version")
            con.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])
            con.execute("COMMIT")
        except duckdb.InvalidInputException:  # read-only connection to an old/empty file
            con.execute("ROLLBACK")
            return
        self._schema_ready = True

    # -- catalog -----------------------------------------------------------------------

    def _catalog_ready(self, con: duckdb.DuckDBPyConnection) -> bool:
        return bool(
            con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = 'main' AND table_name = 'datasets'"
            ).fetchall()[0][0]
        )

    def list_datasets(self) -> pd.DataFrame:
        """All datasets, oldest first.

        Returns:
            DataFrame with columns ``name``, ``n_users``, ``n_items``, ``n_interactions``,
            ``kind`` (``explicit``/``count``/``implicit``), ``created_at`` (timestamp),
            ``source`` (the path or ``"DataFrame"``) and ``relevance_threshold``.
        """
        with self.connect(read_only=True) as con:
            if not self._catalog_ready(con):
                return pd.DataFrame({c: [] for c in LIST_COLUMNS})
            return con.execute(
                f"SELECT {', '.join(LIST_COLUMNS)} FROM datasets ORDER BY created_at, id"
            ).df()

    def has_dataset(self, name: str) -> bool:
        """Whether a dataset called ``name`` exists."""
        with self.connect(read_only=True) as con:
            if not self._catalog_ready(con):
                return False
            n = con.execute("SELECT count(*) FROM datasets WHERE name = ?", [name]).fetchall()
            return n[0][0] > 0

    def dataset_info(self, name: str) -> dict:
        """The catalog row of one dataset as a dict (``stats`` parsed from JSON).

        Raises:
            AnalysisError: no such dataset.
        """
        with self.connect(read_only=True) as con:
            row = self._catalog_row(con, name)
        row = dict(row)
        row["stats"] = json.loads(row["stats"]) if row.get("stats") else {}
        return row

    def _catalog_row(self, con: duckdb.DuckDBPyConnection, name: str) -> dict:
        cur = con.execute("SELECT * FROM datasets WHERE name = ?", [name])
        rows = cur.fetchall()
        if not rows:
            known = con.execute("SELECT name FROM datasets ORDER BY name").fetchall()
            known_txt = ", ".join(repr(k[0]) for k in known) or "none"
            raise AnalysisError(NO_SUCH_DATASET.format(name=name, path=self.path, known=known_txt))
        return dict(zip([d[0] for d in cur.description], rows[0], strict=True))

    def rename_dataset(self, old: str, new: str) -> None:
        """Rename a dataset (one catalog update; its tables keep their internal names).

        Raises:
            AnalysisError: ``old`` does not exist, ``new`` is invalid or already taken.
        """
        validate_dataset_name(new)
        with self.connect() as con:
            self._catalog_row(con, old)
            if old == new:
                return
            if con.execute("SELECT count(*) FROM datasets WHERE name = ?", [new]).fetchall()[0][0]:
                raise AnalysisError(NAME_TAKEN.format(name=new, path=self.path))
            con.execute("UPDATE datasets SET name = ? WHERE name = ?", [new, old])

    def delete_dataset(self, name: str) -> None:
        """Delete a dataset: its catalog row and every ``<prefix>_*`` table, in one transaction.

        Raises:
            AnalysisError: no such dataset.
        """
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                self.drop_dataset_tables(con, name)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def drop_dataset_tables(self, con: duckdb.DuckDBPyConnection, name: str) -> None:
        """Drop a dataset's tables and catalog row on an open connection (no transaction).

        For callers that already run a transaction (``ingest(..., replace=True)``).
        """
        prefix = self._catalog_row(con, name)["table_prefix"]
        for table in self.dataset_tables(con, prefix):
            con.execute(f'DROP TABLE "{table}"')
        con.execute("DELETE FROM datasets WHERE name = ?", [name])

    @staticmethod
    def dataset_tables(con: duckdb.DuckDBPyConnection, prefix: str) -> list[str]:
        """Names of the tables that belong to the dataset with this table prefix."""
        rows = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND NOT temporary AND starts_with(table_name, ?) "
            "ORDER BY table_name",
            [prefix + "_"],
        ).fetchall()
        return [r[0] for r in rows]

    def table_names(self) -> list[str]:
        """Every permanent table in the workspace (for diagnostics and tests)."""
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = 'main' AND NOT temporary ORDER BY table_name"
            ).fetchall()
        return [r[0] for r in rows]
