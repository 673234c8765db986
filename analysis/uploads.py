"""How the app brings data in: an uploaded file staged on disk, a preview of its first rows,
and a synthetic dataset generated and ingested in one call.

Uploads are written to a folder on disk under their original name (so the extension picks
the format) and ingested from the path: DuckDB streams the file, pandas never holds it whole.
The preview reads only the first rows through the same reader :func:`analysis.ingest.ingest`
uses, so a file that previews also parses the same way.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import duckdb
import pandas as pd

from analysis.errors import AnalysisError
from analysis.ingest import IngestReport, ingest
from analysis.ingest._formats import diagnose_text_failure
from analysis.ingest._stage import _open_main
from analysis.synth import generate_synthetic, write_synthetic
from analysis.workspace import Workspace

__all__ = [
    "BAD_UPLOAD_NAME",
    "UPLOAD_TYPES",
    "ingest_synthetic",
    "preview_input",
    "stage_upload",
    "upload_message",
]

#: extensions the app's uploaders accept (what :func:`analysis.ingest.ingest` reads)
UPLOAD_TYPES = ("csv", "tsv", "tab", "txt", "dat", "gz", "parquet", "pq", "parq", "zip")

BAD_UPLOAD_NAME = (
    "Uploaded file name {name!r} cannot be used; rename the file (letters, digits, '.', '-', "
    "'_') and upload it again."
)


def stage_upload(name: str, data: BinaryIO, folder: str | Path) -> Path:
    """Write an uploaded file to ``folder/<name>`` in 1 MiB chunks (once; kept if present).

    Args:
        name: the file's original name; only its last path component is used.
        data: a binary stream (Streamlit's ``UploadedFile``); read from its start.
        folder: where to put it (created if needed).

    Returns:
        The path of the staged file.

    Raises:
        AnalysisError: the name is empty or only dots.
    """
    base = Path(str(name).replace("\\", "/")).name
    if not base.strip(". "):
        raise AnalysisError(BAD_UPLOAD_NAME.format(name=name))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / base
    if not path.exists():
        data.seek(0)
        part = path.with_name(path.name + ".part")
        with open(part, "wb") as out:
            shutil.copyfileobj(data, out, 1 << 20)
        part.replace(path)
    return path


def preview_input(
    path: str | Path, *, n_rows: int = 20, delimiter: str | None = None
) -> pd.DataFrame:
    """The first ``n_rows`` rows of an interactions input, read by DuckDB (LIMIT, no full scan).

    Args:
        path: CSV/TSV/Parquet file or MovieLens folder/zip, as :func:`analysis.ingest.ingest`
            takes it.
        n_rows: rows to read (>= 1).
        delimiter: field separator of a text file (default: by extension / sniffed).

    Returns:
        The rows as text columns for CSV/TSV (as ingest stages them), typed for Parquet;
        a MovieLens input shows ``user_id``, ``item_id``, ``rating``, ``timestamp``.

    Raises:
        AnalysisError: the input cannot be read (same messages as ingest).
    """
    with ExitStack() as stack:
        con = stack.enter_context(duckdb.connect())
        src = _open_main(con, stack, Path(path), "auto", delimiter).interactions
        try:
            return con.execute(
                f"SELECT * FROM {src.from_sql} LIMIT {max(1, int(n_rows))}"
            ).df()
        except duckdb.Error as exc:
            raise diagnose_text_failure(src, exc) from exc


def upload_message(err: AnalysisError, *folders: str | Path) -> AnalysisError:
    """The same error with the staging folders removed, so it names the file as uploaded.

    ``/tmp/weakspot-uploads/ab12/bad.csv: row 3, ...`` becomes ``bad.csv: row 3, ...``.
    """
    text = str(err)
    for folder in folders:
        for prefix in sorted({str(Path(folder)), str(Path(folder).resolve())}, key=len,
                             reverse=True):
            text = text.replace(prefix.rstrip("/") + "/", "")
    return AnalysisError(text)


def ingest_synthetic(
    workspace: Workspace,
    name: str,
    *,
    n_users: int,
    n_items: int,
    mean_interactions: float,
    seed: int = 0,
    replace: bool = False,
) -> IngestReport:
    """Generate a synthetic dataset (:func:`analysis.synth.generate_synthetic`) and ingest it.

    The interactions, users (age band, gender, country) and items (title, genres) are
    written as Parquet to a temporary folder and ingested as ``name``; the folder is removed.

    Args:
        workspace: where to store it.
        name: dataset name.
        n_users, n_items, mean_interactions, seed: the generator's size and seed.
        replace: overwrite a dataset of the same name.

    Returns:
        The ingest report.

    Raises:
        AnalysisError: a bad size, a bad or taken name.
    """
    data = generate_synthetic(
        int(n_users), int(n_items), seed=int(seed), mean_interactions=float(mean_interactions)
    )
    with tempfile.TemporaryDirectory(prefix="weakspot-synth-") as tmp:
        paths = write_synthetic(data, Path(tmp) / "synth")
        return ingest(
            workspace,
            name,
            paths["interactions"],
            users=paths["users"],
            items=paths["items"],
            replace=replace,
        )
