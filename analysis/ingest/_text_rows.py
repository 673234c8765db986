"""Row by row through a text input: where a file DuckDB refused goes wrong, and which row
holds a bad value.

Private helper of :mod:`analysis.ingest`. DuckDB reads a text file fast but says little about
the row that stops it; these scanners read the file as a text editor numbers it (the header
line is row 1) to name the first undecodable line, ragged row or unclosed quote, and the row
of a value the staging found bad.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator

import duckdb

from analysis.errors import AnalysisError
from analysis.ingest._formats import BAD_ENCODING, UNREADABLE, Source
from analysis.ingest._library_errors import LIBRARY_ERRORS, library_error
from analysis.ingest._sql import unglob

RAGGED_ROW = (
    "{file}: row {row} has {n} field(s) but the header has {expected}; check the quoting and "
    "the delimiter on that row."
)
UNCLOSED_QUOTE = (
    '{file}: row {row} opens a quote (") that is never closed ({what}); close the quote on that '
    "row or remove it."
)
BAD_QUOTING = (
    "{file}: row {row} is not valid CSV ({detail}); a field with the delimiter or a quote in it "
    'must be quoted whole, with inner quotes doubled ("").'
)
#: the longest field the row scanner accepts (DuckDB's own line limit is 2 MB)
FIELD_LIMIT = 4 << 20


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
    detail = unglob(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
    return AnalysisError(UNREADABLE.format(file=src.label, fmt=fmt, detail=detail))
