"""The ingest, column detection, and the in-memory path.

An ingest does its heavy work (reading the input, staging, checks, merging duplicates, the
k-core, the side tables: :mod:`analysis.ingest._build`) in a private temporary DuckDB file
that no other process sees, and touches the workspace only at the end, in one short
transaction that copies the finished tables in and adds the catalog row
(:mod:`analysis.ingest._commit`). So the workspace stays free for the app and other commands
while a large file is read (DuckDB lets one process write a file at a time), and it is
unchanged whenever the ingest refuses.

The private database is held to a memory limit (:func:`staging_memory_limit`: at most
:data:`MEMORY_CAP`, at most half the machine's RAM, or the environment variable
:data:`MEMORY_ENV`); past it DuckDB spills its sorts, joins and aggregates to a folder beside
the private file, removed with it. ``preserve_insertion_order`` is off there: the stored
tables are read back in sorted order (:func:`analysis.ingest.load_dataset`), so the order in
which DuckDB writes their rows changes no result.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analysis.dataset import Dataset
from analysis.errors import AnalysisError
from analysis.ingest._build import IngestReport, build_tables
from analysis.ingest._columns import (
    ITEM_SYNONYMS,
    USER_SYNONYMS,
    ColumnMapping,
    resolve_mapping,
)
from analysis.ingest._commit import commit_dataset
from analysis.ingest._formats import Format
from analysis.ingest._library_errors import library_errors
from analysis.ingest._load import load_dataset
from analysis.ingest._open import InputSpec, column_types, open_interactions, open_side
from analysis.workspace import NAME_TAKEN, Workspace, validate_dataset_name

BAD_KCORE = "kcore must be a whole number >= 0, got {k!r}."
BAD_THRESHOLD = "relevance_threshold must be a finite number, got {t!r}."
BAD_MEMORY = (
    "{env}={value!r} is not a memory size DuckDB understands; use e.g. 4GB or 512MB, or unset "
    "it for the default."
)

#: environment variable overriding the ingest's DuckDB memory limit (a DuckDB size: "4GB")
MEMORY_ENV = "WEAKSPOT_DUCKDB_MEMORY"
#: the most memory the ingest's private database takes by default, in bytes (4 GiB)
MEMORY_CAP = 4 * 2**30


@library_errors("interactions")
def ingest(
    workspace: Workspace,
    name: str,
    interactions: InputSpec,
    *,
    users: InputSpec | None = None,
    items: InputSpec | None = None,
    fmt: Format = "auto",
    mapping: ColumnMapping = ColumnMapping(),
    relevance_threshold: float = 4.0,
    kcore: int = 0,
    replace: bool = False,
    delimiter: str | None = None,
    header: bool | None = None,
    quoting: bool | None = None,
) -> IngestReport:
    """Read an interaction log (and optional side tables) into the workspace as ``name``.

    Args:
        workspace: where to store it.
        name: dataset name (see :func:`analysis.workspace.validate_dataset_name`).
        interactions: CSV/TSV/Parquet path, MovieLens 100K/1M folder or zip, or a DataFrame.
        users: optional users table (path or DataFrame), one row per user, any attributes;
            MovieLens brings its own.
        items: optional items table with title and genres/categories columns.
        fmt: ``"auto"`` (extension, then sniffing), ``"csv"``, ``"tsv"``, ``"parquet"``
            or ``"movielens"``.
        mapping: explicit column roles; ``None`` fields are auto-detected.
        relevance_threshold: ratings at or above it are relevant (explicit feedback).
        kcore: keep only the k-core (every user and item with >= kcore interactions); 0 = off.
        replace: overwrite an existing dataset of the same name.
        delimiter: field separator of a text file (default: by extension / sniffed).
        header: whether a text file's first line names its columns; ``None`` detects it (a
            headerless file keeps every row; its columns are named by its MovieLens layout,
            else ``column0``, ``column1``, ... and mapped by position).
        quoting: process CSV quotes in a text file; ``None``: for comma and semicolon files
            only (tab, pipe and ``::`` files are read literally).

    Returns:
        The :class:`IngestReport`.

    Raises:
        AnalysisError: any problem with the name or the input; the workspace is unchanged.
    """
    t0 = time.perf_counter()
    validate_dataset_name(name)
    if isinstance(kcore, bool) or not isinstance(kcore, (int, np.integer)) or kcore < 0:
        raise AnalysisError(BAD_KCORE.format(k=kcore))
    try:
        threshold = float(relevance_threshold)
    except (TypeError, ValueError):
        threshold = math.nan
    if not math.isfinite(threshold):
        raise AnalysisError(BAD_THRESHOLD.format(t=relevance_threshold))
    with tempfile.TemporaryDirectory(prefix="weakspot-ingest-") as stage_dir:
        stage_path = Path(stage_dir) / "stage.duckdb"
        report = _stage_dataset(
            workspace, stage_path, name, interactions, users, items, fmt, mapping, threshold,
            kcore, replace, delimiter, header, quoting, t0,
        )  # fmt: skip
        return commit_dataset(workspace, stage_path, report, kcore, replace, t0)


def _stage_dataset(
    workspace: Workspace,
    stage_path: Path,
    name: str,
    interactions: InputSpec,
    users: InputSpec | None,
    items: InputSpec | None,
    fmt: Format,
    mapping: ColumnMapping,
    threshold: float,
    kcore: int,
    replace: bool,
    delimiter: str | None,
    header: bool | None,
    quoting: bool | None,
    t0: float,
) -> IngestReport:
    """Build the dataset's tables (``interactions``, ``users``, ``items``) in the private
    database at ``stage_path``; the workspace is only read, to refuse a taken name early."""
    with ExitStack() as stack:
        con = stack.enter_context(duckdb.connect(str(stage_path)))
        con.execute("SET TimeZone = 'UTC'")
        _limit_memory(con, stage_path.parent / "spill")
        opened = open_interactions(con, stack, interactions, fmt, delimiter, header, quoting)
        src = opened.interactions
        if src.fixed_mapping:
            kind = mapping.value_kind
            m = ColumnMapping(**src.fixed_mapping)
            if kind == "implicit":
                m = ColumnMapping(m.user, m.item, None, m.timestamp, "implicit")
            else:
                m = ColumnMapping(m.user, m.item, m.rating, m.timestamp,
                                  "count" if kind == "count" else "explicit")  # fmt: skip
            warnings: list[str] = []
        else:
            m, warns = resolve_mapping(src.columns, mapping, src.label)
            warnings = list(warns)
        side_users = (
            open_side(con, users, "user", USER_SYNONYMS) if users is not None else opened.users
        )
        side_items = (
            open_side(con, items, "item", ITEM_SYNONYMS) if items is not None else opened.items
        )
        types = column_types(con, src, m)
        if not replace and workspace.has_dataset(name):  # checked again when committing
            raise AnalysisError(NAME_TAKEN.format(name=name, path=workspace.path))
        return build_tables(
            con, name, src, m, types, threshold, kcore, side_users, side_items,
            opened.source_text, warnings, t0,
        )  # fmt: skip


def staging_memory_limit() -> str:
    """The DuckDB memory limit of an ingest's private database.

    ``$WEAKSPOT_DUCKDB_MEMORY`` (:data:`MEMORY_ENV`) when set and not blank, as given (any
    DuckDB size: ``"4GB"``, ``"512MB"``); otherwise ``min(MEMORY_CAP, RAM / 2)`` in whole
    MiB (RAM: the machine's physical memory; :data:`MEMORY_CAP` when it cannot be read).
    The limit covers DuckDB's buffers; the process also holds Python and the libraries.
    """
    value = os.environ.get(MEMORY_ENV, "").strip()
    if value:
        return value
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        ram = 2 * MEMORY_CAP
    return f"{min(MEMORY_CAP, ram // 2) // 2**20}MiB"


def _limit_memory(con: duckdb.DuckDBPyConnection, spill: Path) -> None:
    """Hold ``con`` to :func:`staging_memory_limit`, spilling to ``spill``, without
    insertion order (see the module docstring).

    Raises:
        AnalysisError: :data:`MEMORY_ENV` holds no size DuckDB understands (:data:`BAD_MEMORY`).
    """
    limit = staging_memory_limit()
    try:
        con.execute("SET memory_limit = ?", [limit])
    except duckdb.Error as exc:
        raise AnalysisError(BAD_MEMORY.format(env=MEMORY_ENV, value=limit)) from exc
    con.execute("SET temp_directory = ?", [str(spill)])
    con.execute("SET preserve_insertion_order = false")


@library_errors("path_or_frame")
def detect_columns(
    path_or_frame: InputSpec,
    fmt: Format = "auto",
    *,
    delimiter: str | None = None,
    header: bool | None = None,
    quoting: bool | None = None,
) -> ColumnMapping:
    """The auto-detected column roles of an input, as :func:`ingest` would resolve them.

    Args:
        path_or_frame: a file, MovieLens folder/zip, or DataFrame.
        fmt: as for :func:`ingest`.
        delimiter, header, quoting: as for :func:`ingest`.

    Returns:
        The resolved :class:`ColumnMapping` (``value_kind`` never ``"auto"``).

    Raises:
        AnalysisError: unreadable input, or no user / item column.
    """
    with ExitStack() as stack:
        con = stack.enter_context(duckdb.connect())
        opened = open_interactions(con, stack, path_or_frame, fmt, delimiter, header, quoting)
        src = opened.interactions
        if src.fixed_mapping:
            return ColumnMapping(**src.fixed_mapping, value_kind="explicit")
        return resolve_mapping(src.columns, ColumnMapping(), src.label)[0]


def dataset_from_frames(
    interactions: pd.DataFrame,
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    *,
    name: str = "frames",
    mapping: ColumnMapping = ColumnMapping(),
    relevance_threshold: float = 4.0,
    kcore: int = 0,
) -> Dataset:
    """A :class:`Dataset` straight from DataFrames, by the same rules as :func:`ingest`.

    Runs :func:`ingest` into a private in-memory workspace, then :func:`load_dataset`.

    Raises:
        AnalysisError: as :func:`ingest`.
    """
    ws = Workspace(":memory:")
    ingest(
        ws, name, interactions, users=users, items=items, mapping=mapping,
        relevance_threshold=relevance_threshold, kcore=kcore,
    )  # fmt: skip
    return load_dataset(ws, name)
