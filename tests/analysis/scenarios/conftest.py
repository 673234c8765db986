"""The planted run shared by the scenario tests (built once per module)."""

from __future__ import annotations

import pytest

from analysis.pipeline import EvaluateConfig, run_pipeline
from tests.analysis.scenarios.planted import planted_dataset


@pytest.fixture(scope="module")
def planted_run():
    """ALS on :func:`planted_dataset`: ``search`` is served badly by construction."""
    return run_pipeline(planted_dataset(), EvaluateConfig(
        model="als", model_params={"factors": 8, "iterations": 3}, split="random", k=5,
        min_group_size=10)).run
