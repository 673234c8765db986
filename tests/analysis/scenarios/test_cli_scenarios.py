"""``python -m analysis scenarios --run DIR`` on a run with scenarios and on one without."""

from __future__ import annotations

import pytest

from analysis.cli import main
from tests.analysis.scenarios.scenario_workspace import build


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        infos = build(tmp_path_factory.mktemp("ws") / "ws.duckdb", mp)
        yield mp, infos


def test_scenarios_report(runs, capsys):
    _, (scen, _plain) = runs
    assert main(["-q", "scenarios", "--run", str(scen.path), "--mode", "scenario",
                 "--weak-threshold", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "lists: the top-C candidates of the scenario's items" in out
    assert "per scenario: mean ndcg@10 (95% CI)" in out and "  feed: " in out
    assert "worst reliable scenario: " in out and "cross vs single" in out
    assert "weak pairs: " in out and "val ndcg@10 <= 0.2000" in out


def test_run_without_scenarios(runs, capsys):
    _, (_scen, plain) = runs
    assert main(["-q", "scenarios", "--run", str(plain.path)]) == 2
    assert "has no scenario column" in capsys.readouterr().err
