"""Tests of analysis/runs/rerank.py: a rerank run read back from its folder, and the
settings it records read back into a RerankConfig."""

from __future__ import annotations

import pytest

from analysis.errors import AnalysisError
from analysis.rerank.config import RerankConfig
from analysis.runs.rerank import NOT_A_RERANK_RUN, load_rerank_run
from analysis.weak_users import WeakRule
from tests.analysis._fixtures_report import MODEL


def test_load_rerank_run_reads_every_file(runs, files):
    s = files.summary
    assert files.k == 10
    assert len(files.per_user) == s.n_requests == len(files.calls)
    assert files.config.model == MODEL and files.config.rule.percentile == 3.0
    assert set(files.by_group["dimension"]) >= {"activity", "inactive"}
    assert list(files.curve.columns[:3]) == ["threshold", "n_users", "share"]
    assert files.curve["threshold"].max() == pytest.approx(s.threshold_value)


def test_load_rerank_run_names_the_missing_file(tmp_path):
    with pytest.raises(AnalysisError) as err:
        load_rerank_run(tmp_path)
    assert err.value.message == NOT_A_RERANK_RUN.format(folder=tmp_path.name,
                                                        missing="rerank_summary.json")
    assert str(err.value) == (
        f"The folder {tmp_path.name!r} is not a rerank run folder (no rerank_summary.json). "
        "Launch a rerank on the LLM rerank page."
    )
    assert str(tmp_path) not in err.value.render("cli")


def test_config_from_dict_round_trips():
    cfg = RerankConfig(backend="openai", model="m", n_candidates=7, history="paper",
                       rule=WeakRule(metric="ndcg@10", threshold=0.1, require_inactive=True))
    back = RerankConfig.from_dict({**cfg.to_dict(), "unknown_future_key": 1})
    assert back.rule == cfg.rule
    assert (back.backend, back.model, back.n_candidates, back.history) == ("openai", "m", 7,
                                                                          "paper")
