"""The built-in demo dataset: a small synthetic dataset, ingested into the workspace once.

The app opens on it with no setup; tests and the README's examples use it too.
"""

from __future__ import annotations

from analysis.dataset import Dataset
from analysis.ingest import load_dataset
from analysis.ingest.uploads import ingest_synthetic
from analysis.workspace import Workspace

__all__ = ["DEMO_NAME", "DEMO_SIZE", "ensure_demo_dataset"]

DEMO_NAME = "demo"
#: users, items, mean interactions per user: big enough for stable subgroups, trained in seconds
DEMO_SIZE = {"n_users": 3000, "n_items": 1500, "mean_interactions": 25.0}


def ensure_demo_dataset(workspace: Workspace, seed: int = 0) -> Dataset:
    """Load the demo dataset, generating and ingesting it on first use.

    Args:
        workspace: the DuckDB workspace.
        seed: generator seed (the demo is deterministic).

    Returns:
        The demo :class:`~analysis.dataset.Dataset`.
    """
    if not workspace.has_dataset(DEMO_NAME):
        ingest_synthetic(workspace, DEMO_NAME, seed=seed, replace=True, **DEMO_SIZE)
    return load_dataset(workspace, DEMO_NAME)
