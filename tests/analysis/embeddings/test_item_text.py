"""Item texts: title, genres and description, one line each."""

from __future__ import annotations

import pytest

from analysis.embeddings import build_item_texts
from analysis.errors import AnalysisError
from tests.analysis.embeddings._fixtures import ITEMS, tiny_dataset


def test_title_genres_and_description():
    texts = build_item_texts(tiny_dataset())
    assert texts.tolist() == [
        "Heat (1995) (Action, Crime). A heist in LA.",
        "Sabrina (Comedy, Romance)",
        "Heat (1995) (Action, Crime). A heist in LA.",
        "item 13. Lost.",
    ]


def test_no_description_column_and_no_items_table():
    assert build_item_texts(tiny_dataset(ITEMS.drop(columns="description")))[0] == (
        "Heat (1995) (Action, Crime)"
    )
    assert build_item_texts(tiny_dataset(None)).tolist() == [
        "item 10", "item 11", "item 12", "item 13"]


def test_cut_at_max_chars():
    texts = build_item_texts(tiny_dataset(), max_chars=20)
    assert texts[0] == "Heat (1995) (Action…" and all(len(t) <= 20 for t in texts)
    with pytest.raises(AnalysisError, match="Bad item text length 3"):
        build_item_texts(tiny_dataset(), max_chars=3)
