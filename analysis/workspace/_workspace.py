"""The workspace: a DuckDB file holding datasets side by side, its schema and its catalog.

Private module of :mod:`analysis.workspace` (whose docstring describes the file's layout and
how processes share it).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from analysis.errors import AnalysisError, surface_hints
from analysis.workspace._lock import OPEN_CLOSE, lock_wait_from_env, open_waiting

SCHEMA_VERSION = 1
#: serialises creating the schema of a new workspace file in this process
_SCHEMA_LOCK = threading.Lock()
WORKSPACE_ENV = "WEAKSPOT_WORKSPACE"
DEFAULT_WORKSPACE = Path(__file__).resolve().parents[2] / "data" / "workspace.duckdb"

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
        self.lock_wait_s = lock_wait_from_env() if lock_wait_s is None else float(lock_wait_s)
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
            with OPEN_CLOSE:
                con.close()

    def _open(self, wait_s: float) -> duckdb.DuckDBPyConnection:
        if self._memory_con is not None:
            return self._memory_con.cursor()
        return open_waiting(self.path, wait_s)

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
            row = self.catalog_row(con, name)
        row = dict(row)
        row["stats"] = json.loads(row["stats"]) if row.get("stats") else {}
        return row

    def catalog_row(self, con: duckdb.DuckDBPyConnection, name: str) -> dict:
        """The catalog row of dataset ``name`` on an open connection, as a dict (``stats``
        left as JSON text).

        Raises:
            AnalysisError: no such dataset (:data:`NO_SUCH_DATASET`).
        """
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
            self.catalog_row(con, old)
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
        prefix = self.catalog_row(con, name)["table_prefix"]
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
