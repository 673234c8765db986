"""Input formats for ingest: find and recognise an input, and open Parquet files and frames.

Private helper of :mod:`analysis.ingest`. A :class:`Source` is one table to read (the
interactions, a users file or an items file): a label for messages, the SQL ``FROM`` clause
that reads it through DuckDB (``read_csv`` / ``read_parquet`` / a registered DataFrame), and
what the error path needs to point at a row (the path, delimiter, encoding, header).

Formats: ``csv`` (``,``), ``tsv`` (tab), ``parquet``, and MovieLens 100K / 1M given as a folder
or a ``.zip`` (``u.data``/``u.item``/``u.user``; ``ratings.dat``/``movies.dat``/``users.dat``
with ``::``; latin-1). A file's name never refuses it: an extension other than ``.csv``,
``.tsv``, ``.parquet`` or ``.zip`` (``u.data``, ``ratings.dat``, ``plays.txt``) is decided by
content (Parquet, a MovieLens zip, or delimited text: :mod:`analysis.ingest._text`; MovieLens:
:mod:`analysis.ingest._movielens`). SQL text and paths for DuckDB come from
:mod:`analysis.ingest._sql`; library errors become one line in
:mod:`analysis.ingest._library_errors`.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb
import pandas as pd

from analysis.errors import AnalysisError
from analysis.ingest._library_errors import first_line
from analysis.ingest._parquet_set import (
    ParquetParts,
    folder_parts,
    glob_parts,
    glob_root,
    is_glob,
    parquet_parts,
)
from analysis.ingest._sql import duckdb_path, printable, sql_ident, sql_str, unglob

Format = Literal["auto", "csv", "tsv", "parquet", "movielens"]
FORMATS = ("auto", "csv", "tsv", "parquet", "movielens")

NOT_FOUND = "{file}: no such file or folder; check the path."
UNKNOWN_FORMAT = "Unknown format {fmt!r}; use one of auto, csv, tsv, parquet, movielens."
EMPTY_FILE = "{file}: the file is empty; give a file with a header line and data rows."
NO_DATA_ROWS = "{file}: the file has a header line but no data rows."
BINARY_FILE = (
    "{file}: this is a binary file ({what}), not a text CSV/TSV; give a .csv, .tsv or "
    ".parquet file."
)
BAD_ENCODING = (
    "{file}: row {row} is not valid UTF-8 (byte 0x{byte:02x} at character {pos}); "
    "re-save the file as UTF-8."
)
DUPLICATE_HEADER = (
    "{file}: the header repeats the column name(s) {names} (names are compared "
    "case-insensitively); rename them so that every column is unique."
)
UNREADABLE = "{file}: could not be read as {fmt} ({detail}); check that the file is intact."
NO_PARQUET_FILES = "{file}: this folder holds no Parquet file; give a folder of Parquet part files."
BAD_PATH = "{file}: this path cannot be opened ({detail}); check the path or rename the file."
NOT_A_FILE = "{file}: not a regular file or folder; give a .csv, .tsv or .parquet file."
WIDE_TEXT = (
    "{file}: the file is {encoding} text; re-save it as UTF-8 (e.g. 'CSV UTF-8' in Excel) and "
    "try again."
)
_BINARY_MAGIC = {
    b"\x89PNG": "PNG image",
    b"\xff\xd8\xff": "JPEG image",
    b"GIF8": "GIF image",
    b"%PDF": "PDF document",
    b"PK\x03\x04": "zip archive (an .xlsx workbook is one: export it as CSV)",
    b"\x1f\x8b": "gzip archive (name it .csv.gz)",
    b"SQLite format 3": "SQLite database",
    b"DUCK": "DuckDB database",
}
_TEXT_EXT = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv"}
_PARQUET_EXT = {".parquet", ".pq", ".parq"}
_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


@dataclass
class Source:
    """One readable table.

    Attributes:
        label: how messages name it (the file path, ``ml-100k/u.data`` or ``DataFrame``).
        from_sql: SQL table expression reading it (``read_csv(...)``, a view name).
        kind: ``"csv"`` (text, error rows found by scanning the file), ``"parquet"`` or
            ``"frame"`` (error rows found with a row-number column).
        columns: column names in file order.
        path: the file (text / parquet) or ``None`` for frames.
        delimiter, encoding, header, quoting: how the text file is laid out (``header``:
            its first line names the columns; ``quoting``: CSV quotes are processed).
        frame: the DataFrame for ``kind == "frame"``.
        fixed_mapping: for MovieLens, the known column roles.
        layout: a headerless MovieLens file recognised by content (``"ml-100k u.item"``),
            else ``None``.
        parts: for a folder of Parquet files or a glob, its part files
            (:mod:`analysis.ingest._parquet_set`), else ``None``.
    """

    label: str
    from_sql: str
    kind: Literal["csv", "parquet", "frame"]
    columns: list[str]
    path: Path | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True
    quoting: bool = True
    frame: pd.DataFrame | None = None
    fixed_mapping: dict = field(default_factory=dict)
    layout: str | None = None
    parts: ParquetParts | None = None

    def row_label(self, position: int) -> str:
        """Human row number for a 0-based data-row position (parquet and frames)."""
        if self.kind == "frame":
            return f"{position} (0-based position)"
        return str(position + 1)


# -- sniffing ------------------------------------------------------------------------------


def read_head(path: Path, n: int = 65536) -> bytes:
    """The first ``n`` bytes of a file (decompressed for ``.gz``)."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return f.read(n)
    except (OSError, EOFError, zlib.error) as exc:
        raise AnalysisError(
            UNREADABLE.format(file=path, fmt="text", detail=first_line(exc))
        ) from exc


