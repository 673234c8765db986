"""Where a run came from: package versions, a fingerprint of its dataset, seed, command.

``summary.json`` holds these under ``"provenance"`` (see ``analysis/pipeline.py``), so a run
can be traced and repeated: the same dataset (same SHA-256), the same package versions, seed
and settings give byte-identical ``per_user.parquet``, ``recommendations.parquet`` and
``candidates.parquet``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib import metadata

import numpy as np
import pandas as pd

from analysis.dataset import Dataset

__all__ = ["DATASET_HASH_OF", "PACKAGES", "dataset_sha256", "package_versions"]

#: distributions whose version a run records (``torch`` only when it was imported)
PACKAGES: tuple[str, ...] = (
    "numpy",
    "scipy",
    "implicit",
    "duckdb",
    "pandas",
    "pyarrow",
    "numba",
    "scikit-learn",
    "threadpoolctl",
)

#: what :func:`dataset_sha256` covers, in words (written beside the hash)
DATASET_HASH_OF = (
    "SHA-256 of the dataset as loaded from the workspace: feedback kind and relevance "
    "threshold, the sorted raw user and item ids, every interaction (user, item, value, "
    "timestamp) sorted by user, item and time, and the users and items tables"
)


def package_versions() -> dict[str, str | None]:
    """Installed versions of :data:`PACKAGES` (None when absent), Python, and torch if loaded.

    Returns:
        ``{"python": "3.11.9", "numpy": "2.1.3", ...}``; ``torch`` appears only when this
        process imported it (a local LLM backend), since the baselines never use it.
    """
    out: dict[str, str | None] = {"python": platform.python_version()}
    names = list(PACKAGES) + (["torch"] if "torch" in sys.modules else [])
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _ids_bytes(ids: np.ndarray) -> bytes:
    arr = np.asarray(ids)
    if arr.dtype.kind in "iu":
        return arr.astype("<i8").tobytes()
    return "\0".join(map(str, arr.tolist())).encode("utf-8")


def _table_bytes(table: pd.DataFrame | None) -> bytes:
    if table is None:
        return b"none"
    head = json.dumps([[str(c), str(t)] for c, t in table.dtypes.items()]).encode()
    rows = pd.util.hash_pandas_object(table, index=False).to_numpy().astype("<u8")
    return head + rows.tobytes()


def _hash_order(user_idx: np.ndarray, item_idx: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """``np.lexsort((ts, item_idx, user_idx))``, without sorting what is already sorted.

    The workspace returns interactions sorted by ``(user_idx, item_idx)``; then only runs
    of a repeated ``(user, item)`` pair need ordering by time, and they are sorted alone (a
    stable sort of the subset, put back in its own positions, is the full stable sort)."""
    u = np.asarray(user_idx, dtype=np.int64)
    i = np.asarray(item_idx, dtype=np.int64)
    n = len(u)
    if n < 2:
        return np.arange(n)
    du, di = np.diff(u), np.diff(i)
    if not ((du > 0) | ((du == 0) & (di >= 0))).all():  # not in (user, item) order
        return np.lexsort((ts, i, u))
    order = np.arange(n)
    same = (du == 0) & (di == 0)
    if same.any():
        rows = np.flatnonzero(np.r_[same, False] | np.r_[False, same])
        order[rows] = rows[np.lexsort((ts[rows], i[rows], u[rows]))]
    return order


def dataset_sha256(dataset: Dataset) -> str:
    """Fingerprint of a dataset's content (:data:`DATASET_HASH_OF`), independent of its name.

    Interactions are hashed in ``(user_idx, item_idx, timestamp)`` order, so the order the
    workspace returned them in does not matter; dense indices follow the sorted raw ids, so
    hashing the id vocabularies with them covers the raw ids. Side tables are hashed with
    pandas' ``hash_pandas_object`` (column names and dtypes included).

    Args:
        dataset: the dataset a run used.

    Returns:
        64 hex digits.
    """
    ds = dataset
    h = hashlib.sha256()
    header = {
        "kind": ds.kind,
        "relevance_threshold": float(ds.relevance_threshold),
        "n_users": int(ds.n_users),
        "n_items": int(ds.n_items),
        "n_interactions": len(ds.user_idx),
        "value": ds.value is not None,
        "timestamp": ds.timestamp is not None,
    }
    h.update(json.dumps(header, sort_keys=True).encode())
    h.update(_ids_bytes(ds.user_ids))
    h.update(b"\1")
    h.update(_ids_bytes(ds.item_ids))
    ts = ds.timestamp if ds.timestamp is not None else np.zeros(len(ds.user_idx), np.int64)
    order = _hash_order(ds.user_idx, ds.item_idx, ts)
    h.update(np.asarray(ds.user_idx, "<i8")[order].tobytes())
    h.update(np.asarray(ds.item_idx, "<i8")[order].tobytes())
    if ds.value is not None:
        h.update(np.asarray(ds.value, "<f8")[order].tobytes())
    h.update(np.asarray(ts, "<i8")[order].tobytes())
    h.update(_table_bytes(ds.users))
    h.update(_table_bytes(ds.items))
    return h.hexdigest()
