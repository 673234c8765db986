"""``python -m analysis analyse-export``: an export of Parquet part files analysed in place
to a run folder; bad input gives one line on stderr and exit code 2."""

from __future__ import annotations

import json

import pytest

from analysis.cli import main
from tests.analysis.external._export import write_export


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_export(tmp_path_factory.mktemp("export"))[0]


def test_writes_the_run_and_prints_the_figures(files, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["-q", "analyse-export", "--test-run", files.test_run, "--test-heldout",
                 files.test_heldout, "--validation-run", files.validation_run,
                 "--validation-heldout", files.validation_heldout, "--history", files.history,
                 "--users", files.users, "--items", files.items, "--name", "prod-v7",
                 "--memory-limit", "64MB", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["name"] == "prod-v7" and summary["users"] == 260
    weak = summary["weak"]
    assert f"weak users: {weak['n_weak']:,} of {weak['n_judged']:,}" in printed
    assert "val_ndcg@10 <= " in printed and "country: worst " in printed
    assert f"{summary['llm_bill']['prompts']:,} prompts" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "per_user", "report.html", "subgroups.csv", "summary.json", "test_metrics", "tests.csv",
        "validation_metrics", "weak_users.parquet"]


@pytest.mark.parametrize("extra, message", [
    (["--validation-run", "X"], "--validation-run and --validation-heldout go together"),
    (["--weak-metric", "ndcg", "--k", "0"], "k must be"),
])
def test_bad_input_one_line(files, tmp_path, capsys, extra, message):
    code = main(["-q", "analyse-export", "--test-run", files.test_run, "--test-heldout",
                 files.test_heldout, "--out", str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "o").exists()


def test_missing_file_one_line(files, tmp_path, capsys):
    code = main(["-q", "analyse-export", "--test-run", str(tmp_path / "nope"),
                 "--test-heldout", files.test_heldout, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "nope" in err, err
