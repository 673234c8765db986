"""``python -m analysis embed`` on a tiny workspace dataset."""

from __future__ import annotations

import pytest

from analysis.cli import main
from analysis.embeddings import EmbeddingStore
from analysis.ingest import ingest
from analysis.workspace import Workspace
from tests.analysis.embeddings._fixtures import ITEMS
from tests.models.encoders.fake_embeddings import FakeEmbeddingsServer


@pytest.fixture
def ws(tmp_path):
    import pandas as pd

    path = tmp_path / "ws.duckdb"
    inter = pd.DataFrame({"user_id": [1, 1, 2, 3], "item_id": [10, 11, 12, 13],
                          "rating": [5, 4, 3, 5]})  # fmt: skip
    ingest(Workspace(path), "tiny", inter, items=ITEMS)
    return str(path)


def test_tfidf_dry_run_then_run_then_cached(ws, capsys):
    base = ["embed", "--workspace", ws, "--dataset", "tiny", "--encoder", "tfidf", "--dim", "2"]
    assert main([*base, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run of tiny: nothing encoded" in out
    assert "4 items, 3 distinct texts: 0 cached, 3 to encode" in out
    assert "$0.0000 one-off for the catalogue (free (CPU, no model))" in out
    assert EmbeddingStore(Workspace(ws)).count() == 0
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "embedded tiny: 4 items x 2 dims; encoded 3 texts" in out and "reused 0 cached" in out
    assert main(base) == 0
    assert "encoded 0 texts (0 tokens" in capsys.readouterr().out


def test_openai_priced_per_token(ws, capsys):
    with FakeEmbeddingsServer() as server:
        argv = ["embed", "--workspace", ws, "--dataset", "tiny", "--encoder", "openai",
                "--model", "emb", "--base-url", server.url, "--usd-per-mtok", "1000"]
        assert main(argv) == 0
    out = capsys.readouterr().out
    # 3 distinct texts of 8 + 3 + 3 words, as the fake bills them
    assert "encoded 3 texts (14 tokens" in out
    assert "cost $0.0140 this run; one-off catalogue cost with this encoder $0.0140" in out


def test_user_errors_are_one_line(ws, capsys):
    assert main(["embed", "--workspace", ws, "--dataset", "tiny", "--encoder", "openai",
                 "--model", "m"]) == 2  # fmt: skip
    assert capsys.readouterr().err.strip().startswith("error: The openai encoder needs --base-url")
    assert main(["embed", "--workspace", ws, "--dataset", "tiny", "--encoder",
                 "transformers"]) == 2  # fmt: skip
    assert "needs --model (a local model folder)" in capsys.readouterr().err
    assert main(["embed", "--workspace", ws, "--dataset", "nope", "--encoder", "tfidf"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
