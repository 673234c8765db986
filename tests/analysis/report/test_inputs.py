"""Tests of analysis/report/_inputs.py: a rerank, another baseline's rerank or a missing run
file is refused with advice."""

from __future__ import annotations

from dataclasses import replace

import pytest

from analysis.errors import AnalysisError
from analysis.report import (
    MISSING_FILE,
    NOT_A_BASELINE,
    WRONG_PARENT,
    build_report,
    per_user_results,
)


def test_bad_inputs(runs, tmp_path):
    with pytest.raises(AnalysisError) as err:
        build_report(runs.rerank)
    assert str(err.value) == NOT_A_BASELINE.format(run_id=runs.rerank.run_id, kind="rerank")
    other = replace(runs.rerank, parent_run_id="someone-else")
    with pytest.raises(AnalysisError) as err:
        per_user_results(runs.baseline, other)
    assert str(err.value) == WRONG_PARENT.format(rerank=other.run_id, parent="someone-else",
                                                 baseline=runs.baseline.run_id)
    gone = replace(runs.baseline, path=tmp_path)
    with pytest.raises(AnalysisError) as err:
        build_report(gone)
    assert str(err.value) == MISSING_FILE.format(run_id=gone.run_id, name="summary.json",
                                                 path=tmp_path)
