"""One-line errors for what a library raises while ingest reads a user's input.

Private helper of :mod:`analysis.ingest`. Every error a library raises while reading an input
(DuckDB, the OS, codecs, zip, pyarrow) is turned into a one-line
:class:`~analysis.errors.AnalysisError` naming the file, by :func:`library_errors` at the
public entry points.
"""

from __future__ import annotations

import csv
import functools
import inspect
import os
import zipfile
import zlib
from collections.abc import Callable

import duckdb
import pandas as pd

from analysis.errors import AnalysisError
from analysis.ingest._sql import unglob

INGEST_FAILED = "{file}: could not be read ({detail}); check that the file is intact."


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The exception's type and first message line, cut to ``limit`` characters."""
    lines = [ln.strip() for ln in unglob(str(exc)).splitlines() if ln.strip()]
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
    return AnalysisError(INGEST_FAILED.format(file=label, detail=first_line(exc)))


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
