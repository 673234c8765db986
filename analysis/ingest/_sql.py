"""SQL text for ingest: string literals, identifiers and file paths as DuckDB must read them.

Private helper of :mod:`analysis.ingest`. SQL string literals (paths, delimiters) are escaped
by :func:`sql_str`, since table functions in a view cannot take bound parameters. DuckDB
expands ``*``, ``?`` and ``[...]`` in file paths as globs, so every path goes to DuckDB
through :func:`duckdb_path`, which makes those characters literal: a path is read as exactly
that file.
"""

from __future__ import annotations

import os

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


def unglob(text: str) -> str:
    """A library message with the paths :func:`duckdb_path` escaped made plain again."""
    return text.replace("[*]", "*").replace("[?]", "?").replace("[[]", "[")
