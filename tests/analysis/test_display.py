"""analysis.display.without_paths: a run's recorded source shown without server paths."""

from __future__ import annotations

from analysis.display import without_paths


def test_absolute_paths_keep_only_their_last_part():
    assert without_paths("/work/shared/datasets/ml-100k") == "ml-100k"
    assert without_paths("/srv/uploads/tmp123/ratings.csv") == "ratings.csv"
    assert without_paths("~/data/ml-1m.zip") == "ml-1m.zip"
    assert without_paths(r"C:\Users\ana\ratings.csv") == "ratings.csv"
    assert without_paths(
        "python -m analysis evaluate --interactions /home/ana/data/u.data --out /tmp/r/x"
    ) == "python -m analysis evaluate --interactions u.data --out x"


def test_other_text_is_left_alone():
    for text in ("ratings.csv", "runs/ml-als", "1/3 of users", "https://example.org/a/b",
                 "demo: 3,000 users", "auc <= 0.8287"):
        assert without_paths(text) == text


def test_nested_values_are_rewritten_item_by_item():
    summary = {"source": "/data/ws/ml-100k", "argv": ["/usr/bin/python", "-m", "analysis"],
               "n": 3, "workspace": "/srv/weakspot/data/workspace.duckdb"}
    assert without_paths(summary) == {"source": "ml-100k", "argv": ["python", "-m", "analysis"],
                                      "n": 3, "workspace": "workspace.duckdb"}
