"""Shared helpers for the folders of files a run leaves: atomic replacement, JSON values."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError, surface_hints

__all__ = ["atomic_folder", "clean_stale_partials", "item_lists", "item_rows", "jsonable"]

OUT_IS_FILE = surface_hints(
    "The output folder {name!r} is an existing file.",
    app="Move or rename that file, then retry.",
    cli="Give a folder path to --out.",
)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process / not a pid
        return pid > 0
    return True


_PARTIAL = re.compile(r"^\.(?P<name>.+)\.(?P<kind>partial|old)-(?P<pid>\d+)-[a-z0-9_]{8}$")


def clean_stale_partials(out: str | Path) -> list[Path]:
    """Remove the hidden partial folders killed writers left beside ``out``.

    :func:`atomic_folder` names its temporary siblings ``.<name>.partial-<pid>-XXXXXXXX`` and
    ``.<name>.old-<pid>-XXXXXXXX``; a ``finally`` removes them, but a killed process
    (SIGKILL, a power cut) cannot. Every such folder in ``out``'s parent whose process is
    gone is removed here; those of a live process (a concurrent write) are left alone. An
    ``old`` folder still holding the previous output while ``<name>`` is missing (killed
    between the two renames) is put back first. Pids are those of this machine.

    Returns:
        The folders removed.
    """
    parent = Path(out).parent
    removed = []
    try:
        siblings = sorted(parent.iterdir())
    except OSError:
        return removed
    for sib in siblings:
        match = _PARTIAL.match(sib.name)
        if not match or _pid_alive(int(match["pid"])):
            continue
        try:
            if not sib.is_dir() or sib.is_symlink():
                continue
            previous, target = sib / match["name"], parent / match["name"]
            if match["kind"] == "old" and previous.is_dir() and not target.exists():
                os.replace(previous, target)
            shutil.rmtree(sib, ignore_errors=True)
            removed.append(sib)
        except OSError:
            continue
    return removed


@contextmanager
def atomic_folder(out: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``out`` whole.

    An interrupted write never leaves a half-written folder, and an earlier folder at
    ``out`` is replaced only by a complete new one. The temporary folder is hidden and names
    the writing process (``.<out>.partial-<pid>-XXXX``), so that partial folders a killed
    process left behind are removed on the next write (:func:`clean_stale_partials`).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AnalysisError(OUT_IS_FILE.format(name=out.name))
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_partials(out)
    pid = os.getpid()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{pid}-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{pid}-", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def jsonable(v):
    """``v`` with numpy scalars/arrays made plain and non-finite floats made None."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def item_lists(rows: np.ndarray, item_ids: np.ndarray) -> list[list]:
    """Each row of item_idx (``-1`` padded) as the list of its raw item ids (how a file stores
    a top-k list: raw ids stay right whatever the item order of a later load)."""
    rows = np.asarray(rows)
    if not len(rows):
        return []
    ids = np.asarray(item_ids)
    filled = rows >= 0
    flat = ids[rows[filled]].tolist()
    bounds = np.cumsum(filled.sum(axis=1))[:-1]
    return [part.tolist() for part in np.split(np.asarray(flat, dtype=object), bounds)]


def item_rows(lists: pd.Series, item_ids: np.ndarray, k: int) -> np.ndarray:
    """The inverse of :func:`item_lists`: int64 ``(len(lists), k)`` item_idx, ``-1`` padded
    (an id the dataset lacks reads as ``-1``)."""
    lengths = lists.map(len).to_numpy(np.int64)
    flat = lists.explode().dropna().astype(str).to_numpy()
    got = pd.Index(np.asarray(item_ids).astype(str)).get_indexer(flat)
    rows = np.repeat(np.arange(len(lists)), lengths)
    cols = np.arange(len(got)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out = np.full((len(lists), k), -1, dtype=np.int64)
    keep = cols < k
    out[rows[keep], cols[keep]] = got[keep]
    return out