def wide_text(head: bytes) -> str | None:
    """``"UTF-16"`` / ``"UTF-32"`` when ``head`` is such text (by its byte-order mark, or by
    the NUL byte beside every ASCII character of BOM-less UTF-16)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    sample = head[:4096]
    if len(sample) >= 8:
        even, odd = sample[0::2], sample[1::2]
        for zeros, chars in ((odd, even), (even, odd)):
            if zeros.count(0) >= 0.9 * len(zeros) and chars.count(0) <= 0.1 * len(chars):
                return "UTF-16"
    return None


def binary_kind(head: bytes) -> str | None:
    """What binary file ``head`` starts (a PNG image, a zip archive...), else ``None``."""
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            return what
    if b"\x00" in head[:8192]:
        return "it contains NUL bytes"
    return None


def extension(path: Path) -> str:
    """The lower-case last extension, ``.gz`` skipped (``a.CSV.gz`` -> ``.csv``)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def resolve_format(path: Path, fmt: str) -> str:
    """The concrete format of ``path``: ``csv``, ``tsv``, ``parquet`` or ``movielens``.

    ``.csv``/``.tsv``/``.tab``, ``.parquet``/``.pq``/``.parq`` and ``.zip`` name their format;
    a folder is MovieLens when it holds its files, else Parquet when it holds Parquet part
    files (a Spark/Hive export); a glob (``*``, ``?``, ``[``) that names no existing path
    is a Parquet dataset of the files it matches; any other name (``u.data``, ``ratings.dat``, ``x.txt``) is decided by content: Parquet's
    magic bytes, a zip holding MovieLens files, else text (``csv``, its delimiter sniffed).

    Raises:
        AnalysisError: missing path, unknown format.
    """
    if fmt not in FORMATS:
        raise AnalysisError(UNKNOWN_FORMAT.format(fmt=fmt))
    shown = printable(path)
    if shown != str(path):  # a NUL byte or another control character
        raise AnalysisError(BAD_PATH.format(file=shown, detail="control characters in the name"))
    try:
        exists, is_dir, is_file = path.exists(), path.is_dir(), path.is_file()
    except (OSError, ValueError) as exc:  # a name too long, no permission
        detail = getattr(exc, "strerror", None) or first_line(exc)
        raise AnalysisError(BAD_PATH.format(file=path, detail=detail)) from exc
    if not exists and is_glob(str(path)):
        glob_parts(str(path))  # refuses a pattern matching nothing or a non-Parquet file
        return "parquet"
    if not exists:
        raise AnalysisError(NOT_FOUND.format(file=path))
    if not (is_dir or is_file):  # a FIFO or device would be read forever
        raise AnalysisError(NOT_A_FILE.format(file=path))
    if fmt != "auto":
        return fmt
    if path.is_dir():
        return "parquet" if _is_parquet_folder(path) else "movielens"
    if path.suffix.lower() == ".zip":
        return "movielens"
    ext = extension(path)
    if ext in _PARQUET_EXT:
        return "parquet"
    head = read_head(path, 8)
    if head.startswith(b"PAR1"):
        return "parquet"
    if ext in _TEXT_EXT:
        return _TEXT_EXT[ext]
    if head.startswith(b"PK\x03\x04") and _is_movielens_zip(path):
        return "movielens"
    return "csv"  # delimited text, its delimiter sniffed (binary content is refused there)


