"""Input formats for ingest: find, sniff and open a file (or frame) as a DuckDB relation.

Private helper of :mod:`analysis.ingest`. A :class:`Source` is one table to read (the
interactions, a users file or an items file): a label for messages, the SQL ``FROM`` clause
that reads it through DuckDB (``read_csv`` / ``read_parquet`` / a registered DataFrame), and
what the error path needs to point at a row (the path, delimiter, encoding, header).

Formats: ``csv`` (``,``), ``tsv`` (tab), ``parquet``, and MovieLens 100K / 1M given as a folder
or a ``.zip`` (``u.data``/``u.item``/``u.user``; ``ratings.dat``/``movies.dat``/``users.dat``
with ``::``; latin-1). A file's name never refuses it: an extension other than ``.csv``,
``.tsv``, ``.parquet`` or ``.zip`` (``u.data``, ``ratings.dat``, ``plays.txt``) is decided by
content (Parquet, a MovieLens zip, or delimited text with a sniffed delimiter). A text file
may have a header line or not (detected, or said with ``header=``; see
:mod:`analysis.ingest._sniff`); comma and semicolon files use CSV quoting, tab, pipe and
``::`` files are read literally unless ``quoting=True``. ``.gz`` compression is read
transparently. CSV files are read with ``all_varchar`` so that ids keep their text (a
column is stored as integers only when every value is a plain integer) and a bad value is
reported by :mod:`analysis.ingest` with its row instead of failing inside DuckDB.

SQL string literals (paths, delimiters) are escaped by :func:`sql_str`, since table functions
in a view cannot take bound parameters. DuckDB expands ``*``, ``?`` and ``[...]`` in file
paths as globs, so every path goes to DuckDB through :func:`duckdb_path`, which makes those
characters literal: a path is read as exactly that file.

Every error a library raises while reading an input (DuckDB, the OS, codecs, zip, pyarrow) is
turned into a one-line :class:`~analysis.errors.AnalysisError` naming the file, by
:func:`library_errors` at the public entry points.
"""

from __future__ import annotations

import csv
import functools
import gzip
import inspect
import io
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb
import pandas as pd

from analysis.errors import AnalysisError, surface_hints
from analysis.ingest._sniff import (
    default_quoting,
    first_row_is_header,
    generic_names,
    movielens_layout,
    sample_rows,
)

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
WRONG_DELIMITER = surface_hints(
    "{file}: only one column was found with delimiter {delim!r}, but the header contains "
    "{suggest!r}; the file seems {suggest_name}-separated, not {delim_name}-separated.",
    app="Re-save it with {delim_name}s and upload it again.",
    cli="Pass --delimiter '{suggest}' or re-save it with {delim_name}s.",
)
DUPLICATE_HEADER = (
    "{file}: the header repeats the column name(s) {names} (names are compared "
    "case-insensitively); rename them so that every column is unique."
)
RAGGED_ROW = (
    "{file}: row {row} has {n} field(s) but the header has {expected}; check the quoting and "
    "the delimiter on that row."
)
UNREADABLE = "{file}: could not be read as {fmt} ({detail}); check that the file is intact."
BAD_PATH = "{file}: this path cannot be opened ({detail}); check the path or rename the file."
NOT_A_FILE = "{file}: not a regular file or folder; give a .csv, .tsv or .parquet file."
WIDE_TEXT = (
    "{file}: the file is {encoding} text; re-save it as UTF-8 (e.g. 'CSV UTF-8' in Excel) and "
    "try again."
)
UNCLOSED_QUOTE = (
    '{file}: row {row} opens a quote (") that is never closed ({what}); close the quote on that '
    "row or remove it."
)
BAD_QUOTING = (
    "{file}: row {row} is not valid CSV ({detail}); a field with the delimiter or a quote in it "
    'must be quoted whole, with inner quotes doubled ("").'
)
INGEST_FAILED = "{file}: could not be read ({detail}); check that the file is intact."

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
_DELIMS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe", "::": "double-colon"}
_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
#: the longest field the row scanner accepts (DuckDB's own line limit is 2 MB)
FIELD_LIMIT = 4 << 20
_GLOB_CHARS = frozenset("*?[")


