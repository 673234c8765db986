"""``python -m analysis taste`` on a small synthetic run."""

from __future__ import annotations

import pytest

from analysis.cli import main
from tests.analysis._fixtures_rerank import build_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("taste"), users=300, items=150, seed=2,
                     with_users=False)


def _lines(out: str, start: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(start)]


def test_tfidf_categories_and_subgroup_table(run_dir, capsys):
    argv = ["--quiet", "taste", "--run", str(run_dir), "--encoder", "tfidf", "--dim", "8",
            "--categories", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("taste categories of ")
    cats = _lines(out, "  T")
    assert [c.split()[0] for c in cats if "dominant for" in c] == ["T1", "T2", "T3"]
    assert "taste_category: mean ndcg@10 (95% CI) per group" in out
    assert "taste_focus: mean ndcg@10 (95% CI) per group" in out
    assert "p-values adjusted over this family (Holm): taste_category " in out
    assert main(argv) == 0  # the embeddings now come from the workspace: same figures
    assert capsys.readouterr().out == out


def test_factors_and_user_errors(run_dir, capsys):
    assert main(["--quiet", "taste", "--run", str(run_dir), "--encoder", "factors",
                 "--categories", "2"]) == 0
    assert "als item factors" in capsys.readouterr().out
    assert main(["--quiet", "taste", "--run", str(run_dir), "--encoder", "factors",
                 "--categories", "1"]) == 2
    assert "error: The number of taste categories must be an integer >= 2, got 1." in (
        capsys.readouterr().err)
