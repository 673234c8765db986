"""Fixtures of the report tests: the demo baseline run with one fake rerank (built once for
the folder), and its full report at a fixed time."""

from __future__ import annotations

import pytest

from analysis.report import build_report
from tests.analysis._fixtures_report import build_runs
from tests.analysis.report._fixtures import WHEN


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return build_runs(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="session")
def full(runs):
    return build_report(runs.baseline, runs.rerank, generated_at=WHEN)
