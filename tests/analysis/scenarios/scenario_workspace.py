"""A workspace holding a small dataset whose loads carry scenarios, and a baseline run of it,
for the CLI and page tests.

Ingest does not keep a scenario column yet (issue 14, point 1, in progress), so the run's
dataset gets its scenarios on every load through a patched ``load_dataset`` (the code
``item_idx % 2``: ``feed`` and ``search``), the same on every load.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import analysis.runs.baseline as baseline_module
from analysis.ingest import load_dataset
from analysis.ingest.uploads import ingest_synthetic
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.runs.store import RunStore
from analysis.workspace import Workspace

NAME = "scen"
PLAIN = "plain"


def with_scenarios(ds):
    if ds.name != NAME:
        return ds
    return dataclasses.replace(ds, scenario=(ds.item_idx % 2).astype(np.int16),
                               scenario_names=("feed", "search"))


def patch_loads(mp) -> None:
    """Loads of the dataset ``scen`` carry scenarios (``mp``: a MonkeyPatch)."""
    mp.setattr(baseline_module, "load_dataset", lambda ws, name: with_scenarios(
        load_dataset(ws, name)))


def build(path, mp):
    """The workspace at ``path`` with a run of ``scen`` (scenarios) and one of ``plain``
    (none); returns their RunInfos."""
    patch_loads(mp)
    ws = Workspace(path)
    store = RunStore(ws)
    config = EvaluateConfig(model="als", model_params={"factors": 8, "iterations": 3},
                            split="random", min_group_size=5)
    infos = []
    for name in (NAME, PLAIN):
        ingest_synthetic(ws, name, n_users=150, n_items=80, mean_interactions=12, seed=1)
        ds = with_scenarios(load_dataset(ws, name))
        infos.append(store.save_baseline(run_pipeline(ds, config)))
    return infos
