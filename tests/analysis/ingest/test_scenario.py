"""The scenario column at ingest (analysis/ingest/_scenario.py and its callers): detected by
name or mapped, NULL/blank -> "unknown", a pair in several scenarios keeps its latest one
(counted), too many values refused, Parquet partitions, old workspaces, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.errors import AnalysisError
from analysis.ingest import ColumnMapping, dataset_from_frames, detect_columns, ingest, load_dataset
from analysis.ingest._scenario import MAX_SCENARIOS, TOO_MANY_SCENARIOS
from analysis.ingest.stats import dataset_stats
from analysis.workspace import Workspace

LOG = (
    "user_id,item_id,rating,timestamp,Surface\n"
    "1,10,5,100,home\n"
    "1,10,4,200,search\n"  # the same pair later in search: search wins, counted
    "1,11,5,100,home\n"
    "2,10,5,100,\n"  # blank -> unknown
    "2,11,4,300,search\n"
    "2,11,4,300,email\n"  # a tie on the timestamp: the smallest name (email) wins
    "3,12,5,50,home\n"
)


@pytest.fixture
def log_csv(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(LOG)
    return path


def test_surface_column_detected_latest_wins_and_counted(tmp_path, log_csv):
    ws = Workspace(tmp_path / "ws.duckdb")
    report = ingest(ws, "log", log_csv)
    assert report.mapping.scenario == "Surface"
    assert (report.n_scenarios, report.pairs_in_several_scenarios) == (4, 2)
    ds = load_dataset(ws, "log")
    assert ds.scenario_names == ("email", "home", "search", "unknown")  # codes: sorted names
    # pairs sorted by (user, item): (1,10) (1,11) (2,10) (2,11) (3,12)
    assert ds.scenario.dtype == np.int16
    assert ds.scenario.tolist() == [2, 1, 3, 0, 1]
    assert ds.meta["pairs_in_several_scenarios"] == 2
    assert ds.stats()["n_scenarios"] == 4
    assert ds.pair_scenarios(np.array([0, 1]), np.array([0, 1])).tolist() == [2, 0]
    stats = dataset_stats(ws, "log")
    assert (stats.n_scenarios, stats.pairs_in_several_scenarios) == (4, 2)


def test_without_timestamps_the_smallest_name_wins():
    frame = pd.DataFrame({"user": [1, 1, 2], "item": [5, 5, 5], "domain": ["b", "a", "c"]})
    ds = dataset_from_frames(frame)
    assert ds.scenario_names == ("a", "c")
    assert ds.scenario.tolist() == [0, 1]
    assert ds.meta["pairs_in_several_scenarios"] == 1


def test_mapped_scenario_column_and_never_a_taken_one():
    frame = pd.DataFrame(
        {"u": [1, 2], "category": [7, 8], "page": ["feed", "cart"], "stars": [5, 4]}
    )
    mapping = ColumnMapping(user="u", item="category", scenario="page")
    ds = dataset_from_frames(frame, mapping=mapping)
    assert ds.scenario_names == ("cart", "feed")
    # category is the item column: not guessed as the scenario too; page is not a synonym
    assert (
        dataset_from_frames(frame, mapping=ColumnMapping(user="u", item="category")).scenario
        is None
    )
    assert detect_columns(frame.rename(columns={"category": "item"})).scenario is None
    off = dataset_from_frames(
        frame.rename(columns={"page": "channel"}),
        mapping=ColumnMapping(user="u", item="category", scenario=""),
    )
    assert off.scenario is None


def test_too_many_scenarios_is_one_line_and_saves_nothing(tmp_path):
    n = MAX_SCENARIOS + 1
    path = tmp_path / "ids.csv"
    pd.DataFrame({"user_id": np.arange(n), "item_id": 1, "scenario": np.arange(n)}).to_csv(
        path, index=False
    )
    ws = Workspace(tmp_path / "ws.duckdb")
    with pytest.raises(AnalysisError) as err:
        ingest(ws, "ids", path)
    message = TOO_MANY_SCENARIOS.format(file=str(path), column="scenario", n=n, limit=MAX_SCENARIOS)
    assert (
        str(err.value)
        == f"{message} Choose another column under Scenario on the Data page, or (none)."
    )
    assert "1,001 distinct values" in message and "looks like an id, not a scenario" in message
    assert "\n" not in str(err.value)
    assert not ws.has_dataset("ids")


def test_old_workspace_without_scenarios_loads(tmp_path):
    """A dataset stored before scenarios existed: no scenario column, no scenario stats."""
    ws = Workspace(tmp_path / "ws.duckdb")
    frame = pd.DataFrame({"user_id": [1, 2], "item_id": [3, 3], "rating": [5.0, 4.0]})
    ingest(ws, "old", frame)
    with ws.connect() as con:
        stats = json.loads(con.execute("SELECT stats FROM datasets").fetchall()[0][0])
        for key in ("n_scenarios", "pairs_in_several_scenarios"):
            del stats[key]
        del stats["mapping"]["scenario"]
        con.execute("UPDATE datasets SET stats = ?", [json.dumps(stats)])
    ds = load_dataset(ws, "old")
    assert ds.scenario is None and ds.scenario_names == () and not ds.has_scenarios
    assert "pairs_in_several_scenarios" not in ds.meta
    assert dataset_stats(ws, "old").n_scenarios == 0


def test_parquet_partitions_are_the_scenario(tmp_path):
    root = tmp_path / "export"
    for surface, users in (("home", [1, 2]), ("search", [2, 3])):
        folder = root / f"surface={surface}"
        folder.mkdir(parents=True)
        pd.DataFrame({"user_id": users, "item_id": [9, 8], "clicks": [1, 2]}).to_parquet(
            folder / "part-0.parquet", index=False
        )
    ws = Workspace(tmp_path / "ws.duckdb")
    report = ingest(ws, "parts", root)
    assert report.mapping.scenario == "surface"
    ds = load_dataset(ws, "parts")
    assert ds.scenario_names == ("home", "search")
    # (1,9) home, (2,8) home, (2,9) search, (3,8) search
    assert ds.scenario.tolist() == [0, 0, 1, 1]


def test_cli_scenario_flag_and_line(tmp_path, log_csv, capsys):
    ws = str(tmp_path / "ws.duckdb")
    log_csv.write_text(LOG.replace("Surface", "where"))
    args = ["ingest", "--interactions", str(log_csv), "--workspace", ws]
    assert main([*args, "--name", "a", "--scenario-col", "where"]) == 0
    out = capsys.readouterr().out
    assert "scenarios: 4 from column 'where'; 2 (user, item) pairs seen in several" in out
    assert main([*args, "--name", "b"]) == 0
    assert "scenarios" not in capsys.readouterr().out