def _is_parquet_folder(path: Path) -> bool:
    """A folder without MovieLens files (at its top or one level down) holding Parquet parts."""
    ml = ("u.data", "ratings.dat")
    subs = [path, *(p for p in path.iterdir() if p.is_dir())]
    if any((d / name).is_file() for d in subs for name in ml):
        return False
    return bool(folder_parts(path))


def _is_movielens_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            names = {Path(n).name for n in zf.namelist()}
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return bool(names & {"u.data", "ratings.dat"})


def parquet_source(path: Path, label: str | None = None) -> Source:
    """A Parquet file, a folder of Parquet part files or a glob of Parquet files.

    Raises:
        AnalysisError: the file is not valid Parquet; a folder holds no Parquet file; a glob
            matches nothing or a non-Parquet file; part files sit under different partition
            folders.
    """
    label = label or str(path)
    if path.is_dir() or (not path.exists() and is_glob(str(path))):
        if path.is_dir():
            root, files = path, folder_parts(path)
            if not files:
                raise AnalysisError(NO_PARQUET_FILES.format(file=label))
        else:
            root, files = glob_root(str(path)), glob_parts(str(path))
        parts, cols = parquet_parts(root, files, label)
        return Source(
            label=label, from_sql=parts.sql(), kind="parquet", columns=cols, path=root,
            parts=parts,
        )  # fmt: skip
    if path.stat().st_size == 0:
        raise AnalysisError(EMPTY_FILE.format(file=label))
    from_sql = f"read_parquet({sql_str(duckdb_path(path))})"
    try:
        with duckdb.connect() as con:
            cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {from_sql}").fetchall()]
    except duckdb.Error as exc:
        detail = unglob(str(exc).splitlines()[0])
        raise AnalysisError(UNREADABLE.format(file=label, fmt="Parquet", detail=detail)) from exc
    return Source(label=label, from_sql=from_sql, kind="parquet", columns=cols, path=path)


def frame_source(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, view: str) -> Source:
    """A pandas DataFrame registered on ``con`` as ``view``.

    Raises:
        AnalysisError: duplicate column names.
    """
    names = [str(c) for c in frame.columns]
    lowered = pd.Series([n.strip().lower() for n in names])
    dups = sorted(set(lowered[lowered.duplicated()]))
    if dups:
        raise AnalysisError(
            DUPLICATE_HEADER.format(file="DataFrame", names=", ".join(map(repr, dups)))
        )
    frame = frame.set_axis(names, axis=1).reset_index(drop=True)
    con.register(view, frame)
    return Source(
        label="DataFrame", from_sql=sql_ident(view), kind="frame", columns=names, frame=frame
    )
