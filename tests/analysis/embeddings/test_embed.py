"""Embedding a catalogue: cache hits and misses, the dry run's figures, the cost record."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.embeddings import EmbeddingStore, build_item_texts, embed_items, plan_embedding
from analysis.errors import AnalysisError
from analysis.workspace import Workspace
from models.encoders import make_encoder
from tests.analysis.embeddings._fixtures import ITEMS, tiny_dataset
from tests.models.encoders.fake_embeddings import FakeEmbeddingsServer, fake_vector


@pytest.fixture
def server():
    with FakeEmbeddingsServer() as s:
        yield s


def _openai(server, **kw):
    return make_encoder("openai", model="emb", base_url=server.url, backoff_base_s=0.0, **kw)


def _texts_sent(server) -> list[str]:
    return [t for r in server.requests for t in r["input"]]


def test_identical_texts_cached_second_run_free_changed_title_only(tmp_path, server):
    store = EmbeddingStore(Workspace(tmp_path / "ws.duckdb"))
    data = tiny_dataset()
    texts = build_item_texts(data)
    first = embed_items(data, _openai(server, usd_per_mtok=100.0), store)
    # items 10 and 12 share a text: 3 distinct texts encoded, one vector for both
    assert sorted(_texts_sent(server)) == sorted(set(texts))
    assert first.vectors.shape == (4, 4) and first.vectors.dtype == np.float32
    assert first.vectors[0].tobytes() == first.vectors[2].tobytes()
    np.testing.assert_array_equal(first.vectors[1], np.float32(fake_vector(texts[1])))
    words = sum(len(t.split()) for t in set(texts))
    assert first.usage.tokens == words and first.cost_usd == pytest.approx(words * 100 / 1e6)
    assert (first.plan.n_items, first.plan.n_texts, first.plan.n_to_encode) == (4, 3, 3)

    server.requests.clear()
    again = embed_items(data, _openai(server, usd_per_mtok=100.0), store)
    assert server.requests == [] and again.usage.tokens == 0 and again.cost_usd == 0.0
    assert again.vectors.tobytes() == first.vectors.tobytes()
    assert again.plan.n_to_encode == 0 and again.plan.n_cached == 3

    items = ITEMS.copy()
    items.loc[1, "title"] = "Sabrina (1954)"
    changed = tiny_dataset(items)
    third = embed_items(changed, _openai(server, usd_per_mtok=100.0), store)
    assert _texts_sent(server) == ["Sabrina (1954) (Comedy, Romance)"]
    assert np.array_equal(third.vectors[[0, 2, 3]], first.vectors[[0, 2, 3]])
    # the one-off cost is recorded per catalogue: the two paid runs, not the free one
    rec = store.catalogue_cost("tiny", first.encoder_id)
    assert rec.runs == 2 and rec.n_computed == 4
    assert third.catalogue_cost_usd == pytest.approx(rec.cost_usd)


def test_dry_run_figures_encode_nothing(tmp_path, server):
    store = EmbeddingStore(Workspace(tmp_path / "ws.duckdb"))
    data = tiny_dataset()
    plan = plan_embedding(data, _openai(server, usd_per_mtok=0.02), store, tokens_per_s=10.0)
    distinct = sorted(set(build_item_texts(data)))
    tokens = sum(-(-len(t) * 2 // 7) for t in distinct)  # ceil(chars / 3.5)
    assert server.requests == [] and store.count() == 0
    assert (plan.n_texts, plan.n_cached, plan.n_to_encode, plan.tokens) == (3, 0, 3, tokens)
    assert plan.seconds == pytest.approx(tokens / 10.0)
    assert plan.cost_usd == pytest.approx(tokens * 0.02 / 1e6)
    assert plan.pricing == f"{tokens} tokens x $0.02/M tokens"
    with pytest.raises(AnalysisError, match="Bad encoding throughput 0"):
        plan_embedding(data, _openai(server), store, tokens_per_s=0)


def test_local_model_priced_by_gpu_time(tmp_path):
    from tests.models.encoders.tiny_bert import build_tiny_bert

    folder = build_tiny_bert(tmp_path / "bert")
    enc = make_encoder("transformers", model=str(folder), device="cpu", gpu_usd_per_hour=3.6)
    store = EmbeddingStore(Workspace(tmp_path / "ws.duckdb"))
    data = tiny_dataset()
    plan = plan_embedding(data, enc, store, tokens_per_s=1000.0)
    exact = sum(enc.count_tokens(sorted(set(build_item_texts(data)))))
    assert plan.tokens == exact and plan.cost_usd == pytest.approx(exact / 1000.0 / 1000.0)
    done = embed_items(data, enc, store)
    assert done.vectors.shape == (4, 16) and done.usage.tokens == exact
    assert done.cost_usd == pytest.approx(done.usage.seconds / 1000.0)


def test_tfidf_is_free_and_refits_on_a_changed_catalogue(tmp_path):
    store = EmbeddingStore(Workspace(tmp_path / "ws.duckdb"))
    data = tiny_dataset()
    first = embed_items(data, make_encoder("tfidf", dim=2), store)
    assert first.vectors.shape == (4, 2) and first.cost_usd == 0.0
    assert first.vectors[0].tobytes() == first.vectors[2].tobytes()
    again = embed_items(data, make_encoder("tfidf", dim=2), store)
    assert again.usage.texts == 0 and again.vectors.tobytes() == first.vectors.tobytes()
    items = ITEMS.copy()
    items.loc[1, "title"] = "Sabrina (1954)"
    changed = embed_items(tiny_dataset(items), make_encoder("tfidf", dim=2), store)
    assert changed.encoder_id != first.encoder_id and changed.usage.texts == 3
