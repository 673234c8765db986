"""Reproducible to the byte: the same data, settings and seed give the same run files.

Every model runs ``evaluate`` twice with its default parameters (default thread count
included) on one synthetic dataset, each time into a fresh workspace and folder; the
per-user table, the top-k, the stored top-C and the candidate lists a rerank plan builds
from the loaded run must have the same SHA-256.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from analysis.cli import main
from analysis.rerank.candidates import realistic_candidates
from analysis.runs.baseline import load_run
from models.baselines import MODEL_NAMES

FILES = ("per_user.parquet", "recommendations.parquet", "candidates.parquet")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("repro") / "data"
    args = ["--quiet", "synth", "--users", "200", "--items", "120", "--seed", "3"]
    assert main([*args, "--out", str(out)]) == 0
    return out


def _evaluate(data: Path, root: Path, model: str) -> Path:
    root.mkdir()
    run = root / "run"
    argv = [
        "--quiet",
        "evaluate",
        "--interactions",
        str(data / "interactions.parquet"),
        "--items",
        str(data / "items.parquet"),
        "--users",
        str(data / "users.parquet"),
        "--model",
        model,
        "--seed",
        "7",
        "--workspace",
        str(root / "ws.duckdb"),
        "--out",
        str(run),
    ]
    assert main(argv) == 0
    return run


def _digests(run_dir: Path) -> dict[str, str]:
    out = {f: hashlib.sha256((run_dir / f).read_bytes()).hexdigest() for f in FILES}
    run = load_run(run_dir)
    users = np.flatnonzero(run.per_user["evaluated"].to_numpy(bool))
    cands = realistic_candidates(run.rankings, users, run.split.test, n_candidates=20, seed=7)
    h = hashlib.sha256()
    for a in (cands.user_idx, cands.items, cands.shown):
        h.update(np.ascontiguousarray(a).tobytes())
    out["candidate lists"] = h.hexdigest()
    return out


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_two_runs_of_every_model_are_byte_identical(data, tmp_path, model):
    first = _digests(_evaluate(data, tmp_path / "a", model))
    second = _digests(_evaluate(data, tmp_path / "b", model))
    assert first == second
