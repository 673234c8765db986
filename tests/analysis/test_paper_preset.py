"""The Kaur & Shah preset: both AUC definitions, t_p a parameter, its ML-100K figures."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.cli import main
from analysis.cli.evaluate import PAPER_FLAGS_ALONE
from analysis.weak_users import WeakRule, select_weak_users


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("preset") / "data"
    assert main(["--quiet", "synth", "--users", "150", "--items", "80", "--seed", "2",
                 "--out", str(out)]) == 0
    return out


def _evaluate(data, tmp_path, *flags):
    out = tmp_path / "run"
    argv = ["--quiet", "evaluate", "--interactions", str(data / "interactions.parquet"),
            "--workspace", str(tmp_path / "ws.duckdb"), "--model", "pop", "--out", str(out),
            *flags]
    return main(argv), out


@pytest.mark.parametrize(
    ("flags", "metric", "t_p"),
    [
        ([], "auc", 0.5),
        (["--paper-tp", "0.7"], "auc", 0.7),
        (["--paper-auc", "heldout", "--paper-tp", "0.6"], "auc@heldout", 0.6),
    ],
)
def test_evaluate_preset_flags(data, tmp_path, flags, metric, t_p):
    code, out = _evaluate(data, tmp_path, "--weak-preset", "paper", *flags)
    assert code == 0
    rule = json.loads((out / "summary.json").read_text())["weak_users"]["rule"]
    assert rule == {"metric": metric, "threshold": t_p, "percentile": None,
                    "require_inactive": True}
    per_user = pd.read_parquet(out / "per_user.parquet")
    assert {"auc@heldout", "val_auc@heldout"} <= set(per_user.columns)


def test_preset_flags_without_the_preset_are_refused(data, tmp_path, capsys):
    code, _ = _evaluate(data, tmp_path, "--paper-tp", "0.6")
    assert code == 2
    assert PAPER_FLAGS_ALONE in capsys.readouterr().err


def test_ml100k_figures_recorded_in_the_docs(ml100k_dir, tmp_path):
    # docs/kaur_shah_preset.md: ALS defaults, temporal split, seed 0
    argv = ["--quiet", "evaluate", "--interactions", str(ml100k_dir), "--workspace",
            str(tmp_path / "ws.duckdb"), "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    t = pd.read_parquet(tmp_path / "run" / "per_user.parquet")
    got = {
        (auc, t_p): select_weak_users(t, WeakRule.paper(t_p, auc)).n_weak
        for auc in ("all", "heldout")
        for t_p in (0.5, 0.6, 0.7, 0.8)
    }
    assert got == {
        ("all", 0.5): 11, ("all", 0.6): 24, ("all", 0.7): 51, ("all", 0.8): 82,
        ("heldout", 0.5): 198, ("heldout", 0.6): 198, ("heldout", 0.7): 248,
        ("heldout", 0.8): 291,
    }
