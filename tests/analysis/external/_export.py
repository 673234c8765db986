"""A small export of an external recommender, written as Parquet part files (analyse-export
tests)."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.external import ExportFiles

N_USERS, N_ITEMS, C = 260, 60, 20


def _write(path, frame, parts=1):
    """A folder of ``parts`` Parquet part files (or one file when parts == 0)."""
    if not parts:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
        return path
    path.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), parts)):
        pq.write_table(pa.Table.from_pandas(frame.iloc[rows], preserve_index=False),
                       path / f"part-{i}.parquet", row_group_size=97)
    return path


def write_export(d):
    """A recommender's top-20 for 260 users (validation and test), 3 held-out items each,
    a history with ratings and timestamps, a country attribute and titles for most items:
    (the files, the frames written)."""
    rng = np.random.default_rng(7)
    frames = {}
    for split in ("validation", "test"):
        scores = rng.random((N_USERS, N_ITEMS))
        top = np.argsort(-scores, axis=1)[:, :C]
        frames[f"{split}_run"] = pd.DataFrame({
            "user_id": np.repeat(np.arange(N_USERS) + 1000, C), "item_id": top.ravel(),
            "rank": np.tile(np.arange(1, C + 1), N_USERS)})
        held = np.stack([rng.choice(N_ITEMS, 3, replace=False) for _ in range(N_USERS)])
        gain = rng.integers(0, 3, held.shape).astype(float)  # 0: held out, not relevant
        frames[f"{split}_heldout"] = pd.DataFrame({
            "user_id": np.repeat(np.arange(N_USERS) + 1000, 3), "item_id": held.ravel(),
            "gain": gain.ravel()})
    n_hist = rng.integers(1, 25, N_USERS)
    frames["history"] = pd.DataFrame({
        "user_id": np.repeat(np.arange(N_USERS) + 1000, n_hist),
        "item_id": rng.integers(0, N_ITEMS, n_hist.sum()),
        "rating": rng.integers(1, 6, n_hist.sum()).astype(float),
        "timestamp": rng.permutation(n_hist.sum())})
    frames["users"] = pd.DataFrame({"user_id": np.arange(N_USERS) + 1000,
                                    "country": rng.choice(["de", "fr", "us"], N_USERS)})
    titled = np.arange(N_ITEMS)[np.arange(N_ITEMS) % 5 != 0]
    frames["items"] = pd.DataFrame({"item_id": titled,
                                    "title": [f"Film number {i} ({1990 + i})" for i in titled]})
    paths = {name: _write(d / name, f, parts=3 if name.endswith("run") else 0)
             for name, f in frames.items()}
    return ExportFiles(**{k: str(v) for k, v in paths.items()}), frames
