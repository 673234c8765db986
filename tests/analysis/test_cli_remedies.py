"""Tests of `python -m analysis blend --out` and `python -m analysis remedies`: the comparison
prints the blend's own figures, and a folder that is not a remedy gets the one-line error."""

from __future__ import annotations

from analysis.cli import main
from analysis.runs.remedy import load_remedy_run


def test_blend_out_then_remedies_prints_the_blends_figures(tmp_path, capsys):
    from tests.analysis._fixtures_rerank import build_run

    run = build_run(tmp_path, users=300, items=150, seed=2, with_users=False)
    capsys.readouterr()
    out = tmp_path / "blend"
    assert main(["-q", "blend", "--run", str(run), "--encoder", "tfidf", "--dim", "16",
                 "--out", str(out)]) == 0
    blend_lines = capsys.readouterr().out.splitlines()
    gain = blend_lines[2].split("gain ")[1].split(" ")[0]  # "+0.0123" as blend printed it
    remedy = load_remedy_run(out)
    assert remedy.summary.kind == "content_blend" and not remedy.summary.uses_llm
    assert remedy.summary.label == "content blend (tfidf, weak users)"

    assert main(["-q", "remedies", "--run", str(run), "--remedy", str(out),
                 "--users-per-month", "1000", "--target-gain", "1"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith("remedies for the weak users of ")
    row = next(line for line in lines if line.startswith("NDCG@10 gain, served"))
    assert f"{gain} (" in row
    assert "baseline (no remedy)" in lines[1] and "content blend (tfidf, weak users)" in lines[1]
    assert lines[-1].startswith(("No remedy reaches a net gain of +1.0000. ",
                                  "No remedy gains on the users it serves"))


def test_remedies_refuses_a_folder_that_is_not_a_remedy(tmp_path, capsys):
    from tests.analysis._fixtures_rerank import build_run

    run = build_run(tmp_path, users=200, items=100, seed=3, with_users=False)
    capsys.readouterr()
    assert main(["-q", "remedies", "--run", str(run), "--remedy", str(run)]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: The folder 'run' is not a remedy run folder (no remedy_summary.json). Write "
        "one with `python -m analysis blend ... --out DIR` first and give that folder.")