def sql_str(value: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def duckdb_path(path: str | os.PathLike) -> str:
    """``path`` as DuckDB must be given it to read exactly that file.

    DuckDB's readers expand ``*``, ``?`` and ``[...]`` as globs and ``~`` as the home folder,
    and have no escape character; a one-character class (``[*]``, ``[?]``, ``[[]``) matches
    the character itself, and an absolute path never starts with ``~``.
    """
    text = os.path.abspath(os.fspath(path))
    return "".join(f"[{c}]" if c in _GLOB_CHARS else c for c in text)


def printable(path: str | os.PathLike) -> str:
    """``path`` as text, its control characters (NUL, newline, ...) written as escapes."""
    text = os.fsdecode(path)
    return "".join(c if c.isprintable() or c == " " else ascii(c)[1:-1] for c in text)


def _unglob(text: str) -> str:
    """A library message with the paths :func:`duckdb_path` escaped made plain again."""
    return text.replace("[*]", "*").replace("[?]", "?").replace("[[]", "[")


def _first_line(exc: BaseException, limit: int = 200) -> str:
    lines = [ln.strip() for ln in _unglob(str(exc)).splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: what a library may raise at the ingest boundary while reading a user's file
LIBRARY_ERRORS: tuple[type[BaseException], ...] = (
    duckdb.Error, OSError, UnicodeError, ValueError, csv.Error, zipfile.BadZipFile,
    zlib.error, EOFError, NotImplementedError, RuntimeError, MemoryError,
)  # fmt: skip
try:  # pyarrow comes with pandas' Parquet support; its errors do not all subclass the above
    import pyarrow as _pa

    LIBRARY_ERRORS += (_pa.ArrowException,)
except ImportError:  # pragma: no cover
    pass


def library_error(label: str, exc: BaseException) -> AnalysisError:
    """The one-line error for a library exception raised while reading ``label``."""
    return AnalysisError(INGEST_FAILED.format(file=label, detail=_first_line(exc)))


def _spec_label(spec: object) -> str:
    if isinstance(spec, pd.DataFrame):
        return "DataFrame"
    try:
        return os.fsdecode(spec) if isinstance(spec, (str, bytes, os.PathLike)) else repr(spec)
    except (TypeError, ValueError):
        return repr(spec)


def library_errors(arg: str) -> Callable:
    """Decorate an entry point so a library error becomes a one-line :class:`AnalysisError`.

    Args:
        arg: the name of the parameter holding the input (its path names the file).

    A DuckDB interrupt (Ctrl-C during a query) is re-raised as :class:`KeyboardInterrupt`.
    """

    def wrap(func: Callable) -> Callable:
        sig = inspect.signature(func)

        @functools.wraps(func)
        def guarded(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except AnalysisError:
                raise
            except duckdb.InterruptException as exc:
                raise KeyboardInterrupt from exc
            except LIBRARY_ERRORS as exc:
                try:
                    label = _spec_label(sig.bind_partial(*args, **kwargs).arguments.get(arg))
                except TypeError:
                    label = "input"
                raise library_error(label, exc) from exc

        return guarded

    return wrap


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

    def row_label(self, position: int) -> str:
        """Human row number for a 0-based data-row position (parquet and frames)."""
        if self.kind == "frame":
            return f"{position} (0-based position)"
        return str(position + 1)


@dataclass
class Inputs:
    """What :func:`open_inputs` resolved: the interactions and optional side tables."""

    interactions: Source
    users: Source | None
    items: Source | None
    source_text: str
    movielens: str | None = None  # "100k" / "1m"


# -- sniffing ------------------------------------------------------------------------------


def _read_head(path: Path, n: int = 65536) -> bytes:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return f.read(n)
    except (OSError, EOFError, zlib.error) as exc:
        raise AnalysisError(
            UNREADABLE.format(file=path, fmt="text", detail=_first_line(exc))
        ) from exc


def _wide_text(head: bytes) -> str | None:
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


def _binary_kind(head: bytes) -> str | None:
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            return what
    if b"\x00" in head[:8192]:
        return "it contains NUL bytes"
    return None


def _ext(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def resolve_format(path: Path, fmt: str) -> str:
    """The concrete format of ``path``: ``csv``, ``tsv``, ``parquet`` or ``movielens``.

    ``.csv``/``.tsv``/``.tab``, ``.parquet``/``.pq``/``.parq`` and ``.zip`` name their format;
    any other name (``u.data``, ``ratings.dat``, ``x.txt``) is decided by content: Parquet's
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
        detail = getattr(exc, "strerror", None) or _first_line(exc)
        raise AnalysisError(BAD_PATH.format(file=path, detail=detail)) from exc
    if not exists:
        raise AnalysisError(NOT_FOUND.format(file=path))
    if not (is_dir or is_file):  # a FIFO or device would be read forever
        raise AnalysisError(NOT_A_FILE.format(file=path))
    if fmt != "auto":
        return fmt
    if path.is_dir() or path.suffix.lower() == ".zip":
        return "movielens"
    ext = _ext(path)
    if ext in _PARQUET_EXT:
        return "parquet"
    head = _read_head(path, 8)
    if head.startswith(b"PAR1"):
        return "parquet"
    if ext in _TEXT_EXT:
        return _TEXT_EXT[ext]
    if head.startswith(b"PK\x03\x04") and _is_movielens_zip(path):
        return "movielens"
    return "csv"  # delimited text, its delimiter sniffed (binary content is refused there)


def _is_movielens_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            names = {Path(n).name for n in zf.namelist()}
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return bool(names & {"u.data", "ratings.dat"})


def _decode_header(path: Path, head: bytes, encoding: str) -> str:
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    if encoding.lower().replace("-", "") == "utf8":
        first = first.removeprefix(b"\xef\xbb\xbf")
        try:
            return first.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AnalysisError(
                BAD_ENCODING.format(file=path, row=1, byte=first[exc.start], pos=exc.start + 1)
            ) from exc
    return first.decode(encoding, errors="replace")


def sniff_delimiter(header_line: str) -> str:
    """The most frequent of ``, \\t ; | ::`` in a file's first line (``,`` when none occurs).

    ``::`` (MovieLens 1M) counts only where every colon of the line is part of one.
    """
    counts = {d: header_line.count(d) for d in _DELIMS}
    if counts["::"] and header_line.count(":") != 2 * counts["::"]:
        counts["::"] = 0
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def text_source(
    path: Path,
    fmt: str,
    *,
    delimiter: str | None = None,
    label: str | None = None,
    all_varchar: bool = True,
    id_column_hint: Callable[[list[str]], str | None] | None = None,
    header: bool | None = None,
    quoting: bool | None = None,
) -> Source:
    """A delimited text file, checked for the common ways such files go wrong.

    Args:
        path: the file (``.gz`` allowed).
        fmt: ``csv`` or ``tsv``.
        delimiter: override; default tab for tsv, ``,`` for a ``.csv`` name, else sniffed
            from the first line (``, \\t ; | ::``).
        label: name for messages (default: the path).
        all_varchar: read every column as text (interactions); ``False`` lets DuckDB type the
            columns (users/items attribute tables), except the id column from ``id_column_hint``.
        id_column_hint: picks the id column (kept as text) from the column names.
        header: whether the first line names the columns; ``None`` detects it (see
            :func:`analysis.ingest._sniff.first_row_is_header`). A headerless file's columns
            are named by its MovieLens layout when it has one, else ``column0``, ``column1``...
        quoting: process CSV quotes; ``None``: yes for comma and semicolon, no for tab, pipe
            and ``::`` (whose text fields hold bare quotes, ``5'9"``).

    Raises:
        AnalysisError: empty, binary, bad UTF-8 first line, one column with another delimiter
            in sight, duplicate header names, a header and no data rows.
    """
    label = label or str(path)
    head = _read_head(path)
    if not head.strip():
        raise AnalysisError(EMPTY_FILE.format(file=label))
    wide = _wide_text(head)
    if wide:
        raise AnalysisError(WIDE_TEXT.format(file=label, encoding=wide))
    what = _binary_kind(head)
    if what:
        raise AnalysisError(BINARY_FILE.format(file=label, what=what))
    first_line = _decode_header(Path(label), head, "latin-1")
    if delimiter is None:
        if fmt == "tsv":
            delimiter = "\t"
        elif _ext(path) == ".csv":
            delimiter = ","
        else:
            delimiter = sniff_delimiter(first_line)
    if quoting is None:
        quoting = default_quoting(delimiter)
    lines = head.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    if len(head) == 65536 and len(lines) > 1:
        lines = lines[:-1]  # the head cut a line short
    rows = sample_rows([ln.decode("latin-1") for ln in lines], delimiter, quoting)
    if header is None:
        header = first_row_is_header(rows)
    layout = movielens_layout(rows, delimiter) if not header else None
    encoding = "utf-8"
    sample = b"\n".join(lines)
    if layout is None or (not sample.isascii() and _is_utf8(sample)):
        first_line = _decode_header(Path(label), head, "utf-8")  # a bad first row fails here
    else:
        encoding = "latin-1"  # MovieLens files are latin-1 (an accent may come late)
    if header:
        names = _split_header(first_line, delimiter, quoting)
    elif layout is not None:
        names = layout[1]
    else:
        names = generic_names(len(rows[0]) if rows else 1)
    if len(names) == 1:
        others = [d for d in _DELIMS if d != delimiter and d in first_line]
        if others:
            suggest = max(others, key=first_line.count)
            raise AnalysisError(
                WRONG_DELIMITER.format(
                    file=label,
                    delim=delimiter,
                    suggest=suggest,
                    suggest_name=_DELIMS[suggest],
                    delim_name=_DELIMS.get(delimiter, "delimiter"),
                )
            )
    lowered: dict[str, int] = {}
    for n in names:
        lowered[n.strip().lower()] = lowered.get(n.strip().lower(), 0) + 1
    dups = [n for n, c in lowered.items() if c > 1]
    if dups:
        raise AnalysisError(DUPLICATE_HEADER.format(file=label, names=", ".join(map(repr, dups))))
    rest = head.split(b"\n", 1)[1] if b"\n" in head else b""
    if header and not rest.strip():
        raise AnalysisError(NO_DATA_ROWS.format(file=label))
    quote = "'\"'" if quoting else "''"
    opts = [
        f"delim={sql_str(delimiter)}",
        f"header={str(bool(header)).lower()}",
        f"quote={quote}",
        f"escape={quote}",
        f"encoding={sql_str(encoding)}",
        "skip=0",
        "sample_size=20480",
    ]
    if not header:
        opts.append(f"names=[{', '.join(sql_str(n) for n in names)}]")
    if all_varchar:
        opts.append("all_varchar=true")
    elif id_column_hint is not None:
        id_col = id_column_hint(names)
        if id_col is not None:
            opts.append(f"types={{{sql_str(id_col)}: 'VARCHAR'}}")
    from_sql = f"read_csv({sql_str(duckdb_path(path))}, {', '.join(opts)})"
    src = Source(
        label=label, from_sql=from_sql, kind="csv", columns=names, path=path,
        delimiter=delimiter, encoding=encoding, header=bool(header), quoting=bool(quoting),
        layout=layout[0] if layout else None,
    )  # fmt: skip
    try:
        with duckdb.connect() as con:
            cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {from_sql}").fetchall()]
    except duckdb.Error as exc:
        raise diagnose_text_failure(src, exc) from exc
    if len(cols) != len(names):  # the sniffer saw another layout: find the odd row
        raise diagnose_text_failure(src, ValueError(f"{len(cols)} columns, header {len(names)}"))
    src.columns = cols
    return src


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(data) - 3  # only a character cut by the head's end
    return True


def _split_header(line: str, delimiter: str, quoting: bool = True) -> list[str]:
    if quoting and len(delimiter) == 1:
        row = next(csv.reader([line], delimiter=delimiter, quotechar='"'), [])
    else:
        row = line.split(delimiter)
    return [c.strip() for c in row]


def parquet_source(path: Path, label: str | None = None) -> Source:
    """A Parquet file.

    Raises:
        AnalysisError: the file is not valid Parquet.
    """
    label = label or str(path)
    if path.stat().st_size == 0:
        raise AnalysisError(EMPTY_FILE.format(file=label))
    from_sql = f"read_parquet({sql_str(duckdb_path(path))})"
    try:
        with duckdb.connect() as con:
            cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {from_sql}").fetchall()]
    except duckdb.Error as exc:
        detail = _unglob(str(exc).splitlines()[0])
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


# -- MovieLens -----------------------------------------------------------------------------


def iter_text_rows(src: Source, *, strict: bool = False) -> Iterator[tuple[int, list[str]]]:
    """``(row number as in the file, fields)`` for every data row of a text source.

    Row numbers count the header line as row 1 (so the first data row of a file with a
    header is row 2), as a text editor shows them; a quoted field spanning lines is numbered
    by the line it starts on.

    Args:
        src: a text source.
        strict: parse quotes as strictly as DuckDB does: a quote still open at the end of
            the file, or text after a closing quote, is an error.

    Raises:
        AnalysisError: a line is not valid in the source's encoding, or a quote is never
            closed (a field longer than :data:`FIELD_LIMIT`, or with ``strict``, open at the
            end of the file); with ``strict``, text after a closing quote.
    """
    if src.path is None:
        raise ValueError("iter_text_rows needs a file source")
    opener = gzip.open if src.path.suffix.lower() == ".gz" else open
    with opener(src.path, "rb") as fb:
        raw_lines = _checked_lines(fb, src)
        if src.quoting and len(src.delimiter) == 1:
            if csv.field_size_limit() < FIELD_LIMIT:
                csv.field_size_limit(FIELD_LIMIT)
            reader = csv.reader(raw_lines, delimiter=src.delimiter, quotechar='"', strict=strict)
            if src.header:
                next(reader, None)
            start = reader.line_num + 1
            while True:
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    text = str(exc)
                    if "field limit" in text:  # a field over FIELD_LIMIT: a quote left open
                        what = f"the quoted field runs on for over {FIELD_LIMIT >> 20} MB"
                    elif "end of data" in text:
                        what = "the quoted field runs to the end of the file"
                    else:  # strict: text after a closing quote
                        raise AnalysisError(
                            BAD_QUOTING.format(file=src.label, row=start, detail=text)
                        ) from exc
                    raise AnalysisError(
                        UNCLOSED_QUOTE.format(file=src.label, row=start, what=what)
                    ) from exc
                if fields:
                    yield start, fields
                start = reader.line_num + 1
        else:
            for lineno, line in enumerate(raw_lines, start=1):
                if src.header and lineno == 1:
                    continue
                line = line.rstrip("\r\n")
                if line:
                    yield lineno, line.split(src.delimiter)


def _checked_lines(fb: io.BufferedReader, src: Source) -> Iterator[str]:
    for lineno, raw in enumerate(fb, start=1):
        if lineno == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            yield raw.decode(src.encoding)
        except UnicodeDecodeError as exc:
            text_pos = len(raw[: exc.start].decode(src.encoding, errors="replace")) + 1
            raise AnalysisError(
                BAD_ENCODING.format(file=src.label, row=lineno, byte=raw[exc.start], pos=text_pos)
            ) from exc


def find_text_row(
    src: Source, column: str, predicate: Callable[[str | None], bool]
) -> tuple[int, str | None] | None:
    """The first data row whose ``column`` satisfies ``predicate`` (``None`` for empty).

    Returns:
        ``(row number as in the file, raw value)`` or ``None`` when no row matches.

    Raises:
        AnalysisError: bad encoding or a row with the wrong number of fields on the way.
    """
    idx = src.columns.index(column)
    expected = len(src.columns)
    for row, fields in iter_text_rows(src):
        if len(fields) != expected:
            raise AnalysisError(
                RAGGED_ROW.format(file=src.label, row=row, n=len(fields), expected=expected)
            )
        value = fields[idx]
        value = value if value != "" else None
        if predicate(value):
            return row, value
    return None


def diagnose_text_failure(src: Source, exc: Exception, fmt: str = "CSV") -> AnalysisError:
    """Turn a DuckDB read failure of a text file into the precise one-line error.

    Scans the file for the first undecodable line or row with the wrong field count; falls
    back to DuckDB's first message line.

    Raises:
        KeyboardInterrupt: ``exc`` is DuckDB's interrupt (Ctrl-C during the query).
    """
    if isinstance(exc, duckdb.InterruptException):
        raise KeyboardInterrupt from exc
    if src.kind == "csv" and src.path is not None:
        expected = len(src.columns)
        try:
            for row, fields in iter_text_rows(src, strict=True):
                if len(fields) != expected:
                    if any("\n" in f for f in fields):
                        lines = sum(f.count("\n") for f in fields)
                        what = f"the quoted field runs on over the next {lines} line(s)"
                        return AnalysisError(
                            UNCLOSED_QUOTE.format(file=src.label, row=row, what=what)
                        )
                    return AnalysisError(
                        RAGGED_ROW.format(file=src.label, row=row, n=len(fields), expected=expected)
                    )
        except AnalysisError as err:
            return err
        except LIBRARY_ERRORS as scan_exc:  # the file went unreadable under the scan
            return library_error(src.label, scan_exc)
    detail = _unglob(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
    return AnalysisError(UNREADABLE.format(file=src.label, fmt=fmt, detail=detail))
