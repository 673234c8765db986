"""MovieLens 100K and 1M layouts (folder or zip): find the files, describe them as sources."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from analysis.errors import AnalysisError
from analysis.ingest._formats import UNREADABLE, Source, sql_str

NOT_MOVIELENS = (
    "{file}: this folder/zip holds no MovieLens files (u.data or ratings.dat); give a "
    ".csv/.tsv/.parquet file or a MovieLens 100K/1M folder or zip."
)

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


_ML_FILES = {
    "100k": ("u.data", "u.item", "u.user"),
    "1m": ("ratings.dat", "movies.dat", "users.dat"),
}


@contextmanager
def movielens_folder(path: Path) -> Iterator[tuple[Path, str, str]]:
    """Yield ``(folder, variant, label_prefix)`` for a MovieLens folder or zip.

    A zip is extracted (only the needed files) into a temporary folder for the duration.

    Raises:
        AnalysisError: neither ``u.data`` nor ``ratings.dat`` is inside.
    """
    import tempfile

    if path.is_dir():
        for variant, names in _ML_FILES.items():
            for cand in (path, *sorted(p for p in path.iterdir() if p.is_dir())):
                if (cand / names[0]).is_file():
                    yield cand, variant, str(cand)
                    return
        raise AnalysisError(NOT_MOVIELENS.format(file=path))
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise AnalysisError(UNREADABLE.format(file=path, fmt="zip", detail=exc)) from exc
    with zf, tempfile.TemporaryDirectory(prefix="weakspot_ml_") as tmp:
        members = {Path(n).name: n for n in zf.namelist() if not n.endswith("/")}
        for variant, names in _ML_FILES.items():
            if names[0] in members:
                for n in names:
                    if n in members:
                        target = Path(tmp) / n
                        with zf.open(members[n]) as src, open(target, "wb") as dst:
                            dst.write(src.read())
                yield Path(tmp), variant, f"{path}:{Path(members[names[0]]).parent}"
                return
        raise AnalysisError(NOT_MOVIELENS.format(file=path))


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
    cols = ["user_id", "item_id", "rating", "timestamp"]
    spec = ", ".join(f"{sql_str(c)}: 'VARCHAR'" for c in cols)
    ratings = Source(
        label=label(ratings_name),
        from_sql=(
            f"read_csv({sql_str(rpath)}, delim={sql_str(delim)}, header=false, quote='', "
            f"escape='', encoding='latin-1', auto_detect=false, columns={{{spec}}})"
        ),
        kind="csv", columns=cols, path=rpath, delimiter=delim, encoding="latin-1",
        header=False, quoting=False,
        fixed_mapping={"user": "user_id", "item": "item_id", "rating": "rating",
                       "timestamp": "timestamp"},
    )  # fmt: skip
    items_sql = users_sql = ""
    ipath, upath = folder / items_name, folder / users_name
    if ipath.is_file() and variant == "100k":
        flags = [f"g{k}" for k in range(len(ML100K_GENRES))]
        icols = ["item_id", "title", "release_date", "video_release_date", "imdb_url", *flags]
        ispec = ", ".join(
            f"{sql_str(c)}: '{'INTEGER' if c in flags or c == 'item_id' else 'VARCHAR'}'"
            for c in icols
        )
        genre_expr = ", ".join(
            f"CASE WHEN g{k} = 1 THEN {sql_str(g)} END" for k, g in enumerate(ML100K_GENRES)
        )
        items_sql = (
            f"SELECT CAST(item_id AS BIGINT) AS item_id, title, "
            f"nullif(concat_ws('|', {genre_expr}), '') AS genres, release_date, imdb_url "
            f"FROM read_csv({sql_str(ipath)}, delim='|', header=false, quote='', escape='', "
            f"encoding='latin-1', auto_detect=false, columns={{{ispec}}})"
        )
    elif ipath.is_file():
        items_sql = (
            f"SELECT CAST(item_id AS BIGINT) AS item_id, title, genres "
            f"FROM read_csv({sql_str(ipath)}, delim='::', header=false, quote='', escape='', "
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
            f"FROM read_csv({sql_str(upath)}, delim={sql_str(udelim)}, header=false, quote='', "
            f"escape='', encoding='latin-1', auto_detect=false, columns={{{uspec}}})"
        )
    return ratings, items_sql, users_sql


# -- error path: find the row ---------------------------------------------------------------
