"""MovieLens 100K and 1M layouts (folder or zip): find the files, describe them as sources.

A zip is never extracted whole: only the needed members are streamed, in 1 MiB chunks, into
a private temporary folder (owner-only), checked while they expand against
:data:`MAX_EXPANDED_BYTES` in all and :data:`MAX_RATIO` times their compressed size, so a zip
bomb stops at the limit instead of filling memory or disk. The folder is removed when the
ingest ends, fails or is interrupted.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from analysis.errors import AnalysisError
from analysis.ingest._formats import UNREADABLE, Source
from analysis.ingest._sniff import ML100K_GENRES
from analysis.ingest._sql import duckdb_path, sql_str

#: most bytes the needed members of a MovieLens zip may expand to, all together
MAX_EXPANDED_BYTES = 4 << 30
#: most a member may expand relative to its compressed size (text compresses ~5x)
MAX_RATIO = 200
#: members smaller than this are never refused for their ratio (tiny files compress well)
RATIO_FLOOR_BYTES = 1 << 20
_CHUNK = 1 << 20

ZIP_TOO_LARGE = (
    "{file}: member {member!r} expands to more than {limit}, the most a zip may expand to; "
    "unzip it yourself and give the folder if it is genuine."
)
ZIP_RATIO = (
    "{file}: member {member!r} expands more than {ratio}x its compressed size ({packed} bytes), "
    "which only a zip bomb does; unzip it yourself and give the folder if it is genuine."
)

NOT_MOVIELENS = (
    "{file}: this folder/zip holds no MovieLens files (u.data or ratings.dat) and no Parquet "
    "files; give a .csv/.tsv/.parquet file, a folder of Parquet files or a MovieLens 100K/1M "
    "folder or zip."
)

_ML_FILES = {
    "100k": ("u.data", "u.item", "u.user"),
    "1m": ("ratings.dat", "movies.dat", "users.dat"),
}


@contextmanager
def movielens_folder(path: Path) -> Iterator[tuple[Path, str, str]]:
    """Yield ``(folder, variant, label_prefix)`` for a MovieLens folder or zip.

    A zip's needed members are streamed into a private temporary folder for the duration
    (see the module docstring for the limits); the folder is removed on exit, whatever the
    exit.

    Raises:
        AnalysisError: neither ``u.data`` nor ``ratings.dat`` is inside; the zip is damaged,
            encrypted or expands past the limits.
    """
    if path.is_dir():
        for variant, names in _ML_FILES.items():
            for cand in (path, *sorted(p for p in path.iterdir() if p.is_dir())):
                if (cand / names[0]).is_file():
                    yield cand, variant, str(cand)
                    return
        raise AnalysisError(NOT_MOVIELENS.format(file=path))
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise AnalysisError(UNREADABLE.format(file=path, fmt="zip", detail=exc)) from exc
    with zf:
        members = {Path(i.filename).name: i for i in zf.infolist() if not i.filename.endswith("/")}
        for variant, names in _ML_FILES.items():
            if names[0] not in members:
                continue
            tmp = Path(tempfile.mkdtemp(prefix="weakspot_ml_"))  # mode 0o700
            try:
                budget = MAX_EXPANDED_BYTES
                for n in names:
                    if n in members:
                        budget -= _extract_member(zf, members[n], tmp / n, path, budget)
                yield tmp, variant, f"{path}:{Path(members[names[0]].filename).parent}"
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            return
        raise AnalysisError(NOT_MOVIELENS.format(file=path))


def _extract_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, path: Path, budget: int
) -> int:
    """Stream one member to ``target`` (mode 0o600) within the limits; the bytes written.

    Raises:
        AnalysisError: the member expands past ``budget`` bytes or :data:`MAX_RATIO`, or
            cannot be read (damaged, encrypted, an unsupported compression method).
    """
    packed = max(int(info.compress_size), 1)

    def check(size: int) -> None:
        if size > budget:
            raise AnalysisError(
                ZIP_TOO_LARGE.format(
                    file=path, member=info.filename, limit=_size(MAX_EXPANDED_BYTES)
                )
            )
        if size > RATIO_FLOOR_BYTES and size > MAX_RATIO * packed:
            raise AnalysisError(
                ZIP_RATIO.format(file=path, member=info.filename, ratio=MAX_RATIO, packed=packed)
            )

    check(int(info.file_size))  # what the zip declares, before any work
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as dst, zf.open(info) as src:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                check(written)  # zipfile stops at the declared size; a second guard
                dst.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
            RuntimeError) as exc:  # fmt: skip
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AnalysisError(
            UNREADABLE.format(file=f"{path}:{info.filename}", fmt="zip", detail=detail)
        ) from exc
    return written


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


def ml100k_items_select(from_sql: str) -> str:
    """``SELECT item_id, title, genres, release_date, imdb_url`` over a ``u.item`` read as
    ``from_sql`` (columns ``item_id, title, release_date, video_release_date, imdb_url`` and
    the genre flags ``g0`` .. ``g18``): the flags set to 1 become ``Action|Comedy``."""
    genre_expr = ", ".join(
        f"CASE WHEN CAST(g{k} AS VARCHAR) = '1' THEN {sql_str(g)} END"
        for k, g in enumerate(ML100K_GENRES)
    )
    return (
        f"SELECT CAST(item_id AS BIGINT) AS item_id, title, "
        f"nullif(concat_ws('|', {genre_expr}), '') AS genres, release_date, imdb_url "
        f"FROM {from_sql}"
    )


def movielens_sources(folder: Path, variant: str, prefix: str) -> tuple[Source, str, str]:
    """The ratings source plus SQL ``SELECT`` statements for the items and users tables.

    The items query yields ``item_id, title, genres, ...``; the users query
    ``user_id, age, gender, occupation, zip``. Either is ``""`` when its file is absent.
    """

    def label(n: str) -> str:
        return f"{prefix.rstrip('/')}/{n}"

    ratings_name, items_name, users_name = _ML_FILES[variant]
    delim = "\t" if variant == "100k" else "::"
    rpath = folder / ratings_name
    ipath, upath = folder / items_name, folder / users_name
    rfile, ifile, ufile = (sql_str(duckdb_path(p)) for p in (rpath, ipath, upath))
    cols = ["user_id", "item_id", "rating", "timestamp"]
    spec = ", ".join(f"{sql_str(c)}: 'VARCHAR'" for c in cols)
    ratings = Source(
        label=label(ratings_name),
        from_sql=(
            f"read_csv({rfile}, delim={sql_str(delim)}, header=false, quote='', "
            f"escape='', encoding='latin-1', auto_detect=false, columns={{{spec}}})"
        ),
        kind="csv", columns=cols, path=rpath, delimiter=delim, encoding="latin-1",
        header=False, quoting=False,
        fixed_mapping={"user": "user_id", "item": "item_id", "rating": "rating",
                       "timestamp": "timestamp"},
    )  # fmt: skip
    items_sql = users_sql = ""
    if ipath.is_file() and variant == "100k":
        flags = [f"g{k}" for k in range(len(ML100K_GENRES))]
        icols = ["item_id", "title", "release_date", "video_release_date", "imdb_url", *flags]
        ispec = ", ".join(
            f"{sql_str(c)}: '{'INTEGER' if c in flags or c == 'item_id' else 'VARCHAR'}'"
            for c in icols
        )
        items_sql = ml100k_items_select(
            f"read_csv({ifile}, delim='|', header=false, quote='', escape='', "
            f"encoding='latin-1', auto_detect=false, columns={{{ispec}}})"
        )
    elif ipath.is_file():
        items_sql = (
            f"SELECT CAST(item_id AS BIGINT) AS item_id, title, genres "
            f"FROM read_csv({ifile}, delim='::', header=false, quote='', escape='', "
            f"encoding='latin-1', auto_detect=false, "
            f"columns={{'item_id': 'BIGINT', 'title': 'VARCHAR', 'genres': 'VARCHAR'}})"
        )
    if upath.is_file():
        order = (
            ["user_id", "age", "gender", "occupation", "zip"]
            if variant == "100k"
            else ["user_id", "gender", "age", "occupation", "zip"]
        )
        types = {"user_id": "BIGINT", "age": "INTEGER", "gender": "VARCHAR",
                 "occupation": "VARCHAR", "zip": "VARCHAR"}  # fmt: skip
        uspec = ", ".join(f"{sql_str(c)}: '{types[c]}'" for c in order)
        udelim = "|" if variant == "100k" else "::"
        users_sql = (
            f"SELECT user_id, age, gender, occupation, zip "
            f"FROM read_csv({ufile}, delim={sql_str(udelim)}, header=false, quote='', "
            f"escape='', encoding='latin-1', auto_detect=false, columns={{{uspec}}})"
        )
    return ratings, items_sql, users_sql


# -- error path: find the row ---------------------------------------------------------------
