"""A workspace holding a small dataset with a scenario column, and a baseline run of it, for
the CLI and page tests.

The synthetic log gets the column ``scenario`` = ``feed`` for even item ids and ``search``
for odd ones, and is ingested like any file with a scenario column (the ingest maps item ids
``0..n-1`` to the same ``item_idx``, so the code is ``item_idx % 2``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from analysis.ingest import ingest, load_dataset
from analysis.ingest.synthetic import generate_synthetic, write_synthetic
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.runs.store import RunStore
from analysis.workspace import Workspace

NAME = "scen"
PLAIN = "plain"


def build(path, mp=None):
    """The workspace at ``path`` with a run of ``scen`` (scenarios) and one of ``plain``
    (none); returns their RunInfos. ``mp`` is unused (kept for the callers' signature)."""
    ws = Workspace(path)
    store = RunStore(ws)
    config = EvaluateConfig(model="als", model_params={"factors": 8, "iterations": 3},
                            split="random", min_group_size=5)
    data = generate_synthetic(150, 80, seed=1, mean_interactions=12)
    infos = []
    with tempfile.TemporaryDirectory(prefix="weakspot-scen-") as tmp:
        for name in (NAME, PLAIN):
            if name == NAME:
                item = data.interactions["item_id"].to_numpy()
                data.interactions["scenario"] = np.where(item % 2 == 0, "feed", "search")
            paths = write_synthetic(data, Path(tmp) / name)
            ingest(ws, name, paths["interactions"], users=paths["users"], items=paths["items"])
            data.interactions.drop(columns="scenario", inplace=True, errors="ignore")
            infos.append(store.save_baseline(run_pipeline(load_dataset(ws, name), config)))
    return infos
