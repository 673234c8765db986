"""A tiny dataset with an items table (titles, genres, a description column)."""

from __future__ import annotations

import pandas as pd

from analysis.ingest import dataset_from_frames

ITEMS = pd.DataFrame({
    "item_id": [10, 11, 12, 13],
    "title": ["Heat (1995)", "Sabrina", "Heat (1995)", None],
    "genres": ["Action|Crime", "Comedy|Romance", "Action|Crime", "Drama"],
    "description": ["A  heist\nin LA.", None, "A  heist\nin LA.", "Lost."],
})  # fmt: skip


def tiny_dataset(items: pd.DataFrame | None = ITEMS, name: str = "tiny"):
    inter = pd.DataFrame({
        "user_id": [1, 1, 2, 2, 3, 3],
        "item_id": [10, 11, 12, 13, 10, 13],
        "rating": [5, 4, 3, 5, 4, 2],
        "timestamp": [1, 2, 3, 4, 5, 6],
    })  # fmt: skip
    return dataset_from_frames(inter, items=items, name=name)
