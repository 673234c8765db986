"""Open the inputs of one ingest as DuckDB sources: the interactions and the side tables.

Private helper of :mod:`analysis.ingest`: a path is resolved by content
(:func:`analysis.ingest._formats.resolve_format`) and read as text, Parquet or a MovieLens
folder/zip (whose users and items come with it); a DataFrame is registered as a view.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import duckdb
import pandas as pd

from analysis.errors import AnalysisError, surface_hints
from analysis.ingest._columns import ID_SYNONYMS, ColumnMapping, find_column
from analysis.ingest._formats import (
    Format,
    Source,
    frame_source,
    parquet_source,
    resolve_format,
)
from analysis.ingest._movielens import ml100k_items_select, movielens_folder, movielens_sources
from analysis.ingest._sniff import ML100K_ITEMS
from analysis.ingest._text import text_source
from analysis.ingest._text_rows import diagnose_text_failure

InputSpec = str | PathLike | pd.DataFrame

NON_SCALAR_COLUMN = (
    "{file}: the {role} column {column!r} holds {type} values, not single values; map a column "
    "of plain values or flatten this one first."
)
BOOLEAN_RATING = surface_hints(
    "{file}: the rating column {column!r} holds true/false values, not ratings.",
    app="Choose count Feedback on the Data page (true is relevant, false is not).",
    cli="Pass --value-kind count (true is relevant, false is not).",
)
BAD_INPUT_TYPE = "Cannot ingest a {type}; give a file path, a MovieLens folder/zip or a DataFrame."
SIDE_FOLDER = "{file}: a {role}s table must be a .csv, .tsv or .parquet file or a DataFrame."


_NESTED_PREFIXES = ("STRUCT", "MAP", "UNION")


@dataclass
class Opened:
    """The resolved sources of one ingest call.

    Attributes:
        interactions: the interactions.
        users, items: the side tables a MovieLens folder/zip brings, else ``None``.
        source_text: the input as the report names it (the path or ``"DataFrame"``).
    """

    interactions: Source | None = None
    users: Source | None = None
    items: Source | None = None
    source_text: str = ""


def side_sql_source(label: str, sql: str, columns: list[str]) -> Source:
    """A side table given as a SQL query (MovieLens's users and items)."""
    return Source(label=label, from_sql=f"({sql})", kind="parquet", columns=columns)


def open_interactions(
    con: duckdb.DuckDBPyConnection,
    stack: ExitStack,
    spec: InputSpec,
    fmt: Format,
    delimiter: str | None,
    header: bool | None = None,
    quoting: bool | None = None,
) -> Opened:
    """Open the interactions input ``spec`` on ``con``; a MovieLens zip's extraction folder
    lives as long as ``stack``.

    Raises:
        AnalysisError: not a path or DataFrame; any problem :func:`resolve_format` or the
            text, Parquet and MovieLens readers find.
    """
    out = Opened()
    if isinstance(spec, pd.DataFrame):
        out.interactions = frame_source(con, spec, "_ws_src_interactions")
        out.source_text = "DataFrame"
        return out
    if not isinstance(spec, (str, PathLike)):
        raise AnalysisError(BAD_INPUT_TYPE.format(type=type(spec).__name__))
    path = Path(spec).expanduser()
    out.source_text = str(path)
    kind = resolve_format(path, fmt)
    if kind == "movielens":
        folder, variant, prefix = stack.enter_context(movielens_folder(path))
        ratings, items_sql, users_sql = movielens_sources(folder, variant, prefix)
        out.interactions = ratings
        if items_sql:
            out.items = side_sql_source(
                ratings.label.rsplit("/", 1)[0] + "/items",
                items_sql,
                ["item_id", "title", "genres"],
            )
        if users_sql:
            out.users = side_sql_source(
                ratings.label.rsplit("/", 1)[0] + "/users", users_sql, ["user_id"]
            )
    elif kind == "parquet":
        out.interactions = parquet_source(path)
    else:
        out.interactions = text_source(
            path, kind, delimiter=delimiter, header=header, quoting=quoting
        )
    return out


def open_side(
    con: duckdb.DuckDBPyConnection, spec: InputSpec, role: str, synonyms: tuple[str, ...]
) -> Source:
    """Open a users or items table (``role``); ``synonyms`` pick its id column.

    Raises:
        AnalysisError: not a path or DataFrame, a MovieLens folder/zip, an unreadable file.
    """
    if isinstance(spec, pd.DataFrame):
        return frame_source(con, spec, f"_ws_src_{role}s")
    if not isinstance(spec, (str, PathLike)):
        raise AnalysisError(BAD_INPUT_TYPE.format(type=type(spec).__name__))
    path = Path(spec).expanduser()
    kind = resolve_format(path, "auto")
    if kind == "movielens":
        raise AnalysisError(SIDE_FOLDER.format(file=path, role=role))
    if kind == "parquet":
        return parquet_source(path)

    def hint(names: list[str]) -> str | None:
        found = find_column(names, synonyms + ID_SYNONYMS)
        return found[0] if found else (names[0] if names else None)

    src = text_source(path, kind, all_varchar=False, id_column_hint=hint)
    if src.layout == ML100K_ITEMS:  # a u.item on its own: its genre flags become genres
        return side_sql_source(
            src.label, ml100k_items_select(src.from_sql), ["item_id", "title", "genres"]
        )
    return src


def column_types(
    con: duckdb.DuckDBPyConnection, src: Source, m: ColumnMapping | None = None
) -> dict[str, str]:
    """The DuckDB type of every column; with ``m``, checks the mapped columns' types.

    Raises:
        AnalysisError: the file cannot be read; a mapped column holds nested values (a
            struct, list or map) or an explicit rating column holds booleans.
    """
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {src.from_sql}").fetchall()
    except duckdb.Error as exc:
        raise diagnose_text_failure(src, exc) from exc
    types = {r[0]: r[1] for r in rows}
    if m is not None:
        roles = (("user id", m.user), ("item id", m.item), ("rating", m.rating),
                 ("timestamp", m.timestamp), ("scenario", m.scenario))  # fmt: skip
        for role, col in roles:
            typ = types.get(col) if col else None
            if typ and (typ.startswith(_NESTED_PREFIXES) or typ.endswith("]")):
                kind = typ.split("(")[0] if not typ.endswith("]") else f"list ({typ})"
                raise AnalysisError(
                    NON_SCALAR_COLUMN.format(file=src.label, role=role, column=col, type=kind)
                )
        if m.rating and m.value_kind == "explicit" and types.get(m.rating) == "BOOLEAN":
            raise AnalysisError(BOOLEAN_RATING.format(file=src.label, column=m.rating))
    return types
