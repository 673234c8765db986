"""Several scenarios on real data: MovieLens 100K with the movie's genre family as scenario.

Not a test; run by hand (needs ``WEAKSPOT_DATASETS`` pointing at the folder holding
``ml-100k/``). MovieLens has no surfaces, so each rating gets the scenario of its movie's
genre family, a category-like scenario (each item belongs to one), by priority:
``drama`` (Drama among its genres), else ``comedy``, else ``action`` (Action, Adventure,
Thriller, Sci-Fi, War, Western or Crime), else ``other``. The rated log with that column is
written as Parquet and analysed from the command line, each command a fresh process timed
with its peak RSS (``bench/_peak.py``):

1. ``evaluate --model als`` (temporal split): ingest, fit, per-user metrics; it names the
   worst scenario;
2. ``scenarios``: per-scenario NDCG with intervals, cross- vs single-scenario users, the heat
   map's worst cell, weak (user, scenario) pairs;
3. ``msr --encoder tfidf --save``: the re-scorer (TF-IDF knowledge: no LLM) against its id
   head, per scenario;
4. ``remedies``: the comparison.

Usage::

    WEAKSPOT_DATASETS=../shared/datasets .venv/bin/python bench/bench_scenarios.py [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ACTION = ("Action", "Adventure", "Thriller", "Sci-Fi", "War", "Western", "Crime")


def genre_family(genres: pd.Series) -> np.ndarray:
    """Each movie's scenario from its ``|``-separated genres (module docstring)."""
    g = genres.fillna("").astype(str)
    has = {name: g.str.contains(name, regex=False).to_numpy() for name in ("Drama", "Comedy")}
    action = np.zeros(len(g), dtype=bool)
    for name in ACTION:
        action |= g.str.contains(name, regex=False).to_numpy()
    return np.select([has["Drama"], has["Comedy"], action], ["drama", "comedy", "action"],
                     "other")


def write_log(folder: Path) -> tuple[Path, Path]:
    """MovieLens 100K's ratings with a ``scenario`` column, and its items, as Parquet."""
    from analysis.ingest import ingest, load_dataset
    from analysis.workspace import Workspace

    source = Path(os.environ["WEAKSPOT_DATASETS"]) / "ml-100k"
    ws = Workspace(folder / "read.duckdb")
    ingest(ws, "ml", source)
    ds = load_dataset(ws, "ml")
    family = genre_family(ds.items["genres"])
    log = pd.DataFrame({"user_id": ds.user_ids[ds.user_idx], "item_id": ds.item_ids[ds.item_idx],
                        "rating": ds.value, "timestamp": ds.timestamp,
                        "scenario": family[ds.item_idx]})
    items = pd.DataFrame({"item_id": ds.item_ids, "title": ds.items["title"],
                          "genres": ds.items["genres"]})
    paths = folder / "ml_scenarios.parquet", folder / "ml_items.parquet"
    log.to_parquet(paths[0], index=False)
    items.to_parquet(paths[1], index=False)
    print(pd.Series(family[ds.item_idx]).value_counts().to_string(), flush=True)
    return paths


def step(args: list[str]) -> None:
    """One CLI command in a fresh process, with its time and peak RSS."""
    cmd = [sys.executable, str(REPO / "bench" / "_peak.py"), sys.executable, "-m", "analysis",
           "-q", *args]
    print("$ python -m analysis " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="keep the files here")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="weakspot-scen-") as tmp:
        folder = a.out or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        log, items = write_log(folder)
        ws, run = str(folder / "ws.duckdb"), str(folder / "run")
        step(["evaluate", "--interactions", str(log), "--items", str(items), "--name",
              "ml-scenarios", "--model", "als", "--workspace", ws, "--out", run])
        step(["scenarios", "--run", run])
        step(["msr", "--run", run, "--encoder", "tfidf", "--save"])
        step(["remedies", "--run", run])


if __name__ == "__main__":
    main()
