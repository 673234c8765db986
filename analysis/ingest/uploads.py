"""How the app brings data in: an uploaded file staged on disk, a preview of its first rows,
and a synthetic dataset generated and ingested in one call.

Uploads are written to a folder on disk under their original name and ingested from the path:
DuckDB streams the file, pandas never holds it whole. Any file name is accepted (MovieLens's
``u.data``, ``u.user``, ``u.item`` included): the format, delimiter, quoting and header are
read from the content. The preview (:func:`describe_input`) reads only the first rows through
the same reader :func:`analysis.ingest.ingest` uses, so a file that previews also parses the
same way, and says what was detected.

Staged files are readable by their owner only (folders 0o700, files 0o600). The app removes a
staged upload when its ingest ends, whether it succeeded or failed (:func:`discard_upload`),
and any staged upload nobody has touched for :data:`STALE_UPLOAD_SECONDS`
(:func:`clean_stale_uploads`), so neither a finished nor an abandoned upload stays on disk.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import unicodedata
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import pandas as pd

from analysis.errors import AnalysisError
from analysis.ingest import IngestReport, ingest
from analysis.ingest._formats import resolve_format
from analysis.ingest._library_errors import library_errors
from analysis.ingest._open import open_interactions
from analysis.ingest._text_rows import diagnose_text_failure
from analysis.ingest.synthetic import generate_synthetic, write_synthetic
from analysis.workspace import Workspace

__all__ = [
    "BAD_UPLOAD_NAME",
    "STAGE_FAILED",
    "STALE_UPLOAD_SECONDS",
    "InputPreview",
    "clean_stale_uploads",
    "describe_input",
    "discard_upload",
    "ingest_synthetic",
    "preview_input",
    "stage_upload",
    "upload_message",
]

BAD_UPLOAD_NAME = (
    "Uploaded file name {name!r} cannot be used; rename the file (letters, digits, '.', '-', "
    "'_') and upload it again."
)
STAGE_FAILED = "Could not store the uploaded file {name!r} on the server ({detail}); try again."

#: a staged upload untouched for this long is removed by :func:`clean_stale_uploads`
STALE_UPLOAD_SECONDS = 6 * 3600
#: most bytes of a staged file name (file systems allow 255; ``.part`` is added while writing)
MAX_NAME_BYTES = 250


def _safe_name(name: str) -> str:
    """The last path component of ``name``, control characters made ``_``, cut to
    :data:`MAX_NAME_BYTES` (keeping the extensions, which pick the format)."""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join("_" if unicodedata.category(c).startswith("C") else c for c in base)
    if len(base.encode("utf-8")) <= MAX_NAME_BYTES:
        return base
    stem, dot, ext = base.partition(".")
    ext = (dot + ext) if len((dot + ext).encode("utf-8")) <= 32 else ""
    room = MAX_NAME_BYTES - len(ext.encode("utf-8"))
    stem = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return stem + ext


def stage_upload(name: str, data: BinaryIO, folder: str | Path) -> Path:
    """Write an uploaded file to ``folder/<name>`` in 1 MiB chunks (once; kept if present).

    The folder is made owner-only (0o700), the file owner-readable (0o600); staging an
    upload that is already there marks it as in use (for :func:`clean_stale_uploads`).

    Args:
        name: the file's original name; only its last path component is used, control
            characters become ``_`` and a name over :data:`MAX_NAME_BYTES` bytes is cut
            (its extensions kept).
        data: a binary stream (Streamlit's ``UploadedFile``); read from its start.
        folder: where to put it (created if needed).

    Returns:
        The path of the staged file.

    Raises:
        AnalysisError: the name is empty or only dots; the file cannot be written.
    """
    base = _safe_name(name)
    if not base.strip(". _"):
        raise AnalysisError(BAD_UPLOAD_NAME.format(name=name))
    folder = Path(folder)
    try:
        _private_folder(folder.parent)
        _private_folder(folder)
        path = folder / base
        if path.exists():
            os.utime(folder)
            return path
        data.seek(0)
        part = path.with_name(path.name + ".part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(data, out, 1 << 20)
            part.replace(path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    except (OSError, ValueError) as exc:
        detail = getattr(exc, "strerror", None) or type(exc).__name__
        raise AnalysisError(STAGE_FAILED.format(name=base, detail=detail)) from exc
    return path


def _private_folder(folder: Path) -> None:
    """Create ``folder`` (and parents) and make it owner-only if this user owns it."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if folder.stat().st_uid == os.getuid() and folder.stat().st_mode & 0o077:
        folder.chmod(0o700)


def discard_upload(*folders: str | Path) -> None:
    """Remove staged upload folders (after their ingest, whether it succeeded or failed)."""
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def clean_stale_uploads(root: str | Path, max_age_s: float = STALE_UPLOAD_SECONDS) -> int:
    """Remove the staged uploads under ``root`` untouched for ``max_age_s`` seconds.

    Each upload is a folder of ``root`` (see :func:`stage_upload`); its modification time is
    refreshed whenever the app stages it again, so only abandoned uploads go.

    Returns:
        How many folders were removed.
    """
    root = Path(root)
    cutoff = time.time() - max_age_s
    removed = 0
    try:
        entries = list(root.iterdir())
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_dir() and not entry.is_symlink() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed += not entry.exists()
        except OSError:
            continue
    return removed


@dataclass(frozen=True)
class InputPreview:
    """The first rows of an interactions input and how it was read.

    Attributes:
        rows: the first rows: text columns for delimited text (as ingest stages them), typed
            for Parquet; a MovieLens folder/zip shows ``user_id, item_id, rating, timestamp``.
        fmt: ``"csv"``, ``"tsv"``, ``"parquet"`` or ``"movielens"``.
        header: whether the text file's first line was read as column names (``None`` for
            Parquet and MovieLens folders/zips, whose columns are known).
        layout: the MovieLens file recognised in a headerless text file (``"ml-100k u.data"``),
            else ``None``.
    """

    rows: pd.DataFrame
    fmt: str
    header: bool | None
    layout: str | None


@library_errors("path")
def describe_input(
    path: str | Path,
    *,
    n_rows: int = 20,
    delimiter: str | None = None,
    header: bool | None = None,
    quoting: bool | None = None,
) -> InputPreview:
    """Read the first ``n_rows`` rows of an interactions input (LIMIT, no full scan).

    Args:
        path: any file :func:`analysis.ingest.ingest` takes, under any name.
        n_rows: rows to read (>= 1).
        delimiter, header, quoting: as for :func:`analysis.ingest.ingest` (``None``: detected).

    Returns:
        The rows and what was detected (:class:`InputPreview`).

    Raises:
        AnalysisError: the input cannot be read (same messages as ingest).
    """
    path = Path(path)
    with ExitStack() as stack:
        con = stack.enter_context(duckdb.connect())
        fmt = resolve_format(path, "auto")
        src = open_interactions(con, stack, path, "auto", delimiter, header, quoting).interactions
        try:
            rows = con.execute(f"SELECT * FROM {src.from_sql} LIMIT {max(1, int(n_rows))}").df()
        except duckdb.Error as exc:
            raise diagnose_text_failure(src, exc) from exc
    text = fmt in ("csv", "tsv")
    return InputPreview(rows=rows, fmt=fmt, header=src.header if text else None,
                        layout=src.layout)  # fmt: skip


def preview_input(
    path: str | Path, *, n_rows: int = 20, delimiter: str | None = None
) -> pd.DataFrame:
    """The first ``n_rows`` rows of an interactions input (:func:`describe_input`'s rows).

    Raises:
        AnalysisError: the input cannot be read (same messages as ingest).
    """
    return describe_input(path, n_rows=n_rows, delimiter=delimiter).rows


def upload_message(err: AnalysisError, *folders: str | Path) -> AnalysisError:
    """The same error with the staging folders removed, so it names the file as uploaded.

    ``/tmp/weakspot-uploads/ab12/bad.csv: row 3, ...`` becomes ``bad.csv: row 3, ...``; any
    other path under the temporary folder (a zip's extraction folder, a library's own
    scratch file) is cut to its file name too, so no server path reaches the user.
    """

    def clean(text: str) -> str:
        for folder in folders:
            for prefix in sorted({str(Path(folder)), str(Path(folder).resolve())}, key=len,
                                 reverse=True):  # fmt: skip
                text = text.replace(prefix.rstrip("/") + "/", "")
        for root in {tempfile.gettempdir(), str(Path(tempfile.gettempdir()).resolve())}:
            root = root.rstrip("/")
            if root:  # any other path under it: keep the file name only
                text = re.sub(re.escape(root) + r"/(?:[^\s'\"/]+/)*", "", text)
        return text

    # each surface keeps its own hint (str() of the result is the message with the app's)
    return AnalysisError(clean(err.message), hints={s: clean(h) for s, h in err.hints.items()})


def ingest_synthetic(
    workspace: Workspace,
    name: str,
    *,
    n_users: int,
    n_items: int,
    mean_interactions: float,
    seed: int = 0,
    replace: bool = False,
    n_scenarios: int = 0,
) -> IngestReport:
    """Generate a synthetic dataset (:func:`analysis.ingest.synthetic.generate_synthetic`) and ingest it.

    The interactions, users (age band, gender, country) and items (title, genres) are
    written as Parquet to a temporary folder and ingested as ``name``; the folder is removed.

    Args:
        workspace: where to store it.
        name: dataset name.
        n_users, n_items, mean_interactions, seed: the generator's size and seed.
        replace: overwrite a dataset of the same name.
        n_scenarios: scenarios planted (0: none; the last one hard for a shared model).

    Returns:
        The ingest report.

    Raises:
        AnalysisError: a bad size, a bad or taken name.
    """
    data = generate_synthetic(
        int(n_users), int(n_items), seed=int(seed), mean_interactions=float(mean_interactions),
        n_scenarios=int(n_scenarios),
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
