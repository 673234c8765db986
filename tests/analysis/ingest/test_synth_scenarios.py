"""Planted scenarios in the synthetic log (analysis/ingest/_synth_scenarios.py): unchanged
output without them, who is active where, and a hard scenario that a shared ALS serves
clearly worse."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from analysis.cli import main
from analysis.errors import AnalysisError
from analysis.ingest.synthetic import generate_synthetic
from analysis.split import make_split
from models.baselines import make_recommender

#: digest of generate_synthetic(300, 120, seed=7, mean_interactions=12) before scenarios existed
BEFORE = "475142eb5602a00c06e95962dfa1d80252842f1439150e4dd9b60e7dfc29c92e"


def _digest(data) -> str:
    h = hashlib.sha256()
    for frame in (data.interactions, data.users, data.items):
        for c in frame.columns:
            h.update(c.encode())
            values = frame[c].to_numpy()
            h.update(values.astype(str).tobytes() if values.dtype == object or
                     str(frame[c].dtype) == "str" else values.tobytes())  # fmt: skip
    h.update(data.niche_user_ids.tobytes())
    return h.hexdigest()


def test_without_scenarios_the_output_is_unchanged():
    data = generate_synthetic(300, 120, seed=7, mean_interactions=12)
    assert _digest(data) == BEFORE
    assert data.scenarios is None and "scenarios" not in data.params
    assert "scenario" not in data.interactions.columns


def test_planted_scenarios():
    data = generate_synthetic(400, 150, seed=3, mean_interactions=10, n_scenarios=3)
    again = generate_synthetic(400, 150, seed=3, mean_interactions=10, n_scenarios=3)
    assert _digest(data) == _digest(again)
    sc = data.scenarios
    assert sc.names == ("home", "search", "email") and sc.names[sc.hard] == "email"
    log = data.interactions
    assert set(log["scenario"]) == {"home", "search", "email"}
    assert not log.duplicated(["user_id", "item_id"]).any()
    # each interaction in a scenario its user is active in
    code = {n: i for i, n in enumerate(sc.names)}
    codes = log["scenario"].map(code).to_numpy()
    assert sc.active[log["user_id"].to_numpy() - 1, codes].all()
    cross = sc.active.sum(axis=1) > 1
    assert 0.33 < cross.mean() < 0.47  # cross_scenario_share 0.4 of 400 users
    assert data.params["realised"]["n_interactions"] == len(log)
    ds = data.to_dataset()
    planted = ds.meta["planted"]
    assert planted["hard_scenario"] == "email"
    assert ds.scenario_names == ("email", "home", "search")  # the dataset's codes: sorted
    assert len(planted["cross_scenario_user_ids"]) == int(cross.sum())
    hard = generate_synthetic(100, 50, seed=3, n_scenarios=2, hard_scenario="home")
    assert hard.params["scenarios"]["hard_scenario"] == "home"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_scenarios": 9},
        {"n_scenarios": 2, "hard_scenario": "email"},
        {"n_scenarios": 2, "cross_scenario_share": 1.5},
    ],
)
def test_bad_scenario_parameters(kwargs):
    with pytest.raises(AnalysisError, match="Synthetic data: "):
        generate_synthetic(50, 20, **kwargs)


def test_shared_als_serves_the_hard_scenario_worse():
    """Recall@10 per (user, scenario) over the test pairs of a random split: the share of the
    user's test items of that scenario in their top 10 (train items excluded), averaged over
    (user, scenario) pairs; the hard scenario's is under half of every other's."""
    ds = generate_synthetic(600, 300, seed=1, mean_interactions=20, n_scenarios=3).to_dataset()
    split = make_split(ds, "random", seed=0)
    model = make_recommender("als", seed=0, use_gpu=False, factors=16, iterations=8)
    model.fit(split.train)
    test = split.fold == 2
    users = np.unique(ds.user_idx[test])
    top, _ = model.recommend(users, 10, exclude=split.train)
    row = np.full(ds.n_users, -1)
    row[users] = np.arange(len(users))
    tu, ti, ts = ds.user_idx[test], ds.item_idx[test], ds.scenario[test]
    hit = (top[row[tu]] == ti[:, None]).any(axis=1)
    s = len(ds.scenario_names)
    pairs, inv = np.unique(tu.astype(np.int64) * s + ts, return_inverse=True)
    recall = np.bincount(inv, hit) / np.bincount(inv)
    by = {ds.scenario_names[c]: recall[pairs % s == c].mean() for c in range(s)}
    hard = by.pop(ds.meta["planted"]["hard_scenario"])
    assert hard < 0.5 * min(by.values()), (hard, by)


def test_cli_synth_scenarios(tmp_path, capsys):
    out = tmp_path / "s"
    args = ["synth", "--users", "60", "--items", "40", "--scenarios", "3",
            "--hard-scenario", "search", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert "scenarios: home, search, email (planted hard: search)" in capsys.readouterr().out
