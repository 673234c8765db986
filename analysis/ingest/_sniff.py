"""How a text file is laid out, read from its first rows: quoting, header, known layouts.

Private helper of :mod:`analysis.ingest._formats`; no DuckDB here, only the sample rows.

* Quoting follows the delimiter unless asked: comma and semicolon files use standard CSV
  quoting (a field holding the delimiter or a quote is quoted whole, inner quotes doubled);
  tab, pipe and ``::`` files are read literally, since their text fields (artist and title
  lists, MovieLens's ``u.item``) hold bare quotes such as ``5'9"``.
* Header: the first row is data, not column names, when it holds a number and each of its
  fields has the kind (number, text, empty) of the rows below it; it is a header when a field
  is text above a column of numbers, or when no field is a number.
* A headerless file whose rows match a MovieLens layout (``u.data``, ``u.user``, ``u.item``,
  ``ratings.dat``, ``users.dat``, ``movies.dat``) gets that layout's column names; any other
  headerless file gets ``column0``, ``column1``, ...
"""

from __future__ import annotations

import csv
import re

#: delimiters whose files use standard CSV quoting by default; the others are read literally
QUOTED_DELIMITERS = frozenset({",", ";"})
#: rows of the file's head looked at to decide the header and the layout
SAMPLE_ROWS = 50
#: MovieLens 100K's genre flags in ``u.item``, in file order (columns ``g0`` .. ``g18``)
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
#: the layout of a headerless ``u.item`` (its flags become a ``genres`` column on ingest)
ML100K_ITEMS = "ml-100k u.item"
_RATINGS = ["user_id", "item_id", "rating", "timestamp"]
_ITEM_COLUMNS = ["item_id", "title", "release_date", "video_release_date", "imdb_url"]
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def default_quoting(delimiter: str) -> bool:
    """Whether a file with this delimiter is read with CSV quoting when nobody says."""
    return delimiter in QUOTED_DELIMITERS


def sample_rows(lines: list[str], delimiter: str, quoting: bool) -> list[list[str]]:
    """The non-empty rows of ``lines`` split as the reader will split them."""
    lines = [ln.rstrip("\r\n") for ln in lines]
    if quoting and len(delimiter) == 1:
        rows = list(csv.reader(lines, delimiter=delimiter, quotechar='"'))
    else:
        rows = [ln.split(delimiter) for ln in lines]
    return [r for r in rows if any(f.strip() for f in r)][:SAMPLE_ROWS]


def _kind(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    return "number" if _NUMBER.fullmatch(value) else "text"


def first_row_is_header(rows: list[list[str]]) -> bool:
    """Whether the first of ``rows`` names the columns (see the module docstring).

    Args:
        rows: the file's first rows, split into fields.
    """
    if not rows:
        return True
    first, rest = rows[0], rows[1:]
    kinds = [_kind(v) for v in first]
    if "number" not in kinds:
        return True  # names (a text-only data row is the user's to declare)
    if "text" not in kinds:
        return False  # a header never names a column with a number
    for j, kind in enumerate(kinds):
        below = {_kind(r[j]) for r in rest if len(r) > j} - {""}
        if kind == "text" and below == {"number"}:
            return True
    return False


def _ints(row: list[str], positions) -> bool:
    return all(row[j].strip().isdigit() for j in positions)


def _matches(rows: list[list[str]], width: int, test) -> bool:
    return bool(rows) and all(len(r) == width and test(r) for r in rows)


def movielens_layout(rows: list[list[str]], delimiter: str) -> tuple[str, list[str]] | None:
    """``(layout, column names)`` when headerless ``rows`` are a MovieLens file, else ``None``.

    Recognised: ``u.data`` (tab: user, item, rating, timestamp), ``u.user`` (pipe: user,
    age, gender M/F, occupation, zip), ``u.item`` (pipe: id, title, dates, URL and 19 genre
    flags ``g0`` .. ``g18``), and the 1M files with ``::`` (``ratings.dat``, ``users.dat``:
    user, gender, age, occupation, zip; ``movies.dat``: id, title, genres).
    """
    sexes = {"M", "F"}
    if delimiter in ("\t", "::") and _matches(rows, 4, lambda r: _ints(r, range(4))):
        return ("ml-100k u.data" if delimiter == "\t" else "ml-1m ratings.dat"), list(_RATINGS)
    if delimiter == "|":
        if _matches(rows, 5, lambda r: _ints(r, (0, 1)) and r[2].strip() in sexes):
            return "ml-100k u.user", ["user_id", "age", "gender", "occupation", "zip"]
        flags = range(5, 5 + len(ML100K_GENRES))
        if _matches(rows, 24, lambda r: _ints(r, (0,)) and all(r[j] in ("0", "1") for j in flags)):
            return ML100K_ITEMS, _ITEM_COLUMNS + [f"g{k}" for k in range(len(ML100K_GENRES))]
    if delimiter == "::":
        if _matches(rows, 5, lambda r: _ints(r, (0, 2)) and r[1].strip() in sexes):
            return "ml-1m users.dat", ["user_id", "gender", "age", "occupation", "zip"]
        if _matches(rows, 3, lambda r: _ints(r, (0,))):
            return "ml-1m movies.dat", ["item_id", "title", "genres"]
    return None


def generic_names(n: int) -> list[str]:
    """Column names of a headerless file that matches no known layout."""
    return [f"column{i}" for i in range(n)]


def is_generic(columns: list[str]) -> bool:
    """Whether ``columns`` are :func:`generic_names` (a headerless file of no known layout)."""
    return bool(columns) and list(columns) == generic_names(len(columns))
