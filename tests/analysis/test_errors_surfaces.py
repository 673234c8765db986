"""Each surface in its own words, per module group (ingest, rerank, baselines): the app
(``str(err)``) names its controls and no flag; the CLI (``err.render("cli")``, what
``python -m analysis`` prints) keeps its flag hints; neither shows a server path."""

from __future__ import annotations

import pytest

from analysis.cli import main
from analysis.errors import AnalysisError
from analysis.rerank.execute import BUDGET_TOO_SMALL
from analysis.rerank.plan import LIKELIHOOD_NEEDS_LOCAL
from models.baselines import load_model


def test_ingest_error_in_the_cli_keeps_its_flag(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,10,5\n2,11,four\n")
    monkeypatch.chdir(tmp_path)  # the file as the user names it
    code = main(["ingest", "--interactions", "bad.csv", "--name", "bad", "--workspace",
                 "ws.duckdb"])
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (
        "error: bad.csv: row 3, column 'rating': 'four' is not a number; ratings and counts "
        "must be numeric. Fix or drop that row, or map another column with --rating-col NAME."
    )


def test_ingest_error_in_the_app_names_the_data_page_pickers(tmp_path):
    from analysis.ingest import ingest
    from analysis.workspace import Workspace

    (tmp_path / "a.csv").write_text("a,b\n1,2\n")
    with pytest.raises(AnalysisError) as err:
        ingest(Workspace(":memory:"), "a", tmp_path / "a.csv")
    app, cli = str(err.value), err.value.render("cli")
    assert app.endswith(
        "no user column found (columns: 'a', 'b'). Pick the user column in the column pickers "
        "(User id, Item id, Rating / count, Timestamp) on the Data page."
    )
    assert "--" not in app and "ColumnMapping" not in app
    assert cli.endswith("no user column found (columns: 'a', 'b'). Name it with --user-col NAME.")


def test_rerank_budget_message_per_surface():
    err = AnalysisError(BUDGET_TOO_SMALL.format(budget=0.0001, need=0.0123, max_tokens=224))
    head = (
        "A budget of $0.0001 cannot cover even one user: the cheapest prompt could cost up to "
        "$0.0123 (its input plus 224 output tokens, at worst)."
    )
    assert str(err) == head + " Raise the Budget cap or lower Max tokens on the LLM rerank page."
    assert err.render("cli") == head + " Raise --budget-usd or lower --max-tokens."
    local = AnalysisError(LIKELIHOOD_NEEDS_LOCAL)
    assert str(local) == (
        "Likelihood mode scores candidates with a local model. Choose the transformers Backend "
        "on the LLM rerank page."
    )
    assert local.render("cli").endswith("Use --backend transformers, or --mode generate.")


def test_baseline_file_error_names_no_server_path(tmp_path):
    run = tmp_path / "run-1"
    run.mkdir()
    (run / "model.npz").write_bytes(b"not a zip")
    with pytest.raises(AnalysisError) as err:
        load_model(run / "model.npz")
    app, cli = str(err.value), err.value.render("cli")
    assert app.startswith("run-1/model.npz is not a readable stored baseline (")
    assert app.endswith("Train the baseline again on the Baseline page.")
    assert cli.endswith("Run evaluate again to write the run again.")
    assert str(tmp_path) not in app and str(tmp_path) not in cli


def test_every_hint_quotes_only_fields_of_its_message():
    """A hint's ``{field}`` must be a field of its template, or it is shown unfilled."""
    import importlib
    import pkgutil
    import string

    import analysis
    import models
    from analysis.errors import _HINTS

    for pkg in (analysis, models):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if "__main__" not in info.name:
                try:
                    importlib.import_module(info.name)
                except ImportError:  # an optional backend package
                    pass
    assert len(_HINTS) > 20
    for regex, hints in _HINTS:
        for surface, hint in hints.items():
            fields = {f for _, f, _, _ in string.Formatter().parse(hint) if f}
            assert fields <= set(regex.groupindex), (surface, hint, regex.pattern)
