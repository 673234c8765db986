"""Parquet datasets: a folder of part files or a glob, as Spark, Hive and warehouses export them.

Private helper of :mod:`analysis.ingest`. A folder is searched recursively for Parquet files
(recognised by their ``PAR1`` magic bytes, whatever their name: Hive writes ``000000_0``,
Spark ``part-00000-<uuid>.snappy.parquet``); files and folders whose name starts with ``_``
or ``.`` are skipped, as Spark and Hadoop skip them (``_SUCCESS``, ``_temporary/``,
``.part-0.crc``), and so are empty files. A glob (``exports/**/*.parquet``) names its files
directly. The files are read in place by one DuckDB ``read_parquet([...])`` over their sorted
paths, with ``union_by_name`` (part files may differ in their column sets or order: a column
missing from a file reads as NULL) and hive partitioning: every ``key=value`` folder *below*
the folder given becomes a column ``key`` (its type inferred by DuckDB, as Spark does); a
``key=value`` folder above it is not part of the dataset and adds no column. Nothing is
loaded into pandas; row groups of any size are read as they are.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from analysis.errors import AnalysisError
from analysis.ingest._sql import duckdb_path, sql_ident, sql_str, unglob

NO_MATCH = "{file}: no file matches this pattern; check the path."
NO_PARQUET_MATCH = (
    "{file}: the pattern matches {n} file(s) but {bad} is not a Parquet file; a pattern must "
    "name Parquet files only."
)
MIXED_PARTITIONS = (
    "{file}: the part files are partitioned by different folders ({left} in {a}, {right} in "
    "{b}); every part file must sit under the same key=value folders."
)
SET_UNREADABLE = "{file}: could not be read as Parquet ({detail}); check that the files are intact."

_GLOB_CHARS = frozenset("*?[")
_MAGIC = b"PAR1"


def is_glob(text: str) -> bool:
    """Whether ``text`` holds a glob character (``*``, ``?`` or ``[``)."""
    return any(c in _GLOB_CHARS for c in text)


def _is_parquet(path: Path) -> bool:
    try:
        if path.stat().st_size < 12:  # magic + footer length + magic
            return False
        with open(path, "rb") as f:
            return f.read(4) == _MAGIC
    except OSError:
        return False


def folder_parts(root: Path) -> list[Path]:
    """The Parquet part files under folder ``root``, sorted (hidden and ``_`` names skipped)."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        for name in sorted(files):
            if not name.startswith(("_", ".")) and _is_parquet(Path(folder) / name):
                found.append(Path(folder) / name)
    return sorted(found)


def glob_root(pattern: str) -> Path:
    """The folder above a glob's first glob character (where its partition folders start)."""
    parts = Path(pattern).expanduser().parts
    fixed = []
    for p in parts:
        if is_glob(p):
            break
        fixed.append(p)
    return Path(*fixed) if fixed else Path(".")


def glob_parts(pattern: str) -> list[Path]:
    """The files a glob matches (``**`` spans folders), sorted.

    Raises:
        AnalysisError: nothing matches, or a match is not a Parquet file.
    """
    text = os.path.expanduser(pattern)
    matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
    if not matches:
        raise AnalysisError(NO_MATCH.format(file=pattern))
    for p in matches:
        if not _is_parquet(p):
            raise AnalysisError(NO_PARQUET_MATCH.format(file=pattern, n=len(matches), bad=p.name))
    return matches


def _hive_keys(root: Path, parts: list[Path], label: str) -> list[str]:
    """The ``key`` of every ``key=value`` folder between ``root`` and each part file.

    Raises:
        AnalysisError: two part files sit under different keys.
    """
    first: tuple[list[str], Path] | None = None
    for p in parts:
        rel = p.resolve().relative_to(root.resolve()).parts[:-1]
        keys = [seg.split("=", 1)[0] for seg in rel if "=" in seg]
        if first is None:
            first = (keys, p)
        elif keys != first[0]:
            left, right = first[0] or "none", keys or "none"
            raise AnalysisError(
                MIXED_PARTITIONS.format(
                    file=label, left=left, a=first[1].name, right=right, b=p.name
                )
            )
    return first[0] if first else []


@dataclass(frozen=True)
class ParquetParts:
    """A Parquet dataset of several files.

    Attributes:
        root: the folder given (or a glob's fixed folder); partition folders start below it.
        files: the part files, sorted.
        hive: whether ``key=value`` folders below ``root`` add columns.
        exclude: columns DuckDB would take from ``key=value`` folders above ``root``, dropped.
    """

    root: Path
    files: tuple[Path, ...]
    hive: bool
    exclude: tuple[str, ...] = ()

    def sql(self, *, row_numbers: bool = False) -> str:
        """The SQL table expression reading every part (``filename`` and ``file_row_number``
        columns added when ``row_numbers``)."""
        paths = "[" + ", ".join(sql_str(duckdb_path(p)) for p in self.files) + "]"
        opts = f"union_by_name=true, hive_partitioning={str(self.hive).lower()}"
        if row_numbers:
            opts += ", filename=true, file_row_number=true"
        read = f"read_parquet({paths}, {opts})"
        if not self.exclude:
            return read
        dropped = ", ".join(sql_ident(c) for c in self.exclude)
        return f"(SELECT * EXCLUDE ({dropped}) FROM {read})"

    def relative(self, file: str) -> str:
        """A part file's path as messages show it, relative to :attr:`root`."""
        path = Path(unglob(file))
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)


def parquet_parts(root: Path, files: list[Path], label: str) -> tuple[ParquetParts, list[str]]:
    """Describe the dataset of ``files`` under ``root``: ``(parts, column names)``.

    Raises:
        AnalysisError: the parts sit under different partition keys, or cannot be read.
    """
    keys = _hive_keys(root, files, label)
    plain = ParquetParts(root, tuple(files), hive=False)
    try:
        with duckdb.connect() as con:
            file_cols = _describe(con, plain.sql())
            if not keys:
                return plain, file_cols
            hived = ParquetParts(root, tuple(files), hive=True)
            all_cols = _describe(con, hived.sql())
    except duckdb.Error as exc:
        detail = unglob(str(exc).splitlines()[0])
        raise AnalysisError(SET_UNREADABLE.format(file=label, detail=detail)) from exc
    above = tuple(c for c in all_cols if c not in file_cols and c not in keys)
    out = ParquetParts(root, tuple(files), hive=True, exclude=above)
    return out, [c for c in all_cols if c not in above]


def _describe(con: duckdb.DuckDBPyConnection, from_sql: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {from_sql}").fetchall()]
