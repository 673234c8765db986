"""Delimited text inputs: sniff a file's delimiter, quoting, header and encoding, check it for
the common ways such files go wrong, and read it through DuckDB's ``read_csv``.

Private helper of :mod:`analysis.ingest`. A file's name never refuses it: the delimiter is
sniffed from the first line (``, \\t ; | ::``) unless the name says ``.csv``/``.tsv``. A file
may have a header line or not (detected, or said with ``header=``; see
:mod:`analysis.ingest._sniff`); comma and semicolon files use CSV quoting, tab, pipe and
``::`` files are read literally unless ``quoting=True``. ``.gz`` compression is read
transparently. Interactions are read with ``all_varchar`` so that ids keep their text (a
column is stored as integers only when every value is a plain integer) and a bad value is
reported by :mod:`analysis.ingest` with its row instead of failing inside DuckDB.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import duckdb

from analysis.errors import AnalysisError, surface_hints
from analysis.ingest._formats import (
    BAD_ENCODING,
    BINARY_FILE,
    DUPLICATE_HEADER,
    EMPTY_FILE,
    NO_DATA_ROWS,
    WIDE_TEXT,
    Source,
    binary_kind,
    extension,
    read_head,
    wide_text,
)
from analysis.ingest._sniff import (
    default_quoting,
    first_row_is_header,
    generic_names,
    movielens_layout,
    sample_rows,
)
from analysis.ingest._sql import duckdb_path, sql_str
from analysis.ingest._text_rows import diagnose_text_failure

WRONG_DELIMITER = surface_hints(
    "{file}: only one column was found with delimiter {delim!r}, but the header contains "
    "{suggest!r}; the file seems {suggest_name}-separated, not {delim_name}-separated.",
    app="Re-save it with {delim_name}s and upload it again.",
    cli="Pass --delimiter '{suggest}' or re-save it with {delim_name}s.",
)

DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe", "::": "double-colon"}
#: bytes read from the start of a file to sniff it
HEAD_BYTES = 65536


def sniff_delimiter(header_line: str) -> str:
    """The most frequent of ``, \\t ; | ::`` in a file's first line (``,`` when none occurs).

    ``::`` (MovieLens 1M) counts only where every colon of the line is part of one.
    """
    counts = {d: header_line.count(d) for d in DELIMITERS}
    if counts["::"] and header_line.count(":") != 2 * counts["::"]:
        counts["::"] = 0
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


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


def _check_head(head: bytes, label: str) -> None:
    """Refuse an empty, UTF-16/32 or binary file from its first bytes."""
    if not head.strip():
        raise AnalysisError(EMPTY_FILE.format(file=label))
    wide = wide_text(head)
    if wide:
        raise AnalysisError(WIDE_TEXT.format(file=label, encoding=wide))
    what = binary_kind(head)
    if what:
        raise AnalysisError(BINARY_FILE.format(file=label, what=what))


def _pick_delimiter(path: Path, fmt: str, first_line: str) -> str:
    """Tab for tsv, ``,`` for a ``.csv`` name, else sniffed from the first line."""
    if fmt == "tsv":
        return "\t"
    if extension(path) == ".csv":
        return ","
    return sniff_delimiter(first_line)


def _check_names(names: list[str], first_line: str, delimiter: str, label: str) -> None:
    """Refuse one column while another delimiter is in sight, and repeated column names."""
    if len(names) == 1:
        others = [d for d in DELIMITERS if d != delimiter and d in first_line]
        if others:
            suggest = max(others, key=first_line.count)
            raise AnalysisError(
                WRONG_DELIMITER.format(
                    file=label,
                    delim=delimiter,
                    suggest=suggest,
                    suggest_name=DELIMITERS[suggest],
                    delim_name=DELIMITERS.get(delimiter, "delimiter"),
                )
            )
    lowered: dict[str, int] = {}
    for n in names:
        lowered[n.strip().lower()] = lowered.get(n.strip().lower(), 0) + 1
    dups = [n for n, c in lowered.items() if c > 1]
    if dups:
        raise AnalysisError(DUPLICATE_HEADER.format(file=label, names=", ".join(map(repr, dups))))


def _read_csv_sql(
    path: Path,
    src: Source,
    all_varchar: bool,
    id_column_hint: Callable[[list[str]], str | None] | None,
) -> str:
    """The ``read_csv(...)`` table expression for a text file laid out as ``src`` says."""
    quote = "'\"'" if src.quoting else "''"
    opts = [
        f"delim={sql_str(src.delimiter)}",
        f"header={str(bool(src.header)).lower()}",
        f"quote={quote}",
        f"escape={quote}",
        f"encoding={sql_str(src.encoding)}",
        "skip=0",
        "sample_size=20480",
    ]
    if not src.header:
        opts.append(f"names=[{', '.join(sql_str(n) for n in src.columns)}]")
    if all_varchar:
        opts.append("all_varchar=true")
    elif id_column_hint is not None:
        id_col = id_column_hint(src.columns)
        if id_col is not None:
            opts.append(f"types={{{sql_str(id_col)}: 'VARCHAR'}}")
    return f"read_csv({sql_str(duckdb_path(path))}, {', '.join(opts)})"


def _sniff_layout(
    path: Path,
    fmt: str,
    label: str,
    delimiter: str | None,
    header: bool | None,
    quoting: bool | None,
) -> Source:
    """The file's delimiter, quoting, header, encoding and column names, from its head;
    ``from_sql`` is left empty."""
    head = read_head(path, HEAD_BYTES)
    _check_head(head, label)
    first_line = _decode_header(Path(label), head, "latin-1")
    if delimiter is None:
        delimiter = _pick_delimiter(path, fmt, first_line)
    if quoting is None:
        quoting = default_quoting(delimiter)
    lines = head.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    if len(head) == HEAD_BYTES and len(lines) > 1:
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
    _check_names(names, first_line, delimiter, label)
    rest = head.split(b"\n", 1)[1] if b"\n" in head else b""
    if header and not rest.strip():
        raise AnalysisError(NO_DATA_ROWS.format(file=label))
    return Source(
        label=label, from_sql="", kind="csv", columns=names, path=path, delimiter=delimiter,
        encoding=encoding, header=bool(header), quoting=bool(quoting),
        layout=layout[0] if layout else None,
    )  # fmt: skip


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
    src = _sniff_layout(path, fmt, label, delimiter, header, quoting)
    src.from_sql = _read_csv_sql(path, src, all_varchar, id_column_hint)
    names = src.columns
    try:
        with duckdb.connect() as con:
            cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src.from_sql}").fetchall()]
    except duckdb.Error as exc:
        raise diagnose_text_failure(src, exc) from exc
    if len(cols) != len(names):  # the sniffer saw another layout: find the odd row
        raise diagnose_text_failure(src, ValueError(f"{len(cols)} columns, header {len(names)}"))
    src.columns = cols
    return src
